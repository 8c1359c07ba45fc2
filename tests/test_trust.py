"""SybilRank-style trust mode (credence/scoring/trust.py).

Known answers are worked out by hand in the comments: one step is
``T <- A (T / d)`` on linked nodes (isolated nodes keep their trust), and the
ranking score is ``T / d``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from credence.core.errors import ParameterError
from credence.scoring.trust import TrustResult, check_seeds, default_iterations, sybil_trust
from credence.seeds.synthetic import PopulationConfig, generate_population

PATH3 = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)

# a weighted triangle 0, 1, 2 (0 - 1 weighs 2) and a pendant 3 on node 2: degrees 3, 3, 3, 1
KITE = np.array([[0, 2, 1, 0], [2, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]], dtype=float)


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half (Mann–Whitney U)."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _dense_walk(adjacency: np.ndarray, start: np.ndarray, steps: int) -> np.ndarray:
    """Oracle: the walk as a dense column-stochastic matrix, M = A D^+ + diag(isolated)."""
    degree = adjacency.sum(axis=1)
    isolated = degree == 0
    inverse = np.where(isolated, 0.0, 1.0 / np.where(isolated, 1.0, degree))
    m = adjacency * inverse[np.newaxis, :] + np.diag(isolated.astype(float))
    return np.linalg.matrix_power(m, steps) @ start


def _random_graph(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    upper = np.triu((rng.random((n, n)) < p) * rng.uniform(0.1, 3.0, (n, n)), 1)
    return upper + upper.T


def _plain_walk(
    adjacency: np.ndarray, seeds: np.ndarray, steps: int, total: float, participating: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reference: the plain walk, step by step, on the participants; returns (trust, normalized).

    Written independently of the module, but with the same floating-point operations
    (scipy's CSR product and row sums, one product per step), so that its output is
    bit-for-bit what the single-seed-group walk must give.
    """
    n = adjacency.shape[0]
    idx = np.flatnonzero(participating)
    sub = sp.csr_matrix(adjacency[np.ix_(idx, idx)])
    degree = np.asarray(sub.sum(axis=1)).ravel()
    linked = degree > 0
    inverse = np.zeros(idx.size)
    inverse[linked] = 1.0 / degree[linked]
    t = np.zeros(idx.size)
    t[np.searchsorted(idx, np.unique(seeds))] = total / np.unique(seeds).size
    for _ in range(steps):
        t = np.where(linked, sub @ (t * inverse), t)
    trust = np.zeros(n)
    trust[idx] = t
    normalized = np.zeros(n)
    normalized[idx] = t * inverse
    return trust, normalized


