"""Builds tokenizer_cases.json: transformers' T5Tokenizer ids for texts on which Google's
SentencePiece and transformers 5 (the `tokenizers` Unigram model + Precompiled normalizer)
disagree, and for the pieces of the pipeline around them. Used by T5Tokenizer.test.ts.

Run from the repository root, with transformers 5.x (+ tokenizers, protobuf) importable:

    PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean \\
        python3 lib/text/testdata/gen_tokenizer_cases.py \\
        test/fixtures/pixart-tiny/tokenizer lib/text/testdata/tokenizer_cases.json [n_random] [seed]

Each case: {"group", "text", "ids"} with ids = tokenizer(text)["input_ids"] (with </s>, no
truncation, no padding), plus "ids_spiece_only" for the same text with a folder holding only
spiece.model (sentinels then lack the lstrip/rstrip flags of tokenizer_config.json).
"""
import json
import os
import platform
import random
import shutil
import sys
import tempfile

import tokenizers
import transformers
from transformers import T5Tokenizer

GROUPS = {
    # Equal-score segmentations: tokenizers keeps the first path found (long piece last).
    "viterbi_tie": [
        "why????", "????", "----", "wait.......", ".......", "soooooooooooooo a cat", "$00000.99",
        "a \u2034 b", "\u2034", "!!!!!!", "zzz", "#99999999", "hmmmmmmmm", "nooooooo", "====", "______",
        "**********", "~~~~~~", "1111111111", "aaaaaaaaaaaa", "xxxxxxx", "!!!???!!!", "........!!!!",
        "so........ many", "ha" * 9, "\u2026\u2026\u2026\u2026", "----->", "<-----", "0000", "00000000",
    ],
    # Precompiled normalizer: a cluster under 6 bytes becomes the normalization of its shortest
    # prefix in the charsmap, the rest of the cluster is dropped.
    "combining_marks": [
        "a\u0308\u0301", "Tie\u0302\u0301ng", "tie\u0302\u0301ng", "Vie\u0323\u0302t Nam", "\u2026\u0301",
        "e\u0301", "cafe\u0301", "A\u030a", "o\u0308\u0304", "n\u0303o", "u\u0308\u0301ber", "\u0301",
        "\u0301a", "a\u0301\u0301", "I\u0307", "c\u0327a", "a\u0328\u0301", "\u00e9\u0301", "\u00e4\u0308",
    ],
    "space_plus_mark": [
        "x\u00a0\u0301y", "x\u3000\u0301y", "x\u2002\u0308y", "x\u2009\u0301y", "x \u0301y", "x\t\u0301y",
        "\u2581\u0301", "a\u2581\u0301b", "x\u00a0\u0308", "\u3000\u0301", "x\u202f\u0301y",
    ],
    "compat_plus_mark": [
        "\u2122\u0301", "\u2122\u0301x", "\ufb01\u0301", "\ufb01\u0301re", "\uff41\u0301", "\uff21\u0308b",
        "\u2460\u0301\u2461", "\u2460\u0301", "\u338f\u0301", "\u00bd\u0301", "\u00b2\u0301", "\u2163\u0301",
        "\u3250\u0301", "\u01c4\u0301", "\u2026\u0308x", "\uff10\u0301", "\u1e9b\u0323",
    ],
    # Clusters of 6 bytes or more go code point by code point.
    "long_cluster": [
        "a\u0308\u0301\u0323", "\uff41\u0301\u0301", "\u2122\u0301\u0301", "e\u0301\u0301\u0301\u0301",
        "\u2460\u0301\u0301", "\u2026\u0301\u0301", "\u0915\u094d\u0937", "\u0915\u094d\u0937\u093f",
        "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e01\u0e33", "\ufb01\u0308\u0301", "\u00a0\u0301\u0301",
        "\u3000\u0301\u0301", "a\u20d7", "a\u20d7\u20d7", "\u1e9b\u0323\u0301",
    ],
    "emoji": [
        "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 family", "\U0001F3F3\ufe0f\u200d\U0001F308",
        "\U0001F44D\U0001F3FD", "1\ufe0f\u20e3", "#\ufe0f\u20e3", "\U0001F1FA\U0001F1F8\U0001F1EB\U0001F1F7",
        "\u2764\ufe0f", "\u2764\ufe0f\u200d\U0001F525", "a\u200db", "\U0001F600\U0001F600 smile",
        "\u263a\ufe0e", "\U0001F9D1\U0001F3FB\u200d\U0001F4BB", "x\ufe0fy", "\u00a9\ufe0f",
    ],
    "unknown_runs": [
        "\u2603\u2603\u2603", "a\u2603b", "\U0001D518\U0001D52B\U0001D526", "{}", "{{x}}", "<>", "a<b>c",
        "~", "\u2603 \u2603", "\u2603\u0301", "\u2603\u00a0\u0301", "\u20ac\u20ac", "\U0001F600",
        "\u4e1c\u4eac\u2603", "\u0f00\u0f01", "\u13a0\u13a1", "\u2603<unk>\u2603", "\uff1cunk\uff1e",
        "\u2603\uff1cunk\uff1e\u2603", "\uff1cpad\uff1e", "a\uff1cpad\uff1eb", "\uff1cextra_id_0\uff1e",
        "x\uff1c/s\uff1e", "<extra_id_100>",
    ],
    "added_tokens": [
        "<extra_id_0>\u00a0\u0301x", "x\u00a0\u0301<extra_id_0>", "a <extra_id_0> b", "a<extra_id_0>b",
        "<extra_id_0>  <extra_id_1>", "</s></s>", "x </s>", "<pad><unk></s>", "a<unk>b<pad>c<extra_id_99>",
        "<extra_id_0>\u3000\u0301y", "<extra_id_0> \u0301y", "</s> \u0301y", "\u0600 <extra_id_0>",
        "<extra_id_0>\t\n x",
    ],
    "whitespace": [
        "a\x85b", "a\r\nb", "a\rb", "a\u2028b", "a\ufeffb", "a\u200bb", "a\u00adb", "\t\n", "", "   ",
        "\u2581", "\u2581\u2581", "a\u2581\u2581b", "a\u2581", "\u2581a", "x \u0301 y", "a\u1680b",
        "a\u205fb", "a\u180eb", "a\x1fb", "a\x00b", "\x00",
    ],
    "clusters_misc": [
        "\u1105\u1169\u11b4", "\u1100\u1161\u11a8", "\u1100\u1100\u1161", "\uac00\u11a8", "\u0600a",
        "\u0600 ", "\u0600\u0661", "\u0d4e\u0d15", "a\u0e33", "\u0e01\u0e33\u0e19", "\r\n\u0301",
        "\u0915\u094d", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e9\u05c1\u05b8", "A\u034f\u0301",
        "\u00c5\u0301", "\u212b\u0301", "\u1e0a\u0323", "\u0044\u0307\u0323",
    ],
}

