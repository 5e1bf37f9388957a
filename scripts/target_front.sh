#!/usr/bin/env bash
# A target against the λ front it replaces, all from one teacher in one checkout: the course's teacher (notebook 04's
# settings); hybrid at five FFN-balanced λs (the balance of the recorded front's best points), from 32/64 to
# 120/240, and hybrid pruned to 2.5x and 4x by steering λ (the default target method), and 4x again with the size
# gap judged one response time ahead, each packed and filled; three interleaved timing runs of them all. bench
# pareto sets each target run against the λ point chosen on validation F1 among those at least as fast. Then,
# packed only: both speeds by the other target method (a top-k of units), and the timing runs again with them.
# Records go to data/results/target-front, the first front (an Intel Xeon's, whose CPU trains in fp32 by default, as
# `bmp sweep` does): on another CPU kind it stops, and that kind's front begins with scripts/review_front.sh.
#   scripts/target_front.sh            # about 5.5 hours of 2 cores
# Rerunnable: what is recorded is skipped; an interrupted run resumes from its checkpoint.
# shellcheck source=scripts/front.sh
source "$(dirname "$0")/front.sh"  # BMP_RESULTS_DIR, TEACHER, have, train, need_teacher, time_all
if [ "$(basename "$BMP_RESULTS_DIR")" != target-front ]; then
  echo "error: this CPU's front is $BMP_RESULTS_DIR, and the λ front belongs to the first one" \
    "(data/results/target-front): run scripts/review_front.sh here" >&2
  exit 2
fi

# 1. the teacher, as notebook 04 trains it (the course profile's one epoch)
need_teacher
# 2. a λ point and the target set against it, steered: from this teacher's recipe λ 20 gave 1.7x
#    (data/results/expected); from the sweep's 4-epoch teacher 120/240 gave 2.7x, so a third of that
"$PY" -m bmp sweep --teacher "$TEACHER" --profile course hybrid:40/80 hybrid:speedup=2.5
#    and a second λ point: 40/80 kept 19% of the linear weights and packed to 3.2x, so 32/64 for nearer 2.5x
"$PY" -m bmp sweep --teacher "$TEACHER" --profile course hybrid:32/64
# 3. the 4x target against λ points on either side of it: 40/80 packed to 3.0x in the timing runs, so 64/128 and
#    100/200 for 4x and past it
"$PY" -m bmp sweep --teacher "$TEACHER" --profile course hybrid:64/128 hybrid:speedup=4 hybrid:100/200
#    100/200 then timed at 3.86x in the timing runs, slower than the 4x target's 3.94x: 120/240 to be past it
"$PY" -m bmp sweep --teacher "$TEACHER" --profile course hybrid:120/240
#    the steered 4x run overshot (λ rose to ~128 while the scores were on their way, the density fell to 0.11, the
#    projection revived units whole): the same target with the size gap judged one response time ahead
run=hybrid-speedup4-lead1-course
have "$run" || train prune --teacher "$TEACHER" --profile course --target-speedup 4 --steer-lead 1 \
  --output "runs/$run" --name "$run"
have "$run-filled" || train finalize --pruned "runs/$run/final" --teacher "$TEACHER" --profile course \
  --output "runs/$run" --name "$run"
# 4. every model timed together, three interleaved runs; timed again whenever the script runs, so that the runs
#    hold every model it made
time_all
# 5. packed only: both speeds by the other target method, a top-k of units, then timed with every other model
made=0
for speedup in 2.5 4; do
  run=topk-hybrid-speedup$speedup-course
  have "$run" || train prune --teacher "$TEACHER" --profile course --preset hybrid \
    --target-speedup "$speedup" --target-method topk --output "runs/$run" --name "$run"
  have "$run-packed" || { train finalize --pruned "runs/$run/final" --teacher "$TEACHER" --profile course \
    --output "runs/$run" --name "$run" --no-fill && made=1; }
done
[ "$made" = 0 ] || time_all