def _expected_ranking(trust: np.ndarray, normalized: np.ndarray, participating: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(participating)
    order = np.lexsort((idx, -trust[idx], -normalized[idx]))
    return np.r_[idx[order], np.flatnonzero(~participating)]


# --------------------------------------------------------------------------- known answers


def test_auc_helper_known_answer() -> None:
    # positives 3 and 1 against negatives 2 and 0: pairs (3>2), (3>0), (1<2), (1>0) -> 3/4
    assert _auc(np.array([3.0, 1.0, 2.0, 0.0]), np.array([True, True, False, False])) == 0.75
    # a tie counts half: positive 1 vs negative 1 -> 1/2
    assert _auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5


def test_path_by_hand() -> None:
    # T0 = (1, 0, 0); T1: node 0 sends 1/1 to node 1 -> (0, 1, 0);
    # T2: node 1 (degree 2) sends 1/2 to each end -> (1/2, 0, 1/2). ceil(log2 3) = 2 steps.
    r = sybil_trust(PATH3, [0])
    assert r.iterations == 2
    assert r.trust.tolist() == [0.5, 0.0, 0.5]
    assert r.normalized.tolist() == [0.5, 0.0, 0.5]
    assert r.degree.tolist() == [1.0, 2.0, 1.0]
    assert r.ranking.tolist() == [0, 2, 1]  # 0 and 2 tie: by index
    assert r.seeds.tolist() == [0]
    # one step: all trust on node 1, normalized 1/2, the ends 0
    r1 = sybil_trust(PATH3, [0], iterations=1)
    assert r1.trust.tolist() == [0.0, 1.0, 0.0]
    assert r1.normalized.tolist() == [0.0, 0.5, 0.0]
    assert r1.ranking.tolist() == [1, 0, 2]


def test_weighted_kite_by_hand() -> None:
    # T0 = (1/2, 1/2, 0, 0), T0/d = (1/6, 1/6, 0, 0)
    # T1 = A (T0/d): node 0: 2 * 1/6 = 1/3; node 1: 2 * 1/6 = 1/3; node 2: 1/6 + 1/6 = 1/3; node 3: 0
    # T1/d = (1/9, 1/9, 1/9, 0)
    # T2: node 0: 2/9 + 1/9 = 1/3; node 1: 1/3; node 2: 1/9 + 1/9 = 2/9; node 3: 1/9
    # T2/d = (1/9, 1/9, 2/27, 1/9)
    # T3: node 0: 2/9 + 2/27 = 8/27; node 1: 8/27; node 2: 1/9 + 1/9 + 1/9 = 9/27; node 3: 2/27
    r2 = sybil_trust(KITE, np.array([0, 1]))
    assert r2.iterations == 2  # ceil(log2 4)
    np.testing.assert_allclose(r2.trust, [1 / 3, 1 / 3, 2 / 9, 1 / 9], rtol=1e-14)
    np.testing.assert_allclose(r2.normalized, [1 / 9, 1 / 9, 2 / 27, 1 / 9], rtol=1e-14)
    assert r2.ranking[-1] == 2  # the lowest trust per degree
    r3 = sybil_trust(KITE, [0, 1], iterations=3)
    np.testing.assert_allclose(r3.trust, np.array([8, 8, 9, 2]) / 27, rtol=1e-14)
    np.testing.assert_allclose(r3.normalized, np.array([8, 8, 9, 6]) / 81, rtol=1e-14)
    assert r3.ranking.tolist() == [2, 0, 1, 3]
    assert r3.suspicious(2).tolist() == [3, 1]


def test_zero_iterations_leave_trust_on_the_seeds() -> None:
    r = sybil_trust(KITE, [1, 3], iterations=0, total_trust=4.0)
    assert r.iterations == 0
    assert r.trust.tolist() == [0.0, 2.0, 0.0, 2.0]
    assert r.normalized.tolist() == [0.0, 2.0 / 3.0, 0.0, 2.0]
    assert r.ranking.tolist() == [3, 1, 0, 2]


def test_seed_groups_by_hand() -> None:
    # KITE, seeds 0, 1, 3 in three groups {0}, {1}, {3}, one step, each group with total 1:
    # {0}: node 0 (degree 3) sends 2/3 to 1 and 1/3 to 2   -> T = (0, 2/3, 1/3, 0)
    # {1}: node 1 sends 2/3 to 0 and 1/3 to 2              -> T = (2/3, 0, 1/3, 0)
    # {3}: node 3 (degree 1) sends everything to 2         -> T = (0, 0, 1, 0)
    # T / d (degrees 3, 3, 3, 1): (0, 2/9, 1/9, 0), (2/9, 0, 1/9, 0), (0, 0, 1/3, 0)
    # median: (0, 0, 1/9, 0); mean trust: (2/9, 2/9, 5/9, 0), which adds up to 1
    r = sybil_trust(KITE, [3, 1, 0], iterations=1, seed_groups=3)
    assert r.seed_groups == 3
    np.testing.assert_allclose(r.normalized, [0, 0, 1 / 9, 0], rtol=1e-14, atol=0)
    np.testing.assert_allclose(r.trust, [2 / 9, 2 / 9, 5 / 9, 0], rtol=1e-14, atol=0)
    # node 2 first; 0, 1 and 3 tie on the median 0: by trust (0 and 1 ahead of 3), then index
    assert r.ranking.tolist() == [2, 0, 1, 3]
    # round-robin over the sorted seeds: with two groups, {0, 3} and {1}
    # {0, 3} (1/2 each): node 0 sends 1/3 to 1 and 1/6 to 2, node 3 sends 1/2 to 2
    #   -> T = (0, 1/3, 2/3, 0), T / d = (0, 1/9, 2/9, 0)
    # {1}: T / d = (2/9, 0, 1/9, 0); median of two = mean: (1/9, 1/18, 1/6, 0)
    r2 = sybil_trust(KITE, [0, 1, 3], iterations=1, seed_groups=2)
    np.testing.assert_allclose(r2.normalized, [1 / 9, 1 / 18, 1 / 6, 0], rtol=1e-14, atol=0)
    np.testing.assert_allclose(r2.trust, [1 / 3, 1 / 6, 1 / 2, 0], rtol=1e-14, atol=0)
    assert r2.ranking.tolist() == [2, 0, 1, 3]


def test_non_participants_and_isolated_seed_by_hand() -> None:
    # path 0 - 1 - 2 - 3; node 1 leaves: 0 is isolated, 2 - 3 a pair. Seeds 0 and 2, 1/2 each.
    # 3 participants -> 2 steps. Node 0 keeps 1/2; the pair passes 1/2 back and forth:
    # T1 = (1/2, -, 0, 1/2), T2 = (1/2, -, 1/2, 0).
    a = np.diag(np.ones(3), 1)
    a = a + a.T
    part = np.array([True, False, True, True])
    r = sybil_trust(a, [0, 2], participating=part)
    assert r.iterations == 2
    assert r.trust.tolist() == [0.5, 0.0, 0.5, 0.0]
    assert r.degree.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert r.normalized.tolist() == [0.0, 0.0, 0.5, 0.0]  # isolated: defined as 0
    # 2 (normalized 1/2), then the isolated seed 0 (normalized 0 but trust 1/2), then 3; 1 last
    assert r.ranking.tolist() == [2, 0, 3, 1]
    assert r.suspicious(1).tolist() == [3]
    assert r.suspicious(10).tolist() == [3, 0, 2]  # never the non-participant
    assert r.suspicious(0).tolist() == []
    assert r.participating.tolist() == part.tolist()
    # the mirror image: node 2 leaves, 3 is the isolated seed, 0 - 1 the pair, seeds 1 and 3.
    # T2 = (0, 1/2, -, 1/2): the isolated seed 3 (trust 1/2) ranks ahead of the unreached 0
    # although both have normalized 0 and 0 has the lower index
    mirror = np.array([True, True, False, True])
    r = sybil_trust(a, [1, 3], participating=mirror)
    assert r.trust.tolist() == [0.0, 0.5, 0.0, 0.5]
    assert r.normalized.tolist() == [0.0, 0.5, 0.0, 0.0]
    assert r.ranking.tolist() == [1, 3, 0, 2]
    assert r.suspicious(1).tolist() == [0]


def test_non_participant_cuts_the_walk() -> None:
    # path 0 - 1 - 2: without node 1 nothing reaches node 2, however long the walk
    r = sybil_trust(PATH3, [0], participating=np.array([True, False, True]), iterations=5)
    assert r.trust.tolist() == [1.0, 0.0, 0.0]
    assert r.ranking.tolist() == [0, 2, 1]


def test_default_iterations() -> None:
    # ceil(log2 n) by hand, at least one step
    assert [default_iterations(n) for n in (0, 1, 2, 3, 4, 5, 8, 9, 1000, 1024, 1025)] == [
        1, 1, 1, 2, 2, 3, 3, 4, 10, 10, 11,
    ]  # fmt: skip
    for n in range(2, 3000, 37):
        assert default_iterations(n) == math.ceil(math.log2(n))
    # the default counts participants only: 9 nodes, 4 participating -> 2 steps
    a = np.zeros((9, 9))
    part = np.zeros(9, dtype=bool)
    part[:4] = True
    assert sybil_trust(a, [0], participating=part).iterations == 2
    assert sybil_trust(a, [0]).iterations == 4


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("seed", range(8))
def test_matches_a_dense_oracle_and_conserves_trust(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    a = _random_graph(rng, n, float(rng.uniform(0.02, 0.4)))  # often with isolated nodes
    part = rng.random(n) < 0.8
    part[0] = True
    seeds = np.unique(np.r_[0, rng.choice(np.flatnonzero(part), int(rng.integers(1, 4)))])
    steps = int(rng.integers(0, 12))
    total = float(rng.uniform(0.5, 100.0))
    r = sybil_trust(sp.csr_matrix(a), seeds, iterations=steps, total_trust=total, participating=part)

    idx = np.flatnonzero(part)
    sub = a[np.ix_(idx, idx)]
    start = np.zeros(idx.size)
    start[np.searchsorted(idx, seeds)] = total / seeds.size
    expected = np.zeros(n)
    expected[idx] = _dense_walk(sub, start, steps)
    np.testing.assert_allclose(r.trust, expected, rtol=1e-12, atol=1e-12 * total)
    assert r.trust.sum() == pytest.approx(total, rel=1e-12)
    assert (r.trust >= 0).all()
    assert (r.trust[~part] == 0).all()
    degree = np.zeros(n)
    degree[idx] = sub.sum(axis=1)
    np.testing.assert_allclose(r.degree, degree, rtol=1e-12)
    linked = degree > 0
    np.testing.assert_allclose(r.normalized[linked], r.trust[linked] / degree[linked], rtol=1e-12)
    assert (r.normalized[~linked] == 0).all()
    # ranking: a permutation; participants first, non-increasing normalized; non-participants last
    assert sorted(r.ranking.tolist()) == list(range(n))
    head = r.ranking[: idx.size]
    assert part[head].all()
    assert (np.diff(r.normalized[head]) <= 0).all()
    assert r.ranking[idx.size :].tolist() == np.flatnonzero(~part).tolist()
    # suspicious: the reverse of the participants' tail of the ranking
    k = int(rng.integers(0, n + 2))
    assert r.suspicious(k).tolist() == head[::-1][:k].tolist()


@pytest.mark.parametrize("seed", range(8))
def test_one_seed_group_is_the_plain_walk_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 60))
    a = _random_graph(rng, n, float(rng.uniform(0.02, 0.3)))
    part = rng.random(n) < 0.8
    part[0] = True
    seeds = np.unique(np.r_[0, rng.choice(np.flatnonzero(part), int(rng.integers(1, 6)))])
    steps = int(rng.integers(0, 12))
    total = float(rng.uniform(0.5, 100.0))
    kwargs: dict[str, Any] = {"iterations": steps, "total_trust": total, "participating": part}
    default = sybil_trust(a, seeds, **kwargs)
    one = sybil_trust(a, seeds, seed_groups=1, **kwargs)
    trust, normalized = _plain_walk(a, seeds, steps, total, part)
    for r in (default, one):
        assert r.seed_groups == 1
        np.testing.assert_array_equal(r.trust, trust)
        np.testing.assert_array_equal(r.normalized, normalized)
        np.testing.assert_array_equal(r.ranking, _expected_ranking(trust, normalized, part))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 40),
    density=st.floats(0.02, 0.5),
    graph_seed=st.integers(0, 2**32 - 1),
    n_seeds=st.integers(1, 12),
    groups=st.integers(1, 12),
    steps=st.integers(0, 10),
    total=st.floats(0.5, 100.0),
    everyone=st.booleans(),
)
def test_seed_groups_match_a_loop_over_groups(
    n: int,
    density: float,
    graph_seed: int,
    n_seeds: int,
    groups: int,
    steps: int,
    total: float,
    everyone: bool,
) -> None:
    rng = np.random.default_rng(graph_seed)
    a = _random_graph(rng, n, density)
    part = np.ones(n, dtype=bool) if everyone else rng.random(n) < 0.8
    part[0] = True
    pool = np.flatnonzero(part)
    seeds = rng.choice(pool, min(n_seeds, pool.size), replace=False)
    groups = min(groups, seeds.size)
    kwargs: dict[str, Any] = {"iterations": steps, "total_trust": total, "participating": part}
    r = sybil_trust(sp.csr_matrix(a), seeds, seed_groups=groups, **kwargs)

    # reference: the groups by hand (every groups-th of the sorted seeds), one plain walk each
    ordered = np.sort(seeds)
    walks = [_plain_walk(a, ordered[g::groups], steps, total, part) for g in range(groups)]
    assert sum(ordered[g::groups].size for g in range(groups)) == seeds.size
    trust = np.mean([t for t, _ in walks], axis=0)
    normalized = np.median([z for _, z in walks], axis=0)
    assert r.seed_groups == groups
    np.testing.assert_allclose(r.trust, trust, rtol=1e-12, atol=1e-15 * total)
    np.testing.assert_allclose(r.normalized, normalized, rtol=1e-12, atol=1e-15 * total)
    assert r.trust.sum() == pytest.approx(total, rel=1e-12)
    if seeds.size % groups == 0:  # groups of equal size: the mean is the plain walk (linearity)
        plain = sybil_trust(a, seeds, **kwargs)
        np.testing.assert_allclose(r.trust, plain.trust, rtol=1e-9, atol=1e-14 * total)
    assert (r.trust >= 0).all()
    assert (r.normalized >= 0).all()
    assert (r.trust[~part] == 0).all()
    assert (r.normalized[r.degree == 0] == 0).all()
    # the ranking: participants by the median (then trust, then index), non-participants last
    head = r.ranking[: pool.size]
    assert sorted(r.ranking.tolist()) == list(range(n))
    assert part[head].all()
    assert (np.diff(r.normalized[head]) <= 0).all()
    assert r.ranking[pool.size :].tolist() == np.flatnonzero(~part).tolist()
    np.testing.assert_array_equal(r.ranking, _expected_ranking(r.trust, r.normalized, part))


