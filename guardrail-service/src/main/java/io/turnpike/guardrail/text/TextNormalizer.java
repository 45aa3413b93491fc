package io.turnpike.guardrail.text;

import java.text.Normalizer;
import java.util.HashMap;
import java.util.Map;

/**
 * Normalises text before deny lists and PII detection match it, so that look-alike spellings do not slip
 * through. Code point by code point:
 * <ul>
 *   <li>invisible characters are dropped: format characters (zero-width space and joiners, bidi
 *       controls, soft hyphen, BOM, word joiner), variation selectors, combining marks (so diacritics
 *       go: {@code é} → {@code e}), Hangul fillers, braille blank, C1 controls;
 *   <li>Unicode tag characters (U+E0020..U+E007E, used to smuggle invisible ASCII) are decoded to the
 *       ASCII they stand for, and counted;
 *   <li>compatibility forms are folded (NFKC: fullwidth {@code Ａ}, ligatures, mathematical letters
 *       {@code 𝐀}, circled and superscript digits);
 *   <li>common confusables become the ASCII letter they imitate (Cyrillic {@code а}, Greek {@code ο},
 *       small capitals, Cherokee and Lisu capitals), digits of any script become ASCII digits, every
 *       kind of space becomes a space, every kind of dash a hyphen, curly quotes straight ones.
 * </ul>
 * Case is kept ({@link NormalizedText#lower()} folds it). Plain ASCII text is returned as is, without
 * copying. The work is linear in the length of the text, with a cache for the Basic Multilingual Plane.
 */
public final class TextNormalizer {
  private TextNormalizer() {}

  private static final String DROP = "";
  private static final String[] BMP = new String[0x10000];
  private static final Map<Integer, String> CONFUSABLES = new HashMap<>();

  static {
    // pairs: look-alike, ASCII
    String pairs =
        // Cyrillic lower case
        "аaвbеeёeһhіiїiјjкkоoрpсcѕsуyхxԁdԛqԝwӏlҽeһhԍgսu"
        // Cyrillic upper case
        + "АAВBСCЕEНHІIЈJКKМMОOРPЅSТTХXУYҮYԚQԜWӀIЗ3"
        // Greek
        + "ΑAΒBΕEΖZΗHΙIΚKΜMΝNΟOΡPΤTΥYΧXαaοoρpνvιiκkυuχxϲcϳjϵeγy"
        // Latin look-alikes and small capitals
        + "ıiȷjɑaɡgɩiǀlᴀaʙbᴄcᴅdᴇeɢgʜhɪiᴊjᴋkʟlᴍmɴnᴏoᴘpʀrꜱsᴛtᴜuᴠvᴡwʏyᴢz"
        // Armenian
        + "օoսuհhոnՍUՕOԼL"
        // Cherokee capitals
        + "ᎪAᏴBᏟCᎬEᏀGᎻHᎫJᏦKᏞLᎷMᏢPᏚSᎢTᏙVᏔWᏃZ"
        // Lisu capitals
        + "ꓮAꓐBꓚCꓓDꓰEꓝFꓖGꓧHꓲIꓙJꓗKꓡLꓟMꓠNꓳOꓑPꓣRꓢSꓔTꓴUꓦVꓪWꓫXꓬYꓜZ"
        // punctuation
        + "‘'’'‚'‛'“\"”\"„\"‟\"′'″\"∕/⁄/ꓸ.";
    int i = 0;
    while (i < pairs.length()) {
      int from = pairs.codePointAt(i);
      i += Character.charCount(from);
      int to = pairs.codePointAt(i);
      i += Character.charCount(to);
      CONFUSABLES.put(from, new String(Character.toChars(to)));
    }
  }

