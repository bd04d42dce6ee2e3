"""Builds reference_corpus.json: outputs of the Python reference stack for adversarial prompts.

Run with beautifulsoup4 4.15, ftfy 6.3.1, transformers 5.x (+ protobuf), sentencepiece and
either diffusers importable or REF_CLEAN_MODULE=<module> pointing at a module that exposes
a class `Ref` with diffusers' `_text_preprocessing` / `_clean_caption` methods:

    python gen_reference_corpus.py <tokenizer_dir> <out.json> [n_random] [seed]

Every case is kept. "counts" says how many cleaned texts depend on ftfy's mojibake repair
(fix_encoding; the cleaned text differs with it turned off) and on how many texts SentencePiece
breaks a Viterbi tie differently from transformers 5 (whose ids are the reference, as diffusers
tokenizes with transformers).
"""
import contextlib
import html
import importlib
import json
import os
import platform
import random
import sys
import urllib.parse as ul

import bs4
import ftfy
import sentencepiece
import transformers
from bs4 import BeautifulSoup
from transformers import T5Tokenizer


@contextlib.contextmanager
def no_fix_encoding():
    """Temporarily makes ftfy.fix_text skip mojibake repair (the cleaner looks it up at call time)."""
    original = ftfy.fix_text
    ftfy.fix_text = lambda text, *a, **kw: original(text, *a, **{**kw, "fix_encoding": False})
    try:
        yield
    finally:
        ftfy.fix_text = original


def load_cleaner():
    mod = os.environ.get("REF_CLEAN_MODULE")
    if mod:
        return importlib.import_module(mod).Ref()
    from diffusers.pipelines.pixart_alpha.pipeline_pixart_alpha import PixArtAlphaPipeline

    return PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)


PIECES = [
    "A photo", " of a ", "cat", "Dog", " ", "  ", "\t", "\n", "\r\n", "\r", "\x85", "\u2028", "\xa0", "\u3000",
    "\u200b", "\ufeff", "<b>", "</b>", "<p>", "</p>", "<br>", "<br/>", "</br>", '<img src="x.png">',
    "<a href='https://ex.com/a?b=1'>", "</a>", "<script>", "</script>", "var x=1;", "<style>", "</style>",
    "<pre>", "</pre>", "<textarea>", "</textarea>", "<rt>", "</rt>", "<template>", "</template>",
    "<!-- c -->", "<!--", "<!doctype html>", "<![CDATA[cd]]>", "<![CDATA[", "<?pi x?>", "</>", "</ p>",
    "</b >", "<b class=x>", '<b class="y" id=z>', "<a b", "<a/b>", '<x y=">">', "<", ">", "< b>", "a<b",
    "<B>", "</SCRIPT>", "</\u017fcript>", "<div/>", "<![if x]>", "<![foo", "<!x>", "<a\tb=c>", '<b x="a>b">',
    "<pre> </pre>", "<p>  </p>", "&", "& ", "&a", "&amp", "&amp;", "&amp;amp;", "&AMP;", "&lt;", "&quot;",
    "&quot", "&#39;", "&#65;", "&#x41;", "&#X41", "&#0;", "&#128;", "&#x81;", "&#xD800;", "&#;", "&#12a",
    "&nbsp;", "&eacute;", "&EACUTE;", "&SZLIG;", "&notit;", "&foo;", "&foo", "&a.b;", "&hellip;", "&copy",
    "&frac12;", "https://www.example.com/path?q=1&x=2", "http://foo.net", "www.test.org/page", "foo.com",
    "x.it/@y", "@john_doe", "@Jane99", "#sunset", "#123", "#12345678", "123456", "192.168.0.1", "1:23 ",
    "\\n", "IMG_1234.jpg", "a.mp4 image", '"', "'", '""', "...", " . ", ",", ";", ":", " : ", "-", "_",
    "+", "*", "/", "\\", "|", "(", ")", "[", "]", "{", "}", "~", "\u00a7", "\u00bd", "\u2122", "\u2014",
    "\u2013", "\u301c", "\uff0d", "`", "\u00b4", "\u00ab", "\u201c", "\u201d", "\u2018", "\u2019", "\u02bc",
    "this-is-my-cute-cat", "a_b_c_d", "free shipping", "download free", "click on here", "page 7",
    "12x34", "3.5x2.5", "4\u00d74", "jc6640", "jc6640vc", "6640vc231", "j2d1a2a", "2024-05-17", "3.14159",
    "1,000,000", "a,b", "end.", "Caf\u00e9", "Stra\u00dfe", "\u039f\u0394\u039f\u03a3", "\u0130stanbul",
    "e\u0301", "\ufb01", "\u0132", "\uff26\uff35\uff2c\uff2c", "\uff76\uff80\uff76\uff85", "\u2460", "\u00b2",
    "\u4e1c\u4eac", "\u6771\u4eac\u306e\u591c\u666f", "\ud55c\uad6d\uc5b4", "\u3130", "\u4dc0", "\u3400",
    "\u041f\u0440\u0438\u0432\u0435\u0442", "\U0001F431", "\U0001F3C4\u200d\u2642\ufe0f", "\U0001F1EB\U0001F1F7",
    "\x1b[31m", "\x00", "\x07", "\x0b", "\x1c", "\x7f", "\x80", "\x92", "\x9d", "\u206a", "\ufffc",
    "%20", "%2B", "%E2%80%99", "%C3%A9", "%ZZ", "%4", "%", "%F0%9F%98%80", "%C3%28", "%EF%BB%BF", "%E2%82",
    "%3Cb%3E", "<person>", "a <extra_id_0> b", "</s>", "<unk>", "<pad>", "<extra_id_99>", "<extra_id_100>",
    "UPPER", "x", "0", "\u0663",
]


