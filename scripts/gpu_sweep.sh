#!/usr/bin/env bash
# The full-profile sweep on one GPU, as one command that ends before its deadline. The course-profile sweep
# (scripts/sweep.sh) takes hours of 2 CPU cores; on a GPU an epoch of the whole offline training part takes seconds,
# and one small model leaves the GPU mostly idle, so the runs of each wave share it side by side.
#
#   python scripts/prepare_carry.py   # beforehand, here: the embedded model (fp16) and the SQuAD file in .carry/
#   bash scripts/gpu_sweep.sh [--deadline SECONDS]   # on the GPU machine, from the repository root
#   bash scripts/gpu_sweep.sh --dry-run              # anywhere: the same waves on the smoke profile, records to a temp folder
#
# The machine has torch and transformers but not this project's environment: wheels in .whl/ (datasets, dill,
# multiprocess, and this project's transformers) are installed to a temp folder first, where datasets is missing.
#
# 1. the base: .carry/embedded upcast to fp32 (it travels in fp16, half the bytes); the records name it
# 2. the teacher (the profile's 3 epochs) and, beside it, the schedule twice as long that says whether it converged
# 3. wave 1, side by side from that teacher: the dense control, hybrid at lambda 60 and 120, struct at 60
# 4. wave 2, if wave 1 left time for another as long: hybrid at 240 and 480, struct at 240, and the second seed (43)
#    of hybrid 60
# On 2026-11-27 an H100 took 70 s for the teacher and 396 s for eight runs side by side (the control, and 10 prune
# epochs of seven points): about 50 training steps a second in all, so a 15-minute lease fits the teacher and wave 1.
# 5. every model the sweep made, timed in one run on the GPU (fp32 and fp16, batch 128 x 384)
# Runs still going at the deadline are stopped and left unrecorded. New records land in $BMP_RESULTS_DIR (default
# runs/gpu-results: each lease starts bare and records a whole set from its own teacher) and, with the logs, in
# $OUT/results.tgz and $OUT/logs.tgz every 30 seconds. Bring a lease's set into data/results in place of every
# earlier full-profile record, so that no record names a teacher from another lease.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
DEADLINE=560  # seconds from the start: one command on the GPU machine may run 600
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --deadline) DEADLINE=$2; shift ;;
    *) echo "error: unknown argument $1 (use --dry-run or --deadline SECONDS)"; exit 2 ;;
  esac
  shift
