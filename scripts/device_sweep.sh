#!/bin/bash
# Auto-decoding configurations side by side at an equal wall-time budget, on the validation systems.
# Usage: BUDGET=360 DEVICE=cuda bash scripts/device_sweep.sh CONFIG_JSON...   (one process per config)
export TUNE_DIR=${TUNE_DIR:-/tmp/tune}; export PYTHONPATH=$PWD/lib OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p ${TUNE_DIR:-/tmp/tune}
i=0
for cfg in "$@"; do
  python3 scripts/tune_autodecode.py --config "$cfg" --budget "${BUDGET:-360}" ${EPOCHS:+--epochs $EPOCHS} --device "${DEVICE:-cpu}" \
    --out ${TUNE_DIR:-/tmp/tune}/$i.json > ${TUNE_DIR:-/tmp/tune}/$i.log 2>&1 &
  i=$((i+1))
done
wait
tail -n 3 ${TUNE_DIR:-/tmp/tune}/*.log
python3 - <<'PY' > "${OUT:-/tmp}/sweep${EPOCHS}.json"
import json, glob, os
print(json.dumps([json.load(open(f)) for f in sorted(glob.glob(os.environ.get('TUNE_DIR', '/tmp/tune') + '/*.json'))], indent=1))
PY
