#!/usr/bin/env bash
# Many clock_gpu.py runs at once on one GPU machine (Keras on JAX; each run one process), then one
# merged JSON and a table. Written for a 15-minute loan: render once, train every VARIANT x SEED
# until DEADLINE seconds, merge whatever finished.
#
#   VARIANTS="demo demo-lr2e-3" SEEDS="1 2" EPOCHS=16 DEADLINE=360 OUT=res bash benchmarks/clock_gpu_sweep.sh
set -u
: "${VARIANTS:?list of benchmarks/clock_gpu.py variant names}" "${SEEDS:=1 2}" "${EPOCHS:=16}" "${DEADLINE:=360}"
: "${OUT:=sweep}" "${DATA:=/tmp/clock}" "${PY:=python3}"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}" XLA_PYTHON_CLIENT_PREALLOCATE=false OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT/runs"
[ -f "$DATA/images.npy" ] || "$PY" -m datasets synth-clock --n 18000 --out "$DATA" --seed 7 --jobs "$("$PY" -c "import os; print(os.cpu_count())")" || exit 1
pids=()
for v in $VARIANTS; do
  for s in $SEEDS; do
    timeout $((DEADLINE + 120)) "$PY" benchmarks/clock_gpu.py --data-dir "$DATA" --epochs "$EPOCHS" --deadline "$DEADLINE" \
      --variants "$v" --seed "$s" --out "$OUT/runs/$v-s$s.json" > "$OUT/runs/$v-s$s.log" 2>&1 &
    pids+=($!)
  done
done
wait "${pids[@]}"
"$PY" - "$OUT" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = []
for f in sorted((out / "runs").glob("*.json")):
    report = json.loads(f.read_text())
    for run in report["runs"]:
        run["file"] = f.stem
        rows.append(run)
(out / "sweep.json").write_text(json.dumps(rows, indent=1))
for r in rows:
    val = r.get("val_errors") or []
    print(f"{r['file']:28s} test {r.get('test_mean', '-')!s:>8} med {r.get('test_median', '-')!s:>8} "
          f"s/ep {sorted(r.get('epoch_seconds') or [0])[len(r.get('epoch_seconds') or [0]) // 2]:5} "
          f"val {' '.join(f'{v:.0f}' for v in val)} {r.get('error', '')}")
EOF