done
TIMING_RESERVE=60  # seconds kept for step 5
PYTHON="${PYTHON:-python3}"
CARRY="${CARRY:-.carry}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
LOGS="$WORK/logs"
mkdir -p "$LOGS"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PYTHON" -c "import datasets" 2>/dev/null && compgen -G ".whl/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
    .whl/*.whl || { echo "error: the wheels in .whl/ did not install"; exit 3; }
  export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
"$PYTHON" -c "import torch, transformers, datasets, bmp; print('torch', torch.__version__, '| transformers',
      transformers.__version__, '| cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" || { echo "error: missing packages"; exit 3; }

if [ "$DRY_RUN" = 1 ]; then
  PROFILE=smoke
  export BMP_RESULTS_DIR="$WORK/results"  # a dry run's records never reach data/results
  RUNS="$WORK/runs"
  TEACHER_EPOCHS=1
  TIMING=(--device cpu --small --base random)
  BASE_SOURCE=""
else
  PROFILE=full
  RUNS=runs
  export BMP_RESULTS_DIR="${BMP_RESULTS_DIR:-$RUNS/gpu-results}"
  TEACHER_EPOCHS=3  # the full profile's epochs
  TIMING=(--device cuda --base "$CARRY/embedded")
  BASE_SOURCE="$CARRY/embedded"
  [ -f "$BASE_SOURCE/config.json" ] || { echo "error: no $BASE_SOURCE: run python scripts/prepare_carry.py first"; exit 3; }
  [ -f "$CARRY/squad/dev-v1.1.json.zip" ] && export BMP_SQUAD_DIR="$CARRY/squad"
fi
mkdir -p "$BMP_RESULTS_DIR" "$RUNS"
touch "$WORK/started"

snapshot() {  # the records made so far, and the logs, into $OUT
  [ -n "${OUT:-}" ] || return 0
  local new
  new=$(cd "$BMP_RESULTS_DIR" && find . -maxdepth 1 -name '*.json' -newer "$WORK/started" -printf '%P\n')
  [ -n "$new" ] && tar czf "$OUT/results.tgz.part" -C "$BMP_RESULTS_DIR" $new && mv "$OUT/results.tgz.part" "$OUT/results.tgz"
  tar czf "$OUT/logs.tgz.part" -C "$LOGS" . && mv "$OUT/logs.tgz.part" "$OUT/logs.tgz"
}
if [ -n "${OUT:-}" ]; then
  (while sleep 30; do snapshot; done) &
fi

PIDS=()
NAMES=()
launch() {  # LOG-NAME, then `python -m bmp` arguments
  local name=$1; shift
  echo "$(date +%T) + $name: python -m bmp $*"
  "$PYTHON" -m bmp "$@" > "$LOGS/$name.log" 2>&1 &
  PIDS+=($!); NAMES+=("$name")
}
wait_all() {  # wait for the launched runs; stop those still going at second $1
  local until=$1 i
  while [ $SECONDS -lt "$until" ]; do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 3
  done
  for i in "${!PIDS[@]}"; do
    if kill -0 "${PIDS[$i]}" 2>/dev/null; then
      kill "${PIDS[$i]}"; echo "$(date +%T) ! ${NAMES[$i]} stopped at the deadline (not recorded)"
    else
      wait "${PIDS[$i]}"; echo "$(date +%T) - ${NAMES[$i]} exited $? ($(tail -c 300 "$LOGS/${NAMES[$i]}.log" | tr '\r\n' '  ' | tail -c 160))"
    fi
  done
  PIDS=(); NAMES=()
}
STOP=$((DEADLINE - TIMING_RESERVE))

# 1. the base
BASE=tiny
if [ -n "$BASE_SOURCE" ]; then
  BASE="$RUNS/embedded-fp32-from-fp16"
  "$PYTHON" - "$BASE_SOURCE" "$BASE" <<'EOF' || { echo "error: could not upcast the base"; exit 3; }
import shutil, sys
from pathlib import Path
import torch
from transformers import AutoModelForQuestionAnswering
source, target = Path(sys.argv[1]), Path(sys.argv[2])
AutoModelForQuestionAnswering.from_pretrained(source, dtype=torch.float32).save_pretrained(target)
for path in source.iterdir():
    if path.name.startswith(("tokenizer", "special_tokens", "vocab")):
        shutil.copy(path, target / path.name)
print("base:", target)
EOF
fi

# 2. the teacher, and the longer schedule beside it (which wave 1 doesn't wait for)
T=teacher-$PROFILE-${TEACHER_EPOCHS}ep
LONGER=teacher-$PROFILE-$((2 * TEACHER_EPOCHS))ep
"$PYTHON" -m bmp finetune --profile "$PROFILE" --model "$BASE" --epochs $((2 * TEACHER_EPOCHS)) \
  --output "$RUNS/$LONGER" --name "$LONGER" > "$LOGS/$LONGER.log" 2>&1 &
LONGER_PID=$!
echo "$(date +%T) + $T"
"$PYTHON" -m bmp finetune --profile "$PROFILE" --model "$BASE" --epochs "$TEACHER_EPOCHS" --output "$RUNS/$T" \
  --name "$T" > "$LOGS/$T.log" 2>&1 || { echo "error: the teacher failed:"; tail -20 "$LOGS/$T.log"; snapshot; exit 1; }
echo "$(date +%T) - $T done"
TEACHER="$RUNS/$T/final"
SWEEP=(sweep --teacher "$TEACHER" --profile "$PROFILE" --runs-dir "$RUNS")

# 3. wave 1
WAVE_START=$SECONDS
launch control control --teacher "$TEACHER" --profile "$PROFILE" --output "$RUNS/control-$PROFILE"
for point in hybrid:60 hybrid:120 struct:60; do
  launch "${point/:/-}" "${SWEEP[@]}" "$point"
done
wait_all $STOP
WAVE=$((SECONDS - WAVE_START))
snapshot

# 4. wave 2, when there is time for it
if [ $((SECONDS + WAVE)) -lt $STOP ]; then
  for point in hybrid:240 hybrid:480 struct:240 hybrid:60@43; do
    launch "${point/:/-}" "${SWEEP[@]}" "$point"
  done
  wait_all $STOP
else
  echo "no time for wave 2 (wave 1 took ${WAVE}s)"
fi
kill -0 $LONGER_PID 2>/dev/null && { kill $LONGER_PID; echo "! $LONGER stopped at the deadline (not recorded)"; }
snapshot

# 5. one timing run of every model this sweep made (its records alone), with the dense base
TIMED="$RUNS/timed-records"  # in the checkout, so that the timing record's command names it repo-relative
rm -rf "$TIMED"; mkdir -p "$TIMED"
cp $(find "$BMP_RESULTS_DIR" -maxdepth 1 -name '*.json' -newer "$WORK/started") "$TIMED/" 2>/dev/null
echo "$(date +%T) + timing"
timeout $((DEADLINE + 40 - SECONDS)) "$PYTHON" -m bmp.bench timing --records "$TIMED" \
  "${TIMING[@]}" --record > "$LOGS/timing.log" 2>&1
echo "$(date +%T) - timing exited $? ($(tail -c 400 "$LOGS/timing.log"))"
snapshot
echo "== new records:"
find "$BMP_RESULTS_DIR" -maxdepth 1 -name '*.json' -newer "$WORK/started" -printf '%P\n' | sort
echo "== gpu sweep done in ${SECONDS}s"
