"""The data-science API: network loading, frames, table export round trips, the walkthrough."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credence.analysis.data import (
    arrays,
    components_frame,
    export_tables,
    load_network,
    read_tables,
    scores_frame,
)
from credence.core.errors import ParameterError
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population

WALKTHROUGH = Path(__file__).resolve().parent.parent / "docs" / "walkthrough.md"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Any:
    population = generate_population(n_users=600, seed=2)
    store = SQLiteStore(tmp_path_factory.mktemp("data") / "credence.db")
    store.load(population.dataset())
    engine = ScoringEngine(store, now=population.now)
    engine.recompute(write=False)
    yield store, engine
    store.close()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_exported_tables_reload_to_the_same_scores(scored: Any, tmp_path: Path, fmt: str) -> None:
    store, engine = scored
    paths = export_tables(store, engine, tmp_path / "out", fmt=fmt)
    assert sorted(paths) == ["distrust", "links", "repayments", "scores", "spending", "users"]
    assert all(p.suffix == f".{fmt}" and p.stat().st_size > 0 for p in paths.values())
    tables = read_tables(tmp_path / "out")
    expected = engine.scores()
    got = tables["scores"]
    assert got["user"].astype(str).tolist() == expected["user"].astype(str).tolist()
    assert got["score"].to_numpy(dtype=np.int64).tolist() == expected["score"].tolist()
    assert got["band"].astype(str).tolist() == expected["band"].astype(str).tolist()
    for name in ("credit_history", "fulfilment_capacity", "behaviour", "identity", "connections"):
        np.testing.assert_allclose(
            got[name].to_numpy(dtype=np.float64),
            expected[name].to_numpy(dtype=np.float64),
            rtol=0,
            atol=1e-12,
        )
    assert len(tables["users"]) == len(expected)
    links = store.links()
    assert len(tables["links"]) == len(links)
    np.testing.assert_allclose(
        tables["links"]["weight"].to_numpy(dtype=np.float64), links["weight"].to_numpy(dtype=np.float64)
    )
    assert len(tables["repayments"]) == len(store.repayments()) > 0
    assert len(tables["spending"]) == len(store.spending()) > 0
    assert len(tables["distrust"]) == len(store.distrust())


def test_networkx_graph_has_the_csr_edges_and_weights(scored: Any) -> None:
    store, _ = scored
    network = load_network(store)
    graph = load_network(store, as_="networkx")
    assert graph.number_of_nodes() == network.n_users
    assert graph.number_of_edges() == network.n_links
    upper = network.edges()
    from_csr = {frozenset((s, t)): w for s, t, w in upper.itertuples(index=False)}
    from_nx = {frozenset((s, t)): w for s, t, w in graph.edges(data="weight")}
    assert from_csr == from_nx
    ids = network.ids.tolist()
    degree = dict(graph.degree(weight="weight"))
    np.testing.assert_allclose([degree[u] for u in ids], network.degree())


def test_network_matches_the_stored_links(scored: Any) -> None:
    store, _ = scored
    network = load_network(store)
    assert (network.adjacency != network.adjacency.T).nnz == 0
    links = store.links()
    position = {u: i for i, u in enumerate(network.ids.tolist())}
    for s, t, w in links[["source", "target", "weight"]].head(50).itertuples(index=False):
        assert network.adjacency[position[s], position[t]] == pytest.approx(w)


def test_frames_and_arrays_agree(scored: Any) -> None:
    _, engine = scored
    scores = scores_frame(engine)
    points = components_frame(engine, points=True)
    data = arrays(engine)
    assert scores["user"].tolist() == data["ids"].tolist() == points["user"].tolist()
    assert (scores["score"].to_numpy() == data["scores"]).all()
    total = 350 + points.drop(columns="user").sum(axis=1).to_numpy()
    assert np.abs(total - data["scores"]).max() <= 0.5 + 1e-9
    assert data["components"].shape == (len(scores), 5)
    data["scores"][:] = 0  # copies: the engine is untouched
    assert engine.scores()["score"].min() >= 350


def test_bad_arguments_are_parameter_errors(scored: Any, tmp_path: Path) -> None:
    store, engine = scored
    with pytest.raises(ParameterError):
        load_network(store, as_="igraph")  # type: ignore[call-overload]
    with pytest.raises(ParameterError):
        export_tables(store, engine, tmp_path, fmt="xlsx")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_walkthrough_code_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks(WALKTHROUGH.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "walkthrough"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"{WALKTHROUGH.name}[block {k}]", "exec"), namespace)
    assert isinstance(namespace.get("scores"), pd.DataFrame)
