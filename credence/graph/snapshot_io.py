"""Graph snapshots to and from files, and summaries of them.

``write_snapshot`` stores the CSR arrays in ``graph.npz`` (uncompressed, so a
reader can memory-map it) and the aligned user attributes in ``users.csv``.

Examples
--------
>>> import tempfile
>>> import numpy as np, pandas as pd
>>> from credence.graph.store import GraphSnapshot, build_adjacency
>>> adj = build_adjacency(np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]), 3)
>>> snap = GraphSnapshot(np.array(["a", "b", "c"], dtype=object), adj,
...                      pd.DataFrame({"id": ["a", "b", "c"]}), np.array([False, True, False]))
>>> folder = tempfile.mkdtemp()
>>> _ = write_snapshot(snap, folder)
>>> back = read_snapshot(folder)
>>> (back.adjacency != adj).nnz, back.ids.tolist(), back.quarantined.tolist()
(0, ['a', 'b', 'c'], [False, True, False])
>>> degree_summary(snap)["max_degree"]
2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from credence.core.errors import InputError
from credence.graph.store import GraphSnapshot

__all__ = ["degree_summary", "read_snapshot", "write_snapshot"]


def write_snapshot(snapshot: GraphSnapshot, folder: str | Path) -> list[Path]:
    """Write ``graph.npz`` (indptr, indices, data, ids, quarantined) and ``users.csv``."""
    from credence.graph.io import write_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    adjacency = snapshot.adjacency
    npz = folder / "graph.npz"
    np.savez(
        npz,
        indptr=adjacency.indptr,
        indices=adjacency.indices,
        data=adjacency.data,
        ids=snapshot.ids.astype(str),
        quarantined=snapshot.quarantined,
    )
    return [npz, write_table(snapshot.users, folder / "users.csv")]


def read_snapshot(folder: str | Path) -> GraphSnapshot:
    """Read what :func:`write_snapshot` wrote."""
    from credence.graph.io import read_table

    folder = Path(folder)
    try:
        arrays = np.load(folder / "graph.npz", allow_pickle=False)
    except OSError as exc:
        raise InputError(f"{folder}: no readable graph.npz: {exc}") from exc
    ids = arrays["ids"].astype(object)
    n = len(ids)
    adjacency = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n))
    users_path = folder / "users.csv"
    users = read_table(users_path) if users_path.exists() else pd.DataFrame({"id": ids})
    return GraphSnapshot(ids, adjacency, users, arrays["quarantined"].astype(bool))


def degree_summary(snapshot: GraphSnapshot) -> dict[str, Any]:
    """Degree statistics: mean, median, max, isolated users, components.

    The number of connected components comes from scipy's BFS on the CSR.
    """
    degree = np.diff(snapshot.adjacency.indptr)
    n = snapshot.n_users
    if n == 0:
        return {"mean_degree": 0.0, "median_degree": 0.0, "max_degree": 0, "isolated": 0, "components": 0}
    components, _ = sp.csgraph.connected_components(snapshot.adjacency, directed=False)
    return {
        "mean_degree": float(degree.mean()),
        "median_degree": float(np.median(degree)),
        "max_degree": int(degree.max()),
        "isolated": int((degree == 0).sum()),
        "components": int(components),
    }
