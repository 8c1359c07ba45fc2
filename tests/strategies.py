"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st


@st.composite
def weighted_graphs(draw: Any, min_nodes: int = 0, max_nodes: int = 10) -> sp.csr_matrix:
    """A small random symmetric weighted graph as CSR (weights in [0.05, 10], no self loops)."""
    n = draw(st.integers(min_nodes, max_nodes))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    dense = np.zeros((n, n))
    for i, j in chosen:
        dense[i, j] = dense[j, i] = draw(st.floats(0.05, 10.0))
    return sp.csr_matrix(dense)


@st.composite
def graphs_with_base(draw: Any, min_nodes: int = 1, max_nodes: int = 8) -> tuple[sp.csr_matrix, np.ndarray]:
    """(adjacency, base in [0, 1]) for a small random weighted graph."""
    adjacency = draw(weighted_graphs(min_nodes, max_nodes))
    n = adjacency.shape[0]
    base = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    return adjacency, base
