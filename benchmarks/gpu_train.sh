#!/usr/bin/env bash
# Train the whole uare-tiny recipe (understanding pre-training, stage 1, stage 2, the refiner heads) on one H100/H200-class
# GPU in <= 9 minutes (bf16) and write the exported model to $OUT/uare-tiny, with $OUT/recipe.json
# (device, seconds, steps, last loss per phase) and $OUT/train_log.txt.
#
#   OUT=/tmp/out DATA=.gpu_data bash benchmarks/gpu_train.sh            # on the device machine
#   bash benchmarks/gpu_train.sh --micro                                # CPU check of the chain, seconds
#
# Before a device call, here: `python -m uare.train.recipe pack-data ../shared/datasets/train/bsd200
# ../shared/datasets/train/t91 ../shared/datasets/train/gray400 --out .gpu_data` (PNG crops, < 56 MB;
# .gpu_data is git-ignored: name it in `carry`), and the wheels the device lacks in .whl (see the device
# tool's README; `pip download` opencv-python-headless, tokenizers, safetensors, PyYAML, tqdm for cp312).
# Then `run` with carry [".gpu_data", ".whl"] and command `bash benchmarks/gpu_train.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
if [ "${1:-}" = "--micro" ]; then
    OUT=${OUT:-$(mktemp -d)}
    DATA=${DATA:-}
    if [ -z "$DATA" ]; then
        DATA="$OUT/data"
        python3 - "$DATA" <<'PY'
import sys, pathlib, numpy as np
from PIL import Image
d = pathlib.Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
for i in range(3):
    base = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    Image.fromarray(base).resize((96, 96), Image.BICUBIC).save(d / f"{i}.png")
PY
    fi
    python3 -m uare.train.recipe --configs configs/gpu --data "$DATA" --out "$OUT" --budget 60 --micro
    # release 3: the LQ-guided heads, then one bank in the exported model folder
    python3 -m uare.train.refiner heads --data "$DATA" --out "$OUT/refiner/heads" --steps 2 --save-every 1 \
        --crop 32 --batch 2 --channels 4 --layers 3
    python3 -m uare.train.refiner bank --heads "$OUT/refiner/heads" --model-out "$OUT/uare-tiny"
    # a continuation with the chain's inputs (release 14), from the bank just exported
    python3 -m uare.train.refiner heads --data "$DATA" --out "$OUT/refiner/chain" --init "$OUT/uare-tiny" --steps 2 \
        --save-every 1 --crop 32 --batch 2 --categories blur --chain-draws
    exit 0
fi
: "${OUT:?set OUT to the folder for the results}"
DATA=${DATA:-.gpu_data}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m uare.train.recipe --configs configs/gpu --data "$DATA" --out "$OUT" --budget "${BUDGET:-420}" \
    2>&1 | tee "$OUT/train_log.txt"
# the LQ-guided heads (uare.train.refiner heads: CPU-bound data, 16 cores there), one bank in the exported
# folder. Release 4's CPU recipe: release 3's heads fine-tuned, resumable, cosine over --steps (blur 1600,
# lowres 1200 with Real-ESRGAN draws, jpeg 1000); release 5: blur 4000 more at lr 3e-4, then jpeg 4000 more
# at lr 3e-4, blur 4000 more at lr 2e-4, jpeg 4000 more at lr 2e-4; release 6: blur 6000 more at lr 1.5e-4; release 8: noise 6000 more at lr 1.5e-4, then 3000 at lr 1e-4 with
# --tone-draws; release 11: jpeg 6000 more at lr 1.5e-4; release 12: lowres 4000 more at lr 3e-4 on 96-px crops in batches of 8, jpeg 6000 more at lr 1e-4 from release 11's bank, then 6000 more at lr 1e-4; release 13: jpeg 6000 more at lr 1e-4; release 14: blur 6000 more at lr 1e-4, then 3000 at lr 1e-4 with --chain-draws; release 15: a bicubic_x4 head (NAMED_HEADS), 4000 steps at lr 1e-4 on 96-px crops in batches of 8 from the lowres head; release 16: bicubic_x4 6000 more at lr 1e-4 (in all, blur saw about 28,000 steps, jpeg about 35,000, noise about 13,000, lowres about 4,000 before release 12 and 4,000 in it). From scratch here: 2000 steps each, then the same
# continuations, each from the bank last exported (the CPU recipe's shape); not yet timed on a GPU.
heads() { python3 -m uare.train.refiner heads --data "$DATA" --threads 16 "$@" 2>&1 | tee -a "$OUT/train_log.txt"; }
bank() { python3 -m uare.train.refiner bank --heads "$OUT/refiner/$1" --model-out "$OUT/uare-tiny" --dtype fp16; }
continue_head() {  # RUN CATEGORY LR [STEPS [FLAGS...]]: STEPS (4000) more steps of one head of the exported bank, into $OUT/refiner/RUN
    heads --out "$OUT/refiner/$1" --init "$OUT/uare-tiny" --lr "$3" --categories "$2" --steps "${4:-4000}" "${@:5}"
}
R="$OUT/refiner"
heads --out "$R/heads" --steps 2000
bank heads
continue_head heads5 blur 3e-4
cp -r "$R/heads/jpeg" "$R/heads/noise" "$R/heads/lowres" "$R/heads5/"
bank heads5
continue_head heads6 jpeg 3e-4
continue_head heads7 blur 2e-4
cp -r "$R/heads/noise" "$R/heads/lowres" "$R/heads6/jpeg" "$R/heads7/"
bank heads7
continue_head heads9 jpeg 2e-4
cp -r "$R/heads9/jpeg" "$R/heads7/"
bank heads7
continue_head heads10 blur 1.5e-4 6000   # release 6
cp -r "$R/heads10/blur" "$R/heads7/"
bank heads7
continue_head heads12 noise 1.5e-4 6000
cp -r "$R/heads12/noise" "$R/heads7/"
bank heads7
continue_head heads14 noise 1e-4 3000 --tone-draws   # release 8
cp -r "$R/heads14/noise" "$R/heads7/"
bank heads7
continue_head heads11 jpeg 1.5e-4 6000   # release 11
cp -r "$R/heads11/jpeg" "$R/heads7/"
bank heads7
continue_head heads15 lowres 3e-4 4000 --crop 96 --batch 8   # release 12
continue_head heads17 jpeg 1e-4 6000
cp -r "$R/heads15/lowres" "$R/heads17/jpeg" "$R/heads7/"
bank heads7
continue_head heads18 jpeg 1e-4 6000
cp -r "$R/heads18/jpeg" "$R/heads7/"
bank heads7
continue_head heads20 jpeg 1e-4 6000   # release 13
cp -r "$R/heads20/jpeg" "$R/heads7/"
bank heads7
continue_head heads21 blur 1e-4 6000   # release 14
cp -r "$R/heads21/blur" "$R/heads7/"
bank heads7
continue_head heads22 blur 1e-4 3000 --chain-draws   # the earlier heads of the chain from the bank just exported
cp -r "$R/heads22/blur" "$R/heads7/"
bank heads7
continue_head heads24 bicubic_x4 1e-4 4000 --crop 96 --batch 8   # release 15: a named x4 SR's head, from lowres
cp -r "$R/heads24/bicubic_x4" "$R/heads7/"
bank heads7
continue_head heads26 bicubic_x4 1e-4 6000 --crop 96 --batch 8   # release 16
cp -r "$R/heads26/bicubic_x4" "$R/heads7/"
bank heads7
du -sh "$OUT"/uare-tiny
