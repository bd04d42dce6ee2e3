"""Checks the diagnosis of the Viterbi-tie mismatches: a plain float64 re-implementation of
the `tokenizers` Unigram encode_optimized loop (start positions left to right, candidate
pieces shortest first, replace only on a strictly better score) reproduces transformers 5's
ids on every tokenizer mismatch of the sweep that is not a grapheme/normalizer case.

Run (from /work/main), after compare.ts:
    PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean python3 bench/prompt_sweep/viterbi_check.py
"""
import json
import os

from transformers import T5Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
tok = T5Tokenizer.from_pretrained(os.path.join(HERE, "..", "..", "test", "fixtures", "pixart-tiny", "tokenizer"))
model = json.loads(tok.backend_tokenizer.to_str())["model"]
vocab = model["vocab"]  # [[piece, score], ...]
piece_id = {p: i for i, (p, _) in enumerate(vocab)}
unk_id = model["unk_id"]
min_score = min(s for _, s in vocab)
UNK_PENALTY = 10.0
maxlen = max(len(p) for p, _ in vocab)


def viterbi(s):
    n = len(s)
    best = [None] * (n + 1)  # (score, start, id)
    best[0] = (0.0, -1, -1)
    for start in range(n):
        if best[start] is None:
            continue
        base = best[start][0]
        found_single = False
        for end in range(start + 1, min(n, start + maxlen) + 1):
            p = s[start:end]
            i = piece_id.get(p)
            if i is None or i == unk_id:
                continue
            if end == start + 1:
                found_single = True
            cand = base + vocab[i][1]
            if best[end] is None or cand > best[end][0]:
                best[end] = (cand, start, i)
        if not found_single:
            cand = base + min_score - UNK_PENALTY
            if best[start + 1] is None or cand > best[start + 1][0]:
                best[start + 1] = (cand, start, unk_id)
    out, pos = [], n
    while pos > 0:
        _, st, i = best[pos]
        out.append(i)
        pos = st
    out.reverse()
    fused = []
    for i in out:  # fuse_unk
        if i == unk_id and fused and fused[-1] == unk_id:
            continue
        fused.append(i)
    return fused


def mine(text):
    norm = tok.backend_tokenizer.normalizer.normalize_str(text)
    words = tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str(norm)
    ids = []
    for w, _ in words:
        ids += viterbi(w)
    return ids


mm = json.load(open(os.path.join(HERE, "out", "mismatches.json")))["mismatches"]["ids"]
ok = bad = 0
for x in mm:
    if not x["cat"].startswith("repeat"):
        continue
    ref = tok(x["text"], add_special_tokens=False)["input_ids"]
    got = mine(x["text"])
    if ref == got:
        ok += 1
    else:
        bad += 1
        print("DIFF", json.dumps(x["text"]), ref, got)
print(f"float64 first-found Viterbi reproduces transformers on {ok} of {ok + bad} tie mismatches")

# Broader: the same loop on every reference text of the main sweep (texts without added tokens).
ref = json.load(open(os.path.join(HERE, "out", "reference.json")))["cases"]
ok = bad = 0
for r in ref:
    if "ids" not in r:
        continue
    for name in ("lower", "clean"):
        t = r[name]
        if not isinstance(t, str) or "<" in t and (">" in t):
            continue
        if mine(t) + [1] == r["ids"][name]:
            ok += 1
        else:
            bad += 1
            if bad <= 5:
                print("DIFF(all)", json.dumps(t), r["ids"][name], mine(t))
print(f"all texts: float64 Viterbi on the tokenizers normalizer output matches {ok} of {ok + bad}")
