"""Choose an optimisation-based baseline's inner-loop length on validation systems (protocol v2).

For each candidate number of inner steps, meta-trains ``--method`` on the training systems of one family (seed 0)
under ``--recipe``'s equal budget at ``--scale`` (:func:`spmeta.bench.recipes.grid_budget`: fewer inner steps buy more
outer updates), chooses its test-time adaptation on the validation systems, and records their mean ε_traj. The
test systems are not drawn. Resumable: candidates already in ``--out`` are skipped, and the file is rewritten
after each one.

    python scripts/tune_inner_steps.py --family mass_spring --method maml --inner-steps 1 3 5 10 \
        --scale book --out results/tuning/mass_spring_maml_inner_steps.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

import spmeta
from spmeta.bench.grid import git_commit
from spmeta.bench.recipes import RECIPES, grid_budget, method_settings, samples_per_system
from spmeta.meta.baselines import BaselineConfig
from spmeta.meta.budget import epochs_for_budget
from spmeta.files import write_json
from spmeta.bench.validation import choose_adaptation
from spmeta.config import SCALES
from spmeta.training import TrainingDiverged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", required=True, choices=spmeta.bench.FAMILIES)
    parser.add_argument("--method", required=True, choices=("maml", "fomaml", "anil", "reptile"))
    parser.add_argument("--inner-steps", nargs="+", type=int, required=True)
    parser.add_argument("--scale", default="book", choices=sorted(SCALES))
    parser.add_argument("--recipe", default="r1", choices=sorted(RECIPES),
                        help="whose budget (default r1, the budget the committed sweep ran under)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    scale = SCALES[args.scale]
    family = spmeta.get_family(args.family)
    data = spmeta.make_dataset(family, n_train=scale.n_train, n_test=0, n_val=scale.n_val, n_traj=scale.n_traj,
                               seed=0)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {"runs": []}
    record.update(family=args.family, method=args.method, scale=dataclasses.asdict(scale),
                  recipe=args.recipe, budget=grid_budget(args.family, scale, args.recipe), command=["python"] + sys.argv, commit=git_commit(),
                  protocol="meta-trained on the seed-0 training systems under the grid's equal budget; scored on "
                           "the validation systems' query (their own streams), after choosing the test-time "
                           "adaptation on them; no test system is drawn")
    done = {run["inner_steps"] for run in record["runs"]}
    for steps in args.inner_steps:
        if steps in done:
            continue
        settings = {**method_settings(args.method, args.family, args.recipe), "inner_steps": steps}
        config = BaselineConfig(**{k: v for k, v in settings.items() if k not in ("model", "method")})
        epochs = epochs_for_budget(args.method, config, scale.n_train, samples_per_system(args.family, scale),
                                   record["budget"])
        learner = spmeta.MetaLearner(**settings, epochs=epochs, adapt_steps=scale.adapt_steps)
        entry, start = {"inner_steps": steps, "epochs": epochs}, time.process_time()
        try:
            history = learner.fit(data.train, progress=False)
            adaptation = choose_adaptation(learner, data.val)
            entry.update(status="ok", final_loss=history[-1], budget=learner.budget, adaptation=adaptation,
                         validation_eps_traj=min(adaptation["validation_eps_traj"].values()))
        except TrainingDiverged as error:
            entry.update(status="diverged", reason=str(error))
        entry["cpu_s"] = time.process_time() - start
        print(json.dumps({k: v for k, v in entry.items() if k != "adaptation"}), flush=True)
        record["runs"].append(entry)
        ok = [run for run in record["runs"] if run["status"] == "ok"]
        record["chosen_inner_steps"] = min(ok, key=lambda run: run["validation_eps_traj"])["inner_steps"] \
            if ok else None
        write_json(out, record)


if __name__ == "__main__":
    main()
