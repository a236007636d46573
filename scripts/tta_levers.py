"""Time-to-accuracy of candidate recipes on validation systems (chapter 14's levers).

    python scripts/tta_levers.py --family mass_spring --method rank_one --levers v1 sim bs50 sim_bs50 \
        --out results/tuning/tta_levers_mass_spring.json

    python scripts/tta_levers.py --family damped_oscillator --method rank_one --levers r2 r2_nms r2_gfinn \
        --out results/tuning/constructions_damped_oscillator.json     # the GENERIC constructions (chapter 04)

Each lever is a :class:`~spmeta.bench.recipes.Recipe`; they train interleaved in one process
(:func:`~spmeta.bench.tta.interleaved_curves`), and the file records validation ε_traj against CPU seconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from spmeta.bench.diagnose import generic_geometry
from spmeta.bench.grid import PROTOCOL, git_commit
from spmeta.bench.recipes import RECIPES, Recipe
from spmeta.bench.tta import interleaved_curves
from spmeta.files import write_json

#: The levers tried, as recipes (the names are this script's, not the grid's).
LEVERS = {
    "v1": RECIPES["v1"],
    "sim": Recipe("sim", {"simultaneous": True}),
    "bs50": Recipe("bs50", {"batch_samples": 50}),
    "sim_bs50": Recipe("sim_bs50", {"simultaneous": True, "batch_samples": 50}),
    "sim_bs50_half": Recipe("sim_bs50_half", {"simultaneous": True, "batch_samples": 50}, epochs_factor=0.5),
    "sim_bs50_lr3": Recipe("sim_bs50_lr3", {"simultaneous": True, "batch_samples": 50, "lr_base": 3e-3}),
    "sim_bs50_lr2": Recipe("sim_bs50_lr2", {"simultaneous": True, "batch_samples": 50, "lr_base": 2e-3}),
    "sim_bs100_half": Recipe("sim_bs100_half", {"simultaneous": True, "batch_samples": 100}, epochs_factor=0.5),
    "sim_bs50_b5": Recipe("sim_bs50_b5", {"simultaneous": True, "batch_samples": 50, "batch_systems": 5},
                          epochs_factor=0.5),
    # the GENERIC constructions under r2 (chapter 04; the network setting applies on the GENERIC families only)
    "r2": RECIPES["r2"],
    "r3": RECIPES["r3"],
    "r2_gfinn": dataclasses.replace(RECIPES["r2"], name="r2_gfinn", generic_network={"construction": "gfinn"}),
    "r2_nms": dataclasses.replace(RECIPES["r2"], name="r2_nms", generic_network={"construction": "nms"}),
    "r2_ops": dataclasses.replace(RECIPES["r2"], name="r2_ops", generic_network={"modulate_operators": True}),
    "r2_clip": dataclasses.replace(RECIPES["r2"], name="r2_clip", autodecode={**RECIPES["r2"].autodecode,
                                                                           "grad_clip": 1.0}),
    "r2_x3": dataclasses.replace(RECIPES["r2"], name="r2_x3", epochs_factor=3.0),  # the epoch budget (issue 25)
    # r3 with one entropy shared by all systems: a system's friction can no longer hide in its S's scale
    "r3_shared_s": dataclasses.replace(RECIPES["r3"], name="r3_shared_s",
                                       generic_network={"modulate_operators": True, "modulate_entropy": False}),
    # r3 with three starts, the best after 5 % of the epochs trained on (spmeta.meta.starts), in r3's budget:
    # 3636 epochs and two other trials of 182 make r3's 4000 at the paper scale
    "r3_starts": dataclasses.replace(RECIPES["r3"], name="r3_starts", generic_epochs_factor=2.0 / 1.1,
                                     generic_autodecode={"starts": 3, "start_trial": 0.05}),
    "sim_bs50_nocompile": Recipe("sim_bs50_nocompile", {"simultaneous": True, "batch_samples": 50,
                                                        "compile": "off"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="mass_spring")
    parser.add_argument("--method", default="rank_one")
    parser.add_argument("--levers", nargs="+", default=["v1", "sim_bs50"], choices=sorted(LEVERS))
    parser.add_argument("--scale", default="paper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--out", required=True)
    parser.add_argument("--geometry", action="store_true",
                        help="GENERIC families: record the learned gradients' geometry at every evaluation")
    args = parser.parse_args()
    commit = git_commit()  # the code this process imported, before the checkout can move on
    start = time.time()
    curves = interleaved_curves(args.family, args.method, [LEVERS[name] for name in args.levers], args.seed,
                                args.scale, args.points, extra=generic_geometry if args.geometry else None)
    record = {"protocol": PROTOCOL, "family": args.family, "method": args.method, "scale": args.scale, "seed": args.seed,
              "levers": {name: vars(LEVERS[name]) for name in args.levers}, "curves": [vars(c) for c in curves],
              "command": ["python"] + sys.argv, "commit": commit, "wall_s": time.time() - start}
    write_json(args.out, record)
    for c in curves:
        print(f"{c.recipe:20s} {c.cpu_s[-1]:7.0f} s  val eps_traj {c.eps_traj[-1]:.4f}  min {min(c.eps_traj):.4f}")


if __name__ == "__main__":
    main()
