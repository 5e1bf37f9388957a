#!/usr/bin/env bash
# The full-profile sweep on one GPU, as one command that stops its runs at a deadline. The course-profile sweep
# (scripts/sweep.sh) takes hours of 2 CPU cores; on a GPU an epoch of the whole offline training part takes seconds,
# and one small model leaves the GPU mostly idle, so the runs share it side by side.
#
#   python scripts/prepare_carry.py   # beforehand, here: the embedded model (fp16) and the SQuAD file in .carry/,
#                                     # and the wheels the machine lacks in .whl/ (below); both folders are ignored
#   BMP_GIT_COMMIT=$(git describe --always --dirty) bash scripts/gpu_sweep.sh [--deadline S] [--points "P ..."]
#                                     # on the GPU machine, from the repository root, carrying .carry and .whl
#   bash scripts/gpu_sweep.sh --dry-run   # anywhere: the same steps on the smoke profile, records to a temp folder
#
# The machine has torch and transformers but not this project's environment: where datasets is missing, the wheels
# in .whl/ (datasets, dill, multiprocess, and this project's transformers) are installed to a temp folder first.
# The checkout travels without .git, so the records take their commit from BMP_GIT_COMMIT.
#
# 1. the base: .carry/embedded upcast to fp32 (it travels in fp16, half the bytes); the records name it
# 2. the teacher (the profile's epochs) and, beside it, a schedule twice as long that says whether it converged
# 3. side by side from that teacher: the dense control and the sweep points (default below). In the first lease
#    (2026-11-27, an H100) eight runs side by side made about 50 training steps a second in all, and the prune stage
#    of seven points took most of the 600 s a command may run there; so a lease runs a few points, whole.
# 4. every model the sweep made, timed in one run on the GPU (fp32 and fp16, batch 128 x 384). The CPU speedups the
#    runs record themselves are timed at one thread beside the other runs: this timing is the profile's speed.
# At the deadline, the stage each run is in is stopped and not recorded (its finished stages are). Records land in
# $BMP_RESULTS_DIR (default runs/gpu-results: a lease starts bare and records a whole set from its own teacher)
# and, with the logs, in $OUT/results.tgz and $OUT/logs.tgz every 30 seconds. Bring a lease's set into data/results
# in place of every earlier full-profile record, so that no record names a teacher from another lease.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
DEADLINE=560  # seconds from the start: one command on the GPU machine may run 600
POINTS="hybrid:60 hybrid:120 struct:60"
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --deadline) DEADLINE=$2; shift ;;
    --points) POINTS=$2; shift ;;
    *) echo "error: unknown argument $1 (use --dry-run, --deadline SECONDS or --points \"PRESET:LAMBDA ...\")"
       exit 2 ;;
  esac
  shift
