#!/usr/bin/env bash
# Two short probes behind notebook 05's concepts, from the course's own teacher (notebook 04's). Records go to
# data/results/concepts; notebook 05 draws them.
# 1. movement against magnitude at two equal densities: TopK keeping 50% and 25% of every matrix's 32x32 blocks,
#    ranked by the learned movement scores or by |W|, for STEPS steps each with the same distillation. The block
#    preset is the granularity both share: magnitude has no score for an FFN neuron as a whole, so it can't run
#    hybrid's neuron half.
# 2. learned blocks against random ones: the share of heads packing removes from each run of 1 and from the course's
#    default run (data/results/expected), against the same blocks shuffled within each matrix.
#   scripts/probe_concepts.sh [TEACHER] [STEPS]     # defaults: runs/teacher-course/final, 150
# Rerunnable: a probe whose record exists is skipped; an interrupted one resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
TEACHER=${1:-runs/teacher-course/final}
STEPS=${2:-150}
PY=${PY:-.venv/bin/python}
export BMP_RESULTS_DIR=data/results/concepts HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

empty_heads() {  # RUN-FOLDER NAME
  [ -f "$BMP_RESULTS_DIR/empty-heads__$2.json" ] || "$PY" -m bmp.bench empty_heads --run "$1" --name "$2" --record
}
for keep in 0.5 0.25; do
  for method in movement magnitude; do
    name=probe-$method-block-keep$keep
    [ -f "$BMP_RESULTS_DIR/pruned__$name.json" ] || "$PY" -m bmp prune --teacher "$TEACHER" --profile course \
      --preset block --method "$([ $method = movement ] && echo topk || echo magnitude)" --keep "$keep" \
      --max-steps "$STEPS" --output "runs/concepts/$name" --name "$name"
    empty_heads "runs/concepts/$name/final" "$name"
  done
done
for record in data/results/expected/pruned__*.json; do
  [ -e "$record" ] || continue
  run=$(basename "$record" .json); run=${run#pruned__}
  if [ -d "runs/$run/final" ]; then empty_heads "runs/$run/final" "$run"; fi
done
