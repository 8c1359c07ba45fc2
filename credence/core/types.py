"""Array types shared by the layers (``numpy.typing`` aliases), so signatures say the dtype.

Examples
--------
>>> import numpy as np
>>> def total(x: FloatArray) -> float:
...     return float(x.sum())
>>> total(np.ones(3))
3.0
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "FloatArray", "Float32Array", "IndexArray", "IntArray", "ObjectArray"]

#: float64 values: scores' components, bases, diffusion iterates.
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: float32 storage (the solver's weights and iterates).
Float32Array: TypeAlias = npt.NDArray[np.float32]
#: int64 values: scores, epoch seconds, counts.
IntArray: TypeAlias = npt.NDArray[np.int64]
#: Row or column positions (int32 or int64).
IndexArray: TypeAlias = npt.NDArray[np.int32] | npt.NDArray[np.int64]
#: Masks and flags.
BoolArray: TypeAlias = npt.NDArray[np.bool_]
#: Python objects, e.g. user ids.
ObjectArray: TypeAlias = npt.NDArray[np.object_]
