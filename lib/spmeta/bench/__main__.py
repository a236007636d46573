"""``python -m spmeta.bench``: run the benchmark grid, turn its results into tables, measure compute cost.

    python -m spmeta.bench run --families mass_spring --methods rank_one maml --seeds 0 --scale quick
                                           # quick and book runs go to results/<scale>/ unless --out is given,
                                           # paper-scale ones to results/<recipe>/ (results/ holds the v1 grid)
    python -m spmeta.bench run --families pendulum --methods svd --seeds 0 --shots 1traj 1 5 10 30 100 300 --box id ood
    python -m spmeta.bench rescore --out results   # every metric again, from the runs' checkpoints
    python -m spmeta.bench table --out results
    python -m spmeta.bench perf            # writes results/perf.json (about 10 minutes on 2 cores)
    python -m spmeta.bench perf --tta      # time to accuracy, v1 recipe against the current one (hours; resumable)
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .grid import FAMILIES, GRID_METHODS, METHODS, Run, infeasible, run_grid
from .recipes import RECIPE, RECIPES
from .tta import TTA_METHODS


def default_out(scale: str, recipe: str) -> str:
    """Where ``run`` writes unless ``--out`` says: ``results/`` for the v1 grid's files, ``results/<recipe>/``
    for a later recipe's paper-scale runs, ``results/<scale>/`` (or ``results/<scale>-<recipe>/``) otherwise."""
    if scale == "paper":
        return "results" if recipe == "v1" else f"results/{recipe}"
    return f"results/{scale}" if recipe == RECIPE else f"results/{scale}-{recipe}"
from .table import METRICS, load_results, markdown_table, summarize


def _support(text: str) -> tuple[int, str]:
    """'5' -> (5, 'samples'); '1traj' -> (1, 'trajectories')."""
    count, unit = (text[:-4], "trajectories") if text.endswith("traj") else (text, "samples")
    if not (count.isascii() and count.isdigit()) or int(count) < 1:
        raise argparse.ArgumentTypeError(f"a support size is N (samples) or Ntraj (trajectories); got {text!r}")
    return int(count), unit


def _integer(minimum: int):
    """An argparse type: an ASCII integer >= minimum."""
    def parse(text: str) -> int:
        if not (text.isascii() and text.lstrip("-").isdigit()) or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {text!r}")
        return int(text)
    return parse


def _noise(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text!r}")
    return value


def _device(parser: argparse.ArgumentParser, name: str) -> str:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        parser.error(f"unknown device {name!r}; e.g. cpu, cuda, cuda:1")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {name}: this torch has no CUDA device")
    return name


def _run(args: argparse.Namespace) -> None:
    import torch

    _device(args.parser, args.device)
    out = Path(args.out or default_out(args.scale, args.recipe))
    if out.exists() and not out.is_dir():
        args.parser.error(f"--out {str(out)!r} is a file; it must be a results folder")
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = list(dict.fromkeys(
        Run(family, method, seed, scale=args.scale, shots=shots, unit=unit, ood=box == "ood",
            latent_dim=latent_dim, noise=args.noise)
        for family in args.families for method in args.methods for seed in args.seeds
        for latent_dim in args.latent_dim for box in args.box for shots, unit in args.shots))
    feasible = [run for run in runs if infeasible(run) is None]
    print(f"{len(runs)} run(s) at the {args.scale} scale into {out}/, {torch.get_num_threads()} torch thread(s)"
          + (f", {len(runs) - len(feasible)} of them infeasible" if len(feasible) < len(runs) else ""))
    try:
        written = run_grid(runs, out, retry_failed=args.retry_failed,
                           command=["python", "-m", "spmeta.bench"] + sys.argv[1:], device=args.device,
                           recipe=args.recipe)
    except ValueError as error:  # a results folder that holds another scale's runs
        sys.exit(f"error: {error}")
    print(f"{len(written)} run(s) written, {len(feasible) - len(written)} already finished, "
          f"{len(runs) - len(feasible)} skipped as infeasible")
    if not feasible:
        sys.exit("error: no run of this command can be scored (see the reasons above)")