FRAGMENTS = [
    "a", "cat", " ", "  ", "\u00a0", "\u3000", "\u0301", "\u0308", "\u0323", "\u0302", "e", "o", "?", "!", ".",
    "-", "0", "\u2026", "\u2122", "\ufb01", "\uff41", "\u2460", "\u2603", "\U0001F600", "\u200d", "\ufe0f",
    "\U0001F3FD", "\u1100", "\u1161", "\u11a8", "\U0001F1FA", "\U0001F1F8", "\u0915", "\u094d", "\u0600",
    "\r", "\n", "\u2581", "<extra_id_0>", "</s>", "\uff1c", "\uff1e", "unk", "sooo", "$", "\u00bd", "\u00e9",
    "\u2034", "\u0e33", "x", "\u20d7", "\t", "\x85",
]


def main():
    tok_dir, out_path = sys.argv[1], sys.argv[2]
    n_random = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 20260522)
    tok = T5Tokenizer.from_pretrained(tok_dir)
    bare_dir = tempfile.mkdtemp()
    try:
        shutil.copy(os.path.join(tok_dir, "spiece.model"), bare_dir)
        bare = T5Tokenizer.from_pretrained(bare_dir)
    finally:
        shutil.rmtree(bare_dir)

    groups = dict(GROUPS)
    groups["random"] = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12))) for _ in range(n_random)]
    cases = []
    for group, texts in groups.items():
        for t in texts:
            case = {"group": group, "text": t, "ids": tok(t)["input_ids"]}
            other = bare(t)["input_ids"]
            if other != case["ids"]:
                case["ids_spiece_only"] = other
            cases.append(case)

    doc = {
        "generated_with": {
            "python": platform.python_version(),
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "note": "ids = transformers T5Tokenizer(text)['input_ids'] (with </s>, no truncation); "
        "ids_spiece_only (when different) = the same with only spiece.model in the folder",
        "cases": cases,
    }
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, separators=(",", ":"))[:-1]
    with open(out_path, "w", encoding="utf-8") as f:  # one case per line
        f.write(head + ',"cases":[\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    print(f"{len(cases)} cases -> {out_path}")


if __name__ == "__main__":
    main()
