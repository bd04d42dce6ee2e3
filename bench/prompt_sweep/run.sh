#!/usr/bin/env bash
# Prompt sweep: SDK caption cleaning + T5 tokenizer vs diffusers/transformers.
#
# Run from anywhere:  bash bench/prompt_sweep/run.sh [--cp-sweep]
#   --cp-sweep adds "a<c>b", "<c>", "x <c><c> y1" for every BMP code point and 20k astral ones
#   (~220k prompts; the Python reference then takes ~5 min, compare ~2.5 min).
# Needs once:  pip install --target /tmp/pyclean ftfy beautifulsoup4 protobuf
# Outputs (ignored by git): bench/prompt_sweep/out/{prompts,reference,mismatches}[_cp].json
#
# Extra diagnostics (same PYTHONPATH):
#   python3 bench/prompt_sweep/viterbi_check.py   # float64 tokenizers-style Viterbi reproduces transformers
#   python3 bench/prompt_sweep/ftfy_pairs.py      # which 2-char sequences ftfy's fix_encoding rewrites
#   python3 bench/prompt_sweep/words_check.py F   # same, for lines/words of a text file
#   npx tsx bench/prompt_sweep/long_inputs.ts; python3 bench/prompt_sweep/long_inputs.py  # 20k-char inputs
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyclean
suffix=""
[[ "${1:-}" == "--cp-sweep" ]] && suffix="_cp"
python3 bench/prompt_sweep/prompts.py ${1:-}
python3 bench/prompt_sweep/reference.py "bench/prompt_sweep/out/prompts${suffix}.json"
npx tsx bench/prompt_sweep/compare.ts "bench/prompt_sweep/out/prompts${suffix}.json"