def test_seed_groups_ignore_the_seeds_input_form() -> None:
    rng = np.random.default_rng(11)
    a = _random_graph(rng, 30, 0.2)
    mask = np.zeros(30, dtype=bool)
    mask[[2, 5, 9, 17, 23]] = True
    runs = [
        sybil_trust(a, [2, 5, 9, 17, 23], seed_groups=3),
        sybil_trust(a, [23, 9, 2, 17, 5, 9], seed_groups=3),
        sybil_trust(sp.csr_matrix(a), mask, seed_groups=3),
    ]
    for other in runs[1:]:
        assert np.array_equal(other.trust, runs[0].trust)
        assert np.array_equal(other.normalized, runs[0].normalized)
        assert np.array_equal(other.ranking, runs[0].ranking)


def test_a_long_walk_mixes_to_trust_proportional_to_degree() -> None:
    # connected and non-bipartite (a triangle), so the walk converges to T = total * d / sum(d):
    # degrees 3, 3, 3, 1 add up to 10, so with total 10 every normalized value tends to 1
    r = sybil_trust(KITE, [3], iterations=400, total_trust=10.0)
    np.testing.assert_allclose(r.normalized, 1.0, rtol=1e-9)
    np.testing.assert_allclose(r.trust, [3.0, 3.0, 3.0, 1.0], rtol=1e-9)


