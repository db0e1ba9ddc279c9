#!/usr/bin/env bash
# GPU figures in one go, for one H100 / H200 (<= 8 minutes): writes JSON + Markdown to $OUT.
#   (a) the test suite's CUDA-marked tests (tests/ -m cuda): pytest's report in $OUT/cuda_tests.txt
#   (b) BAGEL-7B-shaped model, random bf16 weights: prefill, one flow step at 512² and 1024² under 3-way
#       CFG, text decoding tokens/s, each against this GPU's FLOP or bandwidth floor
#   (c) a 4-layer full-width slice under FSDP2 on one GPU: training tokens/s and peak memory
# Usage:  OUT=/tmp/gpu bash benchmarks/gpu.sh            (on the GPU machine)
#         OUT=/tmp/gpu bash benchmarks/gpu.sh --dry-run  (micro size on the CPU: checks the script)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-results/gpu}"
mkdir -p "$OUT"
DRY=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; fi
start=$(date +%s)
python -m pytest -q -m cuda tests/ -p no:cacheprovider > "$OUT/cuda_tests.txt" 2>&1 || echo "gpu.sh: CUDA tests failed (see $OUT/cuda_tests.txt)"
tail -n 3 "$OUT/cuda_tests.txt"
python benchmarks/gpu_bench.py --out "$OUT" $DRY
echo "gpu.sh: done in $(( $(date +%s) - start )) s; results in $OUT"
