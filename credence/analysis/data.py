"""The data scientist's view of Credence: the graph and the scores as arrays and frames.

Everything here reads; nothing writes to a store. The functions take the objects the
rest of Credence uses (a :class:`credence.graph.store.GraphStore` and a recomputed
:class:`credence.engine.ScoringEngine`) and hand back plain scipy, numpy, pandas or
networkx objects:

* :func:`load_network` -- the friend graph as a symmetric scipy CSR matrix with the
  user id of each row (:class:`Network`), or as a weighted :class:`networkx.Graph`
  whose nodes are the user ids;
* :func:`scores_frame` and :func:`components_frame` -- one row per user, in the
  engine's user order;
* :func:`arrays` -- the same columns as a dict of numpy arrays;
* :func:`export_tables` / :func:`read_tables` -- users, links, events and scores as Parquet
  (or CSV) files, for notebooks and other tools.

Examples
--------
>>> from credence.graph.sqlite import SQLiteStore
>>> from credence.seeds.synthetic import generate_population
>>> from credence.engine import ScoringEngine
>>> population = generate_population(n_users=600, seed=1)
>>> store = SQLiteStore(":memory:")
>>> _ = store.load(population.dataset())
>>> engine = ScoringEngine(store, now=population.now)
>>> _ = engine.recompute(write=False)
>>> network = load_network(store)
>>> network.adjacency.shape == (600, 600), network.n_links == len(store.links())
(True, True)
>>> frame = scores_frame(engine)
>>> list(frame.columns[:3]), len(frame)
(['user', 'score', 'band'], 600)
>>> arrays(engine)["components"].shape
(600, 5)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp

from credence.core.errors import InputError, ParameterError
from credence.scoring.policy import COMPONENT_NAMES, SCORE_MAX, SCORE_MIN

if TYPE_CHECKING:
    from credence.engine import ScoringEngine
    from credence.graph.store import GraphStore

__all__ = [
    "TABLES",
    "Network",
    "arrays",
    "components_frame",
    "export_tables",
    "load_network",
    "read_tables",
    "scores_frame",
]

#: The tables :func:`export_tables` writes, in order.
TABLES: tuple[str, ...] = ("users", "links", "repayments", "spending", "distrust", "scores")

_SCALE = SCORE_MAX - SCORE_MIN


@dataclass(frozen=True)
class Network:
    """The friend graph as arrays.

    Attributes
    ----------
    ids : ndarray of object
        User id of each row and column.
    adjacency : scipy.sparse.csr_matrix
        Symmetric weighted adjacency, every link stored both ways.
    quarantined : ndarray of bool
        True for users with an active analyst flag.
    """

    ids: np.ndarray
    adjacency: sp.csr_matrix
    quarantined: np.ndarray

    @property
    def n_users(self) -> int:
        """Number of users (nodes)."""
        return len(self.ids)

    @property
    def n_links(self) -> int:
        """Number of undirected links."""
        return int(self.adjacency.nnz // 2)

    def degree(self, *, weighted: bool = True) -> np.ndarray:
        """Weighted degree (sum of link weights) or number of friends of each user.

        Examples
        --------
        >>> net = Network(np.array(["a", "b", "c"], dtype=object),
        ...               sp.csr_matrix(np.array([[0, 2.0, 0], [2.0, 0, 1.0], [0, 1.0, 0]])), np.zeros(3, bool))
        >>> net.degree().tolist(), net.degree(weighted=False).tolist()
        ([2.0, 3.0, 1.0], [1, 2, 1])
        """
        if weighted:
            return np.asarray(self.adjacency.sum(axis=1)).ravel()
        return np.diff(self.adjacency.indptr).astype(np.int64)

    def edges(self) -> pd.DataFrame:
        """Each undirected link once, as ``source``, ``target``, ``weight`` (source < target by row).

        Examples
        --------
        >>> net = Network(np.array(["a", "b"], dtype=object),
        ...               sp.csr_matrix(np.array([[0, 0.5], [0.5, 0]])), np.zeros(2, bool))
        >>> net.edges().to_dict("records")
        [{'source': 'a', 'target': 'b', 'weight': 0.5}]
        """
        upper = sp.triu(self.adjacency, k=1).tocoo()
        return pd.DataFrame({
            "source": pd.array(self.ids[upper.row], dtype="string"),
            "target": pd.array(self.ids[upper.col], dtype="string"),
            "weight": upper.data.astype(np.float64),
        })  # fmt: skip


@overload
def load_network(store: GraphStore, *, as_: Literal["csr"] = "csr") -> Network: ...


@overload
def load_network(store: GraphStore, *, as_: Literal["networkx"]) -> Any: ...


def load_network(store: GraphStore, *, as_: str = "csr") -> Network | Any:
    """The stored friend graph, as a :class:`Network` (CSR) or a networkx graph.

    Parameters
    ----------
    store : GraphStore
        Any Credence store (SQLite or Neo4j).
    as_ : {"csr", "networkx"}
        ``"csr"``: a :class:`Network` (ids + symmetric scipy CSR adjacency, rows in
        the store's user order, the order :class:`~credence.engine.ScoringEngine`
        uses). ``"networkx"``: an undirected :class:`networkx.Graph` whose nodes are
        the user ids (every user, isolated ones too) with a ``quarantined`` node
        attribute and a ``weight`` edge attribute. networkx must be installed.

    Raises
    ------
    ParameterError
        For another ``as_``, or ``"networkx"`` without networkx installed.

    Examples
    --------
    >>> from credence.graph.sqlite import SQLiteStore
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b", "c"], "created": [0, 0, 0]}))
    >>> _ = store.upsert_links(pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [2.0], "created": [0]}))
    >>> net = load_network(store)
    >>> net.ids.tolist(), net.adjacency.toarray().tolist()
    (['a', 'b', 'c'], [[0.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> graph = load_network(store, as_="networkx")
    >>> sorted(graph.nodes), graph["a"]["b"]["weight"]
    (['a', 'b', 'c'], 2.0)
    """
    if as_ not in ("csr", "networkx"):
        raise ParameterError("as_", as_, "must be 'csr' or 'networkx'")
    exported = store.export_graph()
    network = Network(
        ids=np.asarray(exported.ids, dtype=object),
        adjacency=sp.csr_matrix(exported.adjacency),
        quarantined=np.asarray(exported.quarantined, dtype=bool),
    )
    if as_ == "csr":
        return network
    return to_networkx(network)


def to_networkx(network: Network) -> Any:
    """A :class:`Network` as an undirected weighted :class:`networkx.Graph` keyed by user id.

    Examples
    --------
    >>> net = Network(np.array(["a", "b"], dtype=object),
    ...               sp.csr_matrix(np.array([[0, 0.5], [0.5, 0]])), np.array([False, True]))
    >>> graph = to_networkx(net)
    >>> list(graph.edges(data="weight")), graph.nodes["b"]["quarantined"]
    ([('a', 'b', 0.5)], True)
    """
    try:
        import networkx as nx
    except ImportError as exc:  # pragma: no cover - networkx is a dev dependency
        raise ParameterError("as_", "networkx", "needs networkx installed (pip install networkx)") from exc
    graph = nx.Graph()
    ids = [str(user) for user in network.ids.tolist()]
    graph.add_nodes_from(
        (user, {"quarantined": flag}) for user, flag in zip(ids, network.quarantined.tolist(), strict=True)
    )
    upper = sp.triu(network.adjacency, k=1).tocoo()
    graph.add_weighted_edges_from(
        (ids[u], ids[v], w)
        for u, v, w in zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist(), strict=True)
    )
    return graph


def scores_frame(engine: ScoringEngine) -> pd.DataFrame:
    """Each user's current score, band and network standing, in the engine's user order.

    Columns: ``user``, ``score``, ``band``, ``model_version``, ``computed_at``,
    ``degree`` (weighted degree among users taking part in the network),
    ``consent``, ``quarantined``, ``participating`` (consent and not quarantined).

    Raises
    ------
    NotFoundError
        If the engine has not recomputed yet.

    Examples
    --------
    >>> from credence.graph.sqlite import SQLiteStore
    >>> from credence.engine import ScoringEngine
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
    >>> engine = ScoringEngine(store, now=86_400 * 365)
    >>> _ = engine.recompute(write=False)
    >>> scores_frame(engine)[["user", "score", "band", "participating"]].to_dict("records")[0]
    {'user': 'a', 'score': 521, 'band': 'poor', 'participating': True}
    """
    table = engine.view()
    frame = pd.DataFrame({
        "user": pd.array(table.ids, dtype="string"),
        "score": table.scores.astype(np.int64),
        "band": pd.array(engine.policy.band_names(table.scores), dtype="string"),
        "model_version": pd.array([engine.model_version] * len(table.ids), dtype="string"),
        "computed_at": np.full(len(table.ids), engine.computed_at or 0, dtype=np.int64),
        "degree": np.asarray(table.degree, dtype=np.float64),
        "consent": np.asarray(table.consent, dtype=bool),
        "quarantined": np.asarray(table.quarantined, dtype=bool),
    })  # fmt: skip
    frame["participating"] = frame["consent"] & ~frame["quarantined"]
    return frame


def components_frame(engine: ScoringEngine, *, points: bool = False) -> pd.DataFrame:
    """Each user's five score components, in the engine's user order.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine.
    points : bool
        False: the component values in [0, 1]. True: the points each component adds
        to 350 (``600 * weight * value``); they add up to ``score - 350`` up to rounding.

    Examples
    --------
    >>> from credence.graph.sqlite import SQLiteStore
    >>> from credence.engine import ScoringEngine
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["a"], "created": [0]}))
    >>> engine = ScoringEngine(store, now=86_400 * 365)
    >>> _ = engine.recompute(write=False)
    >>> frame = components_frame(engine, points=True)
    >>> list(frame.columns)
    ['user', 'credit_history', 'fulfilment_capacity', 'behaviour', 'identity', 'connections']
    >>> bool(round(350 + frame.iloc[0, 1:].sum()) == scores_frame(engine)["score"].iloc[0])
    True
    """
    frame = engine.scores()
    out = pd.DataFrame({"user": frame["user"].astype("string")})
    weights = engine.policy.weight_vector()
    for k, name in enumerate(COMPONENT_NAMES):
        values = frame[name].to_numpy(dtype=np.float64)
        out[name] = _SCALE * weights[k] * values if points else values
    return out


def arrays(engine: ScoringEngine) -> dict[str, np.ndarray]:
    """The engine's current state as numpy arrays aligned by row.

    Keys: ``ids`` (object), ``scores`` (int64), ``bands`` (object), ``components``
    (float64, ``n x 5``), ``component_names`` (str, 5), ``weights`` (float64, 5),
    ``degree`` (float64), ``consent``, ``quarantined`` and ``participating`` (bool).
    The arrays are copies: changing them changes nothing in the engine.

    Examples
    --------
    >>> from credence.graph.sqlite import SQLiteStore
    >>> from credence.engine import ScoringEngine
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
    >>> engine = ScoringEngine(store, now=86_400 * 365)
    >>> _ = engine.recompute(write=False)
    >>> data = arrays(engine)
    >>> data["ids"].tolist(), data["components"].shape, str(data["component_names"][-1])
    (['a', 'b'], (2, 5), 'connections')
    """
    table = engine.view()
    frame = engine.scores()
    consent = np.array(table.consent, dtype=bool)
    quarantined = np.array(table.quarantined, dtype=bool)
    return {
        "ids": np.array(table.ids, dtype=object),
        "scores": np.array(table.scores, dtype=np.int64),
        "bands": np.asarray(engine.policy.band_names(table.scores), dtype=object),
        "components": frame[list(COMPONENT_NAMES)].to_numpy(dtype=np.float64, copy=True),
        "component_names": np.array(COMPONENT_NAMES, dtype=str),
        "weights": engine.policy.weight_vector(),
        "degree": np.array(table.degree, dtype=np.float64),
        "consent": consent,
        "quarantined": quarantined,
        "participating": consent & ~quarantined,
    }


def _scores_table(engine: ScoringEngine) -> pd.DataFrame:
    scores = scores_frame(engine)
    components = components_frame(engine)
    return scores.merge(components, on="user", how="left", validate="one_to_one")


def export_tables(
    store: GraphStore, engine: ScoringEngine | None, out_dir: str | Path, fmt: str = "parquet"
) -> dict[str, Path]:
    """Write the users, links, repayments, spending, distrust and scores tables to a folder.

    The first five are the stored dataset in the schemas of ``docs/data-model.md``
    (``credence load`` reads the folder back, CSV or Parquet); ``scores`` holds each
    user's score, band and components.

    Parameters
    ----------
    store : GraphStore
        Source of the users, links and events.
    engine : ScoringEngine or None
        A recomputed engine: source of the scores (with components); None writes no
        scores table.
    out_dir : str or Path
        Folder to write into (created if missing); files are ``<table>.<ext>`` for
        each name in :data:`TABLES`.
    fmt : {"parquet", "csv"}
        Parquet (via pyarrow, column types kept) or CSV (times as epoch seconds).

    Returns
    -------
    dict of str to Path
        The path written for each table name in :data:`TABLES`.

    Examples
    --------
    >>> import tempfile
    >>> from credence.graph.sqlite import SQLiteStore
    >>> from credence.engine import ScoringEngine
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
    >>> engine = ScoringEngine(store, now=86_400 * 365)
    >>> _ = engine.recompute(write=False)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = export_tables(store, engine, tmp)
    ...     tables = read_tables(tmp)
    >>> sorted(p.name for p in paths.values()), tables["scores"]["score"].tolist()
    (['distrust.parquet', 'links.parquet', 'repayments.parquet', 'scores.parquet', 'spending.parquet', 'users.parquet'], [521, 521])
    """
    if fmt not in ("parquet", "csv"):
        raise ParameterError("fmt", fmt, "must be 'parquet' or 'csv'")
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the folder: {exc}") from exc
    frames = {"users": store.get_all_users(), "links": store.links(), "repayments": store.repayments(),
              "spending": store.spending(), "distrust": store.distrust()}  # fmt: skip
    if engine is not None:
        frames["scores"] = _scores_table(engine)
    written: dict[str, Path] = {}
    for name in frames:
        path = folder / f"{name}.{fmt}"
        _write(frames[name], path, fmt)
        written[name] = path
    return written


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    frame = frame.reset_index(drop=True)
    try:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        else:
            frame.to_csv(path, index=False)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc}") from exc


def read_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read back the tables :func:`export_tables` wrote (Parquet preferred over CSV).

    Raises
    ------
    InputError
        If the folder holds none of the tables.
    """
    folder = Path(folder)
    out: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
        if parquet.exists():
            out[name] = pd.read_parquet(parquet)
        elif csv.exists():
            out[name] = pd.read_csv(
                csv,
                dtype={
                    "user": "string",
                    "id": "string",
                    "source": "string",
                    "target": "string",
                    "rater": "string",
                    "rated": "string",
                    "band": "string",
                    "status": "string",
                    "category": "string",
                },
            )
    if not out:
        raise InputError(f"{folder}: none of {', '.join(TABLES)} (.parquet or .csv) found")
    return out