def test_total_trust_scales_everything() -> None:
    one = sybil_trust(KITE, [0])
    seven = sybil_trust(KITE, [0], total_trust=7)
    np.testing.assert_allclose(seven.trust, 7 * one.trust, rtol=1e-14)
    np.testing.assert_allclose(seven.normalized, 7 * one.normalized, rtol=1e-14)
    assert seven.ranking.tolist() == one.ranking.tolist()


def test_deterministic_and_input_forms_agree() -> None:
    rng = np.random.default_rng(5)
    a = _random_graph(rng, 40, 0.15)
    mask = np.zeros(40, dtype=bool)
    mask[[3, 7, 11]] = True
    runs = [
        sybil_trust(a, [3, 7, 11]),
        sybil_trust(a, [3, 7, 11]),
        sybil_trust(sp.csr_matrix(a), np.array([11, 3, 7, 3])),  # order and repeats do not matter
        sybil_trust(sp.coo_matrix(a), mask),
        sybil_trust(a, (3, 7, 11), participating=np.ones(40, dtype=bool)),
    ]
    for other in runs[1:]:
        assert np.array_equal(other.trust, runs[0].trust)
        assert np.array_equal(other.normalized, runs[0].normalized)
        assert np.array_equal(other.ranking, runs[0].ranking)
        assert other.iterations == runs[0].iterations
    assert sybil_trust(a, 3).seeds.tolist() == [3]  # a single index