def _rescore(args: argparse.Namespace) -> None:
    from .rescore import rescore

    if not Path(args.out).is_dir():
        sys.exit(f"error: --out {args.out!r} is not a results folder")
    done = rescore(args.out, command=["python", "-m", "spmeta.bench"] + sys.argv[1:], force=args.force)
    print(f"{len(done['rescored'])} file(s) rescored ({len(done['failed'])} of them now failed), "
          f"{len(done['skipped'])} already rescored at this commit, "
          f"{len(done['without_checkpoint'])} without a checkpoint (protocol v1 files cannot be rescored)")


def _table(args: argparse.Namespace) -> None:
    try:
        summary = summarize(load_results(args.out, args.variant, protocol=args.protocol))
    except ValueError as error:  # protocol versions mixed in one cell
        sys.exit(f"error: {error}")
    if not summary:
        sys.exit(f"no results under {args.out!r}" + (f" for variant {args.variant!r}" if args.variant else ""))
    for metric in args.metrics:
        print(f"\n### {METRICS[metric]}" + (f" ({args.variant})" if args.variant else "") + "\n")
        print(markdown_table(summary, metric))
    if args.plots:
        if Path(args.plots).exists() and not Path(args.plots).is_dir():
            sys.exit(f"error: --plots {args.plots!r} is a file; it must be a folder")
        _plots(args.out, args.plots)


