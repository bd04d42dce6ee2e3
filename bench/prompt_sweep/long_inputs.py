"""Python side of long_inputs.ts (same inputs, rebuilt here).
Run: PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean python3 bench/prompt_sweep/long_inputs.py"""
import json, time
from diffusers.pipelines.pixart_alpha.pipeline_pixart_alpha import PixArtAlphaPipeline
n = 20000
L = {
  "a": "a" * n, "digits": "1" * n, "dots": "." * n, "dashes": "-" * n, "dot_words": "a." * (n // 2), "lt": "<" * n,
  "lt_a": "<a " * (n // 3), "amp_hash": "&#" * (n // 2), "amp": "&" * n, "comment_open": "<!--" + "x" * n,
  "spaces": " " * n + "x" + " " * n, "at": "@a" * (n // 2), "hash1": "#1 " * (n // 3), "mixed_id": "a1b2" * (n // 4),
  "domain": "a-" * (n // 2) + ".com", "words": "cat " * (n // 4), "quotes": "\"'" * (n // 2), "pct": "%" * n, "pct_hex": "%C3" * (n // 3),
}
p = PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)
out = {}
for k, t in L.items():
    t0 = time.time()
    try:
        c, err = p._text_preprocessing(t, clean_caption=True)[0], None
    except Exception as e:  # noqa
        c, err = None, type(e).__name__
    out[k] = {"ms": round((time.time() - t0) * 1000), "clean": c, **({"err": err} if err else {})}
print(json.dumps(out))
