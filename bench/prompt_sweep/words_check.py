"""Cleans each line of a text file (default bench/prompt_sweep/words.txt) with and without ftfy's
fix_encoding and prints lines where mojibake repair changes the reference output.

Run: PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean python3 bench/prompt_sweep/words_check.py [file]
"""
import json
import sys

import ftfy
from diffusers.pipelines.pixart_alpha.pipeline_pixart_alpha import PixArtAlphaPipeline

pipe = PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)
orig = ftfy.fix_text
for line in open(sys.argv[1] if len(sys.argv) > 1 else __file__.replace("words_check.py", "words.txt"), encoding="utf-8"):
    line = line.rstrip("\n")
    for w in [line] + line.split(" "):
        a = pipe._text_preprocessing(w, clean_caption=True)[0]
        ftfy.fix_text = lambda text, *x, **kw: orig(text, *x, **{**kw, "fix_encoding": False})
        b = pipe._text_preprocessing(w, clean_caption=True)[0]
        ftfy.fix_text = orig
        if a != b:
            print(json.dumps(w, ensure_ascii=False), "->", json.dumps(a, ensure_ascii=False), "| without fix_encoding:", json.dumps(b, ensure_ascii=False))
