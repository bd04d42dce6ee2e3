"""Prompt sweep, step 1: writes the prompts to test (bench/prompt_sweep/out/prompts.json).

Run (from /work/main):
    python3 bench/prompt_sweep/prompts.py            # hand-written + generated prompts
    python3 bench/prompt_sweep/prompts.py --cp-sweep # also "a<c>b" / "<c>" for every BMP code point

then bench/prompt_sweep/reference.py (Python reference) and compare.ts (ours). See run.sh.

Every case is {"id", "cat", "text"} (single prompts) or {"id", "cat", "batch": [...]}
(batches). "lens" lists the max_sequence_length values to check (default: all of
1, 2, 5, 77, 120, 300).
"""
import json
import os
import random
import sys
import unicodedata

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
ALL_LENS = [1, 2, 5, 77, 120, 300]

HAND = [
    # plain / whitespace
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n ", "\u3000", "\xa0", "\u2003 \u2009", "\x85", "\u200b",
    "\ufeff", "\u180e", "\u2028", "\x1c\x1d\x1e\x1f",
    "A cat", "a cat sitting on a windowsill", "  a cat  ", "a  cat", "a\tcat", "a\ncat", "a\r\ncat",
    "a\n\ncat", "A Photo Of A Dog", "UPPERCASE PROMPT", "a cat\n", "\na cat", "a cat\t\t", "cat.",
    "A small cactus with a happy face in the Sahara desert.",
    "An astronaut riding a green horse",
    "Pirate ship trapped in a cosmic maelstrom nebula, rendered in cosmic beach whirlpool engine, volumetric lighting, spectacular, ambient lights, light pollution, cinematic atmosphere, art nouveau style, illustration art artwork by SenseiJaye, intricate detail.",
    "a photo of an old man in a tuxedo, studio lighting, 85mm, f/1.8, bokeh, 8k, highly detailed, trending on artstation",
    # unicode
    "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e", "na\u00efve r\u00e9sum\u00e9", "Stra\u00dfe", "\u00c5ngstr\u00f6m",
    "e\u0301 a\u0300 o\u0308", "\u212b", "\u2126 ohm", "\ufb01sh \ufb02ower \ufb00", "\u0132sselmeer",
    "\uff21\uff22\uff23 \uff11\uff12\uff13", "\uff8a\uff9d\uff76\uff78", "\u2460\u2461\u2462", "x\u00b2 + y\u00b3",
    "\u00bd cup", "\u2153 cup", "\u2167 chapter", "\u33a1 area", "\u2122 brand", "\u00a9 2020", "\u00ae",
    "\u6771\u4eac\u306e\u591c\u666f", "\u4e00\u53ea\u732b", "\u3053\u3093\u306b\u3061\u306f", "\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "\u041a\u041e\u0422 \u0432 \u0428\u041b\u042f\u041f\u0415", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u0395\u039b\u039b\u0391\u03a3", "\u039f\u0394\u039f\u03a3 \u03a3", "\u0130stanbul", "I\u0307", "\u1e9e",
    "\U0001F431 cat", "\U0001F600\U0001F601\U0001F602", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
    "\U0001F3F3\ufe0f\u200d\U0001F308", "\U0001F1FA\U0001F1F8 flag", "\u2764\ufe0f love", "\U0001F44D\U0001F3FD",
    "a\u0308\u0301\u0323", "\u0915\u094d\u200d\u0937", "zwj\u200dtest", "zwnj\u200ctest", "\U0001D400\U0001D401 math",
    "\U00020000 ext b", "\u4dc0 hexagram", "\u31c0\u31f0\u3200\u3300", "\u3400\u4db5", "\u9fff\ua000",
    # mojibake
    "caf\u00c3\u00a9", "Caf\u00c3\u00a9 au lait", "\u00c3\u00bcber cool", "Sch\u00c3\u00b6n", "ni\u00c3\u00b1o",
    "\u00e2\u20ac\u0153quoted\u00e2\u20ac\x9d", "it\u00e2\u20ac\u2122s here", "\u00e2\u20ac\u201c dash",
    "\u00d0\u0178\u00d1\u20ac\u00d0\u00b8\u00d0\u00b2\u00d0\u00b5\u00d1\u201a", "\u00e6\u2014\u00a5\u00e6\u0153\u00ac",
    "The Mona Lisa doesn\u00e2\u20ac\u2122t have eyebrows.", "\u00c3\u00a9t\u00c3\u00a9", "Ã¢â‚¬Å“doubleâ€",
    "l\u00e2\u20ac\u2122h\u00c3\u00b4tel", "voil\u00c3\xa0", "\u00c2\u00a0nbsp", "\u00c2\u00b0C", "100\u00c2\u00b0",
    "sm\u00c3\u00b6rg\u00c3\u00a5sbord", "\u00ef\u00bb\u00bfbom", "\u00e2\u0153\u201d check",
    # html
    "<b>bold</b> text", "<p>para</p><p>two</p>", "a<br>b", "a<br/>b", "<img src='x.png'> image", "<a href=\"http://x.com\">link</a>",
    "<script>alert(1)</script>cat", "<style>p{}</style>dog", "<!-- comment -->x", "<!DOCTYPE html><html><body>hi</body></html>",
    "&amp; &lt; &gt; &quot; &#39; &#x27;", "Tom &amp; Jerry", "fish&chips", "&copy; 2021", "&nbsp;space", "&eacute;t&eacute;",
    "AT&T", "R&D department", "5 < 6 > 4", "a<b", "<cat>", "<person> walking", "<Person> walking", "</s>", "<pad>",
    "<unk>", "<extra_id_0>", "a </s> b", "a</s>b", "<extra_id_0> and <extra_id_99>", "<extra_id_100>", "</s></s>",
    "<s>", "hello</s>", "<pad><pad>", "&lt;b&gt;escaped&lt;/b&gt;", "&amp;amp;", "&#128512;", "&#x1F600;", "&hellip;",
    "&mdash;", "&ndash;", "&laquo;x&raquo;", "&QUOT;", "&AMP;", "&Eacute;", "&EACUTE;", "<<>>", "< >", "<3 you",
    # urls etc
    "http://example.com", "https://www.example.com/path/to/page?x=1&y=2", "visit www.example.org today",
    "see example.com/foo", "ftp://files.example.net", "cat at https://t.co/abc123 lol", "foo.it bar.ru baz.gov",
    "a.b.c.com", "mail me at john@example.com", "x.com/@user", "sub.domain.co.uk", "google.de", "http:x", "https:/y",
    "www:/z", "@username hello", "@user_99 @x", "hello @", "#hashtag #sunset #123 #12345 #1234", "#AI #art",
    "192.168.0.1", "ip 10.0.0.255 here", "1.2.3.4.5", "999.999.999.999", "IMG_1234.jpg", "photo.PNG", "my file.jpeg",
    "report.pdf download", "app.apk", "clip.mp4 video", "picture.webp", "x.eps", "jpg images", "png image",
    "12:34 ", "at 10:30 pm", "article 3:45   ", "page 12", "Page 3 of 10", "%20space%20", "a+b+c", "100%",
    "50% off", "%E2%9C%93 done", "%zz", "%C3%A9t%C3%A9", "%F0%9F%98%80", "%", "%%", "%2", "%%20",
    # numbers
    "1,000,000 people", "3.14159", "$19.99", "\u20ac20,50", "\u00a3100", "\u00a5500", "2024-05-17", "17/05/2024",
    "05.17.2024", "1st 2nd 3rd 4th", "123456", "1234567890", "12345", "abc123def", "jc6640", "jc6640vc", "6640vc231",
    "j2d1a2a", "a1b2c3d4", "model X1000", "R2D2", "C3PO robot", "4k 8k 16k", "1080p", "1920x1080", "3.5x2.5",
    "10\u00d710", "5\u04455", "\u0663\u0664\u0665", "\u0967\u0968", "\u00b2\u00b3", "1e10", "0x1F", "-5", "+5",
    # quotes / dashes / punctuation
    "\u201cquoted\u201d", "\u2018single\u2019", "\u00abguillemets\u00bb", "\u201equote\u201c", "\u201bx\u201f",
    "\"plain\"", "'plain'", "''double single''", "\"\"\"triple\"\"\"", "`back`tick`", "\u00b4acute\u00b4",
    "\u00a8diaeresis", "it's", "don\u2019t", "\u02bcokina", "a \u2013 b", "a \u2014 b", "a\u2011b", "a\u2012b",
    "a\u2212b", "a\u2e3ab", "\u301cwave\u301c", "\u30a0", "\uff0dfull", "a - b", "a--b", "a---b", "---", "a-b-c-d-e",
    "a_b_c_d_e", "this-is-my-cute-cat", "snake_case_name", "CamelCaseWord", "camelCaseWord", "a-b_c-d", "a-b-c",
    "a_b_c_d", "x-y-z-w", "...", "wait...", "what?!", "!!!", "???", "!?!?", "wow!!!", "why???", "....", ". . .",
    " . ", "a . b", "a.b", "a. b", "a ,b", "a,b", "a,b,c", "end,", "end:", "end;", "end'", "end-", "end+",
    "end_", "-start", "_start", ":start", ";start", "'start", ",start", ".start", ".hidden", ".a b", "\u2026",
    "a\u2026b", "(brackets)", "[square]", "{curly}", "|pipe|", "a/b", "a\\b", "*stars*", "***", "~tilde~",
    "\u00a7 section", "\u00b7 dot", "\u2022 bullet", "\u00ba", "\u00bf que?", "\u00a1hola!", "a : b", "a: b",
    "a :b", "time: 5", "ratio 16:9", "a;b", "a!b", "a?b", "a&b", "a@b", "a#b", "a$b", "a^b", "a=b", "a<b>c",
    # spam phrases
    "photo by John Smith", "Photo by @john on Unsplash", "free shipping", "Worldwide Free Shipping!",
    "free download", "download free now", "click here", "click for more", "click on image", "shipping",
    "freeshipping", "downloads", "clicker for", "stock photo", "royalty free image",
    # tokenizer edge
    "\u2581", "\u2581\u2581a", "a\u2581b", "{", "}", "~", "<", "^", "`", "\\", "\u00b0", "\u00ad", "soft\u00adhyphen",
    "zzzz", "zzzzzzz", "????", "!!!!!!", "#99999999", "aaaaaaaaaaaaaaaaaaaaaaaa", "hahahahaha", "lololol",
    "ok", "OK", "Ok", "x", "X", "0", "00", "000", "0000000", "1", "\u0000", "a\u0000b", "\x07bell", "\x1b[31mred\x1b[0m",
    "\x7f", "\x80", "\x92quote\x93", "\x9d", "\u206a", "\ufffc", "\ufffd", "\uffff", "\U0010FFFF",
    "\U000E0041 tag", "\u00e9" * 50, "\u4e00" * 50, "\U0001F600" * 50,
]