def test_result_is_read_only_and_input_untouched() -> None:
    a = KITE.copy()
    mask = np.array([True, True, True, False])
    r = sybil_trust(a, [0], participating=mask)
    assert isinstance(r, TrustResult)
    for array in (r.trust, r.normalized, r.ranking, r.degree, r.participating, r.seeds):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    with pytest.raises(AttributeError):
        r.iterations = 5  # type: ignore[misc]
    assert np.array_equal(a, KITE)
    assert mask.tolist() == [True, True, True, False]
    out = r.suspicious(2)
    out[0] = 99  # a copy: the ranking is unaffected
    assert 99 not in r.ranking


# --------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"adjacency": np.array([[0.0, 1.0], [0.0, 0.0]])}, "adjacency"),
        ({"adjacency": np.array([[0.0, -1.0], [-1.0, 0.0]])}, "adjacency"),
        ({"adjacency": [[0, 1], [1, 0]]}, "adjacency"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [4]}, "seeds"),
        ({"seeds": [-1]}, "seeds"),
        ({"seeds": [0.0]}, "seeds"),
        ({"seeds": np.array([True, False])}, "seeds"),
        ({"seeds": np.zeros(4, dtype=bool)}, "seeds"),
        ({"seeds": [[0, 1]]}, "seeds"),
        ({"seeds": True}, "seeds"),
        ({"seeds": ["a"]}, "seeds"),
        ({"seeds": [3], "participating": np.array([True, True, True, False])}, "seeds"),
        ({"iterations": -1}, "iterations"),
        ({"iterations": 2.0}, "iterations"),
        ({"iterations": True}, "iterations"),
        ({"total_trust": 0.0}, "total_trust"),
        ({"total_trust": -1}, "total_trust"),
        ({"total_trust": float("inf")}, "total_trust"),
        ({"total_trust": float("nan")}, "total_trust"),
        ({"total_trust": "1"}, "total_trust"),
        ({"participating": [1, 1, 1, 1]}, "participating"),
        ({"participating": np.ones(3, dtype=bool)}, "participating"),
        ({"seed_groups": 0}, "seed_groups"),
        ({"seed_groups": -1}, "seed_groups"),
        ({"seed_groups": 2}, "seed_groups"),  # one seed
        ({"seeds": [0, 1, 1], "seed_groups": 3}, "seed_groups"),  # two distinct seeds
        ({"seeds": [0, 1], "seed_groups": 2.0}, "seed_groups"),
        ({"seeds": [0, 1], "seed_groups": True}, "seed_groups"),
        ({"seeds": [0, 1], "seed_groups": "2"}, "seed_groups"),
        ({"seeds": [0, 1], "seed_groups": None}, "seed_groups"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"adjacency": KITE, "seeds": [0]} | kwargs
    adjacency = args.pop("adjacency")
    seeds = args.pop("seeds")
    with pytest.raises(ParameterError) as info:
        sybil_trust(adjacency, seeds, **args)
    assert info.value.name == name


