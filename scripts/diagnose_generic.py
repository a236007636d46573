"""How well does a GENERIC network fit *one* system? A diagnostic for the GENERIC families' high errors.

Trains ``GenericNet`` (both constructions, on standardised inputs as ``MetaLearner`` does; ``projection_raw``
is the projection form on raw states) and an unstructured ``VectorFieldMLP`` on 10 trajectories of one
system of the family (the setting of chapter 04) for a fixed number of Adam steps and a few learning rates,
then rolls each out from three held-out initial states. Writes the losses and ε_traj to JSON.

    python scripts/diagnose_generic.py --family damped_oscillator --steps 1500 \
        --out results/tuning/damped_oscillator_single_system.json
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import torch

import spmeta
from spmeta import integrators
from spmeta.bench.grid import git_commit
from spmeta.metrics import relative_error
from spmeta.models import GenericNet, VectorFieldMLP
from spmeta.training import fit_vector_field


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="damped_oscillator")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lrs", nargs="+", type=float, default=[1e-3, 3e-3])
    parser.add_argument("--models", nargs="+", default=["projection", "projection_raw", "gfinn", "mlp"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    family = spmeta.get_family(args.family)
    mu = family.sample_params(1, seed=0)[0]
    X = family.trajectories(mu, family.sample_initial_conditions(13, mu, seed=0))  # 10 to fit, 3 held out
    Xdot = family.vector_field(X, mu)
    n = family.state_dim
    x, xdot = X[:10].reshape(-1, n).float(), Xdot[:10].reshape(-1, n).float()
    runs = []
    for model, lr in itertools.product(args.models, args.lrs):
        torch.manual_seed(0)
        if model == "mlp":
            net = VectorFieldMLP(n)
        elif model == "projection_raw":
            net = GenericNet(n, construction="projection")
        else:
            net = GenericNet(n, construction=model).standardise(x)
        start = time.perf_counter()
        history = fit_vector_field(net.float(), x, xdot, args.steps, lr=lr, progress=False)
        with torch.no_grad():
            X_hat = integrators.rollout(net.double(), X[10:, 0], family.time_grid(), substeps=10)
        entry = {"model": model, "lr": lr, "steps": args.steps, "first_loss": history[0],
                 "final_loss": history[-1], "eps_traj": relative_error(X_hat, X[10:], dims=(-2, -1)).mean().item(),
                 "wall_s": time.perf_counter() - start}
        print(json.dumps(entry), flush=True)
        runs.append(entry)
    commit = git_commit()
    record = {"family": args.family, "mu": mu.tolist(), "command": ["python"] + sys.argv, "commit": commit,
              "runs": runs}
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
