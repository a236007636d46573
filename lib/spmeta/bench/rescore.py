"""``python -m spmeta.bench rescore``: recompute the metrics of result files from their checkpoints.

A protocol-v2 result file names the checkpoint of its meta-training (``seed<k>.pt``). Adaptation is
deterministic and cheap, so every metric, a new one included, is recomputed from that checkpoint without
training: the learner is loaded, the run's data regenerated from its seed, the test systems adapted with the
recorded test-time choice (made on validation systems when the run trained), and scored. The file keeps its
training record and gets new ``metrics``, ``per_system`` and a ``rescored`` entry (command, commit, time).

Resumable and idempotent: files already rescored at this commit are skipped, and rescoring twice gives the same
numbers. Files without a checkpoint (protocol v1) cannot be rescored and are listed.

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

from ..files import read_json, write_json
from ..learner import MetaLearner
from ..training import TrainingDiverged
from .grid import FAMILIES, Run, git_commit, make_grid_dataset, score_run

__all__ = ["rescore", "result_files"]


def result_files(out: str | Path) -> list[Path]:
    """Every result file of a results folder: ``<family>/<method>[/<variant>]/seed<k>.json``."""
    out = Path(out)
    files = [p for family in FAMILIES for pattern in ("*/seed*.json", "*/*/seed*.json")
             for p in (out / family).glob(pattern)]
    return sorted(files)


def rescore(out: str | Path = "results", command: list[str] | None = None, progress: bool = True,
            force: bool = False) -> dict[str, list[Path]]:
    """Rescore every result file under ``out`` that has a checkpoint; returns the files ``rescored``,
    ``skipped`` (already rescored at this commit, unless ``force``), ``without_checkpoint`` and ``failed``."""
    from tqdm.auto import tqdm

    commit = git_commit()
    done: dict[str, list[Path]] = {"rescored": [], "skipped": [], "without_checkpoint": [], "failed": []}
    learners: dict[Path, MetaLearner] = {}  # variants share their group's checkpoint
    for path in tqdm(result_files(out), desc="rescoring", unit="file", disable=not progress):
        record = read_json(path)
        if "checkpoint" not in record:
            done["without_checkpoint"].append(path)
            continue
        if not force and "metrics" in record and record.get("rescored", {}).get("commit") == commit:
            done["skipped"].append(path)
            continue
        checkpoint = Path(out) / record["checkpoint"]
        if checkpoint not in learners:
            learners.clear()
            learners[checkpoint] = MetaLearner.load(checkpoint)
        run = Run(**record["run"])
        try:
            scored = score_run(learners[checkpoint], run, make_grid_dataset(run), record["adaptation"])
        except TrainingDiverged as error:
            scored = {"status": "failed", "reason": str(error)}
            done["failed"].append(path)
        for key in ("metrics", "per_system", "reason"):
            record.pop(key, None)
        record.update(scored, rescored={"command": command if command is not None else sys.argv,
                                        "commit": commit, "at": datetime.datetime.now().isoformat(timespec="seconds")})
        write_json(path, record)
        done["rescored"].append(path)
    return done
