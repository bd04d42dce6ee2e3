"""Prompt sweep, step 2: the Python reference (diffusers + transformers) for every prompt.

Run (from /work/main), after prompts.py:
    pip install --target /tmp/pyclean ftfy beautifulsoup4 protobuf   # once
    PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean \
        python3 bench/prompt_sweep/reference.py [out/prompts.json] [out/reference.json]

For each prompt it records
  lower  = PixArtAlphaPipeline._text_preprocessing(p, clean_caption=False)[0]
  clean  = PixArtAlphaPipeline._text_preprocessing(p, clean_caption=True)[0]  (or {"error": ...})
  clean_nofix = the same with ftfy's fix_encoding switched off (diagnostic only: tells
           mojibake-repair differences apart from everything else)
  ids.lower / ids.clean = T5Tokenizer(text, add_special_tokens=True) input_ids, untruncated
and, for every max_sequence_length L, checks that
  tokenizer([text], padding="max_length", max_length=L, truncation=True, add_special_tokens=True)
equals  ids[:L-1] + [</s>] (when longer than L) padded with 0 to L, mask 1...1 0...0.
Any row for which that does not hold is stored verbatim in "explicit" so that compare.ts
compares against what transformers really returned. Batches are stored verbatim.
"""
import contextlib
import json
import os
import sys

import ftfy
from transformers import T5Tokenizer
from diffusers.pipelines.pixart_alpha.pipeline_pixart_alpha import PixArtAlphaPipeline

HERE = os.path.dirname(os.path.abspath(__file__))
TOK_DIR = os.path.join(HERE, "..", "..", "test", "fixtures", "pixart-tiny", "tokenizer")


@contextlib.contextmanager
def no_fix_encoding():
    original = ftfy.fix_text
    ftfy.fix_text = lambda text, *a, **kw: original(text, *a, **{**kw, "fix_encoding": False})
    try:
        yield
    finally:
        ftfy.fix_text = original


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "out", "prompts.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else src.replace("prompts", "reference")
    data = json.load(open(src, encoding="utf-8"))
    all_lens = data["all_lens"]
    tok = T5Tokenizer.from_pretrained(TOK_DIR)
    pipe = PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)
    eos, pad = tok.eos_token_id, tok.pad_token_id

    def clean(text, nofix=False):
        try:
            if nofix:
                with no_fix_encoding():
                    return pipe._text_preprocessing(text, clean_caption=True)[0]
            return pipe._text_preprocessing(text, clean_caption=True)[0]
        except Exception as e:  # noqa: BLE001
            return {"error": type(e).__name__, "message": str(e)[:200]}

    def tok_rows(text, lens):
        full = tok(text, add_special_tokens=True)["input_ids"]
        explicit = {}
        for L in lens:
            enc = tok([text], padding="max_length", max_length=L, truncation=True, add_special_tokens=True)
            ids, mask = enc["input_ids"][0], enc["attention_mask"][0]
            exp = full if len(full) <= L else full[: L - 1] + [eos]
            n = len(exp)
            exp_ids = exp + [pad] * (L - n)
            exp_mask = [1] * n + [0] * (L - n)
            if ids != exp_ids or mask != exp_mask:
                explicit[str(L)] = {"input_ids": ids, "attention_mask": mask}
        return full, explicit

    out = []
    for i, case in enumerate(data["cases"]):
        lens = case.get("lens", all_lens)
        if "batch" in case:
            lower = pipe._text_preprocessing(case["batch"], clean_caption=False)
            cl = [clean(t) for t in case["batch"]]
            rec = {"id": case["id"], "lower": lower, "clean": cl, "tok": {}}
            for name, texts in (("lower", lower), ("clean", cl)):
                if any(isinstance(t, dict) for t in texts):
                    continue
                rec["tok"][name] = {}
                for L in lens:
                    enc = tok(texts, padding="max_length", max_length=L, truncation=True, add_special_tokens=True)
                    rec["tok"][name][str(L)] = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
            out.append(rec)
            continue
        text = case["text"]
        lower = pipe._text_preprocessing(text, clean_caption=False)[0]
        cl = clean(text)
        rec = {"id": case["id"], "lower": lower, "clean": cl}
        ncl = clean(text, nofix=True) if not text.isascii() else cl
        if ncl != cl:
            rec["clean_nofix"] = ncl
        rec["ids"], rec["explicit"] = {}, {}
        for name, t in (("lower", lower), ("clean", cl)):
            if isinstance(t, dict):
                continue
            full, explicit = tok_rows(t, lens)
            rec["ids"][name] = full
            if explicit:
                rec["explicit"][name] = explicit
        if not rec["explicit"]:
            del rec["explicit"]
        out.append(rec)
        if i % 5000 == 4999:
            print(f"{i + 1} / {len(data['cases'])}", file=sys.stderr)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump({"cases": out}, f, ensure_ascii=True)
    print(f"{len(out)} reference records -> {dst}")


if __name__ == "__main__":
    main()
