"""Random mojibake for checking lib/text/ftfyEncoding.ts against ftfy 6.3.1 (shared by
gen_ftfy_encoding_cases.py and fuzz_ftfy_encoding.py; not run on its own).

make_case(rng) returns one input string, built like real mojibake: random text from several
scripts (Latin with accents, Greek, Cyrillic, CJK, Hangul, Arabic, Hebrew, Devanagari, emoji,
typographic punctuation, NBSP...) encoded as UTF-8 (sometimes CESU-8 or with Java's C0 80 for
U+0000) and decoded with one of the single-byte codecs ftfy tries -- latin-1, sloppy or strict
(errors="replace") windows-1252/1251/1250/1253/1254/1257, iso-8859-2, macroman, cp437 --
sometimes twice; then sometimes NBSP -> space, U+FFFD or '?' losses, mixing with clean text,
line breaks, or single random characters from the mojibake alphabet; and random byte soup with
UTF-8 / CESU-8 structure (lead bytes, continuations, ED A0.., C0 80, 0x1A, '?', spaces, b"\n")
decoded with those codecs.
"""
import random

import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codecs and utf-8-variants)

CODECS = [
    "latin-1",
    "sloppy-windows-1252",
    "sloppy-windows-1251",
    "sloppy-windows-1250",
    "sloppy-windows-1253",
    "sloppy-windows-1254",
    "sloppy-windows-1257",
    "iso-8859-2",
    "macroman",
    "cp437",
    "windows-1252",
    "windows-1251",
    "windows-1250",
]

WORDS = [
    "café", "naïve", "résumé", "déjà vu", "über", "schön", "straße", "Ångström", "señor", "São Paulo",
    "à la carte", "às vezes", "àquele", "fàcil", "Œuvre", "œil", "Łódź", "Dvořák", "Škoda", "İstanbul",
    "ğüşıöç", "Ελληνικά", "αβγ", "Привет", "мир", "Ђорђе", "日本語", "中文", "漢字", "한국어", "훈민정음",
    "العربية", "עברית", "हिन्दी", "ไทย", "😀", "👍🏽", "🇫🇷", "𝒥", "🤖", "€", "£", "¥", "©", "®", "™",
    "°", "±", "×", "÷", "µ", "¶", "§", "¼", "½", "²", "³", "“", "”", "‘", "’", "„", "‚", "…", "–",
    "—", "•", "†", "‡", "‰", "‹", "›", "\u00a0", "\u00ad", "¡", "¿", "«", "»", "√", "∞", "≈", "≠",
    "✔", "✓", "★", "♥", "→", "←", "ツ", "ア", "ｱ", "ＡＢ", "ﬁ", "\u2028", "\ufffd",
    "photo", "of", "a", "cat", "the", "it's", "dog", "A", "x", "1", "2024", " ", " ", " ", ".", ",", "!",
    "?", "-", "(", ")", "'", '"', "&", "<", ">", "/", ":",
]

MOJI_CHARS = (
    [chr(c) for c in range(0xA0, 0x100)]
    + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
    + [chr(c) for c in range(0x80, 0xA0)]
    + list("ВГРСвЂўΒΓΞΟβ€Άā√≈±∂≠≤≥πìîïòôúùûĂăąćčďđęěĺľłńňőŕřśşšţťůűźżž")
    + list("│┌┐┘├┤┬┼═║╒╓╔╕╖╗╘╙╚╛╜╝╞╟╠╡╢╣╤╥╦╧╨╩╪╫╬▀▄█▌▐░▒▓")
    + list("АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюя")
    + list("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρστυφχψω")
    + list("aeiou ABCxyz.,?!\n")
)


def clean_text(rng: random.Random, lo=1, hi=6) -> str:
    n = rng.randint(lo, hi)
    sep = rng.choice([" ", "", " ", " "])
    return sep.join(rng.choice(WORDS) for _ in range(n))


def cesu8(text: str) -> bytes:
    out = b""
    for ch in text:
        if ord(ch) >= 0x10000:
            v = ord(ch) - 0x10000
            for s in (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)):
                out += chr(s).encode("utf-8", "surrogatepass")
        else:
            out += ch.encode("utf-8")
    return out


def to_bytes(rng: random.Random, text: str) -> bytes:
    r = rng.random()
    if r < 0.08:
        return cesu8(text)
    if r < 0.12:
        return text.encode("utf-8").replace(b"a", b"\xc0\x80", 1)
    return text.encode("utf-8")


def decode(rng: random.Random, data: bytes) -> str:
    codec = rng.choice(CODECS)
    errors = "replace"
    return data.decode(codec, errors)


def mojibake(rng: random.Random, text: str) -> str:
    s = decode(rng, to_bytes(rng, text))
    if rng.random() < 0.2:  # mojibake of mojibake
        try:
            s = decode(rng, s.encode("utf-8"))
        except UnicodeError:
            pass
    r = rng.random()
    if r < 0.15:
        s = s.replace("\u00a0", " ")
    elif r < 0.22:
        chars = list(s)
        if chars:
            i = rng.randrange(len(chars))
            chars[i] = rng.choice(["\ufffd", "?"])
            s = "".join(chars)
    return s


BYTE_PIECES = [
    b"\xed\xa0\xbd\xed\xb8\x8d", b"\xed\xa0\x80\xed\xb0", b"\xed\xa5", b"\xed\x9f\xbf", b"\xc0\x80", b"\xc0",
    b"\xc3", b"\xc2", b"\xe2\x80", b"\xf0\x9f", b"\xe0", b"\xf4\x90", b"\x1a", b"?", b" ", b"\n", b"\xa0",
    b"a", b"la ", b"s ", b"quele", b"\xe2\x80\x9c", b"\xc3\xa9", b"\xce\xb1", b"\xd0\xb6", b"\xf0\x9f\x98\x80",
]


def random_bytes_case(rng: random.Random) -> str:
    """Random byte soup with UTF-8 / CESU-8 structure, decoded with one of the codecs."""
    data = b""
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        if r < 0.5:
            data += rng.choice(BYTE_PIECES)
        elif r < 0.8:
            data += bytes([rng.randint(0x80, 0xBF)])
        else:
            data += bytes([rng.randint(0x00, 0xFF)])
    s = decode(rng, data)
    if rng.random() < 0.2:
        s = s.replace("\u00a0", " ")
    return s


def make_case(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        return random_bytes_case(rng)
    if r < 0.25:
        return clean_text(rng, 0, 2) + random_bytes_case(rng) + rng.choice(["", "\n", " "])
    r = rng.random()
    if r < 0.1:  # a few random characters of the mojibake alphabet
        return "".join(rng.choice(MOJI_CHARS) for _ in range(rng.randint(1, 6)))
    if r < 0.2:  # random characters around words
        return (
            clean_text(rng, 0, 2)
            + "".join(rng.choice(MOJI_CHARS) for _ in range(rng.randint(1, 4)))
            + clean_text(rng, 0, 2)
        )
    parts = []
    for _ in range(rng.randint(1, 3)):
        t = clean_text(rng)
        parts.append(mojibake(rng, t) if rng.random() < 0.75 else t)
    joiner = rng.choice([" ", "", "\n", " ", " | "])
    return joiner.join(parts)
