#!/usr/bin/env bash
# Auto-decoding configurations side by side at an equal wall-time budget, on the validation systems.
# Usage: BUDGET=360 DEVICE=cuda bash scripts/device_sweep.sh CONFIG_JSON...   (one process per config)
# Writes $OUT/sweep$EPOCHS.json (OUT defaults to /tmp); logs and per-config files go to a fresh folder.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [[ $1 != -* ]] || { sed -n 2,4p "$0"; exit 2; }
TUNE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tune.XXXXXX")
export TUNE_DIR PYTHONPATH=$PWD/lib OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-.venv/bin/python}
i=0
for cfg in "$@"; do
  "$PY" scripts/tune_autodecode.py --config "$cfg" --budget "${BUDGET:-360}" ${EPOCHS:+--epochs $EPOCHS} \
    --device "${DEVICE:-cpu}" --out "$TUNE_DIR/$i.json" > "$TUNE_DIR/$i.log" 2>&1 &
  i=$((i+1))
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
tail -n 3 "$TUNE_DIR"/*.log
"$PY" - <<'PY' > "${OUT:-/tmp}/sweep${EPOCHS:-}.json"
import glob, json, os
print(json.dumps([json.load(open(f)) for f in sorted(glob.glob(os.environ["TUNE_DIR"] + "/*.json"))], indent=1))
PY
echo "written: ${OUT:-/tmp}/sweep${EPOCHS:-}.json (logs in $TUNE_DIR)"
exit $status