def _plots(out: str, folder: str) -> None:
    """The standard plots of the ablations, as PNG files in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .ablation import LATENT_DIMS, has_results, latent_figure, shots_figure, shots_variants

    Path(folder).mkdir(parents=True, exist_ok=True)
    figures = {}
    for family in FAMILIES:
        for box in ("id", "ood"):
            if has_results(out, family, shots_variants(box)):
                figures[f"shots_{family}{'_ood' if box == 'ood' else ''}.png"] = shots_figure(out, family, box=box)
        if has_results(out, family, [f"dz{d}" for d in LATENT_DIMS if d != 10]):
            figures[f"latent_dim_{family}.png"] = latent_figure(out, family)
    for name, fig in figures.items():
        fig.savefig(Path(folder) / name)
        plt.close(fig)
        print(f"wrote {Path(folder) / name}")
    if not figures:
        print(f"no ablation results (shots, out-of-distribution, latent dimension) under {out!r}: no plots written")


def _perf(args: argparse.Namespace) -> None:
    from .perf import main_perf, main_tta

    out = args.out or ("results/perf-quick.json" if args.quick else "results/perf.json")
    if not Path(out).is_dir() and not Path(out).parent.is_dir():
        sys.exit(f"error: --out {out!r}: the folder {str(Path(out).parent)!r} does not exist")
    command = ["python", "-m", "spmeta.bench"] + sys.argv[1:]
    if args.tta:
        families = args.families or (["mass_spring"] if args.quick else list(FAMILIES))
        methods = args.methods or (["rank_one"] if args.quick else list(TTA_METHODS))
        main_tta(out, families, methods, scale="quick" if args.quick else args.scale, threads=args.threads or 1,
                 command=command)
        return
    main_perf(out, quick=args.quick, threads=args.threads, command=command, device=_device(args.parser, args.device))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spmeta.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run grid cells (resumable: finished files are skipped)")
    run.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES, metavar="FAMILY",
                     help=f"default: all of {', '.join(FAMILIES)}")
    run.add_argument("--methods", nargs="+", default=list(GRID_METHODS), choices=METHODS,
                     metavar="METHOD", help=f"from {', '.join(METHODS)}; default: all but fomaml")
    run.add_argument("--seeds", nargs="+", type=_integer(0), default=[0, 1, 2], help="default: 0 1 2")
    run.add_argument("--scale", default="paper", choices=("quick", "book", "paper"),
                     help="sizes and epochs (spmeta.config); default: paper, the grid's")
    run.add_argument("--out", default=None,
                     help="results folder (default: results/<recipe> at the paper scale, results for --recipe v1, "
                          "results/<scale> otherwise)")
    run.add_argument("--shots", nargs="+", type=_support, default=[(1, "trajectories")], metavar="N",
                     help="support sizes: N (x, ẋ) samples or Ntraj trajectories, e.g. 1traj 1 5 10 30 100 300 "
                          "(default: 1traj, the main grid)")
    run.add_argument("--box", nargs="+", default=["id"], choices=("id", "ood"),
                     help="test systems from the parameter box (id) and/or the out-of-distribution box (ood); "
                          "default: id")
    run.add_argument("--latent-dim", nargs="+", type=_integer(1), default=[10], metavar="DZ",
                     help="latent dimensions of the modulation methods (baselines have none); default: 10")
    run.add_argument("--noise", type=_noise, default=0.0,
                     help="relative observation noise on the states; default: 0")
    run.add_argument("--threads", type=_integer(1), default=None,
                     help="torch threads (default: torch's choice); never more than free cores")
    run.add_argument("--device", default="cpu", help="where meta-training runs, e.g. cuda; default: cpu")
    run.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    run.add_argument("--recipe", default=RECIPE, choices=sorted(RECIPES),
                     help=f"the training recipe (spmeta.bench.recipes; default {RECIPE}; v1 reproduces the v1 grid)")
    run.set_defaults(func=_run)

    rescore = commands.add_parser("rescore", help="recompute every metric of the result files from their "
                                  "checkpoints, without training (resumable)")
    rescore.add_argument("--out", default="results", help="the results folder; default: results")
    rescore.add_argument("--force", action="store_true", help="also rescore files already rescored at this commit")
    rescore.set_defaults(func=_rescore)

    table = commands.add_parser("table", help="markdown tables (mean ± std over seeds) from a results folder")
    table.add_argument("--out", default="results", help="the results folder to read (run's --out); default: results")
    table.add_argument("--variant", default="", help="e.g. shots5, ood, dz2 (default: the main grid)")
    table.add_argument("--metrics", nargs="+", default=["eps_traj", "eps_field", "eps_field_family", "ssim"],
                       choices=list(METRICS))
    table.add_argument("--protocol", type=int, default=None, choices=(1, 2),
                       help="only files of this protocol version (default: all, each row labelled when they mix)")
    table.add_argument("--plots", default=None, metavar="DIR",
                       help="also write the ablation plots (error against shots, latent dimension) as PNG files")
    table.set_defaults(func=_table)

    perf = commands.add_parser("perf", help="time every method's meta-training epoch, FLOPs, memory, scaling")
    perf.add_argument("--quick", action="store_true",
                      help="a smoke run: 10 systems, 2 repeats, 20 timed adaptation steps (CI)")
    perf.add_argument("--out", default=None,
                      help="JSON file or folder (default: results/perf.json, or perf-quick.json)")
    perf.add_argument("--threads", type=_integer(1), default=None, help="torch threads (default: torch's choice)")
    perf.add_argument("--tta", action="store_true",
                      help="time to accuracy: validation error against CPU seconds, v1 recipe against the current "
                           "one, interleaved (hours at the paper scale; resumable; --quick: mass-spring rank_one)")
    perf.add_argument("--families", nargs="+", choices=FAMILIES, default=None, help="--tta: families (default all)")
    perf.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                      help="--tta: methods (default rank_one and maml)")
    perf.add_argument("--scale", choices=("quick", "book", "paper"), default="paper", help="--tta: the scale")
    perf.add_argument("--device", default="cpu", help="where the batched-model comparison runs, e.g. cuda")
    perf.set_defaults(func=_perf)

    args = parser.parse_args(argv)
    args.parser = {"run": run, "rescore": rescore, "table": table, "perf": perf}[args.command]
    args.func(args)


if __name__ == "__main__":
    main()
