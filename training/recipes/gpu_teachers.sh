#!/usr/bin/env bash
# One GPU call (Keras 3 on JAX): larger teachers side by side -> their answers saved under the fixed
# views (training/teachers/$NAME.npz, see training/teachers.py) -> students distilled from that file,
# side by side, exactly as `classmood-train --teacher-file` runs them on a CPU.
# Every run selects its best epoch on FER2013 val (PublicTest) only; pick the student by val as served.
#
#   DATA=fer2013_original_trainval.npz NAME=fer_orig_vgg64c3x3 OUT=runs/gpu bash training/recipes/gpu_teachers.sh
#
# Knobs (environment): T_SECONDS (360: each teacher's training time), T_ARGS (python -m
# training.teachers options), S_SECONDS (130: each student's), S_COMMON (options every student
# gets), STUDENTS (one student a line: "tag options..."; none by default), PYTHON (python3).
#
# Why these defaults (the first H200 run, stop 21: 4 teachers x 210 s, 42-48 epochs each, 284 s with
# their answers): the teachers were still improving when their schedules ended, a vote mix of 0.6
# cost 3 points while 0 and 0.3 tied, and label smoothing 0.1 on top of the votes capped the
# confidence their students inherit. So: three teachers (mix 0, 0.3, 0; seeds differ), no label
# smoothing, 360 s each: about 100 epochs each at that run's throughput (about 0.85 teacher-epochs a
# second, all teachers together), plus about 60 s for their answers: under 8 minutes on the GPU, a
# 10-minute call with its start. Students on the GPU reached only 66% (a 78 s compile, 16 epochs):
# distil them on a CPU from the saved file (docs/training.md, "How it was made"), or name STUDENTS here.
set -uo pipefail
: "${DATA:?DATA names the FER2013 npz (with votes and rows)}" "${NAME:?NAME names the teacher file}" "${OUT:?OUT names the output folder}"
T_SECONDS=${T_SECONDS:-360} S_SECONDS=${S_SECONDS:-130} PYTHON=${PYTHON:-python3}
T_ARGS=${T_ARGS---teachers 3 --votes-mix 0 0.3 0 --label-smoothing 0}
S_COMMON=${S_COMMON:---epochs 300 --batch-size 128 --lr 2e-3 --label-smoothing 0 --mixed-precision --workers 3 --save-every 100000}
STUDENTS=${STUDENTS:-}  # e.g. "s1 --width 32 --kd-alpha 0.2 --votes-mix 0.3 --kd-temperature 1"
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p "$OUT"
t0=$(date +%s)
$PYTHON -m training.teachers --name "$NAME" --data "$DATA" --runs "$OUT/teachers" --dest "$OUT" \
        --seconds "$T_SECONDS" --mixed-precision $T_ARGS 2>&1 | tee "$OUT/teachers.log" | grep -v "^Epoch\|step -"
[ -f "$OUT/$NAME.npz" ] || { echo "no teacher file: see $OUT/teachers.log" >&2; exit 1; }
echo "teachers and their answers: $(( $(date +%s) - t0 )) s"

[ -n "$STUDENTS" ] || { echo "no STUDENTS named: distil them on a CPU from $OUT/$NAME.npz"; exit 0; }
t1=$(date +%s)
while read -r tag opts; do
  [ -n "$tag" ] || continue
  timeout $((S_SECONDS + 90)) $PYTHON -m training.train --data "$DATA" --out "$OUT/$tag" --seed 11 \
      --teacher-file "$OUT/$NAME.npz" --time-limit "$S_SECONDS" $S_COMMON $opts > "$OUT/$tag.log" 2>&1 &
done <<< "$STUDENTS"
wait
echo "students: $(( $(date +%s) - t1 )) s"
grep -h "best val accuracy" "$OUT"/*.log
