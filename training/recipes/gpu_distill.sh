#!/usr/bin/env bash
# The shipped model's recipe on one GPU (Keras 3 on JAX): train TEACHERS large nets side by side,
# then distil their flip-averaged ensemble into small students (the served size), side by side.
# Every run selects its best epoch on FER2013 val (PublicTest) only; pick the student by val too.
#
#   DATA=fer2013_trainval.npz OUT=runs/gpu bash training/recipes/gpu_distill.sh
#
# Knobs (environment): TEACHERS (3), T_EPOCHS (80), S_EPOCHS (100), STEPS (0 = full epochs),
# T_BF16 (teachers trained in bfloat16: "all" or numbers, e.g. "2 3"), T_LIMIT / S_LIMIT (seconds a run may take;
# a run stopped early keeps its best epoch so far; 0 = no limit), DEADLINE (a Unix time the student
# must stop by; overrides S_LIMIT), T_ARGS / S_ARGS (extra
# classmood-train options), PYTHON (python3), WORKERS (3 batch threads a run).
set -uo pipefail
: "${DATA:?DATA names the FER2013 npz}" "${OUT:?OUT names the output folder}"
TEACHERS=${TEACHERS:-3} T_EPOCHS=${T_EPOCHS:-80} S_EPOCHS=${S_EPOCHS:-100} STEPS=${STEPS:-0}
T_BF16=${T_BF16:-} T_LIMIT=${T_LIMIT:-0} S_LIMIT=${S_LIMIT:-0} PYTHON=${PYTHON:-python3} WORKERS=${WORKERS:-3}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p "$OUT"
train() { timeout "$LIMIT" $PYTHON -m training.train --data "$DATA" --batch-size 128 --steps "$STEPS" \
                  --workers "$WORKERS" --save-every 25 "$@"; }

# Teachers: odd seeds 3 convs a stage (7.2M parameters), even seeds 2 (4.7M), all 64 wide.
LIMIT=$T_LIMIT
for i in $(seq 1 "$TEACHERS"); do
  mixed=$(for b in $T_BF16; do [ "$b" = "$i" ] || [ "$b" = all ] && echo --mixed-precision; done)
  train --out "$OUT/teacher$i" --seed "$i" --width 64 --convs $((2 + i % 2)) --epochs "$T_EPOCHS" \
        --lr 2e-3 --weight-decay 5e-4 --label-smoothing 0.1 $mixed ${T_ARGS:-} > "$OUT/teacher$i.log" 2>&1 &
done
wait
teachers=$(ls "$OUT"/teacher*/best.keras 2>/dev/null)
[ -n "$teachers" ] || { echo "no teacher finished: see $OUT/teacher*.log" >&2; exit 1; }

# The student: the served network (width 32, 4 stages, float32).
LIMIT=$S_LIMIT
[ -n "${DEADLINE:-}" ] && LIMIT=$(( DEADLINE - $(date +%s) ))
echo "student limit ${LIMIT}s"
train --out "$OUT/student" --seed 11 --epochs "$S_EPOCHS" --teachers $teachers --label-smoothing 0 \
      --kd-alpha 0.2 --kd-temperature 2 ${S_ARGS:-} > "$OUT/student.log" 2>&1
grep -h "best val accuracy\|teacher ensemble" "$OUT"/*.log
