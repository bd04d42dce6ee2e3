"""Runs an exported ONNX model with the ONNX reference implementation (onnx.reference), the
second, independent runtime of test/onnx.test.ts: it executes every dtype (bfloat16 too, which
onnxruntime's CPU provider lacks), after onnx.checker's full check (types and shapes).

    python3 onnx_reference.py spec.json
spec: {"model": path, "inputs": [{"name", "dtype", "shape", "file"}], "output": path}; without
"output" the model is only checked.
Inputs are raw little-endian files (float32 for float inputs, int64 for integer ones); the first
output is written to `output` as float32.
"""
import json
import sys

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

try:
    from ml_dtypes import bfloat16
except ImportError:  # onnx installs ml_dtypes; without it bfloat16 graphs cannot run
    bfloat16 = None

DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "bfloat16": bfloat16}


def main(path):
    with open(path) as f:
        spec = json.load(f)
    onnx.checker.check_model(spec["model"], full_check=True)
    if "output" not in spec:
        return
    feeds = {}
    for i in spec["inputs"]:
        raw = np.fromfile(i["file"], dtype=np.int64 if i["dtype"] == "int64" else np.float32).reshape(i["shape"])
        feeds[i["name"]] = raw.astype(DTYPES[i["dtype"]])
    model = onnx.load(spec["model"])  # external data resolves beside the file
    out = ReferenceEvaluator(model).run(None, feeds)[0]
    np.asarray(out).astype(np.float32).tofile(spec["output"])


if __name__ == "__main__":
    main(sys.argv[1])
