"""The files the library writes: atomically, so that a killed process never leaves half a file behind.

- :func:`write_json` and :func:`save_torch` write to a temporary file beside the target, then rename it;
  :func:`read_json` reads such a file back, naming it if it is not JSON.
- :func:`read_checkpoint` reads a file of :meth:`~spmeta.MetaLearner.save` or of ``fit``'s periodic training
  state with ``torch.load(..., weights_only=True)``, on the CPU, and checks what it holds.

See chapter 13 (book/13_results.md).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Callable

import torch

__all__ = ["CHECKPOINT_FORMAT", "write_json", "read_json", "save_torch", "read_checkpoint"]

#: The format tag of the library's checkpoint files.
CHECKPOINT_FORMAT = "spmeta.MetaLearner/1"


def _write_json(path: str | Path, write: Callable[[IO], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, record: dict) -> None:
    """Write ``record`` as indented JSON to ``path``, atomically."""
    _write_json(path, lambda f: json.dump(record, f, indent=1), "w")


def read_json(path: str | Path):
    """The JSON in ``path``; a file that is not JSON (truncated or hand-edited) is a ValueError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a JSON file ({error}): restore it from git, or delete it") from error


def save_torch(obj: dict, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path``, atomically."""
    _write_json(path, lambda f: torch.save(obj, f), "wb")


def read_checkpoint(path: str | Path, kind: str) -> dict:
    """The checkpoint at ``path``, loaded on the CPU with ``weights_only=True``; ``kind`` is ``"learner"`` (a file
    of :meth:`~spmeta.MetaLearner.save`) or ``"training state"`` (``fit``'s periodic state). Raises ValueError
    for any other file."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or payload.get("kind") != kind:
        raise ValueError(f"{path} is not a {kind} checkpoint of spmeta ({CHECKPOINT_FORMAT})")
    return payload
