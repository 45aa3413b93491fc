package io.turnpike.cli.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.turnpike.devkit.ModelRequestView;
import io.turnpike.devkit.ScriptedReply;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * EXAMPLE CODE: how the offline model plays customer support ({@code agents/support-triage.yaml} and
 * {@code agents/billing-specialist.yaml}, recognised by their tools). Triage answers a product
 * question itself and hands a billing question to the specialist ({@code transfer_to_billing-specialist},
 * a handoff); the specialist looks the invoice up ({@code lookup_invoice}, served by the example tool
 * worker), and for a double charge asks for a refund ({@code issue_refund}), which waits for a human
 * approval: the run goes INTERRUPTED until {@code turnpike approve} or {@code reject}. After the
 * decision it tells the customer what happened. Every answer is labelled {@link OfflineTravelScript#LABEL}.
 */
final class OfflineSupportScript {
  static final String HANDOFF = "transfer_to_billing-specialist";
  static final String LOOKUP = "lookup_invoice";
  static final String REFUND = "issue_refund";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern INVOICE = Pattern.compile("\\bINV-\\d+\\b", Pattern.CASE_INSENSITIVE);
  private static final Pattern BILLING = Pattern.compile("invoice|charge|refund|payment|INV-\\d+", Pattern.CASE_INSENSITIVE);

  private OfflineSupportScript() {}

  static boolean handles(ModelRequestView request) {
    return request.toolNames().contains(HANDOFF) || request.toolNames().contains(LOOKUP);
  }

  static ScriptedReply reply(ModelRequestView request) {
    String question = request.lastUserText() == null ? "" : request.lastUserText();
    if (request.toolNames().contains(HANDOFF)) {
      // support-triage: billing questions go to the specialist at once, the rest it answers
      return BILLING.matcher(question).find() ? ScriptedReply.toolCall(HANDOFF, "{}")
          : ScriptedReply.text(OfflineTravelScript.LABEL + " Acme Cloud runs your services in three regions with daily"
              + " backups. For anything about invoices or refunds, just ask and I will pass you to billing.");
    }
    Map<String, String> outputs = request.toolOutputs();
    String invoice = invoiceOf(question);
    if (!outputs.containsKey(LOOKUP)) {
      return ScriptedReply.toolCall(LOOKUP, object("invoice", invoice).toString());
    }
    JsonNode found = parse(outputs.get(LOOKUP));
    if (found == null || !found.has("total_eur")) {
      return ScriptedReply.text(OfflineTravelScript.LABEL + " I could not find invoice " + invoice + " ("
          + outputs.get(LOOKUP) + "). Could you check the number?");
    }
    boolean doubleCharged = found.path("double_charged").asBoolean();
    if (!outputs.containsKey(REFUND)) {
      if (!doubleCharged) {
        return ScriptedReply.text(OfflineTravelScript.LABEL + " Invoice " + invoice + " (" + found.path("total_eur").asText()
            + " EUR) was charged once and is " + found.path("status").asText() + "; there is nothing to refund.");
      }
      ObjectNode refund = object("invoice", invoice);
      refund.put("amount_eur", found.path("total_eur").asDouble());
      refund.put("reason", "double charge");
      return ScriptedReply.toolCall(REFUND, refund.toString());
    }
    String result = outputs.get(REFUND);
    String lower = result.toLowerCase(Locale.ROOT);
    return ScriptedReply.text(OfflineTravelScript.LABEL + (lower.contains("reject") || lower.startsWith("error")
        ? " I asked for a refund of the double charge on " + invoice + ", but it was not approved: " + result
        : " You were charged twice for " + invoice + "; the second charge of " + found.path("total_eur").asText()
            + " EUR is refunded to your original payment method (refund " + refundId(result) + ")."));
  }

  private static String refundId(String result) {
    JsonNode r = parse(result);
    return r != null && r.has("refund_id") ? r.path("refund_id").asText() : result;
  }

  private static String invoiceOf(String question) {
    Matcher m = INVOICE.matcher(question);
    return m.find() ? m.group().toUpperCase(Locale.ROOT) : "INV-1042";
  }

  private static ObjectNode object(String key, String value) {
    ObjectNode o = JSON.createObjectNode();
    o.put(key, value);
    return o;
  }

  private static JsonNode parse(String s) {
    try {
      return s == null ? null : JSON.readTree(s);
    } catch (Exception e) {
      return null;
    }
  }
}
