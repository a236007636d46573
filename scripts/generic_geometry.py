"""Where did each modulated GENERIC run of the grid end up? Its loss outcome and its learned gradients' geometry.

For every finished modulated run of ``--family`` under ``--recipe`` (the result files and their checkpoints in
``results/<recipe>/``), loads the meta-trained learner and measures, on its own training systems,
:func:`spmeta.bench.diagnose.generic_geometry` (how the learned ∇E and ∇S stand against the true ones) and
:func:`spmeta.bench.report.training_outcome` (how its loss ended), and its ε_traj on the seed's validation
systems (:func:`spmeta.bench.tta.validation_error`: what a lever tried on validation systems compares with).
Writes one JSON that chapter 11 reads, so that the book does not regenerate the paper-scale datasets.

    python scripts/generic_geometry.py --family damped_oscillator --recipe r3 \
        --out results/r3/damped_oscillator_geometry.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import spmeta
from spmeta.bench.diagnose import generic_geometry
from spmeta.bench.grid import MODULATIONS, PROTOCOL, Run, git_commit, make_grid_dataset
from spmeta.bench.report import training_outcome
from spmeta.bench.table import load_results
from spmeta.bench.tta import validation_error
from spmeta.files import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="damped_oscillator")
    parser.add_argument("--recipe", default="r3")
    parser.add_argument("--results", default="results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    records = [r for r in load_results(Path(args.results) / args.recipe)
               if r["run"]["family"] == args.family and r["run"]["method"] in MODULATIONS and r["status"] == "ok"]
    datasets, runs = {}, []
    for r in records:
        seed = r["run"]["seed"]
        if seed not in datasets:  # the training systems are the seed's, whatever the method
            datasets[seed] = make_grid_dataset(Run(args.family, r["run"]["method"], seed))
        learner = spmeta.MetaLearner.load(Path(r["path"]).with_suffix(".pt"))
        runs.append({"path": r["path"], "method": r["run"]["method"], "seed": seed,
                     "eps_traj": r["metrics"]["eps_traj"],
                     "val_eps_traj": validation_error(learner, datasets[seed].val),
                     "final_loss": r["loss_curve"][-1][1],
                     **training_outcome(r["loss_curve"]), **generic_geometry(learner, datasets[seed])})
        print(runs[-1], flush=True)
    write_json(args.out, {"protocol": PROTOCOL, "family": args.family, "recipe": args.recipe, "command": ["python"] + sys.argv,
                          "commit": git_commit(), "wall_s": time.perf_counter() - start, "runs": runs})


if __name__ == "__main__":
    main()