  /** Normalises {@code s}; see the class comment. */
  public static NormalizedText normalize(String s) {
    int n = s.length();
    int firstNonAscii = -1;
    for (int i = 0; i < n; i++) {
      if (s.charAt(i) >= 0x80) {
        firstNonAscii = i;
        break;
      }
    }
    if (firstNonAscii < 0) {
      return new NormalizedText(s, s, null, 0, 0);
    }
    StringBuilder out = new StringBuilder(n);
    int[] origin = new int[n + 16];
    int len = 0;
    for (int i = 0; i < firstNonAscii; i++) {
      out.append(s.charAt(i));
      origin[len++] = i;
    }
    int removed = 0;
    int tags = 0;
    int i = firstNonAscii;
    while (i < n) {
      char c = s.charAt(i);
      if (c < 0x80) {
        if (len == origin.length) {
          origin = grow(origin);
        }
        out.append(c);
        origin[len++] = i;
        i++;
        continue;
      }
      int cp = s.codePointAt(i);
      String m;
      if (cp >= 0xE0000 && cp <= 0xE007F) {
        tags++;
        m = cp >= 0xE0020 && cp <= 0xE007E ? String.valueOf((char) (cp - 0xE0000)) : DROP;
      } else {
        m = map(cp);
      }
      if (m.isEmpty()) {
        removed++;
      }
      for (int k = 0; k < m.length(); k++) {
        if (len == origin.length) {
          origin = grow(origin);
        }
        out.append(m.charAt(k));
        origin[len++] = i;
      }
      i += Character.charCount(cp);
    }
    int[] exact = len == origin.length ? origin : java.util.Arrays.copyOf(origin, len);
    return new NormalizedText(s, out.toString(), exact, removed, tags);
  }

  private static int[] grow(int[] a) {
    return java.util.Arrays.copyOf(a, a.length + (a.length >> 1) + 16);
  }

  /** What one non-ASCII code point becomes ("" = dropped). */
  static String map(int cp) {
    if (cp < 0x10000) {
      String cached = BMP[cp];
      if (cached == null) {
        cached = compute(cp);
        BMP[cp] = cached; // racy but idempotent
      }
      return cached;
    }
    return compute(cp);
  }

  private static String compute(int cp) {
    String simple = simple(cp);
    if (simple != null) {
      return simple;
    }
    if (cp >= 0xAC00 && cp <= 0xD7A3) {
      return new String(Character.toChars(cp)); // Hangul syllables: keep composed
    }
    String nfkc = Normalizer.normalize(new String(Character.toChars(cp)), Normalizer.Form.NFKC);
    String nfd = Normalizer.normalize(nfkc, Normalizer.Form.NFD);
    StringBuilder sb = new StringBuilder(nfd.length());
    int i = 0;
    while (i < nfd.length()) {
      int c = nfd.codePointAt(i);
      i += Character.charCount(c);
      if (c < 0x80) {
        sb.append((char) c);
        continue;
      }
      String s = simple(c);
      if (s != null) {
        sb.append(s);
      } else {
        sb.appendCodePoint(c);
      }
    }
    return sb.toString();
  }

  /** Dropping, spaces, dashes, confusables and digits; null when none applies. */
  private static String simple(int cp) {
    if (isInvisible(cp)) {
      return DROP;
    }
    switch (cp) {
      case 0x2028, 0x2029, 0x0085:
        return "\n";
      default:
        break;
    }
    if (Character.isSpaceChar(cp) || cp == 0x00A0) {
      return " ";
    }
    if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212 || cp == 0xFE58 || cp == 0xFE63 || cp == 0xFF0D
        || cp == 0x2043 || cp == 0x2E3A || cp == 0x2E3B) {
      return "-";
    }
    String conf = CONFUSABLES.get(cp);
    if (conf != null) {
      return conf;
    }
    if (Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER) {
      int d = Character.digit(cp, 10);
      if (d >= 0) {
        return String.valueOf((char) ('0' + d));
      }
    }
    return null;
  }

  static boolean isInvisible(int cp) {
    int type = Character.getType(cp);
    if (type == Character.FORMAT || type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK
        || type == Character.CONTROL) {
      return true;
    }
    return cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0 || cp == 0x2800 || cp == 0x180E
        || (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF) || cp == 0x034F;
  }
}
