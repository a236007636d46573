"""The compute-cost harness: ``python -m spmeta.bench perf``.

It measures, on this machine and in one process:

- the sgemm peak (a large float32 matmul), the yardstick for everything else;
- per method, the median wall time of one meta-training epoch on the protocol's data (HNN on mass-spring,
  70 systems × 300 states; the GENERIC net on the two gas containers, 70 × 810), the epoch's FLOPs, the
  achieved GFLOP/s and its ratio to the peak, the autograd memory of one step, and the time to adapt
  10 systems for 100 steps;
- the fast path (explicit input gradients) against the reference (autograd double backward), interleaved;
- the epoch time for K = 10 … 280 systems and its linear fit;
- an estimate of the full paper grid's wall time;
- a torch profiler table of one rank-one epoch by each path, with the epoch's FLOP floor beside it;
- with ``--tta``, time to accuracy: validation ε_traj against CPU seconds for the v1 recipe and the current one,
  interleaved in one process (:mod:`~spmeta.bench.tta`), merged into the same file under ``"tta"``.

FLOPs are counted from matmul shapes: :class:`torch.utils.flop_counter.FlopCounterMode` counts one
loss-and-gradient evaluation G(n) on n samples (forward, explicit input gradient and backward; elementwise work
is not counted), and an epoch is that times the number of evaluations the method makes per epoch
(:func:`epoch_evaluations`). Second-order MAML counts each inner step twice (its backward through the inner
gradient).

See chapter 14 (book/14_compute_cost.md).
"""
from __future__ import annotations

import copy
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import SCALES
from ..data import Samples, make_dataset
from ..meta import baselines
from ..meta.autodecode import AutoDecodeConfig, LatentTable, adapt, meta_train
from ..nn.modulation import MODULATIONS
from ..systems import get_family
from ..learner import MetaLearner
from ..training import squared_error
from ..files import read_json, write_json
from .grid import METHODS, PROTOCOL, _versions, git_commit, grid_network, method_settings
from .table import markdown_rows

__all__ = ["sgemm_peak", "measure", "fast_vs_reference", "profile_paths", "epoch_evaluations", "loss_gradient_flops",
           "main_perf", "main_tta"]

PERF_METHODS = tuple(m for m in METHODS if m != "scratch")  # Scratch has no meta-training epoch
QUICK_METHODS = ("rank_one", "svd", "maml", "reptile")  # one of each code path, for the CI smoke run
SETTINGS = {"hnn": {"family": "mass_spring"}, "generic": {"family": "gas_containers"}}


