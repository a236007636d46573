"""Check the inner-loop step of an optimisation-based baseline on the *train* systems only.

Meta-trains ``--method`` on the protocol's training systems of one family (seed 0) for a short, fixed number of
outer steps per inner learning rate, and records whether meta-training diverged, its final loss and the
validation error on the test systems of a dataset drawn with another seed (never the seed-0 test systems).

    python scripts/tune_baselines.py --family damped_oscillator --method maml --inner-lrs 1e-2 3e-3 \
        --epochs 60 --out results/tuning/damped_oscillator_maml.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import spmeta
from spmeta.bench.grid import git_commit, method_settings
from spmeta.training import TrainingDiverged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True)
    parser.add_argument("--method", required=True, choices=[m for m in spmeta.meta.baselines.BASELINES
                                                             if m != "scratch"])  # scratch is not meta-trained
    parser.add_argument("--inner-lrs", nargs="+", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--val-seed", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    family = spmeta.get_family(args.family)
    data = spmeta.make_dataset(family, seed=0)
    val = spmeta.make_dataset(family, n_train=1, seed=args.val_seed).test
    settings = {k: v for k, v in method_settings(args.method, args.family).items() if k != "inner_lr"}
    runs = []
    for lr in args.inner_lrs:
        learner = spmeta.MetaLearner(**settings, inner_lr=lr)
        start = time.perf_counter()
        entry = {"inner_lr": lr, "epochs": args.epochs}
        try:
            history = learner.fit(data.train, epochs=args.epochs, progress=False)
            entry.update(status="ok", first_loss=history[0], final_loss=history[-1],
                         validation=learner.evaluate(val, learner.adapt(val.support(shots=1))))
        except TrainingDiverged as error:
            entry.update(status="diverged", reason=str(error))
        entry["wall_s"] = time.perf_counter() - start
        print(json.dumps(entry), flush=True)
        runs.append(entry)
    commit = git_commit()
    record = {"family": args.family, "method": args.method, "command": ["python"] + sys.argv, "commit": commit,
              "protocol": f"meta-trained on the seed-0 training systems for {args.epochs} outer steps; validation: "
                          f"the test systems of a dataset drawn with seed {args.val_seed}", "runs": runs}
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
