# The target front's shared setup, sourced by scripts/target_front.sh and scripts/review_front.sh: where its records
# go, its teacher, how a step is skipped, and how every model is timed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
export BMP_RESULTS_DIR=${BMP_RESULTS_DIR:-data/results/target-front} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
TEACHER=runs/teacher-course/final
have() { compgen -G "$BMP_RESULTS_DIR/*__$1.json" > /dev/null; }
# every model timed together, three interleaved runs (the reference architectures are not needed here), then the
# comparison; a run is under a minute
time_all() {
  for run in 1 2 3; do
    "$PY" -m bmp.bench timing --device cpu --repeats 10 --references none --records "$BMP_RESULTS_DIR" --record \
      --run "$run"
  done
  "$PY" -m bmp.bench pareto --records "$BMP_RESULTS_DIR"
}
