#!/usr/bin/env bash
# Does a speed target land where it was asked? Hybrid pruned to 2.5x and 4x at the recorded CPU setting (a latency
# model timed on this machine first, recorded with the run) from the course's own teacher (notebook 04's), then
# packed and timed by finalize in a fresh process. The pruned record holds what the latency model predicted, the
# packed record what was measured. Records go to data/results/landing. No fill: a filled model has its packed shape,
# so its speed. The F1 of a target run against the λ front needs the sweep's teacher, its front and the fill:
# scripts/sweep.sh, step 13.
#   scripts/target_landing.sh [TEACHER]      # default runs/teacher-course/final (make course trains it)
# Rerunnable: what is recorded is skipped; an interrupted run resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
TEACHER=${1:-runs/teacher-course/final}
PY=${PY:-.venv/bin/python}
export BMP_RESULTS_DIR=data/results/landing HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for speedup in 2.5 4; do
  run=course-hybrid-speedup$speedup-course
  [ -f "$BMP_RESULTS_DIR/pruned__$run.json" ] || "$PY" -m bmp prune --teacher "$TEACHER" --profile course \
    --preset hybrid --target-speedup "$speedup" --output "runs/$run" --name "$run"
  [ -f "$BMP_RESULTS_DIR/packed__$run-packed.json" ] || "$PY" -m bmp finalize --pruned "runs/$run/final" \
    --teacher "$TEACHER" --profile course --output "runs/$run" --name "$run" --no-fill
done
