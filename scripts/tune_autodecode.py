"""Tune auto-decoding hyper-parameters at equal wall time, on the *train* systems only.

Trains on the protocol's training systems of one family (seed 0), then adapts to and scores *validation*
systems: the test systems of a dataset drawn with another seed (``--val-seed``), never the seed-0 test
systems. Each configuration gets the same wall-time budget: a few calibration epochs measure the epoch time,
and the epoch count is set so that training fills the budget.

    python scripts/tune_autodecode.py --family mass_spring --modulation rank_one \
        --config '{"activation": "gelu", "batch_systems": 10}' --budget 420 --out tune/gelu_b10.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

import spmeta
from spmeta.bench.grid import git_commit, method_settings
from spmeta.meta.autodecode import AutoDecodeConfig

NET_KEYS = ("activation",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="mass_spring")
    parser.add_argument("--modulation", default="rank_one")
    parser.add_argument("--config", default="{}", help="JSON: AutoDecodeConfig fields and 'activation'")
    parser.add_argument("--budget", type=float, default=420.0, help="training wall time in seconds")
    parser.add_argument("--epochs", type=int, default=None, help="fixed epochs instead of the budget")
    parser.add_argument("--val-seed", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="where meta-training runs (e.g. cuda)")
    parser.add_argument("--lrs", default="0.01", help="comma-separated adaptation learning rates to score")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    settings = json.loads(args.config)
    net = {k: settings.pop(k) for k in NET_KEYS if k in settings}
    family = spmeta.get_family(args.family)
    method = {**method_settings(args.modulation, args.family), **settings}  # the grid's, unless --config says
    data = spmeta.make_dataset(family, seed=0)
    val = spmeta.make_dataset(family, n_train=1, seed=args.val_seed).test

    probe = None if args.epochs else spmeta.MetaLearner(**method, device=args.device, **net)
    if probe is not None:
        start = time.perf_counter()
        probe.fit(data.train, epochs=5, progress=False)
        epoch_s = (time.perf_counter() - start) / 5
    epochs = args.epochs or max(10, int(args.budget / epoch_s))

    learner = spmeta.MetaLearner(**method, device=args.device, **net)
    start = time.perf_counter()
    history = learner.fit(data.train, epochs=epochs, progress=False)
    wall = time.perf_counter() - start
    scores = {}
    for lr in map(float, args.lrs.split(",")):
        adapted = learner.adapt(val.support(shots=1), lr=lr)
        scores[str(lr)] = learner.evaluate(val, adapted)
    record = {"command": ["python"] + sys.argv, "commit": git_commit(),
              "family": args.family, "modulation": args.modulation, "net": net, "config": settings,
              "epochs": epochs, "wall_s": wall, "device": args.device, "budget_s": args.budget, "final_loss": history[-1], "val_seed": args.val_seed,
              "validation": scores, "defaults": AutoDecodeConfig().__dict__}
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps({"config": args.config, "epochs": epochs, "loss": history[-1],
                      **{lr: (round(s["eps_traj"], 4), round(s["eps_field"], 4)) for lr, s in scores.items()}}))


if __name__ == "__main__":
    main()
