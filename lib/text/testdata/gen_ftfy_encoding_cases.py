"""Builds ftfy_encoding_cases.json, the reference table of lib/text/ftfyEncoding.test.ts.

Run from /work/main (ftfy 6.3.1 + beautifulsoup4 + diffusers source importable):

    PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyftfy \\
        python3 lib/text/testdata/gen_ftfy_encoding_cases.py > lib/text/testdata/ftfy_encoding_cases.json

For every input it records ftfy.fix_text, ftfy.fix_encoding and ftfy.badness.is_bad, and
diffusers' PixArtAlphaPipeline._text_preprocessing(text, clean_caption=True)[0] ("clean"; null
when it raises). Inputs: hand-picked cases for each part of fix_encoding, every 5th of the
"a XY b" Latin-1/cp1252 pairs that fix_encoding rewrites, and 400 random mojibake strings
(ftfy_mojibake.make_case, seed 7).
"""
import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftfy  # noqa: E402
from ftfy.badness import is_bad  # noqa: E402
from ftfy_mojibake import make_case  # noqa: E402
from diffusers.pipelines.pixart_alpha.pipeline_pixart_alpha import PixArtAlphaPipeline  # noqa: E402

assert ftfy.__version__ == "6.3.1"
PIPE = PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)

HAND = [
    # (note, text)
    ("brief: cp1252 mojibake of U+2019", "it\u00e2\u20ac\u2122s here"),
    ("brief: curly quotes, last byte as C1", "\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d"),
    ("brief: genuine-looking x2 sequence", "a \u00d7\u00b2 b"),
    ("brief: x + C1 is Hebrew in UTF-8", "a \u00d7\u0085 b"),
    ("brief", "\u00d7\u0085"),
    ("brief: euro + e-acute is Arabic in UTF-8", "a \u20ac\u00e9 b"),
    ("ftfy docs", "\u00e2\u0153\u201d No problems"),
    ("ftfy docs: entity then mojibake", "&macr;\\_(\u00e3\x83\x84)_/&macr;"),
    ("ftfy docs", "s\u00c3\u00b3"),
    ("ftfy docs: restore_byte_a0", "voil\u00c3 le travail"),
    ("ftfy docs", "sch\u00c3\u00b6n"),
    ("ftfy docs: lossy sequence", "\u00e2\u20ac\u0153 like this \u00e2\u20ac\ufffd"),
    ("ftfy docs: upper-case entities", "&ATILDE;&SUP3;"),
    ("restore_byte_a0: a-grave word", "\u00c3 la mode"),
    ("restore_byte_a0: Portuguese exception", "\u00c3 s vezes"),
    ("restore_byte_a0: Portuguese exception", "\u00c3 quele livro"),
    ("restore_byte_a0: Catalan", "f\u00c3 cil"),
    ("NBSP lost after a digit: not is_bad, kept", "100\u00c2 km"),
    ("restore_byte_a0: NBSP lost after a letter", "100 km\u00c2 or so"),
    ("restore_byte_a0: 3-byte", "\u00e2\u20ac hello"),
    ("restore_byte_a0: 4-byte", "\u00f0\u0178\u02dc emoji"),
    ("double mojibake", "\u00c3\u00a2\u00e2\u201a\u00ac\u00e2\u201e\u00a2"),
    ("windows-1251 mojibake", "\u0420\u045f\u0421\u0402\u0420\u0451\u0420\u0406\u0420\u00b5\u0421\u201a"),
    ("windows-1251 mojibake of U+2019", "it\u0432\u0402\u2122s"),
    ("windows-1253 mojibake", "\u039e\u2022\u039e\u00bb\u039e\u00bb\u039e\u00b7\u039e\u00bd\u039e\u0389\u039e\u038a\u039e\u00ac"),
    ("windows-1253-looking but not is_bad: kept", "\u039e\u00b1\u039e\u00b2\u039e\u00b3"),
    ("windows-1250 mojibake", "\u0102\u00a9t\u0102\u00a9 \u0139\u0082\u0102\u00b3d\u0139\u015f"),
    ("windows-1257 mojibake", "it\u0101\u20ac\u2122s"),
    ("macroman mojibake", "caf\u221a\u00a9 \u221a\u00b1"),
    ("cp437 mojibake", "caf\u251c\u2310"),
    ("cp437 mojibake", "\u256c\u00f2\u256c\u2557\u256c\u2557\u256c\u2556\u256c\u255c\u256c\u2563\u256c\u2551\u256c\u00bc"),
    ("cp437-looking but not is_bad: kept", "caf\u0393\u00ae \u0393\u00f1 \u2564\u00f6"),
    ("iso-8859-2 mojibake", "\u0102\u0160\u0102\u00a9\u0102\u0164 \u00c2\u0080"),
    ("CESU-8 surrogate pair (latin-1)", "\u00ed\u00a0\u00bd\u00ed\u00b8\u008d"),
    ("CESU-8 pair before a final newline quirk", "\u00ed\u00a0\u0080\u00ed\u00b0\n"),
    ("CESU-8 pair + newline", "\u00ed\u00a0\u0080\u00ed\u00b0\u0080\n"),
    ("Java null C0 80", "a\u00c0\u0080b"),
    ("C0 before a final newline", "\u00c3\u00a9\u00c0\n"),
    ("0xED Hangul through utf-8-variants", "\u00ed\u0095\u009c\u00ea\u00b5\u00ad\u00ec\u0096\u00b4"),
    ("lossy: ? for a lost byte", "caf\u00c3? ok \u00e2\u20ac\u0153"),
    ("lossy: U+FFFD for a lost byte", "\u00c3\ufffd \u00e2\u20ac\u0153x\u00e2\u20ac\ufffd"),
    ("decode_inconsistent_utf8: mixed with CJK", "caf\u00c3\u00a9 \u65e5\u672c \u00e2\u20ac\u0153"),
    ("decode_inconsistent_utf8: mixed with emoji", "\u00e2\u20ac\u0153hi\u00e2\u20ac\u009d \U0001f600"),
    ("latin-1 -> windows-1252", "\x93quoted\x94 and \x85"),
    ("latin-1 -> windows-1252 refused (0x81), then fix_c1_controls", "\x81\x93x\x94"),
    ("fix_c1_controls with non-Latin-1 text", "\x93\u65e5\x94"),
    ("genuine text", "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001f600 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u041f\u0440\u0438\u0432\u0435\u0442"),
    ("genuine text", "\u00a9 2024 \u2014 50\u00b0C \u00b1 2, 5\u00d73 \u00bd"),
    ("kaomoji", "(\u256f\u00b0\u25a1\u00b0)\u256f\ufe35 \u253b\u2501\u253b"),
    ("multi-line", "line one\nit\u00e2\u20ac\u2122s\n\u00e2\u20ac\u0153<b>x</b>\u00e2\u20ac\x9d\n"),
    ("ASCII", "a photo of a cat, 4k"),
    ("empty", ""),
]


