package io.turnpike.guardrail.builtin;

import io.turnpike.guardrail.text.BoundedCharSequence;
import io.turnpike.guardrail.text.Masks;
import io.turnpike.guardrail.text.NormalizedText;
import io.turnpike.guardrail.text.WorkLimitExceeded;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds personal data in a {@link NormalizedText} without regular expressions that could backtrack:
 * hand-written scanners, linear in the text, each candidate bounded in length.
 *
 * <ul>
 *   <li>e-mail addresses (up to two spaces or a line break around the {@code @} are tolerated);
 *   <li>IBANs, checked with ISO 13616 mod 97 and the country's length, spaces/dashes/line breaks
 *       anywhere inside;
 *   <li>credit card numbers: 13-19 digits, Luhn-valid, with a known issuer prefix unless configured
 *       otherwise, in groups separated by spaces, dashes, dots or line breaks;
 *   <li>national IDs, each opt-in by name: {@code us_ssn} (AAA-GG-SSSS with the SSA's rules),
 *       {@code uk_nino}, {@code es_dni} (DNI and NIE with their check letter), {@code nl_bsn} (9
 *       digits, eleven-test), plus custom patterns;
 *   <li>phone numbers: {@code +} and 8-15 digits, {@code 00} and 10-15 digits, or 10-11 digits in
 *       a national layout (trunk prefix 0, (area) code, NANP 3-3-4).
 * </ul>
 * Matching runs on the normalised text (look-alike digits, fullwidth forms and invisible characters
 * already dealt with); offsets in the {@link Match}es are normalised offsets.
 */
public final class PiiScanner {

  public enum Kind {
    EMAIL("email"), PHONE("phone"), CREDIT_CARD("credit_card"), IBAN("iban"), NATIONAL_ID("national_id");

    final String id;

    Kind(String id) {
      this.id = id;
    }

    public String id() {
      return id;
    }

    public static Kind parse(String s) {
      String v = s.trim().toLowerCase(Locale.ROOT).replace('-', '_');
      return switch (v) {
        case "email", "e_mail", "emails" -> EMAIL;
        case "phone", "phones", "phone_number", "telephone" -> PHONE;
        case "credit_card", "card", "cards", "credit_cards", "pan" -> CREDIT_CARD;
        case "iban", "ibans" -> IBAN;
        case "national_id", "national_ids", "id", "ids" -> NATIONAL_ID;
        default -> throw new IllegalArgumentException("unknown PII kind '" + s
            + "' (email, phone, credit_card, iban, national_id)");
      };
    }
  }

  /** The national IDs known by name. */
  public static final Set<String> NATIONAL_IDS = Set.of("us_ssn", "uk_nino", "es_dni", "nl_bsn");
  public static final Set<String> DEFAULT_NATIONAL_IDS = Set.of("us_ssn", "uk_nino", "es_dni");

  /** A custom identifier pattern ({@code customIds} in the configuration). */
  public record CustomId(String name, Pattern pattern) {}

  public record Options(Set<Kind> kinds, Set<String> nationalIds, List<CustomId> customIds,
      boolean cardRequiresKnownPrefix, int maxMatches) {
    public static Options defaults() {
      return new Options(EnumSet.allOf(Kind.class), DEFAULT_NATIONAL_IDS, List.of(), true, 10_000);
    }
  }

  /**
   * One finding at normalised offsets {@code [start, end)}.
   *
   * @param type  {@code email}, {@code phone}, {@code credit_card}, {@code iban}, an ID name
   *              ({@code us_ssn}) or a custom ID's name
   * @param label what it is, for reasons ("credit card number (Luhn-valid)")
   * @param evidence the value, masked
   */
  public record Match(String type, String label, int start, int end, String evidence) {}

  private static final Map<String, Integer> IBAN_LENGTHS = ibanLengths();

  private final NormalizedText nt;
  private final String t;
  private final int len;
  private final Options options;
  private final long deadlineNanos;
  private final BitSet claimed = new BitSet();
  private final List<Match> matches = new ArrayList<>();
  private int steps;

  private PiiScanner(NormalizedText nt, Options options, long deadlineNanos) {
    this.nt = nt;
    this.t = nt.text();
    this.len = t.length();
    this.options = options;
    this.deadlineNanos = deadlineNanos;
  }

  /** Every finding, sorted by position. */
  public static List<Match> scan(NormalizedText text, Options options, long deadlineNanos) {
    PiiScanner s = new PiiScanner(text, options, deadlineNanos);
    s.run();
    s.matches.sort(Comparator.comparingInt(Match::start));
    return s.matches;
  }

  private void run() {
    Set<Kind> kinds = options.kinds();
    boolean ids = kinds.contains(Kind.NATIONAL_ID);
    if (kinds.contains(Kind.EMAIL)) {
      emails();
    }
    if (kinds.contains(Kind.IBAN)) {
      ibans();
    }
    if (ids && options.nationalIds().contains("es_dni")) {
      spanishIds();
    }
    if (ids && options.nationalIds().contains("uk_nino")) {
      ukNino();
    }
    if (ids) {
      for (CustomId c : options.customIds()) {
        custom(c);
      }
    }
    if (kinds.contains(Kind.CREDIT_CARD) || kinds.contains(Kind.PHONE)
        || (ids && (options.nationalIds().contains("us_ssn") || options.nationalIds().contains("nl_bsn")))) {
      digitChains();
    }
  }

  private boolean full() {
    return matches.size() >= options.maxMatches();
  }

  private void tick() {
    if ((++steps & 0xFFF) == 0 && System.nanoTime() - deadlineNanos > 0) {
      throw new WorkLimitExceeded("PII detection ran past the check's deadline");
    }
  }

  private void add(String type, String label, int start, int end, String evidence) {
    if (full()) {
      return;
    }
    matches.add(new Match(type, label, start, end, evidence));
    claimed.set(start, end);
  }

  private static boolean isAsciiLetter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private boolean letterOrDigitAt(int i) {
    return i >= 0 && i < len && Character.isLetterOrDigit(t.charAt(i));
  }

  // ------------------------------------------------------------------ e-mail

  private static boolean isLocalChar(char c) {
    return isAsciiLetter(c) || isDigit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
        || (c >= 0x80 && Character.isLetterOrDigit(c));
  }

  private static boolean isDomainChar(char c) {
    return isAsciiLetter(c) || isDigit(c) || c == '.' || c == '-' || (c >= 0x80 && Character.isLetterOrDigit(c));
  }

  private static boolean isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  }

  private void emails() {
    for (int at = t.indexOf('@'); at >= 0 && !full(); at = t.indexOf('@', at + 1)) {
      tick();
      int l = at - 1;
      for (int ws = 0; l >= 0 && ws < 2 && isBlank(t.charAt(l)); ws++) {
        l--;
      }
      int localEnd = l + 1;
      int k = l;
      while (k >= 0 && localEnd - k <= 64 && isLocalChar(t.charAt(k))) {
        k--;
      }
      int localStart = k + 1;
      while (localStart < localEnd && t.charAt(localStart) == '.') {
        localStart++;
      }
      if (localStart >= localEnd) {
        continue;
      }
      int r = at + 1;
      for (int ws = 0; r < len && ws < 2 && isBlank(t.charAt(r)); ws++) {
        r++;
      }
      int domStart = r;
      int e = r;
      while (e < len && e - domStart < 253 && isDomainChar(t.charAt(e))) {
        e++;
      }
      while (e > domStart && (t.charAt(e - 1) == '.' || t.charAt(e - 1) == '-')) {
        e--;
      }
      int lastDot = -1;
      for (int d = e - 1; d > domStart; d--) {
        if (t.charAt(d) == '.') {
          lastDot = d;
          break;
        }
      }
      if (lastDot <= domStart || lastDot >= e - 2) {
        continue;
      }
      boolean tldOk = true;
      for (int i = domStart + 1; i < e; i++) {
        if (t.charAt(i) == '.' && t.charAt(i - 1) == '.') {
          tldOk = false;
          break;
        }
      }
      for (int i = lastDot + 1; i < e; i++) {
        if (!Character.isLetter(t.charAt(i))) {
          tldOk = false;
          break;
        }
      }
      if (!tldOk || claimed.get(localStart, e).cardinality() > 0) {
        continue;
      }
      String compact = t.substring(localStart, localEnd) + "@" + t.substring(domStart, e);
      add("email", "e-mail address", localStart, e, Masks.email(compact));
    }
  }

  // ------------------------------------------------------------------ IBAN

  private void ibans() {
    for (int i = 0; i + 4 <= len && !full(); i++) {
      if (!isDigit(t.charAt(i + 2)) || !isDigit(t.charAt(i + 3))) {
        continue;
      }
      char c0 = t.charAt(i);
      if (!isAsciiLetter(c0) || !isAsciiLetter(t.charAt(i + 1)) || letterOrDigitAt(i - 1)) {
        continue;
      }
      tick();
      String country = ("" + c0 + t.charAt(i + 1)).toUpperCase(Locale.ROOT);
      Integer expected = IBAN_LENGTHS.get(country);
      if (expected == null) {
        continue;
      }
      StringBuilder compact = new StringBuilder(34);
      int p = i;
      int end = -1;
      while (p < len && compact.length() < expected) {
        char c = t.charAt(p);
        if (isAsciiLetter(c) || isDigit(c)) {
          compact.append(Character.toUpperCase(c));
          p++;
          if (compact.length() == expected) {
            end = p;
          }
          continue;
        }
        // a separator of at most two characters inside the number
        int q = p;
        while (q < len && q - p < 2 && (isBlank(t.charAt(q)) || t.charAt(q) == '-')) {
          q++;
        }
        if (q == p || q >= len || !(isAsciiLetter(t.charAt(q)) || isDigit(t.charAt(q)))) {
          break;
        }
        p = q;
      }
      if (end < 0 || letterOrDigitAt(end) || claimed.get(i, end).cardinality() > 0) {
        continue;
      }
      if (mod97(compact) == 1) {
        add("iban", "IBAN (checksum-valid)", i, end, Masks.iban(compact.toString()));
        i = end - 1;
      }
    }
  }

  static int mod97(CharSequence iban) {
    int rem = 0;
    int n = iban.length();
    for (int k = 0; k < n; k++) {
      char c = iban.charAt((k + 4) % n);
      if (isDigit(c)) {
        rem = (rem * 10 + (c - '0')) % 97;
      } else {
        rem = (rem * 100 + (c - 'A' + 10)) % 97;
      }
    }
    return rem;
  }

  // ------------------------------------------------------------------ regex-based IDs (bounded patterns)

  private static final Pattern ES_DNI = Pattern.compile(
      "(?<![A-Za-z0-9])([XYZxyz][- ]?)?(\\d{7,8})[- ]?([A-Za-z])(?![A-Za-z0-9])");
  private static final String DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE";

  /**
   * Tries {@code pattern} only at positions {@code candidate} accepts, anchored there, over at most
   * {@code window} characters: the pattern never scans the whole text.
   */
  private void anchored(Pattern pattern, int window, java.util.function.IntPredicate candidate,
      java.util.function.Consumer<Matcher> onMatch) {
    Matcher m = pattern.matcher(new BoundedCharSequence(t, BoundedCharSequence.regexBudget(len), deadlineNanos));
    m.useTransparentBounds(true).useAnchoringBounds(false);
    for (int i = 0; i < len && !full(); i++) {
      if (!candidate.test(i)) {
        continue;
      }
      tick();
      m.region(i, Math.min(len, i + window));
      if (m.lookingAt()) {
        onMatch.accept(m);
        i = Math.max(i, m.end() - 1);
      }
    }
  }

  private boolean digitsAt(int from, int count) {
    if (from + count > len) {
      return false;
    }
    for (int k = from; k < from + count; k++) {
      if (!isDigit(t.charAt(k))) {
        return false;
      }
    }
    return true;
  }

  private void spanishIds() {
    anchored(ES_DNI, 14, i -> {
      char c = t.charAt(i);
      boolean digit = isDigit(c);
      if (!digit && c != 'X' && c != 'Y' && c != 'Z' && c != 'x' && c != 'y' && c != 'z') {
        return false;
      }
      if (letterOrDigitAt(i - 1)) {
        return false;
      }
      if (digit) {
        return digitsAt(i, 7);
      }
      if (i + 1 >= len) {
        return false;
      }
      char n = t.charAt(i + 1);
      return digitsAt(i + 1, 7) || ((n == '-' || n == ' ') && digitsAt(i + 2, 7));
    }, m -> {
      String digits = m.group(2);
      String prefix = m.group(1);
      if (prefix == null && digits.length() != 8 || prefix != null && digits.length() != 7) {
        return;
      }
      String number = prefix == null ? digits
          : "XYZ".indexOf(Character.toUpperCase(prefix.charAt(0))) + digits;
      char letter = Character.toUpperCase(m.group(3).charAt(0));
      if (DNI_LETTERS.charAt((int) (Long.parseLong(number) % 23)) == letter
          && claimed.get(m.start(), m.end()).cardinality() == 0) {
        add("es_dni", prefix == null ? "Spanish DNI" : "Spanish NIE", m.start(), m.end(),
            "*".repeat(Math.max(0, m.group().length() - 2)) + m.group().substring(m.group().length() - 1));
      }
    });
  }

  private static final Pattern UK_NINO = Pattern.compile(
      "(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z][A-CEGHJ-NPR-TW-Za-ceghj-npr-tw-z])\\s?(\\d{2})\\s?(\\d{2})\\s?(\\d{2})\\s?([A-Da-d])(?![A-Za-z0-9])");
  private static final Set<String> NINO_BAD_PREFIXES = Set.of("BG", "GB", "KN", "NK", "NT", "TN", "ZZ");

  private void ukNino() {
    anchored(UK_NINO, 16, i -> i + 3 < len
        && (isDigit(t.charAt(i + 2)) || (t.charAt(i + 2) == ' ' && isDigit(t.charAt(i + 3))))
        && isAsciiLetter(t.charAt(i)) && isAsciiLetter(t.charAt(i + 1)) && !letterOrDigitAt(i - 1), m -> {
          if (NINO_BAD_PREFIXES.contains(m.group(1).toUpperCase(Locale.ROOT))
              || claimed.get(m.start(), m.end()).cardinality() > 0) {
            return;
          }
          add("uk_nino", "UK National Insurance number", m.start(), m.end(), "** ** ** ** " + m.group(5).toUpperCase());
        });
  }

  private void custom(CustomId c) {
    Matcher m = c.pattern().matcher(new BoundedCharSequence(t, BoundedCharSequence.regexBudget(len), deadlineNanos));
    while (m.find() && !full()) {
      if (m.end() == m.start() || claimed.get(m.start(), m.end()).cardinality() > 0) {
        continue;
      }
      add(c.name(), c.name(), m.start(), m.end(), Masks.generic(m.group()));
    }
  }

  // ------------------------------------------------------------------ digit chains: cards, SSN, BSN, phones

  private static boolean isGap(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-' || c == '.' || c == '(' || c == ')';
  }

  /** Digit groups {@code [start, end)} joined by short separators. */
  private record Group(int start, int end) {
    int digits() {
      return end - start;
    }
  }

  private void digitChains() {
    int i = 0;
    List<Group> groups = new ArrayList<>();
    while (i < len && !full()) {
      tick();
      if (!isDigit(t.charAt(i)) || claimed.get(i)) {
        i++;
        continue;
      }
      groups.clear();
      int j = i;
      while (true) {
        int gs = j;
        while (j < len && isDigit(t.charAt(j)) && !claimed.get(j)) {
          j++;
        }
        groups.add(new Group(gs, j));
        int k = j;
        while (k < len && k - j < 3 && isGap(t.charAt(k))) {
          k++;
        }
        if (k > j && k < len && isDigit(t.charAt(k)) && !claimed.get(k) && groups.size() < 10_000) {
          j = k;
          continue;
        }
        break;
      }
      chain(groups);
      i = j;
    }
  }

  /** True when the text just before {@code start} (past '+' and '(') is not a letter. */
  private boolean leftClean(int start) {
    int p = start - 1;
    while (p >= 0 && (t.charAt(p) == '+' || t.charAt(p) == '(')) {
      p--;
    }
    return p < 0 || !isAsciiLetter(t.charAt(p)) && !isDigit(t.charAt(p));
  }

  private boolean rightClean(int end) {
    return end >= len || !isAsciiLetter(t.charAt(end)) && !isDigit(t.charAt(end));
  }

  private String digitsOf(List<Group> g, int from, int to) {
    StringBuilder sb = new StringBuilder();
    for (int k = from; k <= to; k++) {
      sb.append(t, g.get(k).start(), g.get(k).end());
    }
    return sb.toString();
  }

  private void chain(List<Group> g) {
    int n = g.size();
    boolean[] used = new boolean[n];
    boolean cards = options.kinds().contains(Kind.CREDIT_CARD);
    boolean ids = options.kinds().contains(Kind.NATIONAL_ID);
    if (cards) {
      int s = 0;
      while (s < n) {
        int best = -1;
        StringBuilder d = new StringBuilder(19);
        if (s > 0 || leftClean(g.get(0).start())) {
          for (int e = s; e < n; e++) {
            Group ge = g.get(e);
            if (d.length() + ge.digits() > 19) {
              break;
            }
            d.append(t, ge.start(), ge.end());
            if (d.length() >= 13 && (e < n - 1 || rightClean(ge.end()))) {
              if (luhn(d) && (!options.cardRequiresKnownPrefix() || knownCardPrefix(d.toString()))) {
                best = e;
              }
            }
          }
        }
        if (best >= 0) {
          add("credit_card", "credit card number (Luhn-valid)", g.get(s).start(), g.get(best).end(),
              Masks.card(digitsOf(g, s, best)));
          for (int k = s; k <= best; k++) {
            used[k] = true;
          }
          s = best + 1;
        } else {
          s++;
        }
      }
    }
    if (ids && options.nationalIds().contains("us_ssn")) {
      for (int s = 0; s + 2 < n; s++) {
        if (used[s] || used[s + 1] || used[s + 2]) {
          continue;
        }
        Group a = g.get(s);
        Group b = g.get(s + 1);
        Group c = g.get(s + 2);
        if (a.digits() != 3 || b.digits() != 2 || c.digits() != 4 || !ssnGap(a.end(), b.start())
            || !ssnGap(b.end(), c.start()) || (s == 0 && !leftClean(a.start()))
            || (s + 2 == n - 1 && !rightClean(c.end()))) {
          continue;
        }
        String d = digitsOf(g, s, s + 2);
        int area = Integer.parseInt(d.substring(0, 3));
        if (area == 0 || area == 666 || area >= 900 || d.startsWith("00", 3) || d.endsWith("0000")) {
          continue;
        }
        add("us_ssn", "US social security number", a.start(), c.end(), "***-**-" + d.substring(5));
        used[s] = used[s + 1] = used[s + 2] = true;
        s += 2;
      }
    }
    if (ids && options.nationalIds().contains("nl_bsn")) {
      for (int s = 0; s < n; s++) {
        Group a = g.get(s);
        if (used[s] || a.digits() != 9 || !(s > 0 || leftClean(a.start())) || !(s < n - 1 || rightClean(a.end()))) {
          continue;
        }
        String d = t.substring(a.start(), a.end());
        if (elevenTest(d)) {
          add("nl_bsn", "Dutch BSN (eleven-test)", a.start(), a.end(), Masks.lastDigits(d, 2));
          used[s] = true;
        }
      }
    }
    // A chain glued to letters on its left (an IBAN with a bad checksum, a reference like AB12 3456 ...)
    // is an identifier, not a phone number.
    if (options.kinds().contains(Kind.PHONE) && leftClean(g.get(0).start())) {
      int s = 0;
      while (s < n) {
        if (used[s]) {
          s++;
          continue;
        }
        int best = -1;
        int total = 0;
        for (int e = s; e < n && !used[e]; e++) {
          total += g.get(e).digits();
          if (total > 15) {
            break;
          }
          if (isPhone(g, s, e, total)) {
            best = e;
          }
        }
        if (best >= 0) {
          int start = g.get(s).start();
          if (start > 0 && t.charAt(start - 1) == '(') {
            start--;
          }
          if (start > 0 && t.charAt(start - 1) == '+') {
            start--;
          }
          int end = g.get(best).end();
          add("phone", "phone number", start, end, Masks.lastDigits(digitsOf(g, s, best), 2));
          for (int k = s; k <= best; k++) {
            used[k] = true;
          }
          s = best + 1;
        } else {
          s++;
        }
      }
    }
  }

  private boolean ssnGap(int from, int to) {
    for (int k = from; k < to; k++) {
      char c = t.charAt(k);
      if (c != '-' && !isBlank(c)) {
        return false;
      }
    }
    return to - from >= 1;
  }

  private boolean isPhone(List<Group> g, int s, int e, int digits) {
    Group first = g.get(s);
    int start = first.start();
    if (!(s > 0 ? true : leftClean(start)) || (e == g.size() - 1 && !rightClean(g.get(e).end()))) {
      return false;
    }
    boolean paren = start > 0 && t.charAt(start - 1) == '(';
    boolean plus = start > 0 && t.charAt(start - 1) == '+' || start > 1 && paren && t.charAt(start - 2) == '+';
    if (plus) {
      return digits >= 8 && digits <= 15;
    }
    char d0 = t.charAt(start);
    char d1 = first.digits() > 1 ? t.charAt(start + 1) : (s + 1 <= e ? t.charAt(g.get(s + 1).start()) : '0');
    if (d0 == '0' && d1 == '0') {
      return digits >= 10 && digits <= 15 && e > s;
    }
    if (digits != 10 && digits != 11) {
      return false;
    }
    int groups = e - s + 1;
    if (groups == 3 && digits == 10 && first.digits() == 3 && g.get(s + 1).digits() == 3 && g.get(e).digits() == 4) {
      return d0 >= '2';
    }
    if (groups == 4 && digits == 11 && first.digits() == 1 && d0 == '1' && g.get(s + 1).digits() == 3) {
      return true;
    }
    if (paren && groups >= 2 && first.digits() >= 2 && first.digits() <= 5 && first.end() < len
        && t.charAt(first.end()) == ')') {
      return true;
    }
    return d0 == '0' && d1 != '0' && (groups >= 2 || digits == 10);
  }

  static boolean luhn(CharSequence digits) {
    int sum = 0;
    boolean dbl = false;
    for (int i = digits.length() - 1; i >= 0; i--) {
      int d = digits.charAt(i) - '0';
      if (dbl) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
      dbl = !dbl;
    }
    return sum % 10 == 0;
  }

  static boolean knownCardPrefix(String d) {
    int n = d.length();
    int p1 = d.charAt(0) - '0';
    int p2 = Integer.parseInt(d.substring(0, 2));
    int p3 = Integer.parseInt(d.substring(0, 3));
    int p4 = Integer.parseInt(d.substring(0, 4));
    int p6 = Integer.parseInt(d.substring(0, 6));
    if (p1 == 4) {
      return n == 13 || n == 16 || n == 19; // Visa
    }
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) {
      return n == 16; // Mastercard
    }
    if (p2 == 34 || p2 == 37) {
      return n == 15; // American Express
    }
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925)) {
      return n >= 16; // Discover
    }
    if (p4 >= 3528 && p4 <= 3589) {
      return n >= 16; // JCB
    }
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39 || p4 == 3095) {
      return n >= 14; // Diners Club
    }
    if (p4 >= 2200 && p4 <= 2204) {
      return n >= 16; // Mir
    }
    if (p2 == 62) {
      return n >= 16; // UnionPay
    }
    return p2 == 50 || (p2 >= 56 && p2 <= 69); // Maestro
  }

  static boolean elevenTest(String d) {
    int sum = 0;
    for (int i = 0; i < 8; i++) {
      sum += (d.charAt(i) - '0') * (9 - i);
    }
    sum -= d.charAt(8) - '0';
    return sum != 0 && sum % 11 == 0;
  }

  private static Map<String, Integer> ibanLengths() {
    String table = "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 "
        + "DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 "
        + "IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 "
        + "NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 "
        + "TN24 TR26 UA29 VA22 VG24 XK20 YE30";
    Map<String, Integer> m = new java.util.HashMap<>();
    for (String e : table.split(" ")) {
      m.put(e.substring(0, 2), Integer.parseInt(e.substring(2)));
    }
    return Map.copyOf(m);
  }
}
