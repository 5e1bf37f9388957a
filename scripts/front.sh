# A front's shared setup, sourced by scripts/target_front.sh and scripts/review_front.sh: where its records go, its
# teacher, how a step is skipped, how a model a step starts from is made or rebuilt, and how every model is
# timed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
# A front's runs all start from one teacher, and a rebuilt model matches its record only on the CPU kind that made
# it: each CPU kind keeps its own front (bmp.results.fronts), found by its teacher's record or begun here.
BMP_RESULTS_DIR=${BMP_RESULTS_DIR:-$("$PY" -c "from bmp.results.fronts import front_of_this_cpu as f; print(f())")}
export BMP_RESULTS_DIR HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "front: $BMP_RESULTS_DIR"
TEACHER=runs/teacher-course/final
# rebuilt runs' own records: compared with the tracked ones, never committed
REBUILT=outputs/rebuilt-$(basename "$BMP_RESULTS_DIR")
have() { compgen -G "$BMP_RESULTS_DIR/*__$1.json" > /dev/null; }
# a `python -m bmp` command that trains, in plain fp32: every front trains so (the first began on a CPU without fast
# bf16), so that the fronts share one recipe and a model rebuilt on a CPU with fast bf16 can match its record. A
# command that makes a model the comparisons time is followed by the timing runs (time_all, below), so that the
# newest runs time every model whenever its record lands (else every speed falls back to its record's own)
train() {
  "$PY" -m bmp "$@" --fp32
  case $1 in
    finalize | torch-pruning | layer-drop) [ "$BMP_RESULTS_DIR" = "$REBUILT" ] || time_all ;;
  esac
}
# RECORD FOLDER, then the `train` arguments that make FOLDER: a model a later step starts from. Made when
# unrecorded. When recorded but not on this machine (runs/ is not tracked, and a fresh checkout lacks it), made again
# by the same command with its records in $REBUILT, and the queue goes on only if it scores what its record says
# (python -m bmp rescore --rebuilt): otherwise the runs started from it would not be kin of the recorded ones. A
# rebuild stays marked unchecked until it passes, so a rerun after a failed or killed one checks it again.
need() {
  local name=$1 folder=$2; shift 2
  if ! have "$name"; then train "$@"; return; fi
  local unchecked=$REBUILT/$name.unchecked
  if [ -f "$folder/config.json" ] && [ ! -f "$unchecked" ]; then return; fi
  mkdir -p "$REBUILT" && touch "$unchecked"
  if [ ! -f "$folder/config.json" ] || ! compgen -G "$REBUILT/*__$name.json" > /dev/null; then
    echo "== rebuilding $name, recorded but not on this machine: python -m bmp $* --fp32"
    BMP_RESULTS_DIR=$REBUILT train "$@"
  fi
  "$PY" -m bmp rescore "$folder" --record "$name" --records "$BMP_RESULTS_DIR" --rebuilt "$REBUILT"
  rm "$unchecked"
}
# the teacher, as notebook 04 trains it (the course profile's one epoch)
need_teacher() {
  need dense-course "$TEACHER" finetune --profile course --output runs/teacher-course --name dense-course
}
# every model timed together, three more interleaved runs beside the recorded ones (the reference architectures are
# not needed here), then the comparison; a run is under a minute. A model's speed is its median over every run that
# times it (each speedup against the dense base of the same run), so each call adds three runs to what every speed
# rests on, and the newest runs time every model
time_all() {
  local before
  before=$(find "$BMP_RESULTS_DIR" -maxdepth 1 -name 'timing__*-fp32-b8x384*.json' | wc -l)
  for run in 1 2 3; do
    "$PY" -m bmp.bench timing --device cpu --repeats 10 --references none --records "$BMP_RESULTS_DIR" --record \
      --run $((before + run))
  done
  "$PY" -m bmp.bench pareto --records "$BMP_RESULTS_DIR"
}
