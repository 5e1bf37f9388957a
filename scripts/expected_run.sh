#!/usr/bin/env bash
# The course's own default run, recorded as the result a learner should expect from `make course`: notebook 04's
# teacher (the course profile's epochs), notebook 05's run (hybrid at the profile's λ, score learning rate and
# pruning epochs) and notebook 06's fill (the profile's notebook fill), each at several seeds. Records go to
# data/results/expected; notebook 05 and the README read them ("expect about X F1 at Y× in Z minutes").
#   make course && scripts/expected_run.sh [SEED...]     # default seeds: 43
# The default seed (42) is `make course` itself: its records (teacher, pruned, packed, filled, with their predictions) are copied
# from the learner's folder (outputs/results) unchanged but for where their predictions now lie. The other seeds
# run the same settings from the command line, from the same teacher. Rerunnable: what is recorded is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=data/results/expected
COURSE=${COURSE_RESULTS:-outputs/results}  # where `make course` recorded the learner's run
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
TEACHER=runs/teacher-course/final
SEEDS=${*:-43}
settings=$("$PY" -c "
from bmp.course.notebooks import course_run
from bmp.profiles import get_profile
p = get_profile('course'); r = course_run(p, 'hybrid'); print(r.name, r.lam, p.course_fill_epochs)")
read -r NAME LAM FILL <<< "$settings"
[ -f "$TEACHER/config.json" ] || { echo "error: no $TEACHER: run make course first (notebook 04 trains it)" >&2; exit 2; }

# the default seed: make course's own records
"$PY" -m bmp expected adopt --from "$COURSE" --to "$OUT" --teacher "$TEACHER" --run "$NAME"

for seed in $SEEDS; do
  run=$("$PY" -c "from bmp.results.run_id import with_seed; print(with_seed('$NAME', $seed))")
  [ -f "$OUT/pruned__$run.json" ] || BMP_RESULTS_DIR=$OUT "$PY" -m bmp prune --teacher "$TEACHER" --profile course \
    --preset hybrid --lam "$LAM" --seed "$seed" --output "runs/$run" --name "$run"
  [ -f "$OUT/filled__$run-filled.json" ] || BMP_RESULTS_DIR=$OUT "$PY" -m bmp finalize --pruned "runs/$run/final" \
    --teacher "$TEACHER" --profile course --epochs "$FILL" --seed "$seed" --output "runs/$run" --name "$run"
done
"$PY" -m bmp expected
