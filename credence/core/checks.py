"""Parameter checks every layer shares: one place that says what a valid number is.

Each ``check_*`` returns the value in its canonical Python type or raises
:class:`~credence.core.errors.ParameterError` naming the parameter, its value and
the rule. Booleans are never numbers here (``True`` is not ``1``), and NaN fails
every range.

Examples
--------
>>> check_real(0.5, "damping", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
0.5
>>> check_int(3, "k", 1)
3
>>> check_choice("sqrt", "weighting", ("sqrt", "log"))
'sqrt'
>>> check_bool(False, "weighted")
False
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from credence.core.errors import ParameterError

__all__ = ["check_bool", "check_choice", "check_int", "check_real"]


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        kind = "the open interval " if lo_open and hi_open else ""
        return f"in {kind}{left}{lo:g}, {hi:g}{right}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    assert hi is not None
    return f"{'<' if hi_open else '<='} {hi:g}"


def check_real(
    value: Any,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = True,
    joint: bool = False,
) -> float:
    """Validate a real number, optionally finite and inside a range; return it as a float.

    Parameters
    ----------
    value : object
        The value to check; ``bool`` is refused.
    name : str
        The parameter's name, for the error.
    lo, hi : float, optional
        Bounds of the range (none by default).
    lo_open, hi_open : bool
        Whether each bound is excluded.
    finite : bool
        Refuse NaN and infinities (default); with ``False`` only the range applies
        (and NaN still fails any range).
    joint : bool
        State both rules at once, "must be finite and <range>", for a value that breaks
        either (the wording of tolerances and other strictly bounded settings). Needs a
        range; implies ``finite``.

    Returns
    -------
    float

    Raises
    ------
    ParameterError
        "must be a real number", "must be finite", or "must be <range>" (with ``joint``:
        "must be finite and <range>").

    Examples
    --------
    >>> check_real(2, "weight")
    2.0
    >>> check_real(True, "weight")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'weight' = True: must be a real number
    >>> check_real(float("inf"), "tol")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'tol' = inf: must be finite
    >>> check_real(0.0, "tol", lo=0.0, lo_open=True)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'tol' = 0.0: must be > 0
    >>> check_real(1.5, "share", lo=0.0, hi=1.0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'share' = 1.5: must be in [0, 1]
    >>> check_real(float("nan"), "tol", lo=0.0, lo_open=True, joint=True)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'tol' = nan: must be finite and > 0
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ParameterError(name, value, "must be a real number")
    out = float(value)
    if finite and not joint and not math.isfinite(out):
        raise ParameterError(name, value, "must be finite")
    below = lo is not None and not (out > lo if lo_open else out >= lo)
    above = hi is not None and not (out < hi if hi_open else out <= hi)
    bad = below or above or (math.isnan(out) and (lo is not None or hi is not None))
    if joint:
        if lo is None and hi is None:
            raise ValueError("check_real: joint needs a range (lo or hi)")
        if bad or not math.isfinite(out):
            raise ParameterError(name, value, "must be finite and " + _range_text(lo, hi, lo_open, hi_open))
    if bad:
        raise ParameterError(name, value, "must be " + _range_text(lo, hi, lo_open, hi_open))
    return out


def check_int(value: Any, name: str, lo: int = 0, hi: int | None = None) -> int:
    """Validate an integer in ``[lo, hi]`` (``bool`` refused); return it as an ``int``.

    Examples
    --------
    >>> check_int(np.int64(7), "k", 1)
    7
    >>> check_int(True, "seed")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'seed' = True: must be an integer >= 0
    >>> check_int(5, "bins", 1, 4)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'bins' = 5: must be an integer in [1, 4]
    """
    out = (
        int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_) else None
    )
    if out is None or out < lo or (hi is not None and out > hi):
        rule = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(name, value, f"must be an integer {rule}")
    return out


def check_bool(value: Any, name: str) -> bool:
    """Validate a flag: ``True`` or ``False`` (numpy booleans too), never a number.

    Examples
    --------
    >>> check_bool(np.True_, "weighted")
    True
    >>> check_bool(1, "weighted")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'weighted' = 1: must be True or False
    """
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(name, value, "must be True or False")
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Validate one of a fixed set of strings.

    Examples
    --------
    >>> check_choice("cube", "weighting", ("sqrt", "log"))
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'weighting' = 'cube': must be one of 'sqrt', 'log'
    """
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(name, value, "must be one of " + ", ".join(repr(c) for c in choices))
    return value
