package io.turnpike.console;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.turnpike.avro.AgentDefinition;
import io.turnpike.avro.RunCommand;
import io.turnpike.avro.RunRequest;
import io.turnpike.avro.ToolSpec;
import io.turnpike.client.run.TurnpikeClient;
import io.turnpike.client.tool.ToolWorker;
import io.turnpike.devkit.EmbeddedKafka;
import io.turnpike.devkit.InputItem;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedModelServer;
import io.turnpike.devkit.ScriptedReply;
import io.turnpike.devkit.TopicTail;
import io.turnpike.devkit.registry.DevSchemaRegistry;
import io.turnpike.runner.RunnerService;
import io.turnpike.schema.RunStateJson;
import io.turnpike.schema.Settings;
import io.turnpike.schema.TopicAdmin;
import io.turnpike.schema.Topics;
import io.turnpike.schema.TurnpikeSerdes;
import java.io.File;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The console end to end, one broker for the class: a real broker, the dev schema registry, the real runner
 * with a scripted OpenAI-compatible model, a tool worker whose tool needs approval, and the console (with a
 * token) answering over HTTP; the last test drives the web UI in Debian's chromium.
 */
class ConsoleEndToEndTest {
  static final String TOKEN = "s3cret-console-token";
  static final ObjectMapper JSON = new ObjectMapper();

  private static EmbeddedKafka kafka;
  private static DevSchemaRegistry registry;
  private static ScriptedModelServer model;
  private static RunnerService runner;
  private static ToolWorker tools;
  private static ConsoleService console;
  private static TurnpikeClient client;
  private static TopicTail commands;
  private static HttpClient http;
  private static String base;

