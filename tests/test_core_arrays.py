"""``unique_sorted`` against Python's own set and sort, on random and edge-case integer arrays."""

from __future__ import annotations

import numpy as np
import pytest

from credence.core.arrays import unique_sorted


@pytest.mark.parametrize("size", [0, 1, 2, 3, 700, 17_000])
@pytest.mark.parametrize("high", [2, 1_000_000, 2**62])
def test_unique_sorted_equals_a_sorted_python_set(size: int, high: int) -> None:
    values = np.random.default_rng(size + high % 97).integers(-high, high, size, dtype=np.int64)
    out = unique_sorted(values)
    assert out.dtype == np.int64
    assert out.tolist() == sorted(set(values.tolist()))


def test_unique_sorted_takes_lists_and_any_shape_and_leaves_its_input_alone() -> None:
    values = np.array([[3, 1], [3, -4]], dtype=np.int32)
    copy = values.copy()
    assert unique_sorted(values).tolist() == [-4, 1, 3]
    assert (values == copy).all()
    assert unique_sorted([7, 7, 7]).tolist() == [7]
