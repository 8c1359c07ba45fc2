"""The score scale: 350 to 950, and what a component is worth on it.

``score = round(350 + 600 * sum_k w_k c_k)``: a component with weight ``w`` and
value ``c`` in [0, 1] is worth ``600 w c`` points. Everything that turns weights and
values into points (explanations, reasons, histories, the GraphQL API) calls
:func:`points` so that the scale is written down once.

Examples
--------
>>> SCORE_MIN, SCORE_MAX, SCORE_RANGE
(350, 950, 600)
>>> points(0.35, 0.5)
105.0
"""

from __future__ import annotations

from typing import overload

import numpy as np

from credence.core.types import FloatArray

__all__ = ["SCORE_MAX", "SCORE_MIN", "SCORE_RANGE", "points"]

#: The lowest score.
SCORE_MIN = 350
#: The highest score.
SCORE_MAX = 950
#: Points between the lowest and the highest score.
SCORE_RANGE = SCORE_MAX - SCORE_MIN


@overload
def points(weight: float, value: float) -> float: ...
@overload
def points(weight: float | FloatArray, value: FloatArray) -> FloatArray: ...
@overload
def points(weight: FloatArray, value: float | FloatArray) -> FloatArray: ...


def points(weight: float | FloatArray, value: float | FloatArray) -> float | FloatArray:
    """Points on the 600-point range of a component of ``weight`` at ``value``.

    Examples
    --------
    >>> points(np.array([0.2, 0.15]), np.array([1.0, 0.5])).tolist()
    [120.0, 45.0]
    """
    if isinstance(weight, np.ndarray) or isinstance(value, np.ndarray):
        return np.asarray(SCORE_RANGE * np.asarray(weight) * np.asarray(value), dtype=np.float64)
    return float(SCORE_RANGE * weight * value)
