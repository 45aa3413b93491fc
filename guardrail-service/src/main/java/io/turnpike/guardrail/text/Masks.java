package io.turnpike.guardrail.text;

/** Redacted renderings of what a guardrail saw, for evidence: the shape survives, the value does not. */
public final class Masks {
  private Masks() {}

  /** Keeps the first character and the length: {@code "s******* (9 chars)"}; short values are fully masked. */
  public static String generic(String value) {
    if (value == null || value.isEmpty()) {
      return "";
    }
    int n = value.codePointCount(0, value.length());
    String stars = "*".repeat(Math.min(Math.max(n - 1, 1), 12));
    if (n <= 3) {
      return "*".repeat(n) + " (" + n + " chars)";
    }
    return new String(Character.toChars(value.codePointAt(0))) + stars + " (" + n + " chars)";
  }

  /** A card number: {@code ****-****-****-1111} (stars in groups of four, last four digits kept). */
  public static String card(String digits) {
    int keep = Math.min(4, digits.length());
    int hidden = digits.length() - keep;
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < hidden; i++) {
      if (i > 0 && i % 4 == 0) {
        sb.append('-');
      }
      sb.append('*');
    }
    if (hidden > 0) {
      sb.append('-');
    }
    return sb.append(digits, digits.length() - keep, digits.length()).toString();
  }

  /** Digits with all but the last {@code keep} masked: {@code *******71}. */
  public static String lastDigits(String digits, int keep) {
    keep = Math.min(keep, digits.length() / 3);
    return "*".repeat(digits.length() - keep) + digits.substring(digits.length() - keep);
  }

  /** An e-mail address: {@code j***@e***.com}. */
  public static String email(String address) {
    int at = address.indexOf('@');
    if (at <= 0) {
      return generic(address);
    }
    String domain = address.substring(at + 1);
    int dot = domain.lastIndexOf('.');
    String tld = dot >= 0 ? domain.substring(dot) : "";
    return address.charAt(0) + "***@" + (domain.isEmpty() ? "" : domain.charAt(0) + "***") + tld;
  }

  /** An IBAN: country code and the last four characters: {@code DE** **** **** **** **30 00}. */
  public static String iban(String compact) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < compact.length(); i++) {
      if (i > 0 && i % 4 == 0) {
        sb.append(' ');
      }
      sb.append(i < 2 || i >= compact.length() - 4 ? compact.charAt(i) : '*');
    }
    return sb.toString();
  }
}
