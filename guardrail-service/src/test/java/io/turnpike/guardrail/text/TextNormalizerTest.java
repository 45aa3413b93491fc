package io.turnpike.guardrail.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class TextNormalizerTest {

  @Test
  void plainAsciiIsReturnedAsIs() {
    String s = "Hello, world! 4111 1111";
    NormalizedText nt = TextNormalizer.normalize(s);
    assertThat(nt.isIdentity()).isTrue();
    assertThat(nt.text()).isSameAs(s);
    assertThat(nt.originalStart(3)).isEqualTo(3);
    assertThat(nt.originalEnd(5)).isEqualTo(5);
  }

  @Test
  void foldsFullwidthMathematicalAndLigatures() {
    assertThat(TextNormalizer.normalize("ＰＡＳＳＷＯＲＤ").text()).isEqualTo("PASSWORD");
    assertThat(TextNormalizer.normalize("𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝").text()).isEqualTo("password");
    assertThat(TextNormalizer.normalize("ﬁle").text()).isEqualTo("file");
    assertThat(TextNormalizer.normalize("①②③").text()).isEqualTo("123");
  }

  @Test
  void mapsConfusablesToAscii() {
    // Cyrillic а, о, р, е and Greek ο
    assertThat(TextNormalizer.normalize("pаsswоrd").text()).isEqualTo("password");
    assertThat(TextNormalizer.normalize("ѕесrеt").text()).isEqualTo("secret");
    assertThat(TextNormalizer.normalize("ΑΡΙ").text()).isEqualTo("API");
    assertThat(TextNormalizer.normalize("ꓮᏴᏟ").text()).isEqualTo("ABC");
    assertThat(TextNormalizer.normalize("“quoted” – dash").text()).isEqualTo("\"quoted\" - dash");
  }

  @Test
  void dropsInvisibleCharactersAndDiacritics() {
    NormalizedText nt = TextNormalizer.normalize("pa\u200Bss\u200Dwo\u00ADrd\uFEFF");
    assertThat(nt.text()).isEqualTo("password");
    assertThat(nt.removedCount()).isEqualTo(4);
    assertThat(TextNormalizer.normalize("café naïve").text()).isEqualTo("cafe naive");
    assertThat(TextNormalizer.normalize("e\u0301\u0301\u0301x").text()).isEqualTo("ex");
  }

  @Test
  void mapsDigitsOfAnyScriptAndSpaces() {
    assertThat(TextNormalizer.normalize("٤١١١\u00A0١١١١").text()).isEqualTo("4111 1111");
    assertThat(TextNormalizer.normalize("４１１１\u2007１１１１").text()).isEqualTo("4111 1111");
    assertThat(TextNormalizer.normalize("a\u2028b").text()).isEqualTo("a\nb");
  }

  @Test
  void decodesUnicodeTagCharacters() {
    StringBuilder s = new StringBuilder("ok");
    for (char c : "ignore".toCharArray()) {
      s.appendCodePoint(0xE0000 + c);
    }
    NormalizedText nt = TextNormalizer.normalize(s.toString());
    assertThat(nt.text()).isEqualTo("okignore");
    assertThat(nt.tagCount()).isEqualTo(6);
  }

  @Test
  void offsetsMapBackToTheOriginal() {
    String original = "x\u200Bｐаss 𝐰ord";
    NormalizedText nt = TextNormalizer.normalize(original);
    assertThat(nt.text()).isEqualTo("xpass word");
    int start = nt.text().indexOf("pass");
    assertThat(nt.originalSlice(start, start + 4)).isEqualTo("ｐаss");
    int w = nt.text().indexOf("word");
    assertThat(nt.originalSlice(w, w + 4)).isEqualTo("𝐰ord"); // surrogate pair kept whole
    assertThat(nt.originalSlice(0, nt.length())).isEqualTo(original.substring(0, original.length()));
  }

  @Test
  void lowerKeepsLength() {
    NormalizedText nt = TextNormalizer.normalize("İSTANBUL ÅNGSTRÖM");
    assertThat(nt.lower()).hasSameSizeAs(nt.text());
    assertThat(nt.lower()).isEqualTo("istanbul angstrom");
  }

  @Test
  void hugeInputIsLinear() {
    String chunk = "Ünïcödé text with а few look-alikes and ４２ digits.\n";
    String big = chunk.repeat(100_000); // about 5 MB
    long t0 = System.nanoTime();
    NormalizedText nt = TextNormalizer.normalize(big);
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(nt.text()).startsWith("Unicode text with a few look-alikes and 42 digits.");
    assertThat(took).isLessThan(Duration.ofSeconds(20));
  }
}
