"""Which *correctly encoded* two-character sequences does ftfy's fix_encoding (mojibake
repair, not implemented in lib/text/ftfyLite.ts) still rewrite inside _clean_caption?
Sweeps "a " + X + Y + " b" over X, Y in Latin-1 / Windows-1252 printable characters and
reports pairs whose cleaned output differs with fix_encoding on vs off.

Run (from /work/main):
    PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean python3 bench/prompt_sweep/ftfy_pairs.py
"""
import contextlib
import json
import os

import ftfy
from diffusers.pipelines.pixart_alpha.pipeline_pixart_alpha import PixArtAlphaPipeline

HERE = os.path.dirname(os.path.abspath(__file__))
pipe = PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)
orig = ftfy.fix_text


def clean(t, fix):
    ftfy.fix_text = orig if fix else (lambda text, *a, **kw: orig(text, *a, **{**kw, "fix_encoding": False}))
    try:
        return pipe._text_preprocessing(t, clean_caption=True)[0]
    finally:
        ftfy.fix_text = orig


chars = [chr(c) for c in range(0xA1, 0x100)] + list("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
hits = []
for x in chars:
    for y in chars:
        t = "a " + x + y + " b"
        a, b = clean(t, True), clean(t, False)
        if a != b:
            hits.append({"prompt": t, "ref": a, "without_fix_encoding": b})
print(f"{len(hits)} of {len(chars) ** 2} pairs are rewritten by fix_encoding")
with open(os.path.join(HERE, "out", "ftfy_pairs.json"), "w") as f:
    json.dump(hits, f, ensure_ascii=True, indent=0)
for h in hits[:40]:
    print(json.dumps(h, ensure_ascii=False))
