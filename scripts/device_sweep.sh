#!/bin/bash
# One-off: 16 auto-decoding configurations side by side, one CPU thread each, equal wall-time budget.
export PYTHONPATH=$PWD/lib OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p /tmp/tune
i=0
for act in tanh gelu; do for bs in null 10; do for sim in false true; do for sch in constant cosine; do
  cfg="{\"activation\":\"$act\",\"batch_systems\":$bs,\"simultaneous\":$sim,\"lr_schedule\":\"$sch\"}"
  python3 scripts/tune_autodecode.py --config "$cfg" --budget ${BUDGET:-360} --out /tmp/tune/$i.json > /tmp/tune/$i.log 2>&1 &
  i=$((i+1))
done; done; done; done
wait
cat /tmp/tune/*.log
python3 - <<'PY' > "${OUT:-/tmp}/sweep.json"
import json, glob
print(json.dumps([json.load(open(f)) for f in sorted(glob.glob('/tmp/tune/*.json'))], indent=1))
PY
