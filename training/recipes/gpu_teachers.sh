#!/usr/bin/env bash
# One GPU call (Keras 3 on JAX): larger teachers side by side -> their answers saved under the fixed
# views (training/teachers/$NAME.npz, see training/teachers.py) -> students distilled from that file,
# side by side, exactly as `classmood-train --teacher-file` runs them on a CPU.
# Every run selects its best epoch on FER2013 val (PublicTest) only; pick the student by val as served.
#
#   DATA=fer2013_original_trainval.npz NAME=fer_orig_vgg64c3x4 OUT=runs/gpu bash training/recipes/gpu_teachers.sh
#
# Knobs (environment): T_SECONDS (220: each teacher's training time), S_SECONDS (130: each
# student's), T_ARGS (extra python -m training.teachers options), S_COMMON (options every student
# gets), STUDENTS (one student a line: "tag options..."), PYTHON (python3).
set -uo pipefail
: "${DATA:?DATA names the FER2013 npz (with votes and rows)}" "${NAME:?NAME names the teacher file}" "${OUT:?OUT names the output folder}"
T_SECONDS=${T_SECONDS:-220} S_SECONDS=${S_SECONDS:-130} PYTHON=${PYTHON:-python3}
S_COMMON=${S_COMMON:---epochs 300 --batch-size 128 --lr 2e-3 --label-smoothing 0 --mixed-precision --workers 3 --save-every 100000}
STUDENTS=${STUDENTS:-"s1 --width 32 --kd-alpha 0.2 --votes-mix 0.3 --kd-temperature 1
s2 --width 32 --kd-alpha 0.2 --votes-mix 0.3 --kd-temperature 2
s3 --width 22 --kd-alpha 0.2 --votes-mix 0.3 --kd-temperature 1
s4 --width 32 --kd-alpha 0.5 --votes-mix 0.5 --kd-temperature 1"}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p "$OUT"
t0=$(date +%s)
$PYTHON -m training.teachers --name "$NAME" --data "$DATA" --runs "$OUT/teachers" --dest "$OUT" \
        --seconds "$T_SECONDS" --mixed-precision ${T_ARGS:-} 2>&1 | tee "$OUT/teachers.log" | grep -v "^Epoch\|step -"
[ -f "$OUT/$NAME.npz" ] || { echo "no teacher file: see $OUT/teachers.log" >&2; exit 1; }
echo "teachers and their answers: $(( $(date +%s) - t0 )) s"

t1=$(date +%s)
while read -r tag opts; do
  [ -n "$tag" ] || continue
  timeout $((S_SECONDS + 90)) $PYTHON -m training.train --data "$DATA" --out "$OUT/$tag" --seed 11 \
      --teacher-file "$OUT/$NAME.npz" --time-limit "$S_SECONDS" $S_COMMON $opts > "$OUT/$tag.log" 2>&1 &
done <<< "$STUDENTS"
wait
echo "students: $(( $(date +%s) - t1 )) s"
grep -h "best val accuracy" "$OUT"/*.log
