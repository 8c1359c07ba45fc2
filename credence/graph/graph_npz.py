"""A store's friend graph (:class:`~credence.graph.store.GraphExport`) to and from files, and its summary.

``write_graph_npz`` stores the CSR arrays of the friend adjacency and of the
directed distrust matrix in ``graph.npz`` (uncompressed, so a reader can memory-map
it) and the aligned user attributes in ``users.csv``. A ``graph.npz`` written before
distrust was exported reads back with an empty distrust matrix.

Examples
--------
>>> import tempfile
>>> import numpy as np, pandas as pd
>>> from credence.graph.store import GraphExport, build_adjacency, build_distrust
>>> adj = build_adjacency(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]), 3)
>>> distrust = build_distrust(np.array([2]), np.array([0]), np.array([7.0]), 3)
>>> exported = GraphExport(np.array(["a", "b", "c"], dtype=object), adj,
...                        pd.DataFrame({"id": ["a", "b", "c"]}), np.array([False, True, False]),
...                        distrust=distrust)
>>> folder = tempfile.mkdtemp()
>>> _ = write_graph_npz(exported, folder)
>>> back = read_graph_npz(folder)
>>> (back.adjacency != adj).nnz, back.ids.tolist(), back.quarantined.tolist()
(0, ['a', 'b', 'c'], [False, True, False])
>>> back.distrust.toarray()[2].tolist()
[7.0, 0.0, 0.0]
>>> degree_summary(exported)["max_degree"]
2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from credence.core.errors import InputError
from credence.graph.store import GraphExport

__all__ = ["degree_summary", "read_graph_npz", "write_graph_npz"]


def write_graph_npz(exported: GraphExport, folder: str | Path) -> list[Path]:
    """Write ``graph.npz`` and ``users.csv``.

    ``graph.npz`` holds ``indptr``, ``indices``, ``data`` (the friend adjacency),
    ``distrust_indptr``, ``distrust_indices``, ``distrust_data`` (the directed distrust
    matrix, same index), ``ids`` and ``quarantined``.
    """
    from credence.graph.io import write_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    adjacency = exported.adjacency
    npz = folder / "graph.npz"
    np.savez(
        npz,
        indptr=adjacency.indptr,
        indices=adjacency.indices,
        data=adjacency.data,
        distrust_indptr=exported.distrust.indptr,
        distrust_indices=exported.distrust.indices,
        distrust_data=exported.distrust.data,
        ids=exported.ids.astype(str),
        quarantined=exported.quarantined,
    )
    return [npz, write_table(exported.users, folder / "users.csv")]


def read_graph_npz(folder: str | Path) -> GraphExport:
    """Read what :func:`write_graph_npz` wrote."""
    from credence.graph.io import read_table

    folder = Path(folder)
    try:
        arrays = np.load(folder / "graph.npz", allow_pickle=False)
    except OSError as exc:
        raise InputError(f"{folder}: no readable graph.npz: {exc}") from exc
    ids = arrays["ids"].astype(object)
    n = len(ids)
    adjacency = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n))
    if "distrust_indptr" in arrays.files:
        distrust = sp.csr_matrix(
            (arrays["distrust_data"], arrays["distrust_indices"], arrays["distrust_indptr"]), shape=(n, n)
        )
    else:  # written before distrust was exported
        distrust = sp.csr_matrix((n, n), dtype=np.float64)
    users_path = folder / "users.csv"
    users = read_table(users_path) if users_path.exists() else pd.DataFrame({"id": ids})
    return GraphExport(ids, adjacency, users, arrays["quarantined"].astype(bool), distrust=distrust)


def degree_summary(exported: GraphExport) -> dict[str, Any]:
    """Degree statistics: mean, median, max, isolated users, components.

    The number of connected components comes from scipy's BFS on the CSR.
    """
    degree = np.diff(exported.adjacency.indptr)
    n = exported.n_users
    if n == 0:
        return {"mean_degree": 0.0, "median_degree": 0.0, "max_degree": 0, "isolated": 0, "components": 0}
    components, _ = sp.csgraph.connected_components(exported.adjacency, directed=False)
    return {
        "mean_degree": float(degree.mean()),
        "median_degree": float(np.median(degree)),
        "max_degree": int(degree.max()),
        "isolated": int((degree == 0).sum()),
        "components": int(components),
    }
