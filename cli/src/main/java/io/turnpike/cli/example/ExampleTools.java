package io.turnpike.cli.example;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.client.tool.ToolInvocation;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.telemetry.Telemetry;
import java.time.Clock;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * EXAMPLE CODE: the function tools of the bundled agents, served over Kafka by an ordinary
 * {@link ToolWorker}: {@code get_weather} and {@code get_local_time} ({@code agents/travel-assistant.yaml})
 * and {@code lookup_invoice} and {@code issue_refund} ({@code agents/billing-specialist.yaml}). The data
 * is made up (fixed weather per city, two invoices) so runs are repeatable; the local time is the
 * real clock in the city's time zone. A refund is only printed as done: nothing is paid.
 */
public final class ExampleTools {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Made-up weather: condition, temperature (C), humidity (%), wind (km/h). */
  private record Weather(String condition, int temperatureC, int humidityPct, int windKmh) {}

  private record City(String name, String zone, Weather weather) {}

  private static final Map<String, City> CITIES = new LinkedHashMap<>();

  static {
    add("Lisbon", "Europe/Lisbon", new Weather("sunny", 21, 55, 14));
    add("Porto", "Europe/Lisbon", new Weather("light rain", 16, 82, 20));
    add("Madrid", "Europe/Madrid", new Weather("clear", 24, 30, 8));
    add("Paris", "Europe/Paris", new Weather("overcast", 15, 70, 11));
    add("London", "Europe/London", new Weather("drizzle", 13, 88, 17));
    add("Berlin", "Europe/Berlin", new Weather("partly cloudy", 17, 60, 13));
    add("New York", "America/New_York", new Weather("windy", 19, 48, 31));
    add("San Francisco", "America/Los_Angeles", new Weather("fog", 14, 90, 9));
    add("Tokyo", "Asia/Tokyo", new Weather("humid", 27, 78, 6));
    add("Sydney", "Australia/Sydney", new Weather("sunny", 23, 50, 18));
  }

  /** Made-up invoices: INV-1042 was charged twice, INV-1043 once. */
  private record Invoice(String number, double totalEur, String status, boolean doubleCharged) {}

  private static final Map<String, Invoice> INVOICES = Map.of(
      "INV-1042", new Invoice("INV-1042", 49.0, "paid (charged twice on 2026-11-02)", true),
      "INV-1043", new Invoice("INV-1043", 120.0, "paid", false));

  private static void add(String name, String zone, Weather w) {
    CITIES.put(key(name), new City(name, zone, w));
  }

  private final Clock clock;

  public ExampleTools(Clock clock) {
    this.clock = clock;
  }

  /** Starts a tool worker serving the four example tools. */
  public static ToolWorker startWorker(String bootstrapServers, String schemaRegistryUrl, Clock clock) {
    return startWorker(bootstrapServers, schemaRegistryUrl, clock, Telemetry.noop("example-tools"));
  }

  public static ToolWorker startWorker(String bootstrapServers, String schemaRegistryUrl, Clock clock, Telemetry telemetry) {
    ExampleTools tools = new ExampleTools(clock);
    return ToolWorker.builder(bootstrapServers, schemaRegistryUrl)
        .tool("get_weather", tools::getWeather)
        .tool("get_local_time", tools::getLocalTime)
        .tool("lookup_invoice", tools::lookupInvoice)
        .tool("issue_refund", tools::issueRefund)
        .concurrency(8)
        .telemetry(telemetry)
        .build()
        .start();
  }

  /** {@code {"city": "..."}} → made-up current weather. */
  public String getWeather(ToolInvocation inv) throws Exception {
    City c = city(inv);
    ObjectNode out = JSON.createObjectNode();
    out.put("city", c.name());
    out.put("condition", c.weather().condition());
    out.put("temperature_c", c.weather().temperatureC());
    out.put("humidity_pct", c.weather().humidityPct());
    out.put("wind_kmh", c.weather().windKmh());
    out.put("source", "example data");
    return JSON.writeValueAsString(out);
  }

  /** {@code {"city": "..."}} → the current local time in the city's time zone. */
  public String getLocalTime(ToolInvocation inv) throws Exception {
    City c = city(inv);
    ZonedDateTime now = ZonedDateTime.now(clock.withZone(ZoneId.of(c.zone())));
    ObjectNode out = JSON.createObjectNode();
    out.put("city", c.name());
    out.put("timezone", c.zone());
    out.put("local_time", now.format(DateTimeFormatter.ofPattern("HH:mm")));
    out.put("date", now.toLocalDate().toString());
    out.put("utc_offset", now.getOffset().getId().equals("Z") ? "+00:00" : now.getOffset().getId());
    return JSON.writeValueAsString(out);
  }

  /** {@code {"invoice": "INV-1042"}} → the made-up invoice. */
  public String lookupInvoice(ToolInvocation inv) throws Exception {
    Invoice i = invoice(inv);
    ObjectNode out = JSON.createObjectNode();
    out.put("invoice", i.number());
    out.put("total_eur", i.totalEur());
    out.put("status", i.status());
    out.put("double_charged", i.doubleCharged());
    out.put("source", "example data");
    return JSON.writeValueAsString(out);
  }

  /** {@code {"invoice", "amount_eur", "reason"}} → a refund id; runs only once a human approved it. */
  public String issueRefund(ToolInvocation inv) throws Exception {
    Invoice i = invoice(inv);
    double amount = inv.args().path("amount_eur").asDouble();
    if (amount <= 0 || amount > i.totalEur()) {
      throw new IllegalArgumentException("amount_eur must be between 0 and the invoice total " + i.totalEur());
    }
    ObjectNode out = JSON.createObjectNode();
    // the call id makes the refund id: a re-sent call names the same refund (idempotent by callId)
    out.put("refund_id", "RF-" + Integer.toHexString(inv.callId().hashCode()));
    out.put("invoice", i.number());
    out.put("amount_eur", amount);
    out.put("status", "refunded (example: nothing is paid)");
    return JSON.writeValueAsString(out);
  }

  private static Invoice invoice(ToolInvocation inv) {
    String number = inv.requireString("invoice").trim().toUpperCase(Locale.ROOT);
    Invoice i = INVOICES.get(number);
    if (i == null) {
      throw new IllegalArgumentException("no invoice " + number + " in the example data; try INV-1042 or INV-1043");
    }
    return i;
  }

  private static City city(ToolInvocation inv) {
    String name = inv.requireString("city");
    City c = CITIES.get(key(name));
    if (c == null) {
      throw new IllegalArgumentException("no example data for '" + name + "'; try one of: "
          + String.join(", ", CITIES.values().stream().map(City::name).toList()));
    }
    return c;
  }

  private static String key(String name) {
    String k = name.trim().toLowerCase(Locale.ROOT);
    int comma = k.indexOf(',');
    return comma > 0 ? k.substring(0, comma).trim() : k;
  }
}
