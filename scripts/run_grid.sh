#!/usr/bin/env bash
# The paper-scale grid and its ablations on a 2-core machine: two background workers with one torch thread
# each, on disjoint families. Resumable: rerun to continue; finished (and failed) cells are skipped.
#
#   bash scripts/run_grid.sh [LOGDIR]      # logs in LOGDIR (default /tmp/spmeta-grid); commit results/ as it fills
#
# Worker 1 runs the Hamiltonian families (ablations first, so that seed 0's main cells share their meta-training
# with the shots sweep and the OOD evaluation), worker 2 the GENERIC families.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == -* ]]; then sed -n 2,7p "$0"; exit 2; fi  # -h, --help, or a mistyped option
LOG=${1:-/tmp/spmeta-grid}
mkdir -p "$LOG"
export OMP_NUM_THREADS=1
RUN=(.venv/bin/python -m spmeta.bench run --threads 1 --scale paper)
ABLATED=(rank_one multi_rank svd full_weight maml)
worker1() {
  for family in pendulum mass_spring; do
    "${RUN[@]}" --families $family --methods "${ABLATED[@]}" --seeds 0 --shots 1traj 1 5 10 30 100 300 --box id ood
  done
  "${RUN[@]}" --families pendulum --methods rank_one svd --seeds 0 --latent-dim 2 5 20
  "${RUN[@]}" --families pendulum mass_spring duffing --seeds 0 1 2
}
worker2() {
  "${RUN[@]}" --families damped_oscillator gas_containers --seeds 0 1 2
}
worker1 > "$LOG/worker1.log" 2>&1 &
worker2 > "$LOG/worker2.log" 2>&1 &
echo "workers started; logs in $LOG (grep 'results/' for finished cells)"