@pytest.mark.parametrize("k", [-1, 1.0, True, None])
def test_bad_k_raises(k: Any) -> None:
    with pytest.raises(ParameterError) as info:
        sybil_trust(KITE, [0]).suspicious(k)
    assert info.value.name == "k"


def test_check_seeds_names_the_parameter() -> None:
    with pytest.raises(ParameterError) as info:
        check_seeds([5], 3, name="verified")
    assert info.value.name == "verified"
    assert check_seeds(np.array([2, 2, 0], dtype=np.uint8), 3).tolist() == [0, 2]


# --------------------------------------------------------------------------- detection


def _two_regions(
    n_honest: int, n_sybil: int, honest_degree: int, sybil_degree: int, attack_links: int, seed: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Two random regions (each connected by a cycle) joined by ``attack_links`` random links."""
    rng = np.random.default_rng(seed)
    n = n_honest + n_sybil
    pairs: set[tuple[int, int]] = set()

    def add(a: int, b: int) -> None:
        if a != b:
            pairs.add((min(a, b), max(a, b)))

    for lo, size, degree in ((0, n_honest, honest_degree), (n_honest, n_sybil, sybil_degree)):
        cycle = lo + rng.permutation(size)
        for a, b in zip(cycle, np.roll(cycle, 1), strict=True):
            add(int(a), int(b))
        target = len(pairs) + size * (degree - 2) // 2
        while len(pairs) < target:
            a, b = lo + rng.integers(0, size, 2)
            add(int(a), int(b))
    attacks: set[tuple[int, int]] = set()
    while len(attacks) < attack_links:
        attacks.add((int(rng.integers(0, n_honest)), int(n_honest + rng.integers(0, n_sybil))))
    edges = np.array(sorted(pairs | attacks))
    rows = np.r_[edges[:, 0], edges[:, 1]]
    cols = np.r_[edges[:, 1], edges[:, 0]]
    adjacency = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    is_sybil = np.arange(n) >= n_honest
    return adjacency, is_sybil, rng.choice(n_honest, 10, replace=False)


@pytest.mark.parametrize("attack_links", [1, 5, 10])
def test_sybils_behind_few_attack_links_rank_at_the_bottom(attack_links: int) -> None:
    # 100 sybils, at most one attack link per 10 sybils, unit weights everywhere
    adjacency, is_sybil, seeds = _two_regions(500, 100, 10, 8, attack_links, seed=attack_links)
    r = sybil_trust(adjacency, seeds)
    assert r.iterations == 10  # ceil(log2 600)
    assert _auc(r.normalized, ~is_sybil) >= 0.9
    # the 100 most suspicious accounts are mostly the sybils
    assert is_sybil[r.suspicious(100)].mean() >= 0.9


def test_planted_sybils_of_a_synthetic_population_rank_at_the_bottom() -> None:
    config = PopulationConfig(
        n_users=2000, sybils_per_region=100, attack_links_per_region=10, rings=3, seed=7
    )
    pop = generate_population(config)
    ids = pd.Index(pop.users["id"])
    src = ids.get_indexer(pop.links["source"])
    dst = ids.get_indexer(pop.links["target"])
    weight = pop.links["weight"].to_numpy()
    n = config.n_users
    adjacency = sp.csr_matrix((np.r_[weight, weight], (np.r_[src, dst], np.r_[dst, src])), shape=(n, n))
    is_sybil = pop.labels["is_sybil"].to_numpy(dtype=bool)
    consent = pop.users["consent_network"].to_numpy(dtype=bool)
    honest = np.flatnonzero(~is_sybil & (pop.labels["ring"].to_numpy() < 0) & consent)
    seeds = np.random.default_rng(0).choice(honest, 20, replace=False)

    r = sybil_trust(adjacency, seeds, participating=consent)
    assert r.iterations == math.ceil(math.log2(int(consent.sum())))
    assert r.trust.sum() == pytest.approx(1.0, rel=1e-12)
    assert _auc(r.normalized[consent], ~is_sybil[consent]) >= 0.9
    n_sybil = int(is_sybil[consent].sum())
    assert is_sybil[r.suspicious(n_sybil)].mean() >= 0.8


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_seed_groups_survive_an_attacked_seed(seed: int) -> None:
    # 400 honest users (degree 10), 20 sybils (degree 4), 2 random attack links, 10 seeds;
    # the attacker also links 4 sybils to seed 0. In the first step that seed sends 4/14 of
    # its trust, 1/10 * 4/14 ~ 0.029 of the total, straight into a sybil region of volume
    # ~ 84: ~ 3.4e-4 per unit degree, above the honest ~ 1/4000. With 5 groups of 2 seeds
    # the leak lands in one group's walk only and the median of 5 discards it.
    adjacency, is_sybil, seeds = _two_regions(400, 20, 10, 4, 2, seed=seed)
    rng = np.random.default_rng(seed)
    adjacency = adjacency.tolil()
    for sybil in 400 + rng.choice(20, 4, replace=False):
        adjacency[seeds[0], sybil] = adjacency[sybil, seeds[0]] = 1.0
    adjacency = sp.csr_matrix(adjacency)

    plain = sybil_trust(adjacency, seeds)
    grouped = sybil_trust(adjacency, seeds, seed_groups=5)
    plain_auc = _auc(plain.normalized, ~is_sybil)
    grouped_auc = _auc(grouped.normalized, ~is_sybil)
    assert plain_auc < 0.5  # many sybils above honest users
    assert grouped_auc > 0.99
    assert grouped_auc - plain_auc > 0.5
    assert is_sybil[grouped.suspicious(20)].all()  # the 20 least trusted are the sybils
    # the mean trust still carries the leak: with groups of equal size it is, by linearity,
    # the plain walk's trust; the median protects the ranking only
    np.testing.assert_allclose(grouped.trust, plain.trust, rtol=1e-9, atol=1e-15)
    assert grouped.trust.sum() == pytest.approx(1.0, rel=1e-12)
