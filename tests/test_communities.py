"""Community detection (credence/scoring/communities.py): Louvain, modularity and per-community statistics.

Known answers are worked out by hand in the comments; :func:`modularity` is
checked against networkx and a dense brute-force formula, :func:`louvain`
against networkx's Louvain and planted partitions (NMI computed here from the
contingency table).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ParameterError
from credence.scoring.communities import CommunityStats, community_table, louvain, modularity
from tests.strategies import weighted_graphs

PROPERTY = settings(max_examples=60, deadline=None)


# --------------------------------------------------------------------------- helpers


def _graph(n: int, edges: Any, weights: Any = None) -> sp.csr_matrix:
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    w = np.ones(len(pairs)) if weights is None else np.asarray(weights, dtype=np.float64)
    i, j = pairs[:, 0], pairs[:, 1]
    return sp.csr_matrix(sp.coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n, n)))


def _clique_edges(members: Any) -> list[tuple[int, int]]:
    m = list(members)
    return [(m[a], m[b]) for a in range(len(m)) for b in range(a + 1, len(m))]


def _random_weighted(rng: np.random.Generator, n: int, p: float) -> sp.csr_matrix:
    """A G(n, p) graph with weights uniform in [0.1, 5)."""
    upper = sp.triu(sp.random(n, n, density=p, random_state=rng, format="csr"), k=1).tocoo()
    w = 0.1 + 4.9 * upper.data
    return _graph(n, np.column_stack([upper.row, upper.col]), w)


def _to_nx(adjacency: sp.csr_matrix) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(adjacency.shape[0]))
    upper = sp.triu(adjacency, k=1).tocoo()
    graph.add_weighted_edges_from(
        zip(upper.row.tolist(), upper.col.tolist(), upper.data.tolist(), strict=True)
    )
    return graph


def _from_nx(graph: nx.Graph, rng: np.random.Generator | None = None) -> sp.csr_matrix:
    """Adjacency of a networkx graph on nodes 0..n-1; random weights in [0.5, 2) if ``rng``."""
    n = graph.number_of_nodes()
    edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
    weights = None if rng is None else 0.5 + 1.5 * rng.random(len(edges))
    return _graph(n, edges, weights)


def _groups(labels: np.ndarray) -> list[set[int]]:
    return [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels[labels >= 0])]


def _dense_modularity(adjacency: Any, labels: np.ndarray, resolution: float = 1.0) -> float:
    """sum_ij (A_ij - gamma k_i k_j / W) [c_i = c_j] / W over the labelled nodes, densely."""
    dense = np.asarray(adjacency.toarray() if sp.issparse(adjacency) else adjacency, dtype=float)
    keep = labels >= 0
    dense = dense[keep][:, keep]
    lab = labels[keep]
    k = dense.sum(axis=1)
    total = dense.sum()
    same = lab[:, None] == lab[None, :]
    return float(((dense - resolution * np.outer(k, k) / total) * same).sum() / total)


def _nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (sklearn's default)."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)
    p = table / table.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mutual = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha = -float((pa * np.log(pa)).sum())
    hb = -float((pb * np.log(pb)).sum())
    if ha + hb == 0.0:
        return 1.0
    return 2.0 * mutual / (ha + hb)


def _assert_canonical(labels: np.ndarray) -> None:
    """Labels 0..C-1 (-1 aside), by decreasing size, ties by smallest member."""
    inside = labels[labels >= 0]
    if inside.size == 0:
        return
    c = int(inside.max()) + 1
    assert set(inside.tolist()) == set(range(c))
    size = np.bincount(inside, minlength=c)
    first = np.array([np.flatnonzero(labels == k)[0] for k in range(c)])
    keys = list(zip((-size).tolist(), first.tolist(), strict=True))
    assert keys == sorted(keys)


small_graphs = weighted_graphs


TWO_CLIQUES = _graph(10, [*_clique_edges(range(5)), *_clique_edges(range(5, 10)), (4, 5)])


def _ring_of_cliques(cliques: int, size: int) -> sp.csr_matrix:
    edges: list[tuple[int, int]] = []
    for q in range(cliques):
        edges += _clique_edges(range(q * size, (q + 1) * size))
        edges.append((q * size + size - 1, ((q + 1) % cliques) * size))
    return _graph(cliques * size, edges)


# --------------------------------------------------------------------------- louvain: known answers


@pytest.mark.parametrize("seed", range(5))
def test_two_cliques_joined_by_one_link_are_two_communities(seed: int) -> None:
    labels = louvain(TWO_CLIQUES, seed=seed)
    assert labels.dtype == np.int64
    assert labels.tolist() == [0] * 5 + [1] * 5
    # W = 2 * 21 = 42, each clique holds 20 of it and has volume 21
    assert modularity(TWO_CLIQUES, labels) == pytest.approx(2 * (20 / 42 - (21 / 42) ** 2), abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_ring_of_eight_k5_is_eight_communities(seed: int) -> None:
    # W = 2 (8 * 10 + 8) = 176; one clique per community: 8 (20/176 - (22/176)^2) = 0.784...,
    # pairs of cliques only 4 (42/176 - (44/176)^2) = 0.704...
    ring = _ring_of_cliques(8, 5)
    labels = louvain(ring, seed=seed)
    assert labels.tolist() == np.repeat(np.arange(8), 5).tolist()
    assert modularity(ring, labels) == pytest.approx(8 * (20 / 176 - (22 / 176) ** 2), abs=1e-15)


def test_high_resolution_splits_and_low_resolution_merges() -> None:
    ring = _ring_of_cliques(8, 5)
    # gamma -> 0 rewards putting everything together (Q = 1 - gamma for one community)
    assert np.unique(louvain(ring, resolution=0.01)).size == 1
    # very high gamma: every node alone is best (a pair adds 2/176 - gamma 2 (11/176)^2 < 0)
    assert louvain(ring, resolution=100.0).tolist() == list(range(40))


def test_isolated_nodes_are_singletons_ordered_by_index() -> None:
    # a triangle {1, 2, 4} and isolated 0, 3, 5: the triangle is the biggest community
    graph = _graph(6, [(1, 2), (2, 4), (1, 4)])
    assert louvain(graph).tolist() == [1, 0, 0, 2, 0, 3]


def test_empty_graph_and_graph_without_links() -> None:
    empty = sp.csr_matrix((0, 0))
    assert louvain(empty).dtype == np.int64
    assert louvain(empty).shape == (0,)
    assert math.isnan(modularity(empty, np.zeros(0, dtype=np.int64)))
    assert community_table(empty, []).n_communities == 0
    no_links = sp.csr_matrix((5, 5))
    assert louvain(no_links).tolist() == [0, 1, 2, 3, 4]
    assert louvain(np.zeros((5, 5)), participating=np.array([True, False, True, True, False])).tolist() == [
        0,
        -1,
        1,
        2,
        -1,
    ]
    assert math.isnan(modularity(no_links, [0, 0, 1, 1, 2]))
    table = community_table(no_links, [0, 0, 1, 1, 2])
    assert table.size.tolist() == [2, 2, 1]
    assert table.internal_links.tolist() == [0, 0, 0]
    assert table.density.tolist()[:2] == [0.0, 0.0]
    assert math.isnan(table.density[2])
    assert np.isnan(table.conductance).all()


def test_all_nodes_masked_out() -> None:
    labels = louvain(TWO_CLIQUES, participating=np.zeros(10, dtype=bool))
    assert labels.tolist() == [-1] * 10
    assert math.isnan(modularity(TWO_CLIQUES, labels))
    assert community_table(TWO_CLIQUES, labels).n_communities == 0


# --------------------------------------------------------------------------- louvain vs networkx and planted partitions


@pytest.mark.parametrize(
    ("sizes", "p_in", "p_out", "seed", "weighted"),
    [
        ([40] * 8, 0.25, 0.02, 0, False),
        ([30, 60, 90, 120], 0.15, 0.01, 1, True),
        ([25] * 20, 0.3, 0.03, 2, True),
        ([50] * 10, 0.12, 0.04, 3, False),  # weak structure
        ([20] * 30, 0.4, 0.05, 4, True),
    ],
)
@pytest.mark.parametrize("resolution", [1.0, 1.5])
def test_louvain_modularity_matches_or_beats_networkx(
    sizes: list[int], p_in: float, p_out: float, seed: int, weighted: bool, resolution: float
) -> None:
    graph = nx.random_partition_graph(sizes, p_in, p_out, seed=seed)
    adjacency = _from_nx(graph, np.random.default_rng(seed) if weighted else None)
    reference = _to_nx(adjacency)
    theirs = nx.community.louvain_communities(reference, weight="weight", resolution=resolution, seed=seed)
    q_theirs = nx.community.modularity(reference, theirs, weight="weight", resolution=resolution)
    labels = louvain(adjacency, resolution=resolution, seed=seed)
    _assert_canonical(labels)
    q_ours = modularity(adjacency, labels, resolution=resolution)
    assert q_ours >= q_theirs - 0.01


@pytest.mark.parametrize("seed", range(3))
def test_planted_partition_is_recovered(seed: int) -> None:
    # 12 groups of 50, expected internal degree 14.7, external 2.2
    sizes = [50] * 12
    graph = nx.random_partition_graph(sizes, 0.3, 0.004, seed=seed)
    planted = np.repeat(np.arange(12), 50)
    labels = louvain(_from_nx(graph, np.random.default_rng(seed)), seed=seed)
    assert _nmi(labels, planted) >= 0.9


def test_nmi_helper_known_values() -> None:
    a = np.array([0, 0, 1, 1])
    assert _nmi(a, np.array([5, 5, 7, 7])) == pytest.approx(1.0)
    assert _nmi(a, np.array([0, 1, 0, 1])) == pytest.approx(0.0, abs=1e-15)


# --------------------------------------------------------------------------- louvain: options


@pytest.mark.parametrize("seed", range(3))
def test_participating_mask_equals_induced_subgraph(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = nx.random_partition_graph([30] * 6, 0.3, 0.02, seed=seed)
    adjacency = _from_nx(graph, rng)
    mask = rng.random(180) < 0.7
    labels = louvain(adjacency, participating=mask, seed=seed)
    assert (labels[~mask] == -1).all()
    assert (labels[mask] >= 0).all()
    index = np.flatnonzero(mask)
    induced = adjacency[index][:, index]
    assert labels[mask].tolist() == louvain(induced, seed=seed).tolist()


def test_masked_nodes_links_are_ignored() -> None:
    # a heavy link 2 - 7 would merge the cliques; with 2 and 7 masked out it is ignored
    graph = sp.csr_matrix(TWO_CLIQUES + _graph(10, [(2, 7)], [50.0]))
    mask = np.ones(10, dtype=bool)
    mask[[2, 7]] = False
    labels = louvain(graph, participating=mask)
    assert labels.tolist() == [0, 0, -1, 0, 0, 1, 1, -1, 1, 1]


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_deterministic_for_a_seed(seed: int) -> None:
    adjacency = _random_weighted(np.random.default_rng(seed), 300, 0.03)
    first = louvain(adjacency, seed=seed)
    assert louvain(adjacency, seed=seed).tolist() == first.tolist()
    assert louvain(adjacency.toarray(), seed=seed).tolist() == first.tolist()
    _assert_canonical(first)


def test_scaling_weights_by_a_power_of_two_changes_nothing() -> None:
    adjacency = _random_weighted(np.random.default_rng(5), 200, 0.05)
    assert louvain(adjacency * 8.0).tolist() == louvain(adjacency).tolist()


def test_one_level_is_no_better_than_many() -> None:
    adjacency = _from_nx(nx.random_partition_graph([20] * 20, 0.3, 0.02, seed=9))
    one = modularity(adjacency, louvain(adjacency, max_levels=1))
    many = modularity(adjacency, louvain(adjacency))
    assert one <= many + 1e-12
    assert one > 0.0


def test_loose_tol_still_gives_a_valid_partition() -> None:
    adjacency = _random_weighted(np.random.default_rng(2), 200, 0.05)
    labels = louvain(adjacency, tol=0.5)
    _assert_canonical(labels)
    singletons = np.arange(200)
    assert modularity(adjacency, labels) > modularity(adjacency, singletons)
    assert modularity(adjacency, louvain(adjacency, tol=0.0)) > modularity(adjacency, singletons)


def test_self_loops_are_tolerated_and_aggregation_preserves_modularity() -> None:
    # the coarse graph S^T A S of a partition has the same modularity for the same grouping
    rng = np.random.default_rng(3)
    adjacency = _from_nx(nx.random_partition_graph([15] * 6, 0.4, 0.05, seed=3), rng)
    labels = louvain(adjacency)
    c = int(labels.max()) + 1
    indicator = sp.csr_matrix((np.ones(90), (np.arange(90), labels)), shape=(90, c))
    coarse = sp.csr_matrix(indicator.T @ adjacency @ indicator)
    assert coarse.diagonal().all()
    assert modularity(coarse, np.arange(c)) == pytest.approx(modularity(adjacency, labels), abs=1e-14)
    # louvain on the coarse graph keeps every community (they are already optimal locally)
    assert louvain(coarse).tolist() == list(range(c))
    # heavy self loops hold nodes apart: each node alone
    loops = sp.csr_matrix(TWO_CLIQUES + sp.diags(np.full(10, 1000.0)))
    assert louvain(loops).tolist() == list(range(10))


def test_self_loop_convention_matches_networkx() -> None:
    # a self loop of weight w is the diagonal entry 2 w (networkx counts it twice in the degree)
    graph = _to_nx(TWO_CLIQUES)
    graph.add_edge(0, 0, weight=3.0)
    graph.add_edge(7, 7, weight=0.5)
    adjacency = sp.csr_matrix(TWO_CLIQUES + sp.diags(np.r_[6.0, np.zeros(6), 1.0, 0.0, 0.0]))
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    expected = nx.community.modularity(graph, _groups(labels), weight="weight", resolution=1.3)
    assert modularity(adjacency, labels, resolution=1.3) == pytest.approx(expected, abs=1e-12)
    table = community_table(adjacency, labels)
    # {0, 1, 2}: 3 links + 6 / 2; {3, 4, 5, 6}: 3 - 4, 4 - 5, 5 - 6; {7, 8, 9}: 3 links + 1 / 2
    assert table.internal_weight.tolist() == [6.0, 3.0, 3.5]


# --------------------------------------------------------------------------- modularity


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("resolution", [0.3, 1.0, 2.5])
def test_modularity_equals_networkx_on_random_weighted_graphs(seed: int, resolution: float) -> None:
    rng = np.random.default_rng(seed)
    n = 120
    adjacency = _random_weighted(rng, n, 0.05)
    labels = rng.integers(0, 7, n)
    graph = _to_nx(adjacency)
    expected = nx.community.modularity(graph, _groups(labels), weight="weight", resolution=resolution)
    assert modularity(adjacency, labels, resolution=resolution) == pytest.approx(expected, abs=1e-12)
    found = louvain(adjacency, resolution=resolution, seed=seed)
    expected = nx.community.modularity(graph, _groups(found), weight="weight", resolution=resolution)
    assert modularity(adjacency, found, resolution=resolution) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_modularity_leaves_out_unlabelled_nodes_and_their_links(seed: int) -> None:
    rng = np.random.default_rng(seed)
    adjacency = _random_weighted(rng, 80, 0.08)
    labels = rng.integers(-1, 5, 80)
    keep = np.flatnonzero(labels >= 0)
    sub = _to_nx(adjacency[keep][:, keep])
    groups = _groups(labels[keep])
    expected = nx.community.modularity(sub, groups, weight="weight", resolution=0.8)
    assert modularity(adjacency, labels, resolution=0.8) == pytest.approx(expected, abs=1e-12)


def test_modularity_ignores_label_values() -> None:
    assert modularity(TWO_CLIQUES, [9] * 5 + [3] * 5) == modularity(TWO_CLIQUES, [0] * 5 + [1] * 5)
    assert modularity(TWO_CLIQUES, np.zeros(10, dtype=np.uint8)) == pytest.approx(0.0, abs=1e-15)


@PROPERTY
@given(small_graphs(min_nodes=1), st.floats(0.1, 3.0), st.data())
def test_modularity_equals_dense_formula(adjacency: sp.csr_matrix, resolution: float, data: Any) -> None:
    n = adjacency.shape[0]
    labels = np.array(data.draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n)), dtype=np.int64)
    q = modularity(adjacency, labels, resolution=resolution)
    keep = labels >= 0
    if adjacency[keep][:, keep].sum() == 0:
        assert math.isnan(q)
    else:
        assert q == pytest.approx(_dense_modularity(adjacency, labels, resolution), abs=1e-12)
        assert -resolution - 1e-12 <= q < 1.0


@PROPERTY
@given(small_graphs(), st.floats(0.2, 3.0), st.integers(0, 2**32))
def test_louvain_labels_are_canonical_and_beat_singletons(
    adjacency: sp.csr_matrix, resolution: float, seed: int
) -> None:
    labels = louvain(adjacency, resolution=resolution, seed=seed)
    n = adjacency.shape[0]
    assert labels.shape == (n,)
    _assert_canonical(labels)
    if adjacency.nnz:
        q = modularity(adjacency, labels, resolution=resolution)
        assert q >= modularity(adjacency, np.arange(n), resolution=resolution) - 1e-12
    # a node without links is alone
    for u in np.flatnonzero(np.diff(adjacency.indptr) == 0):
        assert np.count_nonzero(labels == labels[u]) == 1


# --------------------------------------------------------------------------- community_table


def test_community_table_two_cliques_by_hand() -> None:
    table = community_table(TWO_CLIQUES, louvain(TWO_CLIQUES))
    assert isinstance(table, CommunityStats)
    assert table.n_communities == 2
    assert table.label.tolist() == [0, 1]
    assert table.size.tolist() == [5, 5]
    assert table.internal_links.tolist() == [10, 10]
    assert table.internal_weight.tolist() == [10.0, 10.0]
    assert table.cut_weight.tolist() == [1.0, 1.0]
    assert table.volume.tolist() == [21.0, 21.0]
    assert table.total_volume == 42.0
    assert table.conductance.tolist() == [1 / 21, 1 / 21]
    assert table.density.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="read-only"):
        table.size[0] = 3


def test_community_table_uneven_split_by_hand() -> None:
    # {0, 1, 2, 3, 4, 5} and {6, 7, 8, 9}, node 2 masked out (its 4 links, one to 5, vanish)
    labels = np.array([4, 4, -1, 4, 4, 4, 8, 8, 8, 8])
    table = community_table(TWO_CLIQUES, labels)
    assert table.label.tolist() == [4, 8]
    assert table.size.tolist() == [5, 4]
    # {0, 1, 3, 4}: 6 links, plus 4 - 5; {6..9}: 6 links; cut: 5 - 6..9 (4 links)
    assert table.internal_links.tolist() == [7, 6]
    assert table.cut_weight.tolist() == [4.0, 4.0]
    assert table.volume.tolist() == [18.0, 16.0]
    assert table.conductance.tolist() == [4 / 16, 4 / 16]
    assert table.density.tolist() == [7 / 10, 1.0]


@pytest.mark.parametrize("seed", range(5))
def test_conductance_of_whole_graph_is_nan_and_of_a_component_zero(seed: int) -> None:
    # weights like 0.1 make total - volume round to a tiny nonzero number; it must not count
    rng = np.random.default_rng(seed)
    graph = _random_weighted(rng, 60, 0.2)
    graph.data = np.round(graph.data, 1) + 0.1
    whole = community_table(graph, np.zeros(60, dtype=np.int64))
    assert np.isnan(whole.conductance).all()
    two = sp.csr_matrix(sp.block_diag([graph, graph]))
    table = community_table(two, np.repeat([0, 1], 60))
    assert table.conductance.tolist() == [0.0, 0.0]
    assert table.cut_weight.tolist() == [0.0, 0.0]


@PROPERTY
@given(small_graphs(min_nodes=1), st.data())
def test_community_table_equals_brute_force(adjacency: sp.csr_matrix, data: Any) -> None:
    n = adjacency.shape[0]
    labels = np.array(data.draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n)), dtype=np.int64)
    table = community_table(adjacency, labels)
    dense = adjacency.toarray()
    keep = labels >= 0
    total = dense[keep][:, keep].sum()
    assert table.total_volume == pytest.approx(total, abs=1e-12)
    assert table.label.tolist() == sorted(set(labels[keep].tolist()))
    for i, c in enumerate(table.label):
        inside = labels == c
        outside = keep & ~inside
        block = dense[inside][:, inside]
        cut = dense[inside][:, outside].sum()
        volume = block.sum() + cut
        size = int(inside.sum())
        assert table.size[i] == size
        assert table.internal_links[i] == np.count_nonzero(block) // 2
        assert table.internal_weight[i] == pytest.approx(block.sum() / 2, abs=1e-12)
        assert table.cut_weight[i] == pytest.approx(cut, abs=1e-12)
        assert table.volume[i] == pytest.approx(volume, abs=1e-12)
        smaller = min(volume, total - volume)
        if smaller > 1e-9:
            assert table.conductance[i] == pytest.approx(cut / smaller, rel=1e-9)
        elif smaller == 0.0:
            assert math.isnan(table.conductance[i])
        if size >= 2:
            assert table.density[i] == pytest.approx(np.count_nonzero(block) / (size * (size - 1)))
        else:
            assert math.isnan(table.density[i])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"resolution": 0.0}, "resolution"),
        ({"resolution": -1.0}, "resolution"),
        ({"resolution": float("nan")}, "resolution"),
        ({"resolution": float("inf")}, "resolution"),
        ({"resolution": "1"}, "resolution"),
        ({"resolution": True}, "resolution"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": None}, "seed"),
        ({"max_levels": 0}, "max_levels"),
        ({"max_levels": 2.0}, "max_levels"),
        ({"tol": -1e-9}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"tol": float("inf")}, "tol"),
        ({"participating": np.ones(10, dtype=np.int64)}, "participating"),
        ({"participating": np.ones(9, dtype=bool)}, "participating"),
    ],
)
def test_louvain_rejects_bad_parameters(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError) as info:
        louvain(TWO_CLIQUES, **kwargs)
    assert info.value.name == name


def test_louvain_accepts_numpy_scalars() -> None:
    labels = louvain(TWO_CLIQUES, resolution=np.float32(1.0), seed=np.int64(3), max_levels=np.int32(2))
    assert labels.tolist() == [0] * 5 + [1] * 5


@pytest.mark.parametrize(
    ("adjacency", "problem"),
    [
        (np.array([[0.0, 1.0], [0.0, 0.0]]), "must be symmetric"),
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), "finite and >= 0"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), "finite and >= 0"),
        (np.array([[-1.0, 0.0], [0.0, 0.0]]), "finite and >= 0"),
        (sp.csr_matrix(np.array([[np.inf, 0.0], [0.0, 0.0]])), "finite and >= 0"),
        (np.zeros((2, 3)), "square"),
        (np.zeros(3), "square"),
        ([[0, 1], [1, 0]], "scipy sparse matrix or a 2-D ndarray"),
    ],
)
def test_bad_adjacency_is_refused_everywhere(adjacency: Any, problem: str) -> None:
    for call in (
        lambda: louvain(adjacency),
        lambda: modularity(adjacency, [0, 0]),
        lambda: community_table(adjacency, [0, 0]),
    ):
        with pytest.raises(ParameterError, match=problem) as info:
            call()
        assert info.value.name == "adjacency"


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ([0, 1, 2], "length 10"),
        (np.zeros((10, 1), dtype=np.int64), "length 10"),
        (np.zeros(10), "integer array"),
        (np.zeros(10, dtype=bool), "integer array"),
        (np.full(10, -2), ">= -1"),
        (["a"] * 10, "integer array"),
    ],
)
def test_bad_labels_are_refused(labels: Any, problem: str) -> None:
    with pytest.raises(ParameterError, match=problem) as info:
        modularity(TWO_CLIQUES, labels)
    assert info.value.name == "labels"
    with pytest.raises(ParameterError, match=problem):
        community_table(TWO_CLIQUES, labels)


@pytest.mark.parametrize("resolution", [0, -2.0, float("nan"), "x"])
def test_modularity_rejects_bad_resolution(resolution: Any) -> None:
    with pytest.raises(ParameterError) as info:
        modularity(TWO_CLIQUES, np.zeros(10, dtype=np.int64), resolution=resolution)
    assert info.value.name == "resolution"


def test_inputs_are_not_modified() -> None:
    adjacency = sp.csr_matrix(TWO_CLIQUES + sp.diags(np.arange(10.0)))
    before = adjacency.copy()
    mask = np.ones(10, dtype=bool)
    labels = louvain(adjacency, participating=mask)
    modularity(adjacency, labels)
    community_table(adjacency, labels)
    assert (adjacency != before).nnz == 0
    assert mask.all()
