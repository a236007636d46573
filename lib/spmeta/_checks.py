"""Argument checks shared across the library, so that every bad count and every bad name fails with one kind of
message."""
from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable

__all__ = ["check_int", "check_positive", "check_choice", "renamed_keyword"]


def check_int(value, what: str, minimum: int = 1) -> int:
    """``value`` when it is an ``int`` (not a ``bool``) of at least ``minimum``; otherwise a ``ValueError`` that
    names ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}; got {value!r}")
    return value


def check_positive(value, what: str, allow_zero: bool = False):
    """``value`` when it is a number > 0 (>= 0 with ``allow_zero``; NaN never passes); otherwise a
    ``ValueError`` that names ``what``."""
    if not (value >= 0 if allow_zero else value > 0):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else 'positive'}; got {value!r}")
    return value


def check_choice(value, what: str, valid: Iterable, hint: str = ""):
    """``value`` when it is one of ``valid``; otherwise ``ValueError("unknown <what> <value>; valid names are
    [...]")`` followed by ``hint``."""
    valid = list(valid)
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid names are {valid}{hint}")
    return value


def renamed_keyword(old: str, new: str):
    """Decorate a function (or ``__init__``) whose keyword ``old`` is now ``new``: ``old=`` still works, with a
    ``DeprecationWarning``; both at once are an error."""
    def decorate(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"pass {new}= only ({old}= is its former name)")
                warnings.warn(f"{old}= is now {new}=", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)
        return call
    return decorate

