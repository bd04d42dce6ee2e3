"""Fuzz inputs + ftfy 6.3.1 reference outputs for lib/text/ftfyEncoding.ts (output is not committed).

Run from /work/main, then compare with bench/prompt_sweep/ftfy_fuzz.ts:

    PYTHONPATH=/tmp/pyftfy python3 lib/text/testdata/fuzz_ftfy_encoding.py /tmp/ftfy_fuzz.json [n] [seed]
    npx tsx bench/prompt_sweep/ftfy_fuzz.ts /tmp/ftfy_fuzz.json

Writes, for n random mojibake strings (ftfy_mojibake.make_case) plus the "a XY b" pairs of
Latin-1/cp1252 characters (bench/prompt_sweep/ftfy_pairs.py's set) and, for is_bad, random
strings over the mojibake alphabet: ftfy.fix_text, ftfy.fix_encoding and badness.is_bad.
"new_chars" marks cases touching characters unassigned in this Python's Unicode database
(CPython 3.11: Unicode 14), where Node (newer Unicode) may legitimately differ.
"""
import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftfy  # noqa: E402
from ftfy.badness import is_bad  # noqa: E402
from ftfy_mojibake import MOJI_CHARS, make_case  # noqa: E402


def new_chars(*texts: str) -> bool:
    return any(unicodedata.category(c) == "Cn" for t in texts for c in t)


def main():
    dst = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rng = random.Random(seed)
    cases = []
    seen = set()

    def add(text, kind):
        if text in seen:
            return
        seen.add(text)
        ft = ftfy.fix_text(text)
        fe = ftfy.fix_encoding(text)
        cases.append({"kind": kind, "text": text, "fix_text": ft, "fix_encoding": fe, "is_bad": is_bad(text),
                      "new_chars": new_chars(text, ft, fe)})

    chars = [chr(c) for c in range(0xA1, 0x100)] + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
    for x in chars:
        for y in chars:
            add("a " + x + y + " b", "pair")
    for _ in range(n):
        add(make_case(rng), "mojibake")
    bad_only = []
    for _ in range(n):
        t = "".join(rng.choice(MOJI_CHARS) for _ in range(rng.randint(2, 5)))
        bad_only.append([t, is_bad(t)])
    with open(dst, "w", encoding="utf-8") as f:
        json.dump({"cases": cases, "is_bad": bad_only}, f, ensure_ascii=True)
    print(f"{len(cases)} cases, {len(bad_only)} is_bad strings -> {dst}")


if __name__ == "__main__":
    main()