# Byte-level helpers of fix_encoding, on byte strings (stored in the JSON as Latin-1 text).
BYTES = [
    b"\xed\xa0\xbd\xed\xb8\x8d",  # CESU-8 surrogate pair
    b"\xed\xa0\x80\xed\xb0\n",  # truncated pair whose last byte is a final newline
    b"\xed\xa0\x80\xed\xb0\x80\n",
    b"\xc0\n",
    b"a\xc0\x80b",
    b"\xc0",
    b"\xc0\x81",
    b"\xed\x9f\xbf",
    b"\xed\xa0\x80",  # lone surrogate: an error
    b"\xed\xa0\x80abc",
    b"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    b"x\xed\xa0\xbd\xed\xb8\x8dy\xc0\x80z\xe2\x80\x9c",
    b"\xf0\x9f\x98\x80",
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe0\x80\xaf",  # overlong
    b"\xc3\xa9\xe2\x80",  # truncated
    b"\xc3 la \xc3 s \xc3 quele \xc3  x",
    b"\xe2\x80 x \xe2 \x9c \xf0\x9f \x80 \xc5 \xce ",
    b"\xe2\x80\x1a \xc3? \xed\xa0\x1a\xed\xb0\x80 \xf0\x9f\x1a\x80 \x1a",
]


def byte_ref(b):
    from ftfy.fixes import replace_lossy_sequences, restore_byte_a0

    try:
        variants = b.decode("utf-8-variants")
    except UnicodeDecodeError:
        variants = None
    try:
        utf8 = b.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    return {
        "bytes": b.decode("latin-1"),
        "utf8": utf8,
        "utf8_variants": variants,
        "restore_byte_a0": restore_byte_a0(b).decode("latin-1"),
        "replace_lossy_sequences": replace_lossy_sequences(b).decode("latin-1"),
    }


def ref(text):
    try:
        clean = PIPE._text_preprocessing(text, clean_caption=True)[0]
    except Exception:  # noqa: BLE001
        clean = None
    return {
        "text": text,
        "fix_text": ftfy.fix_text(text),
        "fix_encoding": ftfy.fix_encoding(text),
        "is_bad": is_bad(text),
        "clean": clean,
    }


def unicode14_only(*texts):
    return not any(unicodedata.category(c) == "Cn" for t in texts for c in t if t)


def main():
    cases = []
    for note, text in HAND:
        cases.append({"note": note, **ref(text)})
    chars = [chr(c) for c in range(0xA1, 0x100)] + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
    rewritten = []
    for x in chars:
        for y in chars:
            t = "a " + x + y + " b"
            if ftfy.fix_encoding(t) != t:
                rewritten.append(t)
    for t in rewritten[::5]:
        cases.append({"note": "pair", **ref(t)})
    rng = random.Random(7)
    seen = set()
    while sum(c["note"] == "random mojibake" for c in cases) < 400:
        t = make_case(rng)
        if t in seen:
            continue
        seen.add(t)
        r = ref(t)
        if unicode14_only(t, r["fix_text"], r["clean"] or ""):
            cases.append({"note": "random mojibake", **r})
    json.dump(
        {
            "generator": "lib/text/testdata/gen_ftfy_encoding_cases.py",
            "ftfy": ftfy.__version__,
            "python": sys.version.split()[0],
            "unicode": unicodedata.unidata_version,
            "cases": cases,
            "bytes": [byte_ref(b) for b in BYTES],
        },
        sys.stdout,
        ensure_ascii=True,
        indent=0,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