done
TIMING_RESERVE=60  # seconds kept for step 4
STOP=$((DEADLINE - TIMING_RESERVE))
PYTHON="${PYTHON:-python3}"
CARRY="${CARRY:-.carry}"
WORK="$(mktemp -d)"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
SNAPSHOTS=""
RUN_GROUPS=()
NAMES=()
cleanup() {
  [ -n "$SNAPSHOTS" ] && kill "$SNAPSHOTS" 2>/dev/null
  for group in ${RUN_GROUPS[@]+"${RUN_GROUPS[@]}"} ${LONGER_GROUP:-}; do kill -- -"$group" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=1  # several runs share the CPUs that feed the GPU
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[ -d .git ] || [ -n "${BMP_GIT_COMMIT:-}" ] || echo "warning: no .git and no BMP_GIT_COMMIT: records say 'unknown'"

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
  TIMING=(--device cpu --small --base random)
  BASE_SOURCE=""
else
  PROFILE=full
  RUNS=runs
  export BMP_RESULTS_DIR="${BMP_RESULTS_DIR:-$RUNS/gpu-results}"
  TIMING=(--device cuda --base "$CARRY/embedded")
  BASE_SOURCE="$CARRY/embedded"
  [ -f "$BASE_SOURCE/config.json" ] || { echo "error: no $BASE_SOURCE: run python scripts/prepare_carry.py first"; exit 3; }
  [ -f "$CARRY/squad/dev-v1.1.json.zip" ] && export BMP_SQUAD_DIR="$CARRY/squad"
fi
EPOCHS=$("$PYTHON" -c "from bmp.profiles import PROFILES; print(int(PROFILES['$PROFILE'].epochs))")
mkdir -p "$BMP_RESULTS_DIR" "$RUNS"

snapshot() {  # the records made so far, and the logs, into $OUT (the logs copied first: they grow while tarred)
  [ -n "${OUT:-}" ] || return 0
  local records
  records=$(cd "$BMP_RESULTS_DIR" && find . -maxdepth 1 -name '*.json' -printf '%P\n')
  [ -n "$records" ] && tar czf "$OUT/results.tgz.part" -C "$BMP_RESULTS_DIR" $records \
    && mv "$OUT/results.tgz.part" "$OUT/results.tgz"
  rm -rf "$WORK/logs-copy" && cp -r "$LOGS" "$WORK/logs-copy" && tar czf "$OUT/logs.tgz.part" -C "$WORK/logs-copy" . \
    && mv "$OUT/logs.tgz.part" "$OUT/logs.tgz"
}
if [ -n "${OUT:-}" ]; then
  (while sleep 30; do snapshot; done) &
  SNAPSHOTS=$!
fi

launch() {  # LOG-NAME, then `python -m bmp` arguments: a run in its own process group (its timing child too)
  local name=$1; shift
  echo "$(date +%T) + $name: python -m bmp $*"
  setsid "$PYTHON" -m bmp "$@" > "$LOGS/$name.log" 2>&1 &
  RUN_GROUPS+=($!); NAMES+=("$name")
}
wait_all() {  # wait for the launched runs; stop those still going at second $1
  local until=$1 i alive status
  while [ $SECONDS -lt "$until" ]; do
    alive=0
    for group in "${RUN_GROUPS[@]}"; do kill -0 "$group" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 3
  done
  for i in "${!RUN_GROUPS[@]}"; do
    if kill -0 "${RUN_GROUPS[$i]}" 2>/dev/null; then
      kill -- -"${RUN_GROUPS[$i]}"; echo "$(date +%T) ! ${NAMES[$i]}: its current stage stopped at the deadline"
    else
      wait "${RUN_GROUPS[$i]}"; status=$?
      echo "$(date +%T) - ${NAMES[$i]} exited $status ($(tail -c 300 "$LOGS/${NAMES[$i]}.log" | tr '\r\n' '  ' | tail -c 160))"
    fi
  done
  RUN_GROUPS=(); NAMES=()
}

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

# 2. the teacher, and the longer schedule beside it
T=teacher-$PROFILE-${EPOCHS}ep
LONGER=teacher-$PROFILE-$((2 * EPOCHS))ep
launch "$LONGER" finetune --profile "$PROFILE" --model "$BASE" --epochs $((2 * EPOCHS)) --output "$RUNS/$LONGER" \
  --name "$LONGER"
LONGER_GROUP=${RUN_GROUPS[0]}
RUN_GROUPS=(); NAMES=()  # waited for at the end
launch "$T" finetune --profile "$PROFILE" --model "$BASE" --epochs "$EPOCHS" --output "$RUNS/$T" --name "$T"
wait_all $STOP
[ -f "$RUNS/$T/final/config.json" ] || { echo "error: no teacher:"; tail -20 "$LOGS/$T.log"; snapshot; exit 1; }
TEACHER="$RUNS/$T/final"

# 3. the control and the sweep points, side by side
launch control control --teacher "$TEACHER" --profile "$PROFILE" --output "$RUNS/control-$PROFILE"
for point in $POINTS; do
  launch "${point/:/-}" sweep --teacher "$TEACHER" --profile "$PROFILE" --runs-dir "$RUNS" "$point"
done
RUN_GROUPS+=("$LONGER_GROUP"); NAMES+=("$LONGER")
wait_all $STOP
[ -n "$SNAPSHOTS" ] && { kill "$SNAPSHOTS"; wait "$SNAPSHOTS" 2>/dev/null; SNAPSHOTS=""; }
snapshot

# 4. one timing run of every model this sweep made (its records alone), with the dense base
TIMED="$RUNS/timed-records"  # in the checkout, so that the timing record's command names it repo-relative
rm -rf "$TIMED"; mkdir -p "$TIMED"
cp "$BMP_RESULTS_DIR"/*.json "$TIMED/" 2>/dev/null
LEFT=$((DEADLINE - SECONDS))
echo "$(date +%T) + timing (${LEFT}s left)"
if [ $LEFT -gt 0 ]; then
  timeout $LEFT "$PYTHON" -m bmp.bench timing --records "$TIMED" "${TIMING[@]}" --record > "$LOGS/timing.log" 2>&1
  status=$?
  echo "$(date +%T) - timing exited $status ($(tail -c 400 "$LOGS/timing.log"))"
fi
snapshot
echo "== records:"
ls "$BMP_RESULTS_DIR"
echo "== gpu sweep done in ${SECONDS}s"