WORDS = (
    "a an the of in on with and at by from under over beautiful majestic tiny giant red blue green golden "
    "silver cat dog fox owl dragon castle forest mountain river ocean city street night sunset sunrise "
    "portrait landscape painting photo illustration digital art cinematic lighting detailed realistic "
    "octane render unreal engine 4k 8k hdr bokeh vibrant colors pastel watercolor oil canvas sketch anime "
    "style cyberpunk steampunk futuristic ancient medieval robot astronaut knight princess wizard flowers "
    "garden rain snow fog clouds stars galaxy nebula neon reflections glass crystal wooden stone marble "
    "highly intricate trending artstation masterpiece award winning sharp focus dramatic soft warm cold "
    "Greg Rutkowski Alphonse Mucha Studio Ghibli Pixar Van Gogh Monet"
).split()

FRAGS = [
    " ", "  ", "\t", "\n", ",", ".", "!", "?", ":", ";", "-", "_", "'", '"', "(", ")", "[", "]", "/", "\\",
    "&", "&amp;", "&quot;", "&lt;", "<b>", "</b>", "<br>", "<", ">", "@", "#", "%", "%20", "+", "*", "~", "|",
    "http://", "https://", "www.", ".com", ".org", ".jpg", ".png", "1", "12", "123", "1234", "123456", "2024",
    "3.5", "x", "\u00d7", "\u2014", "\u2013", "\u201c", "\u201d", "\u2018", "\u2019", "\u00ab", "\u00bb", "\u2026",
    "\u00e9", "\u00fc", "\u00df", "\u00c3\u00a9", "\u00e2\u20ac\u2122", "\u6771", "\u3042", "\uac00", "\u0416",
    "\u0639", "\U0001F431", "\u200d", "\ufe0f", "\u0301", "\ufb01", "\uff21", "\u3000", "\xa0", "</s>", "<pad>",
    "<extra_id_1>", "<unk>", "free", "shipping", "download", "click", "on", "for", "page", "image", "images",
    "photo", "by", "jc", "vc", "a1b2", "\\n", "...", "--", "''", "\"\"", "\u00a9", "\u2122", "\u00ae", "\u2022",
    "\u00b7", "\u00bd", "\u00b0", "\x85", "\u2028", "\x00", "\x1b", "&#39;", "&#x41;", "&nbsp;", "&eacute;",
    "<script>", "</script>", "<!--", "-->", "<p>", "</p>", "<i>", "</i>", "<person>", "\u0130", "\u03a3",
]

