"""Tests of credence.seeds.graphs (the one random-graph generator) and the sybil experiment's graphs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ParameterError
from credence.seeds.graphs import (
    block_model,
    distinct_pairs,
    keys_to_adjacency,
    pair_keys,
    uniform_pairs,
)
from credence.seeds.sybil import attach_region, honest_graph


def is_simple(keys: np.ndarray, n: int) -> bool:
    """Sorted, distinct, ``lo < hi`` keys of nodes in ``[0, n)``."""
    lo, hi = keys // n, keys % n
    return bool((np.diff(keys) > 0).all() and (lo < hi).all() and (keys >= 0).all() and (hi < n).all())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(20, 400),
    avg=st.floats(1.0, 12.0),
    homophily=st.floats(0.0, 1.0),
    communities=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_block_model_is_a_simple_graph_with_the_links_asked_for(
    n: int, avg: float, homophily: float, communities: int, seed: int
) -> None:
    graph = block_model(n, avg_degree=avg, homophily=homophily, communities=communities, seed=seed)
    assert is_simple(graph.keys, n)
    assert graph.links <= round(n * avg / 2)
    assert graph.community.shape == graph.propensity.shape == (n,)
    assert np.bincount(graph.community).size == communities and np.bincount(graph.community).min() >= 1
    # Exactly the links asked for when nothing saturates: the whole graph is sparse, and
    # the share drawn inside communities fits them with room to spare (a dense
    # community of 5 has only 10 pairs, however many links homophily sends there).
    wanted = round(n * avg / 2)
    sizes = np.bincount(graph.community)
    inside_pairs = int((sizes * (sizes - 1) // 2).sum())
    roomy = communities == 1 or homophily == 0.0 or homophily * wanted <= inside_pairs / 4
    if avg <= n / 10 and roomy:
        assert graph.links == wanted


def test_block_model_homophily_communities_and_hubs() -> None:
    graph = block_model(20_000, avg_degree=20.0, homophily=0.8, seed=3)
    lo, hi = graph.keys // graph.n, graph.keys % graph.n
    assert graph.links == 200_000
    assert abs(float((graph.community[lo] == graph.community[hi]).mean()) - 0.8) < 0.01
    sizes = np.bincount(graph.community)
    assert sizes.size == 100 and sizes.max() <= graph.n / 4 and sizes.max() > 5 * np.median(sizes)
    degree = np.bincount(lo, minlength=graph.n) + np.bincount(hi, minlength=graph.n)
    assert degree.max() > 10 * degree.mean()  # a power-law tail, capped below 20 sqrt(n)
    assert degree.max() <= 20 * np.sqrt(graph.n)


def test_block_model_is_reproducible_and_takes_a_generator() -> None:
    a = block_model(1000, avg_degree=8.0, seed=11)
    b = block_model(1000, avg_degree=8.0, seed=np.random.default_rng(11))
    c = block_model(1000, avg_degree=8.0, seed=12)
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.community, b.community)
    assert not np.array_equal(a.keys, c.keys)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 1}, "n"),
        ({"n": 10.0}, "n"),
        ({"avg_degree": 0.0}, "avg_degree"),
        ({"avg_degree": 100.0}, "avg_degree"),
        ({"homophily": -0.5}, "homophily"),
        ({"degree_exponent": 2.0}, "degree_exponent"),
        ({"communities": 0}, "communities"),
        ({"communities": 101}, "communities"),
        ({"max_degree": 0.0}, "max_degree"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_block_model_parameter_errors(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"n": 100, "avg_degree": 4.0}
    args.update(kwargs)
    with pytest.raises(ParameterError) as info:
        block_model(**args)  # type: ignore[arg-type]
    assert info.value.name == name


def test_distinct_pairs_stops_when_the_pairs_run_out() -> None:
    rng = np.random.default_rng(0)
    members = np.array([2, 5, 7, 9])
    keys = distinct_pairs(rng, 50, uniform_pairs(rng, members, members), 10)
    assert keys.size == 6 and is_simple(keys, 10)  # all 4 * 3 / 2 pairs, not 50
    cycle = pair_keys(members, np.roll(members, 1), 10)
    initial = np.sort(cycle)
    with_cycle = distinct_pairs(rng, 5, uniform_pairs(rng, members, members), 10, initial=initial)
    assert with_cycle.size == 5 and np.isin(initial, with_cycle).all()


def test_keys_to_adjacency_is_canonical_and_symmetric() -> None:
    graph = block_model(3000, avg_degree=6.0, seed=5)
    weights = np.linspace(1.0, 2.0, graph.links)
    matrix = graph.adjacency(weights)
    assert matrix.has_canonical_format and (matrix != matrix.T).nnz == 0 and matrix.nnz == 2 * graph.links
    lo, hi = graph.keys // graph.n, graph.keys % graph.n
    assert np.array_equal(np.asarray(matrix[lo, hi]).ravel(), weights)
    reference = sp.coo_matrix((weights, (lo, hi)), shape=matrix.shape)
    assert abs(matrix - (reference + reference.T)).max() == 0.0
    with pytest.raises(ParameterError, match="one weight per link"):
        keys_to_adjacency(graph.keys, graph.n, weights[:-1])


def test_honest_graph_has_exact_links_and_homophilous_bases() -> None:
    adjacency, base = honest_graph(5000, seed=2)
    assert adjacency.nnz == 2 * 25_000 and adjacency.diagonal().sum() == 0.0
    again, base_again = honest_graph(5000, seed=2)
    assert (again != adjacency).nnz == 0 and np.array_equal(base, base_again)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    neighbours = (adjacency @ base)[degree > 0] / degree[degree > 0]
    assert np.corrcoef(base[degree > 0], neighbours)[0, 1] > 0.2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 1}, "honest_users"),
        ({"avg_degree": 0.0}, "avg_degree"),
        ({"avg_degree": 99.0}, "avg_degree"),
        ({"exponent": 2.0}, "exponent"),
    ],
)
def test_honest_graph_parameter_errors(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"n": 100}
    args.update(kwargs)
    with pytest.raises(ParameterError) as info:
        honest_graph(**args)  # type: ignore[arg-type]
    assert info.value.name == name


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"size": 0}, "size"),
        ({"attack_links": -1}, "attack_links"),
        ({"attack_links": 11}, "attack_links"),
        ({"size": 5, "attack_links": 6}, "attack_links"),
        ({"internal_degree": 0}, "internal_degree"),
        ({"sybil_base": 1.5}, "sybil_base"),
    ],
)
def test_attach_region_parameter_errors(kwargs: dict[str, object], name: str) -> None:
    honest = sp.csr_matrix(np.ones((10, 10)) - np.eye(10))
    args: dict[str, object] = {"size": 20, "attack_links": 2}
    args.update(kwargs)
    with pytest.raises(ParameterError) as info:
        attach_region(honest, np.full(10, 0.5), **args)  # type: ignore[arg-type]
    assert info.value.name == name