  /** Turn 0 asks to deploy (which needs approval); then the tool's output is the answer. */
  static ScriptedReply script(ModelRequestView req) {
    if (req.turn() == 0) { // "ship <service> <version>"
      String[] words = (req.firstUserText() + " x x").split(" ");
      return ScriptedReply.toolCall("deploy", "{\"service\":\"" + words[1] + "\",\"version\":\"" + words[2] + "\"}");
    }
    StringBuilder outs = new StringBuilder();
    for (InputItem item : req.input()) {
      if (item instanceof InputItem.FunctionCallOutput o) {
        outs.append(o.output());
      }
    }
    return ScriptedReply.text("Done: " + outs);
  }

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start();
    registry = DevSchemaRegistry.start(kafka.bootstrapServers());
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
      TopicAdmin.ensureTopics(admin, 3, (short) 1);
    }
    client = new TurnpikeClient(kafka.bootstrapServers(), registry.url());
    TurnpikeSerdes serdes = client.serdes();
    AgentDefinition agent = AgentDefinition.newBuilder()
        .setName("release-bot").setVersion(1).setModel("scripted").setInstructions("You deploy services.")
        .setTools(List.of(ToolSpec.newBuilder().setName("deploy").setNeedsApproval(true)
            .setParametersJson("{\"type\":\"object\",\"properties\":{\"service\":{\"type\":\"string\"},"
                + "\"version\":{\"type\":\"string\"}}}").build()))
        .build();
    try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<String, byte[]>(Map.of(
        "bootstrap.servers", kafka.bootstrapServers()), new org.apache.kafka.common.serialization.StringSerializer(),
        new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(Topics.AGENTS.name(), agent.getName(),
          serdes.agentDefinition().encode(agent))).get();
    }
    model = ScriptedModelServer.start(ConsoleEndToEndTest::script);
    Map<String, String> common = Map.of(
        "turnpike.schema.registry.url", registry.url(),
        "turnpike.bootstrap.servers", kafka.bootstrapServers());
    runner = RunnerService.start(Settings.of(common).with(Map.of(
        "turnpike.model.base-url", model.baseUrl(),
        "turnpike.model.api-key", "k",
        "turnpike.runner.application-id", "console-e2e-runner",
        "turnpike.runner.state-dir", Files.createTempDirectory("console-e2e-runner").toString())));
    tools = ToolWorker.builder(kafka.bootstrapServers(), registry.url())
        .tool("deploy", inv -> "deployed " + inv.args().get("service").asText() + " " + inv.args().get("version").asText())
        .build().start();
    console = ConsoleService.start(Settings.of(common).with(Map.of(
        "turnpike.console.port", "0",
        "turnpike.console.host", "127.0.0.1",
        "turnpike.console.token", TOKEN,
        "turnpike.console.application-id", "console-e2e",
        "turnpike.console.state-dir", Files.createTempDirectory("console-e2e").toString())));
    commands = new TopicTail(kafka.bootstrapServers(), Topics.RUN_COMMANDS.name());
    http = HttpClient.newHttpClient();
    base = "http://127.0.0.1:" + console.port();
    await().atMost(Duration.ofSeconds(60)).until(console::isReady);
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {commands, console, tools, runner, model, client, registry, kafka}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // keep closing
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ tests

  @Test
  void aRunIsListedShownAndApprovedToCompletion() throws Exception {
    String runId = submit("ship web 1.4.2");
    JsonNode waiting = awaitRun(runId, "INTERRUPTED");
    assertThat(waiting.get("agent").asText()).isEqualTo("release-bot");
    assertThat(waiting.get("pendingApprovals").asInt()).isEqualTo(1);
    assertThat(waiting.get("state").get("runId").asText()).isEqualTo(runId);
    String callId = waiting.get("state").get("approvals").get(0).get("callId").asText();

    JsonNode list = get("/api/runs?limit=50").body();
    assertThat(list.get("runs").findValuesAsText("runId")).contains(runId);
    assertThat(get("/api/runs?status=INTERRUPTED&agent=release-bot").body().get("runs").findValuesAsText("runId"))
        .contains(runId);
    assertThat(get("/api/runs?status=COMPLETED").body().get("runs").findValuesAsText("runId")).doesNotContain(runId);

    JsonNode approvals = get("/api/approvals").body();
    assertThat(approvals).anySatisfy(a -> {
      assertThat(a.get("runId").asText()).isEqualTo(runId);
      assertThat(a.get("callId").asText()).isEqualTo(callId);
      assertThat(a.get("tool").asText()).isEqualTo("deploy");
      assertThat(a.get("arguments").asText()).contains("1.4.2");
      assertThat(a.get("agent").asText()).isEqualTo("release-bot");
      assertThat(a.get("since").asText()).isNotBlank();
    });
    await().atMost(Duration.ofSeconds(30)).until(() -> types(runId).contains("ApprovalRequested"));

    Reply decided = post("/api/runs/" + runId + "/approvals/" + callId,
        "{\"decision\":\"approve\",\"message\":\"looks fine\",\"always\":false}", "alice");
    assertThat(decided.status()).isEqualTo(202);
    assertThat(decided.body().get("commandId").asText()).isNotBlank();

    JsonNode done = awaitRun(runId, "COMPLETED");
    assertThat(done.get("state").get("finalOutput").get("string").asText()).isEqualTo("Done: deployed web 1.4.2");
    assertThat(done.get("pendingApprovals").asInt()).isZero();
    await().atMost(Duration.ofSeconds(30)).until(() -> types(runId).contains("RunFinished"));
    List<String> types = types(runId);
    assertThat(types).startsWith("RunStarted").containsSubsequence("ApprovalRequested", "ApprovalResolved",
        "ToolCallRequested", "ToolCallCompleted", "RunFinished");
    JsonNode events = get("/api/runs/" + runId + "/history").body().get("events");
    List<Long> seqs = new ArrayList<>();
    events.forEach(e -> seqs.add(e.get("seq").asLong()));
    assertThat(seqs).isSorted().doesNotHaveDuplicates();
    assertThat(events.get(0).get("at").asText()).isNotBlank();
    assertThat(events.get(0).get("summary").asText()).contains("release-bot").contains("ship web 1.4.2");
    assertThat(events).filteredOn(e -> e.get("type").asText().equals("ApprovalResolved")).singleElement()
        .satisfies(e -> {
          assertThat(e.get("by").asText()).isEqualTo("alice");
          assertThat(e.get("summary").asText()).isEqualTo("approved: \"looks fine\" (by alice)");
        });

    // who decided is on the command the runner read
    await().atMost(Duration.ofSeconds(10)).until(() -> commands.forKey(runId).size() == 1);
    RunCommand sent = client.serdes().runCommand().decode(commands.forKey(runId).get(0).value());
    assertThat(sent.getIssuedBy()).isEqualTo("alice");
    assertThat(sent.getCallId()).isEqualTo(callId);

    // decided already / finished
    Reply again = post("/api/runs/" + runId + "/approvals/" + callId, "{\"decision\":\"approve\"}", null);
    assertThat(again.status()).isEqualTo(409);
    assertThat(post("/api/runs/" + runId + "/cancel", "", null).status()).isEqualTo(409);

    // export: the RunState as JSON, readable by the same codec the CLI imports with
    HttpResponse<String> export = http.send(request("/api/runs/" + runId + "/export").GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(export.statusCode()).isEqualTo(200);
    assertThat(export.headers().firstValue("content-disposition")).hasValueSatisfying(v -> assertThat(v).contains("attachment"));
    assertThat(RunStateJson.read(export.body()).getStatus().name()).isEqualTo("COMPLETED");
  }

  @Test
  void theStreamGivesThePastStepsThenTheLiveOnes() throws Exception {
    String runId = submit("ship api 2.0.0");
    JsonNode waiting = awaitRun(runId, "INTERRUPTED");
    String callId = waiting.get("state").get("approvals").get(0).get("callId").asText();
    await().atMost(Duration.ofSeconds(30)).until(() -> types(runId).contains("ApprovalRequested"));
    HttpResponse<Stream<String>> sse = http.send(request("/api/runs/" + runId + "/stream").GET().build(),
        HttpResponse.BodyHandlers.ofLines());
    assertThat(sse.statusCode()).isEqualTo(200);
    assertThat(sse.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
    List<String> seen = new ArrayList<>();
    try (Stream<String> lines = sse.body()) {
      var it = lines.iterator();
      boolean approved = false;
      while (it.hasNext()) {
        String line = it.next();
        if (!line.startsWith("data:")) {
          continue;
        }
        JsonNode step = JSON.readTree(line.substring(5));
        seen.add(step.get("type").asText());
        if (!approved && "ApprovalRequested".equals(step.get("type").asText())) {
          approved = true; // the past is delivered; what follows comes live
          assertThat(post("/api/runs/" + runId + "/approvals/" + callId, "{\"decision\":\"reject\",\"message\":\"not today\"}",
              "bob").status()).isEqualTo(202);
        }
        if ("RunFinished".equals(step.get("type").asText())) {
          break;
        }
      }
    }
    assertThat(seen).startsWith("RunStarted").containsSubsequence("ApprovalRequested", "ApprovalResolved", "RunFinished");
    JsonNode done = awaitRun(runId, "COMPLETED");
    assertThat(done.get("state").get("finalOutput").get("string").asText()).contains("rejected");
  }

  @Test
  void aRequestRefusedAtSubmissionIsListedAsFailed() throws Exception {
    String runId = "refused-" + UUID.randomUUID();
    client.submit(RunRequest.newBuilder().setRunId(runId).setAgent("no-such-agent").setInput("hello")
        .setMetadata(Map.of()).setRequestedAt(Instant.now()).build());
    await().atMost(Duration.ofSeconds(60)).until(() -> get("/api/runs/" + runId).status() == 200);
    JsonNode run = get("/api/runs/" + runId).body();
    assertThat(run.get("status").asText()).isEqualTo("FAILED");
    assertThat(run.get("error").asText()).contains("no-such-agent");
    assertThat(run.get("state").isNull()).isTrue();
    assertThat(get("/api/runs?status=FAILED").body().get("runs").findValuesAsText("runId")).contains(runId);
    assertThat(get("/api/runs/" + runId + "/export").status()).isEqualTo(404);
    // No sandbox ever ran for it: an empty file list, not an error (the files view itself: ConsoleTopologyTest).
    JsonNode files = get("/api/runs/" + runId + "/files").body();
    assertThat(files.get("snapshotId").isNull()).isTrue();
    assertThat(files.get("files").isEmpty()).isTrue();
  }

  @Test
  void mistakesAreClearJsonErrors() throws Exception {
    assertThat(post("/api/runs/nope-" + UUID.randomUUID() + "/cancel", "", null)).satisfies(r -> {
      assertThat(r.status()).isEqualTo(404);
      assertThat(r.body().get("error").asText()).startsWith("no run");
    });
    assertThat(get("/api/runs/nope").status()).isEqualTo(404);
    assertThat(get("/api/runs/nope/history").status()).isEqualTo(404);
    assertThat(get("/api/runs/nope/files").status()).isEqualTo(404);
    assertThat(post("/api/runs/nope/approvals/x", "{\"decision\":\"approve\"}", null).status()).isEqualTo(404);

    String runId = submit("ship db 9");
    awaitRun(runId, "INTERRUPTED");
    Reply badJson = post("/api/runs/" + runId + "/approvals/" + runId + ":t1.1", "{not json", null);
    assertThat(badJson.status()).isEqualTo(400);
    assertThat(badJson.body().get("error").asText()).contains("not JSON");
    assertThat(post("/api/runs/" + runId + "/approvals/t1.1", "{\"decision\":\"maybe\"}", null).status()).isEqualTo(400);
    assertThat(post("/api/runs/" + runId + "/approvals/t1.1", "{\"decision\":\"approve\",\"always\":\"yes\"}", null).status())
        .isEqualTo(400);
    assertThat(post("/api/runs/" + runId + "/approvals/t9.9", "{\"decision\":\"approve\"}", null).status()).isEqualTo(404);
    assertThat(get("/api/runs?limit=abc")).satisfies(r -> {
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.body().get("error").asText()).contains("limit");
    });
    assertThat(get("/api/runs?limit=0").status()).isEqualTo(400);
    assertThat(get("/api/runs?status=DONE").status()).isEqualTo(400);
    assertThat(get("/api/runs?after=garbage").status()).isEqualTo(400);
    assertThat(get("/api/nothing-here").status()).isEqualTo(404);
    // a child run's id has a '/': percent-encoded, it is one path parameter
    assertThat(get("/api/runs/" + URLEncoder.encode("t:t1.1/child", StandardCharsets.UTF_8)).body().get("error").asText())
        .isEqualTo("no run t:t1.1/child");
    assertThat(post("/api/runs/" + URLEncoder.encode("t:t1.1/child", StandardCharsets.UTF_8) + "/cancel", "", null).body()
        .get("error").asText()).isEqualTo("no run t:t1.1/child");
    assertThat(get("/api/runs/x/nothing").status()).isEqualTo(404);
    // a path no HTTP client library would send: over a plain socket
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", console.port())) {
      socket.getOutputStream().write(("GET /api/runs/bad%zzid HTTP/1.1\r\nHost: console\r\nAuthorization: Bearer " + TOKEN
          + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(answer).startsWith("HTTP/1.1 400");
    }

    // the token: required on every /api call
    HttpResponse<String> none = http.send(HttpRequest.newBuilder(URI.create(base + "/api/runs")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(JSON.readTree(none.body()).get("error").asText()).contains("Bearer");
    HttpResponse<String> wrong = http.send(HttpRequest.newBuilder(URI.create(base + "/api/runs"))
        .header("Authorization", "Bearer nope").GET().build(), HttpResponse.BodyHandlers.ofString());
    assertThat(wrong.statusCode()).isEqualTo(401);
    HttpResponse<String> cancelWithout = http.send(HttpRequest.newBuilder(URI.create(base + "/api/runs/" + runId + "/cancel"))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(cancelWithout.statusCode()).isEqualTo(401);

    // then a real cancel
    assertThat(post("/api/runs/" + runId + "/cancel", "{\"reason\":\"wrong database\"}", "carol").status()).isEqualTo(202);
    JsonNode cancelled = awaitRun(runId, "CANCELLED");
    assertThat(cancelled.get("error").asText()).contains("wrong database").contains("carol");
  }

  @Test
  void pagesOfTheRunListFollowEachOther() throws Exception {
    for (int i = 0; i < 3; i++) {
      submit("ship page " + i);
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> get("/api/runs?limit=500").body().get("runs").size() >= 3);
    List<String> all = get("/api/runs?limit=500").body().get("runs").findValuesAsText("runId");
    List<String> paged = new ArrayList<>();
    String cursor = null;
    do {
      JsonNode page = get("/api/runs?limit=2" + (cursor == null ? "" : "&after=" + URLEncoder.encode(cursor, StandardCharsets.UTF_8))).body();
      assertThat(page.get("runs").size()).isLessThanOrEqualTo(2);
      paged.addAll(page.get("runs").findValuesAsText("runId"));
      cursor = page.get("next").isNull() ? null : page.get("next").asText();
    } while (cursor != null && paged.size() < all.size() + 5);
    assertThat(paged).containsAll(all).doesNotHaveDuplicates();
    List<String> created = new ArrayList<>();
    get("/api/runs?limit=500").body().get("runs").forEach(r -> created.add(r.get("createdAt").asText()));
    assertThat(created).isSortedAccordingTo((a, b) -> Instant.parse(b).compareTo(Instant.parse(a)));
  }

  /** A second console materializes the runs there are; restarted, it has them at once from its own stores. */
  @Test
  void aNewConsoleCatchesUpAndARestartedOneKeepsItsViews() throws Exception {
    String runId = submit("ship search 7.0");
    awaitRun(runId, "INTERRUPTED");
    Map<String, String> settings = Map.of(
        "turnpike.schema.registry.url", registry.url(),
        "turnpike.bootstrap.servers", kafka.bootstrapServers(),
        "turnpike.console.port", "0",
        "turnpike.console.host", "127.0.0.1",
        "turnpike.console.application-id", "console-e2e-second",
        "turnpike.console.state-dir", Files.createTempDirectory("console-e2e-second").toString());
    HttpClient plain = HttpClient.newHttpClient();
    for (int start = 1; start <= 2; start++) {
      try (ConsoleService second = ConsoleService.start(Settings.of(settings))) {
        URI show = URI.create("http://127.0.0.1:" + second.port() + "/api/runs/" + runId);
        await().atMost(Duration.ofSeconds(60)).until(() -> {
          HttpResponse<String> r = plain.send(HttpRequest.newBuilder(show).GET().build(), HttpResponse.BodyHandlers.ofString());
          return r.statusCode() == 200 && JSON.readTree(r.body()).get("status").asText().equals("INTERRUPTED");
        });
        // the step history comes from another topic than the run's state, so it may catch up a moment later
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
          HttpResponse<String> history = plain.send(HttpRequest.newBuilder(URI.create(show + "/history")).GET().build(),
              HttpResponse.BodyHandlers.ofString());
          assertThat(JSON.readTree(history.body()).get("events").findValuesAsText("type")).contains("ApprovalRequested");
        });
      }
    }
    assertThat(post("/api/runs/" + runId + "/cancel", "", null).status()).isEqualTo(202);
  }

  /** The web UI in Debian's chromium: sign in, the run list, the run, the approval click, COMPLETED. */
  @Test
  void anOperatorApprovesARunInTheBrowser() throws Exception {
    File driverBinary = new File("/usr/bin/chromedriver");
    File browser = new File("/usr/bin/chromium");
    assumeTrue(driverBinary.canExecute() && browser.canExecute(),
        "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run installs them)");
    String runId = submit("ship checkout 3.1.0");
    awaitRun(runId, "INTERRUPTED");

    ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(driverBinary)
        .usingAnyFreePort().build();
    ChromeOptions options = new ChromeOptions();
    options.setBinary(browser);
    options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1360,860", "--lang=en-GB");
    WebDriver driver = new ChromeDriver(service, options);
    Path shots = screenshotFolder();
    try {
      WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
      driver.get(base + "/");
      // the console has a token: the page asks for it
      wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("token-input"))).sendKeys(TOKEN);
      driver.findElement(By.id("user-input")).sendKeys("dana");
      driver.findElement(By.cssSelector("#token-form button")).click();

      By row = By.cssSelector("#runs tr[data-run-id='" + runId + "']");
      wait.until(ExpectedConditions.presenceOfElementLocated(row));
      wait.until(ExpectedConditions.textToBePresentInElementLocated(row, "INTERRUPTED"));
      shot(driver, shots, "run-list.png");
      driver.findElement(row).click();

      By approve = By.cssSelector("#pending button.approve");
      wait.until(ExpectedConditions.elementToBeClickable(approve));
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#timeline li[data-type='ApprovalRequested']")));
      wait.until(ExpectedConditions.textToBe(By.id("run-status"), "INTERRUPTED"));
      driver.findElement(By.cssSelector("#pending .message-input")).sendKeys("ok for checkout");
      shot(driver, shots, "run-waiting-for-approval.png");
      driver.findElement(approve).click();

      wait.until(ExpectedConditions.textToBe(By.id("run-status"), "COMPLETED"));
      wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#timeline li[data-type='RunFinished']")));
      assertThat(driver.findElement(By.id("run-output")).getText()).isEqualTo("Done: deployed checkout 3.1.0");
      assertThat(driver.findElements(By.cssSelector("#timeline li[data-type='ApprovalResolved']"))).singleElement()
          .satisfies(li -> assertThat(li.getText()).contains("approved").contains("(by dana)"));
      shot(driver, shots, "run-completed.png");
    } finally {
      driver.quit();
      service.stop();
    }
    RunCommand sent = client.serdes().runCommand().decode(commands.forKey(runId).get(0).value());
    assertThat(sent.getIssuedBy()).isEqualTo("dana");
  }

  // ---------------------------------------------------------------------------------------------- helpers

  record Reply(int status, JsonNode body) {}

  static String submit(String input) {
    return client.submit("release-bot", null, input, Map.of());
  }

  static HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + TOKEN)
        .timeout(Duration.ofSeconds(30));
  }

  static Reply get(String path) throws Exception {
    HttpResponse<String> r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
    return new Reply(r.statusCode(), r.body().isEmpty() ? null : JSON.readTree(r.body()));
  }

  static Reply post(String path, String body, String user) throws Exception {
    HttpRequest.Builder b = request(path).header("Content-Type", "application/json")
        .POST(body.isEmpty() ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (user != null) {
      b.header("X-Turnpike-User", user);
    }
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    return new Reply(r.statusCode(), r.body().isEmpty() ? null : JSON.readTree(r.body()));
  }

  static JsonNode awaitRun(String runId, String status) {
    JsonNode[] last = new JsonNode[1];
    await().atMost(Duration.ofSeconds(60)).until(() -> {
      Reply r = get("/api/runs/" + runId);
      last[0] = r.body();
      return r.status() == 200 && status.equals(r.body().get("status").asText());
    });
    return last[0];
  }

  static List<String> types(String runId) throws Exception {
    return get("/api/runs/" + runId + "/history").body().get("events").findValuesAsText("type");
  }

  /** docs/console/ when asked to refresh the checked-in screenshots (-Dconsole.screenshots=docs), else target/. */
  static Path screenshotFolder() throws Exception {
    Path dir = "docs".equals(System.getProperty("console.screenshots"))
        ? Path.of("..", "docs", "console") : Path.of(System.getProperty("java.io.tmpdir"), "turnpike-console-shots");
    return Files.createDirectories(dir);
  }

  static void shot(WebDriver driver, Path dir, String name) throws Exception {
    File f = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
    try (InputStream in = Files.newInputStream(f.toPath())) {
      Files.copy(in, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
