#!/usr/bin/env bash
# A target against the λ front it replaces, all from one teacher in one checkout: the course's teacher (notebook 04's
# settings), hybrid at two FFN-balanced λs near 2.5x and 4x (the balance of the recorded front's best points), hybrid
# pruned to 2.5x and 4x by steering λ (the default target method), every one packed and filled, then three
# interleaved timing runs of them all; last, the same targets by a top-k of units, packed. bench pareto sets each
# target run against the λ point chosen on validation F1 among those at least as fast. Records go to
# data/results/target-front.
#   scripts/target_front.sh            # about 2.5 hours of 2 cores
# Rerunnable: what is recorded is skipped; an interrupted run resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export BMP_RESULTS_DIR=${BMP_RESULTS_DIR:-data/results/target-front} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
TEACHER=runs/teacher-course/final
have() { compgen -G "$BMP_RESULTS_DIR/*__$1.json" > /dev/null; }

# 1. the teacher, as notebook 04 trains it (the course profile's one epoch)
have dense-course || "$PY" -m bmp finetune --profile course --output runs/teacher-course --name dense-course
# 2. the λ front near both speeds, each point followed by the target it is set against (steered: the default target
#    method), so that a pair is done first: from this teacher λ 20 gave 1.7x (data/results/expected); from the
#    sweep's 4-epoch teacher λ 60 gave 1.6x, 120/240 2.7x and 240/480 4.3x, so a third of those here
"$PY" -m bmp sweep --teacher "$TEACHER" --profile course hybrid:40/80 hybrid:speedup=2.5
"$PY" -m bmp sweep --teacher "$TEACHER" --profile course hybrid:80/160 hybrid:speedup=4
# 3. every model timed together, three interleaved runs
timed() { [ "$1" = 1 ] && compgen -G "$BMP_RESULTS_DIR/timing__*x384.json" > /dev/null || have "*-run$1"; }
for run in 1 2 3; do
  timed "$run" || "$PY" -m bmp.bench timing --device cpu --repeats 10 --record --run "$run"
done
"$PY" -m bmp.bench pareto
# 4. the same targets by the other method, a top-k of units, packed (not filled: its F1 is set against the packed λ
#    points, and finalize times it in a fresh process)
for speedup in 2.5 4; do
  run=topk-hybrid-speedup$speedup-course
  have "$run" || "$PY" -m bmp prune --teacher "$TEACHER" --profile course --preset hybrid \
    --target-speedup "$speedup" --target-method topk --output "runs/$run" --name "$run"
  have "$run-packed" || "$PY" -m bmp finalize --pruned "runs/$run/final" --teacher "$TEACHER" --profile course \
    --output "runs/$run" --name "$run" --no-fill
done
