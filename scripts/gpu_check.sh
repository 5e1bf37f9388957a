#!/usr/bin/env bash
# The GPU check, one command from the repository root on a machine with torch and transformers (no bmp venv):
#
#   python scripts/prepare_carry.py --no-wheels   # beforehand, here: fills the git-ignored .carry/ (about 45 MiB)
#   bash scripts/gpu_check.sh            # on the GPU machine: about 2-3 minutes on an H100
#   bash scripts/gpu_check.sh --dry-run  # anywhere: the same steps on the CPU, tiny sizes, records to a temp folder
#
# Steps, each under its own time limit so that one failure doesn't cost the others:
#   1. python -m bmp.bench timing --record: dense base (.carry/embedded), the packed/filled models recorded in
#      data/results (their shapes from .carry/packed/ when the weights are not here), the reference architectures;
#      batch 128 x 384, fp32 and fp16; tokenization of one batch timed apart.
#   2. python -m bmp.bench align --record: fp16 time of FFN 461 over FFN padded to 512 (4 heads, BERT-base shape).
# New records land in data/results and, when $OUT is set, are copied there with the logs.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
PYTHON="${PYTHON:-python}"
CARRY="${CARRY:-.carry}"  # what scripts/prepare_carry.py wrote
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

"$PYTHON" -c "import torch, transformers, safetensors, numpy, bmp" || { echo "missing packages: stop"; exit 3; }
"$PYTHON" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

BASE=random
[ -f "$CARRY/embedded/config.json" ] && BASE="$CARRY/embedded"
SQUAD=()
for file in "$CARRY/squad/dev-v1.1.json.zip" ../shared/data/squad/dev-v1.1.json.zip; do
    [ -f "$file" ] && { SQUAD=(--squad "$file"); break; }
done
[ "$BASE" = random ] && echo "note: no $CARRY/embedded (run scripts/prepare_carry.py): timing a random base"

if [ "$DRY_RUN" = 1 ]; then
    export BMP_RESULTS_DIR="$WORK/results"  # records of a dry run never reach data/results
    TIMING=(--device cpu --small --records data/results)
    ALIGN=(--device cpu --dtype fp32 --layers 2 --batch 2 --seq 32 --repeats 1 --warmup 1)
    LIMITS=(120 60)
else
    TIMING=(--records data/results)
    ALIGN=()
    LIMITS=(210 60)
fi
RESULTS_DIR="${BMP_RESULTS_DIR:-data/results}"
mkdir -p "$RESULTS_DIR" "$WORK/logs"
touch "$WORK/started"

FAILED=()
run_step() {  # name limit args...
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s): python -m bmp.bench $*"
    timeout "$limit" "$PYTHON" -m bmp.bench "$@" 2>&1 | tee "$WORK/logs/$name.log"
    local status=${PIPESTATUS[0]}
    [ "$status" = 0 ] || { FAILED+=("$name (exit $status)"); echo "!! $name failed with exit $status"; }
}

run_step timing "${LIMITS[0]}" timing --base "$BASE" --shapes-dir "$CARRY/packed" ${SQUAD[@]+"${SQUAD[@]}"} "${TIMING[@]}" --record
run_step align "${LIMITS[1]}" align ${ALIGN[@]+"${ALIGN[@]}"} --record

NEW=$(find "$RESULTS_DIR" -name '*.json' -newer "$WORK/started" 2>/dev/null)
echo "== new records:"; echo "${NEW:-none}"
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/results" "$OUT/logs"
    [ -n "$NEW" ] && cp $NEW "$OUT/results/"
    cp "$WORK"/logs/*.log "$OUT/logs/"
fi
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "== failed: ${FAILED[*]}"
    exit 1
fi
echo "== gpu check done"