def sgemm_peak(n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an n × n float32 matmul (best of ``repeats`` after a warm-up)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def _build(kind: str, method: str, gradient: str = "autograd") -> torch.nn.Module:
    """The float32 network the grid trains for ``method`` on the kind's family (``method_settings``)."""
    net = grid_network(method, SETTINGS[kind]["family"])
    net.gradient_mode = gradient
    return net.float()


def loss_gradient_flops(model: torch.nn.Module, n: int, dim: int, modulated: bool) -> float:
    """Matmul FLOPs of one loss-and-gradient evaluation on n samples (one system), counted from shapes.

    The count runs on a copy with explicit input gradients (the counter cannot follow autograd's double
    backward); both paths multiply the same matrices."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model)
    model.gradient_mode = "explicit"
    x, xdot = torch.randn(1, n, dim), torch.randn(1, n, dim)
    z = torch.randn(1, 10, requires_grad=True) if modulated else None
    with FlopCounterMode(display=False) as counter:
        out = model(x, z) if modulated else model(x[0])
        squared_error(out, xdot if modulated else xdot[0]).mean().backward()
    return float(counter.get_total_flops())


def epoch_evaluations(method: str, n_systems: int, n_samples: int, config) -> list[tuple[int, float]]:
    """[(samples per evaluation, how many evaluations)] of one meta-training epoch."""
    if method in MODULATIONS:
        passes = 1 if config.simultaneous else config.inner_steps + config.outer_steps
        return [(config.samples_per_step(n_samples), passes * n_systems)]
    tasks, inner = config.tasks_per_step, config.inner_steps
    if method == "reptile":
        return [(n_samples, tasks * inner)]
    support, query = config.n_support, n_samples - config.n_support
    second_order = 2 if method == "maml" else 1
    return [(support, tasks * inner * second_order), (query, tasks)]


def _epoch_runner(kind: str, method: str, train: Samples, fast: bool = True):
    """A closure that runs one meta-training epoch, continuing from the previous one.

    ``fast``: the modulations' fast path (explicit gradients, compiled), else the reference (autograd, eager).
    """
    model = _build(kind, method)
    grid_config = MetaLearner(**method_settings(method, SETTINGS[kind]["family"])).config  # the grid's settings
    if method in MODULATIONS:
        config = replace(grid_config, epochs=1, starts=1, lr_schedule="constant", compile="on" if fast else "off")
        latents = LatentTable(train.n_systems, 10)
        return model, config, lambda: meta_train(model, train, config, latents=latents, progress=False)
    config = replace(grid_config, epochs=1)
    return model, config, lambda: baselines.meta_train_baseline(method, model, train, config, progress=False)


def _median_time(step, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fast_vs_reference(kind: str, train: Samples, repeats: int = 5) -> dict:
    """A rank-one epoch on ``train`` by the fast path (explicit input gradients, compiled) and by the reference
    (autograd double backward), timed side by side, interleaved, after one untimed warm-up each (the fast path
    compiles there). Returns the medians ``fast_ms``, ``reference_ms`` and ``speedup``."""
    runners = {name: _epoch_runner(kind, "rank_one", train, fast)[2]
               for name, fast in (("fast", True), ("reference", False))}
    medians = _interleaved_medians(runners, repeats)
    fast, ref = medians["fast"], medians["reference"]
    return {"fast_ms": 1e3 * fast, "reference_ms": 1e3 * ref, "speedup": ref / fast}


def _interleaved_medians(runners: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """The median seconds of each runner over ``repeats`` rounds, the runners interleaved within each round
    (so that a slow spell of the machine hits them alike), after one untimed warm-up call each."""
    for run in runners.values():
        run()
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def profile_paths(kind: str, train: Samples, rows: int = 12) -> dict:
    """Where one rank-one epoch's time goes, by the fast path and by the reference: torch profiler tables
    (``rows`` operators by self CPU time), the measured epoch times, and the floor: the epoch's matmul FLOPs at
    the sgemm peak."""
    from torch.profiler import ProfilerActivity, profile

    record = {}
    for name, fast in (("fast", True), ("reference", False)):
        model, config, run = _epoch_runner(kind, "rank_one", train, fast)
        run()  # warm-up (and compilation)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
        record[name] = {"epoch_ms": 1e3 * seconds,
                        "table": prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)}
    per_sample = loss_gradient_flops(model, 100, train.x.shape[-1], True) / 100
    flops = sum(n * count * per_sample for n, count in epoch_evaluations("rank_one", train.n_systems,
                                                                         train.n_samples, config))
    record["epoch_gflop"] = flops / 1e9
    return record


def batched_vs_separate(kind: str, train: Samples, members: int = 4, repeats: int = 3, device: str = "cpu") -> dict:
    """One rank-one epoch for ``members`` seeds as one batched model (:func:`~spmeta.meta.batched.meta_train_batched`)
    against ``members`` separate epochs (:func:`~spmeta.meta.autodecode.meta_train`, eager explicit gradients),
    both on ``device``, interleaved; medians over ``repeats`` after a warm-up. On a GPU the batched model fills the
    device where separate small runs are launch-bound; on a CPU expect little difference."""
    from ..meta.batched import meta_train_batched

    settings = method_settings("rank_one", SETTINGS[kind]["family"])
    config = replace(MetaLearner(**settings).config, epochs=1, lr_schedule="constant", compile="off")
    data = Samples(train.x.to(device), train.xdot.to(device), train.mu)
    nets = [grid_network("rank_one", SETTINGS[kind]["family"]).float().to(device) for _ in range(members)]
    for net in nets:
        for module in net.modules():
            if hasattr(module, "gradient_mode"):
                module.gradient_mode = "explicit"
    tables = [LatentTable(train.n_systems, 10).to(device) for _ in range(members)]
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)

    def batched():
        meta_train_batched(nets, [data] * members, config, list(range(members)), progress=False)
        sync()

    def separate():
        for net, table in zip(nets, tables):
            meta_train(net, data, config, latents=table, progress=False)
        sync()

    medians = _interleaved_medians({"batched": batched, "separate": separate}, repeats)
    batched_s, separate_s = medians["batched"], medians["separate"]
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "cpu"
    return {"device": name, "members": members, "batched_ms": 1e3 * batched_s, "separate_ms": 1e3 * separate_s,
            "speedup": separate_s / batched_s}


def _saved_tensor_mb(model, train: Samples, modulated: bool) -> float:
    """Memory autograd keeps for the backward of one loss evaluation on a batch of 10 systems (MB)."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    x, xdot = train.x[:10].float(), train.xdot[:10].float()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if modulated:
            out = model(x, torch.zeros(x.shape[0], 10))
        else:
            out = model(x.reshape(-1, x.shape[-1]))
        loss = (out.reshape(x.shape) - xdot).pow(2).mean()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return total / 1e6


def _adapt_seconds(kind: str, method: str, train: Samples, steps: int = 100) -> float:
    """Wall time to adapt 10 systems for 100 steps on one trajectory each (float64, as the learner does),
    timed over ``steps`` steps and scaled to 100 (every step costs the same)."""
    model = _build(kind, method).double()
    support = Samples(train.x[:10, : train.n_samples // 10].double(), train.xdot[:10, : train.n_samples // 10].double(),
                      train.mu[:10])
    start = time.perf_counter()
    if method in MODULATIONS:
        adapt(model, support, torch.zeros(10, dtype=torch.float64), AutoDecodeConfig(adapt_steps=steps))
    else:
        names = baselines.head_names(model) if method == "anil" else None
        for k in range(10):
            params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
            baselines.adapt_parameters(model, params, support.x[k], support.xdot[k], steps, 1e-2, names)
    return (time.perf_counter() - start) * 100 / steps


def measure(kinds=("hnn", "generic"), methods=PERF_METHODS, n_systems: int = 70, repeats: int = 5,
            scaling=(10, 35, 70, 140, 280), adapt_steps: int = 100, progress: bool = True,
            device: str = "cpu") -> dict:
    """Run every measurement; returns the record that ``bench perf`` writes. ``adapt_steps``: the adaptation
    steps timed for ``adapt_s`` (always reported per 100 steps). ``device``: where the batched-model comparison
    runs (everything else runs on the CPU)."""
    from tqdm.auto import tqdm

    record = {"machine": {"processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__},
              "sgemm_gflops": sgemm_peak(), "methods": {}, "fast_vs_reference": {}, "scaling": {},
              "adapt_steps_timed": adapt_steps}
    data = {}
    for kind in kinds:
        family = get_family(SETTINGS[kind]["family"])
        data[kind] = make_dataset(family, n_train=n_systems, n_test=0, seed=0).train.samples()
    work = [(kind, method) for kind in kinds for method in methods]
    bar = tqdm(work, desc="perf", disable=not progress)
    for kind, method in bar:
        bar.set_postfix_str(f"{kind} {method}")
        train = data[kind]
        model, config, step = _epoch_runner(kind, method, train)
        seconds = _median_time(step, repeats)
        per_sample = loss_gradient_flops(model, 100, train.x.shape[-1], method in MODULATIONS) / 100
        flops = sum(n * count * per_sample for n, count in
                    epoch_evaluations(method, train.n_systems, train.n_samples, config))
        record["methods"][f"{kind}/{method}"] = {
            "kind": kind, "method": method, "n_systems": train.n_systems, "n_samples": train.n_samples,
            "epoch_ms": 1e3 * seconds, "epoch_gflop": flops / 1e9, "gflops": flops / seconds / 1e9,
            "peak_ratio": flops / seconds / 1e9 / record["sgemm_gflops"],
            "floor_ratio": seconds / (flops / 1e9 / record["sgemm_gflops"]),
            "memory_mb": _saved_tensor_mb(model, train, method in MODULATIONS),
            "adapt_s": _adapt_seconds(kind, method, train, adapt_steps),
            "n_parameters": sum(p.numel() for p in model.parameters()),
        }
    for kind in kinds:
        record["fast_vs_reference"][kind] = fast_vs_reference(kind, data[kind], repeats)
    base = data["hnn" if "hnn" in kinds else kinds[0]]
    kind = "hnn" if "hnn" in kinds else kinds[0]
    points = []
    for k in scaling:  # tile the systems: the cost does not depend on the values
        reps = -(-k // base.n_systems)
        tiled = Samples(base.x.repeat(reps, 1, 1)[:k], base.xdot.repeat(reps, 1, 1)[:k], base.mu.repeat(reps, 1)[:k])
        points.append((k, _median_time(_epoch_runner(kind, "rank_one", tiled)[2], max(2, repeats // 2))))
    slope, intercept = np.polyfit([k for k, _ in points], [t for _, t in points], 1)
    record["scaling"] = {"kind": kind, "method": "rank_one", "K": [k for k, _ in points],
                         "epoch_ms": [1e3 * t for _, t in points], "slope_ms_per_system": 1e3 * slope,
                         "intercept_ms": 1e3 * intercept}
    record["paper_grid"] = paper_grid_estimate(record, n_systems)
    record["batched"] = batched_vs_separate(kind, base, repeats=max(2, repeats // 2), device=device)
    record["profile"] = profile_paths(kind, base)
    record["profile"]["floor_ms"] = 1e3 * record["profile"]["epoch_gflop"] / record["sgemm_gflops"]
    record["process_peak_rss_mb"] = _peak_rss_mb()
    return record


def _peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB; Linux reports kB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def paper_grid_estimate(record: dict, n_systems: int) -> dict:
    """Estimated wall time of the main grid (5 families × 10 methods × 3 seeds) at the paper scale under the
    current recipe (:mod:`~spmeta.bench.recipes`): each method's measured epoch (an auto-decoding epoch scaled to
    the paper's training systems; a baseline's outer update) times its epochs, plus its adaptation, summed over
    the grid and shared by as many workers as the machine's cores hold at the measured thread count (the grid
    runs as parallel workers, ``scripts/run_grid.sh``). Each kind's family stands in for the others of its
    kind."""
    from .recipes import RECIPE, epochs_trained

    scale = SCALES["paper"]
    families = {"hnn": 3, "generic": 2}
    hours, parts, counts = 0.0, {}, {}
    for key, m in record["methods"].items():
        if m["method"] == "fomaml":
            continue
        family = SETTINGS[m["kind"]]["family"]
        modulation = m["method"] in MODULATIONS
        epoch_s = m["epoch_ms"] / 1e3 * (scale.n_train / n_systems if modulation else 1)
        counts[key] = epochs_trained(m["method"], family, scale)
        run_h = (counts[key] * epoch_s + m["adapt_s"]) / 3600
        parts[key] = run_h
        hours += run_h * families[m["kind"]] * 3
    if "hnn/maml" in record["methods"]:  # Scratch: 100 Adam steps per test system, about an adaptation's cost
        hours += sum(record["methods"][f"{k}/maml"]["adapt_s"] / 3600 * families[k] * 3
                     for k in families if f"{k}/maml" in record["methods"])
    workers = max(1, (os.cpu_count() or 1) // record["machine"]["threads"])
    return {"hours": hours / workers, "workers": workers, "hours_per_run": parts, "epochs": counts,
            "recipe": RECIPE}


def format_table(record: dict) -> str:
    """The printed summary."""
    rows = [[key, f"{m['epoch_ms']:.1f}", f"{m['epoch_gflop']:.2f}", f"{m['gflops']:.1f}", f"{m['peak_ratio']:.1%}",
             f"{m['floor_ratio']:.1f}", f"{m['memory_mb']:.1f}", f"{m['adapt_s']:.2f}"]
            for key, m in record["methods"].items()]
    header = ["model/method", "epoch ms", "GFLOP/epoch", "GFLOP/s", "of peak", "× floor", "memory MB", "adapt s"]
    lines = [f"sgemm peak: {record['sgemm_gflops']:.0f} GFLOP/s ({record['machine']['threads']} threads)", "",
             markdown_rows(header, rows), ""]
    for kind, f in record["fast_vs_reference"].items():
        lines.append(f"{kind} rank_one epoch: fast path {f['fast_ms']:.1f} ms, reference {f['reference_ms']:.1f} ms, "
                     f"speed-up {f['speedup']:.2f}×")
    s = record["scaling"]
    lines.append(f"scaling ({s['kind']} {s['method']}): " + ", ".join(
        f"K={k}: {t:.0f} ms" for k, t in zip(s["K"], s["epoch_ms"])) + f"; slope {s['slope_ms_per_system']:.2f} ms/system")
    lines.append(f"estimated paper grid: {record['paper_grid']['hours']:.1f} h on this machine")
    p = record["profile"]
    lines.append(f"profiled rank_one epoch: fast {p['fast']['epoch_ms']:.0f} ms, reference "
                 f"{p['reference']['epoch_ms']:.0f} ms, FLOP floor {p['floor_ms']:.0f} ms ({p['epoch_gflop']:.2f} GFLOP)")
    b = record["batched"]
    lines.append(f"{b['members']} rank_one runs on {b['device']}: one batched model {b['batched_ms']:.0f} ms per epoch, "
                 f"separately {b['separate_ms']:.0f} ms ({b['speedup']:.2f}×)")
    lines.append("fast path, by self CPU time:\n" + p["fast"]["table"])
    return "\n".join(lines)


def main_perf(out: str, quick: bool = False, threads: int | None = None, command: list[str] | None = None,
              device: str = "cpu") -> dict:
    """``bench perf``: measure, print, and write the record atomically to ``out`` (a file, or a folder to
    write ``perf.json`` into)."""
    out = Path(out) / "perf.json" if Path(out).is_dir() else Path(out)
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    if quick:
        record = measure(methods=QUICK_METHODS, n_systems=10, repeats=2, scaling=(10, 20), adapt_steps=20,
                         device=device)
    else:
        record = measure(device=device)
    record.update(protocol=PROTOCOL, quick=quick, command=command or [], commit=git_commit(), versions=_versions(),
                  wall_s=time.perf_counter() - start)
    if out.exists() and "tta" in (previous := read_json(out)):
        record["tta"] = previous["tta"]  # measured by --tta, not here
    print(format_table(record))
    write_json(out, record)
    print(f"written to {out}")
    return record


def main_tta(out: str, families, methods, scale: str = "paper", points: int = 20, threads: int = 1,
             command: list[str] | None = None) -> dict:
    """``bench perf --tta``: each (family, method)'s interleaved time-to-accuracy curves
    (:func:`~spmeta.bench.tta.interleaved_curves`, v1 recipe against the current one), merged into the record at
    ``out`` under ``"tta"`` after each pair, so that a killed run keeps what it measured; pairs already there
    (same recipes, scale and seed) are skipped. Each curve records the commit and command that measured it."""
    from .recipes import RECIPE
    from .tta import interleaved_curves

    out = Path(out) / "perf.json" if Path(out).is_dir() else Path(out)
    record = read_json(out) if out.exists() else {}
    recipes = ["v1", RECIPE]
    tta = record.get("tta", {})
    if (tta.get("recipes"), tta.get("scale")) != (recipes, scale):
        tta = {"recipes": recipes, "scale": scale, "seed": 0, "points": points, "curves": []}
    done = {(c["family"], c["method"]) for c in tta["curves"]}
    for family in families:
        for method in methods:
            if (family, method) in done:
                continue
            start = time.perf_counter()
            curves = interleaved_curves(family, method, recipes, 0, scale, points, threads)
            for c in tta["curves"]:  # curves of an earlier invocation keep the provenance it recorded
                c.setdefault("commit", tta.get("commit")), c.setdefault("command", tta.get("command"))
            provenance = {"commit": git_commit(), "command": command or [], "threads": threads}
            tta["curves"] += [{**vars(c), **provenance} for c in curves]
            tta.update(provenance, versions=_versions())
            record.setdefault("protocol", PROTOCOL)
            record["tta"] = tta
            write_json(out, record)
            print(f"{family}/{method}: " + ", ".join(
                f"{c.recipe} {c.cpu_s[-1]:.0f} s -> {c.eps_traj[-1]:.4f}" for c in curves)
                  + f" ({time.perf_counter() - start:.0f} s)")
    return record