def main():
    tok_dir, out_path = sys.argv[1], sys.argv[2]
    n_random = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 20240517)
    ref = load_cleaner()
    tok = T5Tokenizer.from_pretrained(tok_dir)
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(tok_dir, "spiece.model"))
    texts = list(PIECES) + ["".join(rng.choice(PIECES) for _ in range(rng.randint(2, 10))) for _ in range(n_random)]

    def ids(t):
        got = tok([t], truncation=True, max_length=120)["input_ids"][0]
        return got, got == sp.encode(t)[:119] + [1] or "<" in t  # special tokens: sp differs by design

    cases, counts = [], {"mojibake_repair": 0, "sentencepiece_differs": 0}
    for t in texts:
        case = {"text": t, "lower": ref._text_preprocessing(t, False)[0]}
        try:
            clean = ref._text_preprocessing(t, True)[0]
            with no_fix_encoding():
                clean_noenc = ref._text_preprocessing(t, True)[0]
            if clean != clean_noenc:
                counts["mojibake_repair"] += 1
            case["clean"] = clean
        except Exception as ex:  # BeautifulSoup rejects some markup
            case["clean_error"] = type(ex).__name__
        try:
            case["bs4_text"] = BeautifulSoup(t, features="html.parser").text
        except Exception as ex:
            case["bs4_error"] = type(ex).__name__
        case["ftfy_fix_text"] = ftfy.fix_text(t)
        case["html_unescape"] = html.unescape(t)
        case["unquote_plus"] = ul.unquote_plus(t)
        ok = True
        for key, src in (("ids_lower", case["lower"]), ("ids_clean", case.get("clean"))):
            if src is None:
                continue
            got, agrees = ids(src)
            ok = ok and agrees
            case[key] = got
        if not ok:
            counts["sentencepiece_differs"] += 1
        cases.append(case)

    doc = {
        "generated_with": {
            "python": platform.python_version(),
            "beautifulsoup4": bs4.__version__,
            "ftfy": ftfy.__version__,
            "transformers": transformers.__version__,
            "sentencepiece": sentencepiece.__version__,
        },
        "note": "ids_* are transformers T5Tokenizer(text, truncation=True, max_length=120) input_ids, unpadded",
        "counts": counts,
        "cases": cases,
    }
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, separators=(",", ":"))[:-1]
    with open(out_path, "w", encoding="utf-8") as f:  # one case per line
        f.write(head + ',"cases":[\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    print(len(cases), "cases;", counts)


if __name__ == "__main__":
    main()