ALPHABETS = [
    (0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF),
    (0x900, 0x97F), (0xE00, 0xE7F), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x2100, 0x214F), (0x2190, 0x21FF),
    (0x2460, 0x24FF), (0x3000, 0x30FF), (0x3100, 0x33FF), (0x4E00, 0x4E80), (0xAC00, 0xAC80), (0xFB00, 0xFB4F),
    (0xFE30, 0xFE6F), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1D400, 0x1D4FF), (0x80, 0x9F), (0x0, 0x1F),
]


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def main():
    cp_sweep = "--cp-sweep" in sys.argv
    rng = random.Random(1234)
    cases = []

    def add(cat, text, lens=None):
        c = {"id": len(cases), "cat": cat, "text": text}
        if lens is not None:
            c["lens"] = lens
        cases.append(c)

    for t in HAND:
        add("hand", t)
    # case / spacing variants of a few hand prompts
    for t in HAND[:60]:
        add("hand_variant", "  " + t.upper() + "  \n")
    # plain generated English of many lengths (including far past 120 tokens)
    for n in list(range(1, 40)) + list(range(40, 200, 7)) + [250, 300, 400]:
        s = sentence(rng, n)
        if rng.random() < 0.5:
            s = s.capitalize()
        if rng.random() < 0.3:
            s = s.replace(" ", ", ", rng.randint(1, 5))
        add("english", s)
    # word counts around the 120 / 77 / 300 token limits (one fixed word list, growing)
    base = [rng.choice(WORDS) for _ in range(400)]
    for n in list(range(60, 80)) + list(range(95, 130)) + list(range(220, 300, 3)):
        add("limit", " ".join(base[:n]))
    # exact token-length targets: the reference step reports token counts; these use
    # single-token words "a" so that n words == n tokens + 1 (</s>)
    for n in [0, 1, 2, 3, 4, 5, 6, 75, 76, 77, 78, 118, 119, 120, 121, 298, 299, 300, 301]:
        add("exact_len", " ".join(["cat"] * n))
        add("exact_len", ("cat " * n) + "</s>")
        add("exact_len", ("cat " * n) + "\U0001F431")
    # random fragment soup
    for _ in range(700):
        k = rng.randint(1, 25)
        add("frag_soup", "".join(rng.choice(FRAGS + WORDS) for _ in range(k)))
    # fragment soup mixed into sentences
    for _ in range(300):
        words = sentence(rng, rng.randint(3, 30)).split()
        for _ in range(rng.randint(1, 6)):
            words.insert(rng.randint(0, len(words)), rng.choice(FRAGS))
        add("frag_sentence", " ".join(words))
    # random code points from assorted alphabets
    for _ in range(400):
        lo, hi = rng.choice(ALPHABETS)
        k = rng.randint(1, 20)
        s = "".join(chr(rng.randint(lo, hi)) for _ in range(k))
        if 0xD800 <= min(map(ord, s)) or any(0xD800 <= ord(ch) <= 0xDFFF for ch in s):
            continue
        add("random_cp", s if rng.random() < 0.5 else sentence(rng, 3) + " " + s + " " + sentence(rng, 2))

    # ---- tokenizer: grapheme clusters (base + combining sequences), NFD/NFKD forms
    bases = ["a", "e", "A", "o", "u", "n", "c", "x", "1", "#", "=", "<", " ", "\xa0", "\ufb01", "\u2026", "\uff21",
             "\u2460", "\u2122", "\u00bd", "\u00e9", "\u00a9", "\u3000", "\u2002", "\uac00", "\u0915", "\u0627",
             "\u05d4", "\u0e01", "\U0001F600", "\U0001F44D", "\u304b", "\uff76", "\u0391", "\u0418", "\u1100", "\u2163"]
    marks = ["\u0301", "\u0308", "\u0308\u0301", "\u0323\u0302", "\u0302\u0301", "\u0301\u0301", "\u0301\u0301\u0301",
             "\u20e3", "\ufe0f", "\ufe0f\u20e3", "\u200d", "\u200d\u2640\ufe0f", "\u093c", "\u094d", "\u0e34", "\u064e",
             "\u05b7", "\u11a8", "\u1161", "\u1161\u11a8", "\u3099", "\u309a", "\uff9e", "\uff9f", "\u0338", "\u20d2",
             "\u0345", "\u0313\u0342", "\U0001F3FD", "\u0306", "\u0327", "\u0328", "\u030c", "\u0303", "\u0300\u0316"]
    for b in bases:
        for m in marks:
            add("grapheme", b + m)
            add("grapheme_ctx", "a " + b + m + " b" + m)
    for t in HAND:
        for form in ("NFD", "NFKD", "NFKC"):
            n = unicodedata.normalize(form, t)
            if n != t:
                add("hand_" + form.lower(), n)
    for w in ["Tiếng Việt", "Phở bò", "Ελληνικά", "Crème brûlée", "Ångström", "Ñandú", "çà", "ḱṓṩ", "Łódź",
              "Žluťoučký kůň", "Ärger über Öl", "한국어 문장", "がぎぐげご パピプペポ", "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ", "क़ ख़ ग़ ज़", "অ্যা",
              "ﻻ ﻷ", "שָׁלוֹם", "ﾃﾞｼﾞﾀﾙ", "Ａｂｃ́", "①́②", "™́", "½́", "…́", "fí", "Å", "Å", "ǅ", "ȁ̈"]:
        for form in ("NFC", "NFD", "NFKD"):
            add("grapheme_words", unicodedata.normalize(form, w))
            add("grapheme_words", "A photo of " + unicodedata.normalize(form, w) + ", 8k")
    # Hangul conjoining jamo sequences
    for _ in range(150):
        s = "".join(chr(0x1100 + rng.randrange(19)) + chr(0x1161 + rng.randrange(21)) + (chr(0x11A8 + rng.randrange(27)) if rng.random() < 0.5 else "") for _ in range(rng.randint(1, 4)))
        add("hangul_jamo", s)
    # ---- tokenizer: runs of one repeated character / piece (Viterbi ties)
    runs = list("!?.,:;-_=+*#~^'\"`()[]{}<>/\\|@$%&0123456789abcdefghijklmnopqrstuvwxyzABXZ") + [
        "\u2026", "\u00b7", "\u2014", "\u00b4", "\u00a8", "\u2032", "\u2033", "\u2665", "\u2605", "\u3002", "\uff01",
        "\u00e9", "\u00f6", "\u0430", "\u3042", "\u4e00", "\U0001F600", "\u2764\ufe0f", "ha", "la", "na", "lo", "xo",
        "12", "ab", "ah", "ee", "oo", "00", "10", "!?", "?!", ".-", "^_", "<3"]
    for r in runs:
        for n in range(2, 25):
            add("repeat", r * n, [5, 120, 300])
        for n in (3, 4, 5, 6, 8, 11, 16):
            add("repeat_ctx", "wow" + r * n + " so cool " + r * n, [120])
    for w in ["so", "yes", "hm", "wo", "no", "ok", "whe", "yay", "zz", "aa", "oh", "brr", "shh"]:
        for n in range(2, 14):
            add("repeat_word", w + w[-1] * n + " a cat", [120])
    for n in range(1, 22):
        for d in ("1", "0", "9", "5"):
            add("repeat_num", "1" + d * n + " dollars", [120])
            add("repeat_num", "$" + d * n + ".99", [120])
    # ---- Python 3.11 (Unicode 14) vs JS (newer Unicode): characters assigned after 14.0
    for lo, hi in [(0x11F00, 0x11F59), (0x1E4D0, 0x1E4F9), (0x31350, 0x31360), (0x2EBF0, 0x2EC00), (0x10EFD, 0x10F00),
                   (0x11B00, 0x11B09), (0x1D2C0, 0x1D2D3), (0x1E030, 0x1E06D), (0x1DF25, 0x1DF2A), (0xA7C0, 0xA7DF),
                   (0x10D4A, 0x10D8F), (0x16D40, 0x16D79), (0x1E5D0, 0x1E5FA), (0x105C0, 0x105F3), (0x1CCD6, 0x1CCF9),
                   (0x0CF3, 0x0CF4), (0x0ECE, 0x0ECF), (0x1123F, 0x11241), (0x16EA0, 0x16EDF), (0x1E6C0, 0x1E6FF)]:
        for cp in range(lo, hi):
            add("unicode_new", "@ab" + chr(cp) + "cd x" + chr(cp) + "123 " + chr(cp).upper() + chr(cp) + " e_" + chr(cp), [120])

    # ---- cleaning fuzz on small alphabets (html.parser / BeautifulSoup, URL and id regexes)
    html_alpha = ["<", ">", "</", "/", "!", "--", "-", "?", "[", "]", "&", "#", ";", "x", "a", "b", "p", "script",
                  "style", "=", "'", '"', " ", "\n", "\t", "CDATA", "doctype", "DOCTYPE", "0", "1", "65", "x41", "amp",
                  "lt", "gt", "quot", "nbsp", "eacute", "EACUTE", "pre", "textarea", "br", "img", "rt", "rp",
                  "template", "if", "endif", "<!--", "-->", "<![", "]]>", "<?", "<!", "&#", "&#x", "/>", "\u00e9",
                  "\u03a3", "\U0001F600", "k", "s", "i", "\u0130", "\u017f", "title", "a href", "src", "cat"]
    for _ in range(2500):
        add("html_fuzz", "".join(rng.choice(html_alpha) for _ in range(rng.randint(2, 30))), [120])
    url_alpha = ["http", "https", "www", "ftp", ":", "//", "/", ".", ".com", ".co", ".ru", ".net", ".org", ".edu",
                 ".gov", ".it", ".uk", ".de", "com", "example", "x", "a-b", "_", "-", "@", "?", "=", "&", "%20", "%",
                 "+", "#", "1", "42", " ", "\u00fc", "\u043f", "\u00e9", "m\u00fcnchen", "\u4e2d", "\u0661", "\u00b2",
                 "www:", "@me", "t.co", "bit.ly", "co", "it", "page", "~", ")", "(", "'", "\u2013", "\u00a0"]
    for _ in range(2500):
        add("url_fuzz", "".join(rng.choice(url_alpha) for _ in range(rng.randint(1, 16))), [120])
    rx_alpha = ["1", "12", "123", "1234", "123456", "1234567", "\u0661\u0662\u0663", "\u00b2", "\u2460", "a", "ab",
                "abc", "jc", "x", "X", "\u00d7", "\u0445", ".", ",", ":", ";", " ", "  ", "\n", "\t", "#", "-", "_",
                "--", "page", "Page", "click", "for", "on", "free", "shipping", "download", "worldwide", "png",
                "jpg", "image", "images", "'", '"', "''", "/", "\\n", "\\", "@", "\u00e9", "\u00fc", "\u0416", "\u3042",
                "\u4e00", "+", "*", "(", ")", "!", "?", "\u2014", "\u201c", "\u2019", "\xa0", "\u2028", "\x85",
                "\u3000", "\u00bd", "\u2122", "&", "&amp", "&quot", "%", "%20", "%2", "<person>", "\u0301", "\u2026"]
    for _ in range(5000):
        add("regex_fuzz", "".join(rng.choice(rx_alpha) for _ in range(rng.randint(1, 14))), [120])
    for t in ["<EXTRA_ID_0>", "</S>", "<PAD>", "<UNK>", "< /s>", "</s >", "<extra_id_0 >", "<extra_id_-1>",
              "<extra_id_00>", "<extra_id_01>", "<extra_id_99><extra_id_98>", "</s><pad><unk>", "x</s>y</s>z",
              "%u00e9", "100%25", "%2525", "a%2Bb", "%0A%0D", "%09tab", "%00nul", "%C0%AF", "%ED%A0%80", "%F4%90%80%80",
              "&#1114112;", "&#99999999999;", "&#x110000;", "&#xD800;", "&#55296;", "&#0;", "&#x0;", "&#150;",
              "&#x9F;", "&#x81;", "&copy2020", "&notin;", "&notit;", "&not", "&ampx", "&amp;amp;amp;", "&#38;amp;",
              "&#x26;#39;", "&lt;script&gt;x&lt;/script&gt;", "&lt;b&gt;b&lt;/b&gt;", "a &lt; b &gt; c"]:
        add("special_edge", t)

    sp_alpha = [" ", "  ", "a", "b c", "</s>", "<pad>", "<unk>", "<extra_id_5>", "<extra_id_0>", "\n", "\t", "\u2581",
                "\u3000", "\xa0", "<", "/s>", "</", "s", ">", ".", "\u00e9", "\u4e00", "\U0001F600", "\u0301", "!!", "ing"]
    for _ in range(1500):
        add("special_fuzz", "".join(rng.choice(sp_alpha) for _ in range(rng.randint(1, 10))), [2, 5, 120])
    # batches of different lengths
    pool = [c["text"] for c in cases if "text" in c]
    for b in range(40):
        k = rng.randint(2, 6)
        batch = [rng.choice(pool) for _ in range(k)]
        cases.append({"id": len(cases), "cat": "batch", "batch": batch})
    cases.append({"id": len(cases), "cat": "batch", "batch": ["", "", ""]})
    cases.append({"id": len(cases), "cat": "batch", "batch": [sentence(rng, 200), "a", ""]})

    if cp_sweep:
        for cp in range(0x0, 0x10000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            ch = chr(cp)
            add("cp_sweep", "a" + ch + "b", [120])
            add("cp_sweep_alone", ch, [120])
            add("cp_sweep_sp", "x " + ch + ch + " y1", [120])
        rng2 = random.Random(99)
        for _ in range(20000):
            cp = rng2.randint(0x10000, 0x10FFFF)
            add("cp_sweep_astral", "a" + chr(cp) + "b", [120])

    os.makedirs(OUT, exist_ok=True)
    name = "prompts_cp.json" if cp_sweep else "prompts.json"
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump({"all_lens": ALL_LENS, "cases": cases}, f, ensure_ascii=True)
    print(f"{len(cases)} cases -> {os.path.join(OUT, name)}")


if __name__ == "__main__":
    main()
