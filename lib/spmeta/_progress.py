"""Progress bars: tqdm's when it is installed, else a silent stand-in with the same few methods the library uses,
so that a copied ``lib/spmeta`` trains with torch, numpy and scipy alone."""
from __future__ import annotations

from collections.abc import Iterable

__all__ = ["tqdm"]


class _Silent:
    """What the library calls on a bar (iteration and ``set_postfix``), doing nothing."""

    def __init__(self, iterable: Iterable | None = None, **_):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def set_postfix(self, *_, **__) -> None:
        pass


def tqdm(iterable: Iterable | None = None, **kwargs):
    """``tqdm.auto.tqdm(iterable, **kwargs)``, or a silent bar over ``iterable`` without tqdm."""
    try:
        from tqdm.auto import tqdm as bar
    except ImportError:
        return _Silent(iterable, **kwargs)
    return bar(iterable, **kwargs)
