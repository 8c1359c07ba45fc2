"""Ring detection (credence/scoring/fraud.py): Fraudar-style peeling and the evidence on blocks.

Known answers are worked out by hand in the comments; properties are checked on
seeded random graphs and, for tiny graphs, against every subset.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.scoring.fraud import (
    ClusterEvidence,
    DenseBlock,
    DistrustEvidence,
    block_density,
    dense_subgraphs,
    distrust_received,
    peeling_weights,
    rank_clusters,
)
from credence.seeds.synthetic import generate_population


def _graph(
    n: int, edges: list[tuple[int, int]] | np.ndarray, weights: np.ndarray | None = None
) -> sp.csr_matrix:
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    w = np.ones(len(pairs)) if weights is None else np.asarray(weights, dtype=np.float64)
    i, j = pairs[:, 0], pairs[:, 1]
    return sp.csr_matrix(sp.coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n, n)))


def _random_graph(n: int, m: int, seed: int) -> sp.csr_matrix:
    """A simple random graph: ``m`` distinct random pairs (unit weights)."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, 4 * m)
    j = rng.integers(0, n, 4 * m)
    keep = i < j
    keys = np.unique(i[keep] * n + j[keep])
    keys = rng.permutation(keys)[:m]
    return _graph(n, np.column_stack([keys // n, keys % n]))


def _with_clique(base: sp.csr_matrix, members: np.ndarray, weight: float = 1.0) -> sp.csr_matrix:
    i, j = np.triu_indices(members.size, 1)
    clique = _graph(base.shape[0], np.column_stack([members[i], members[j]]), np.full(i.size, weight))
    out = sp.csr_matrix(base.maximum(clique))
    out.setdiag(0)
    out.eliminate_zeros()
    return out


# K4 on {0, 1, 2, 3} and a tail 3 - 4 - 5: link counts 3, 3, 3, 4, 2, 1
K4_TAIL = _graph(6, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (3, 4), (4, 5)])


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("weighting", ["log", "none"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_clique_in_sparse_random_graph_is_found_exactly(weighting: str, seed: int) -> None:
    # 400 nodes, average degree 3; a 12-clique has density 5.5 links per node, the
    # random part about 1.5 (its 2-core a little more), so peeling ends on the clique
    rng = np.random.default_rng(100 + seed)
    clique = np.sort(rng.choice(400, 12, replace=False))
    graph = _with_clique(_random_graph(400, 600, seed), clique)
    blocks = dense_subgraphs(graph, k=1, weighting=weighting)
    assert len(blocks) == 1
    assert blocks[0].members.tolist() == clique.tolist()
    assert blocks[0].links == 66
    assert blocks[0].size == 12


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sqrt_weighting_finds_heavy_closed_rings_exactly(seed: int) -> None:
    # three 8-cliques of weight-8 links, each member linked once to the rest, in a
    # random graph of unit links: the rings are the three densest blocks
    rng = np.random.default_rng(seed)
    n = 600
    graph = _random_graph(n, 3000, seed)
    nodes = rng.permutation(n)
    rings = [np.sort(nodes[8 * r : 8 * r + 8]) for r in range(3)]
    ring_set = set(np.concatenate(rings).tolist())
    # strip the rings' random links, then give each member one outsider
    mask = np.ones(n)
    mask[list(ring_set)] = 0.0
    graph = sp.csr_matrix(sp.diags(mask) @ graph @ sp.diags(mask))
    graph.eliminate_zeros()
    outsiders = nodes[24 : 24 + 24]
    graph = sp.csr_matrix(graph + _graph(n, np.column_stack([np.concatenate(rings), outsiders])))
    for ring in rings:
        graph = _with_clique(graph, ring, weight=8.0)
    blocks = dense_subgraphs(graph, k=3)
    assert sorted(b.members.tolist() for b in blocks) == sorted(r.tolist() for r in rings)
    evidence = rank_clusters(graph, blocks)
    assert all(e.attack_links == 8 and e.internal_links == 28 for e in evidence)


def test_k4_with_tail_hand_computed_densities() -> None:
    # stored weights: K4 has 6 links over 4 nodes
    [block] = dense_subgraphs(K4_TAIL, weighting="none")
    assert block.members.tolist() == [0, 1, 2, 3]
    assert block.density == pytest.approx(1.5)
    assert (block.links, block.weight, block.round) == (6, 6.0, 0)
    # the whole graph: 8 links over 6 nodes
    assert block.graph_density == pytest.approx(8 / 6)
    # log: links among {0, 1, 2} weigh 1/log(8), links to node 3 weigh (1/log 8 + 1/log 9)/2
    [block] = dense_subgraphs(K4_TAIL, weighting="log")
    expected = (3 / math.log(8) + 3 * (1 / math.log(8) + 1 / math.log(9)) / 2) / 4
    assert block.members.tolist() == [0, 1, 2, 3]
    assert block.density == pytest.approx(expected)
    # sqrt: 1/sqrt(4 * 4) among {0, 1, 2}, 1/sqrt(4 * 5) to node 3
    [block] = dense_subgraphs(K4_TAIL, weighting="sqrt")
    assert block.density == pytest.approx((3 / 4 + 3 / math.sqrt(20)) / 4)
    assert block_density(K4_TAIL, [0, 1, 2, 3], weighting="sqrt") == pytest.approx(block.density)


def test_min_size_two_reports_the_tail_after_the_clique() -> None:
    blocks = dense_subgraphs(K4_TAIL, weighting="none", min_size=2)
    assert [b.members.tolist() for b in blocks] == [[0, 1, 2, 3], [4, 5]]
    assert [b.density for b in blocks] == [1.5, 0.5]


def test_weights_count_unless_weighted_is_false() -> None:
    # a light K4 on {0, 1, 2, 3} and a heavy triangle on {4, 5, 6}, joined by the link 3 - 4
    edges = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (4, 5), (5, 6), (4, 6), (3, 4)]
    weights = np.array([1, 1, 1, 1, 1, 1, 5, 5, 5, 1], dtype=float)
    graph = _graph(7, edges, weights)
    # weighted: triangle density 15/3 = 5 beats K4's 6/4
    assert dense_subgraphs(graph, k=1, weighting="none")[0].members.tolist() == [4, 5, 6]
    # unweighted: K4's 6/4 beats the triangle's 3/3
    assert dense_subgraphs(graph, k=1, weighting="none", weighted=False)[0].members.tolist() == [0, 1, 2, 3]


def test_peeling_weights_formulae() -> None:
    graph = _graph(4, [(0, 1), (0, 2), (0, 3)], np.array([2.0, 1.0, 1.0]))
    log = peeling_weights(graph, weighting="log")
    assert log[0, 1] == pytest.approx(2.0 * (1 / math.log(8) + 1 / math.log(6)) / 2)
    sqrt = peeling_weights(graph, weighting="sqrt")
    assert sqrt[0, 1] == pytest.approx(2.0 / math.sqrt(4 * 2))
    unit = peeling_weights(graph, weighting="none", weighted=False)
    assert unit.toarray().sum() == 6.0
    assert (log != log.T).nnz == 0


def test_split_reports_disjoint_equal_rings_separately() -> None:
    # two disjoint triangles of equal density: one peeled set, two components
    graph = _graph(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
    split = dense_subgraphs(graph, k=5, weighting="none")
    assert sorted(b.members.tolist() for b in split) == [[0, 1, 2], [3, 4, 5]]
    assert {b.round for b in split} == {0}
    joined = dense_subgraphs(graph, k=5, weighting="none", split=False)
    assert [b.members.tolist() for b in joined] == [[0, 1, 2, 3, 4, 5]]


def test_remove_links_lets_blocks_share_nodes() -> None:
    # two 5-cliques sharing node 4, the first of weight-2 links: the first alone
    # (20 / 5 = 4) beats the union (30 / 9); then the second (10 / 5 = 2) keeps node
    # 4 when only links are removed, and loses it when nodes are (6 / 4)
    first, second = np.arange(5), np.arange(4, 9)
    graph = _with_clique(_with_clique(sp.csr_matrix((9, 9)), first, weight=2.0), second)
    by_links = dense_subgraphs(graph, k=2, weighting="none", remove="links")
    assert [b.members.tolist() for b in by_links] == [first.tolist(), second.tolist()]
    assert [b.density for b in by_links] == [4.0, 2.0]
    by_nodes = dense_subgraphs(graph, k=2, weighting="none", remove="nodes")
    assert [b.members.tolist() for b in by_nodes] == [first.tolist(), [5, 6, 7, 8]]
    assert [b.density for b in by_nodes] == [4.0, 1.5]


def test_prior_adds_node_suspiciousness() -> None:
    # a path 0 - 1 - 2 - 3 - 4: all nested sets of 3 consecutive nodes tie without a
    # prior; a prior of 2 on nodes 2, 3, 4 makes {2, 3, 4} the block: (2 + 6) / 3
    graph = _graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)])
    [block] = dense_subgraphs(graph, k=1, weighting="none", prior=[0, 0, 2, 2, 2])
    assert block.members.tolist() == [2, 3, 4]
    assert block.density == pytest.approx(8 / 3)


def test_non_participants_are_ignored() -> None:
    graph = _with_clique(_graph(8, [(5, 6), (6, 7)]), np.arange(5))
    mask = np.ones(8, dtype=bool)
    mask[0] = False
    [block] = dense_subgraphs(graph, k=1, weighting="none", participating=mask)
    assert block.members.tolist() == [1, 2, 3, 4]
    assert block.density == pytest.approx(1.5)


def test_graph_without_links_has_no_blocks() -> None:
    assert dense_subgraphs(sp.csr_matrix((5, 5))) == []
    assert dense_subgraphs(_graph(4, [(0, 1), (2, 3)])) == []  # only pairs, min_size 3


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("weighting", ["log", "sqrt", "none"])
@pytest.mark.parametrize("seed", range(4))
def test_blocks_are_disjoint_and_denser_than_the_graph(weighting: str, seed: int) -> None:
    graph = _random_graph(300, 900, seed)
    rng = np.random.default_rng(seed)
    graph = _with_clique(graph, rng.choice(300, 7, replace=False), weight=3.0)
    blocks = dense_subgraphs(graph, k=6, weighting=weighting)
    assert blocks
    seen: set[int] = set()
    for block in blocks:
        members = set(block.members.tolist())
        assert not members & seen
        seen |= members
        assert block.size >= 3
        assert block.density == pytest.approx(block_density(graph, block.members, weighting=weighting))
        assert np.all(np.diff(block.members) > 0)
        assert not block.members.flags.writeable
    assert blocks[0].density >= blocks[0].graph_density * (1 - 1e-12)
    assert blocks[0].graph_density == pytest.approx(block_density(graph, np.arange(300), weighting=weighting))


@pytest.mark.parametrize("seed", range(12))
def test_peeling_is_a_two_approximation_on_tiny_graphs(seed: int) -> None:
    # every subset of 8 nodes: the best density D*; greedy peeling finds >= D*/2
    rng = np.random.default_rng(seed)
    n = 8
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.size) < 0.4
    graph = _graph(n, np.column_stack([i[keep], j[keep]]), rng.uniform(0.5, 3.0, int(keep.sum())))
    dense = graph.toarray()
    best = 0.0
    for size in range(1, n + 1):
        for subset in itertools.combinations(range(n), size):
            idx = list(subset)
            best = max(best, dense[np.ix_(idx, idx)].sum() / 2 / size)
    blocks = dense_subgraphs(graph, k=1, weighting="none", min_size=1, split=False)
    if best == 0.0:
        assert blocks == []
    else:
        assert best / 2 <= blocks[0].density <= best + 1e-12


# --------------------------------------------------------------------------- evidence


def test_rank_clusters_hand_computed_evidence() -> None:
    # triangle {0, 1, 2} (weights 2), link 2 - 3 (weight 1), path 3 - 4 - 5 (weights 1)
    graph = _graph(6, [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5)], np.array([2, 2, 2, 1, 1, 1.0]))
    history = np.array([0, 10, 10, 0, 0, 10])
    base = np.array([0.2, 0.4, 0.6, 0.5, 0.5, 0.5])
    first, second = rank_clusters(graph, [np.array([3, 4, 5]), [2, 1, 0]], base=base, history_length=history)
    assert isinstance(first, ClusterEvidence)
    assert first.members.tolist() == [0, 1, 2] and first.block == 1
    assert (first.internal_links, first.internal_weight) == (3, 6.0)
    assert (first.attack_links, first.attack_weight, first.outside_neighbours) == (1, 1.0, 1)
    assert first.attack_pairs.tolist() == [[2, 3]]
    assert first.inside_share == pytest.approx(12 / 13)
    # graph: weight 9 over 6 nodes = 1.5 per node; block: 6 / 3 = 2
    assert first.relative_density == pytest.approx(2 / 1.5)
    assert first.thin_fraction == pytest.approx(1 / 3)
    assert first.mean_base == pytest.approx(0.4)
    assert first.suspicion == pytest.approx((2 / 1.5) * (12 / 13) * (4 / 3) * 1.6)
    # {3, 4, 5}: 2 links inside, 1 out; density 2/3
    assert (second.internal_links, second.attack_links, second.block) == (2, 1, 0)
    assert second.inside_share == pytest.approx(4 / 5)
    assert second.suspicion == pytest.approx((2 / 3 / 1.5) * 0.8 * (5 / 3) * 1.5)
    assert first.suspicion > second.suspicion


def test_rank_clusters_uses_block_density_relative_to_graph() -> None:
    blocks = dense_subgraphs(K4_TAIL, weighting="none")
    [evidence] = rank_clusters(K4_TAIL, blocks)
    assert evidence.density == blocks[0].density
    assert evidence.relative_density == pytest.approx(1.5 / (8 / 6))
    assert evidence.thin_fraction is None and evidence.mean_base is None
    assert evidence.suspicion == pytest.approx(evidence.relative_density * 12 / 13)


def test_planted_population_rings_and_sybil_attack_links() -> None:
    pop = generate_population(
        n_users=3000,
        sybil_regions=1,
        sybils_per_region=100,
        attack_links_per_region=7,
        rings=4,
        ring_size=6,
        seed=3,
    )
    index = {user: k for k, user in enumerate(pop.users["id"].astype(str))}
    src = pop.links["source"].astype(str).map(index).to_numpy()
    dst = pop.links["target"].astype(str).map(index).to_numpy()
    graph = _graph(len(index), np.column_stack([src, dst]), pop.links["weight"].to_numpy(dtype=float))
    ring = pop.labels["ring"].to_numpy()
    sybils = np.flatnonzero(pop.labels["is_sybil"].to_numpy())

    ranked = rank_clusters(graph, dense_subgraphs(graph, k=8))
    found = sorted(e.members.tolist() for e in ranked[:4])
    assert found == sorted(np.flatnonzero(ring == r).tolist() for r in range(4))
    # the planted region as a plain node set: exactly its attack links leave it
    [region] = rank_clusters(graph, [sybils])
    assert region.attack_links == 7
    assert region.size == 100
    assert np.isin(region.attack_pairs[:, 0], sybils).all()
    assert not np.isin(region.attack_pairs[:, 1], sybils).any()


def test_dense_block_is_frozen() -> None:
    block = DenseBlock(members=np.array([1, 2]), density=1.0, links=1, weight=1.0, round=0, graph_density=0.5)
    assert block.size == 2
    with pytest.raises(ValueError, match="read-only"):
        block.members[0] = 5


# --------------------------------------------------------------------------- parameter errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "parameter 'k' = 0: must be an integer >= 1"),
        ({"k": 2.5}, "parameter 'k' = 2.5: must be an integer >= 1"),
        ({"k": True}, "parameter 'k' = True: must be an integer >= 1"),
        ({"weighting": "cubic"}, "parameter 'weighting' = 'cubic': must be one of 'log', 'sqrt', 'none'"),
        ({"min_size": 0}, "parameter 'min_size' = 0: must be an integer >= 1"),
        ({"remove": "edges"}, "parameter 'remove' = 'edges': must be one of 'nodes', 'links'"),
        ({"weighted": 1}, "parameter 'weighted' = 1: must be True or False"),
        ({"split": "yes"}, "parameter 'split' = 'yes': must be True or False"),
        ({"prior": [0, 0, -1, 0, 0, 0]}, "parameter 'prior' = 'element 2 = -1.0': must be >= 0"),
        ({"prior": [0, 0]}, "parameter 'prior'"),
        (
            {"participating": [1, 1, 1, 1, 1, 1]},
            "parameter 'participating' = 'dtype int64': must be a boolean mask",
        ),
    ],
)
def test_dense_subgraphs_parameter_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match.replace("(", r"\(")):
        dense_subgraphs(K4_TAIL, **kwargs)


def test_dense_subgraphs_rejects_bad_adjacency() -> None:
    with pytest.raises(ParameterError, match="must be symmetric"):
        dense_subgraphs(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ParameterError, match="parameter 'adjacency'"):
        dense_subgraphs([[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((5,), {}, "parameter 'blocks' = 'int': must be a sequence"),
        (([[0, 9]],), {}, r"parameter 'blocks\[0\]' = 9: must be node indices in \[0, 6\)"),
        (([[]],), {}, r"parameter 'blocks\[0\]'.*must be a non-empty 1-D array"),
        (([[0.5, 1.0]],), {}, r"parameter 'blocks\[0\]'.*node indices"),
        (([[0, 1]],), {"base": [2, 0, 0, 0, 0, 0]}, "parameter 'base'.*must be in \\[0, 1\\]"),
        (([[0, 1]],), {"history_length": [1, 2]}, "parameter 'history_length'"),
        (([[0, 1]],), {"thin_history": float("nan")}, "parameter 'thin_history' = nan: must be finite"),
        (([[0, 1]],), {"thin_history": "3"}, "parameter 'thin_history' = '3': must be a real number"),
    ],
)
def test_rank_clusters_parameter_errors(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        rank_clusters(K4_TAIL, *args, **kwargs)


def test_block_density_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="parameter 'members'"):
        block_density(K4_TAIL, [])
    with pytest.raises(ParameterError, match="parameter 'weighting' = 'cube'"):
        block_density(K4_TAIL, [0, 1], weighting="cube")


# --------------------------------------------------------------------------- distrust evidence


def test_distrust_received_matches_a_dense_count() -> None:
    rng = np.random.default_rng(7)
    n = 60
    dense = np.where(rng.random((n, n)) < 0.05, rng.integers(1, 11, (n, n)).astype(float), 0.0)
    np.fill_diagonal(dense, 0.0)
    for size in (1, 5, 30, n):
        members = rng.choice(n, size, replace=False)
        inside = np.zeros(n, dtype=bool)
        inside[members] = True
        block = dense[:, inside]
        from_outside = block[~inside]
        expected = DistrustEvidence(
            ratings=int((from_outside > 0).sum()),
            raters=int((from_outside > 0).any(axis=1).sum()),
            weight=float(from_outside.sum()),
            inside=int((block[inside] > 0).sum()),
        )
        got = distrust_received(sp.csr_matrix(dense), members)
        assert (got.ratings, got.raters, got.inside) == (expected.ratings, expected.raters, expected.inside)
        assert got.weight == pytest.approx(expected.weight)
        assert distrust_received(dense, np.r_[members, members]) == got  # repeats ignored, dense accepted


def test_distrust_received_on_a_store_export() -> None:
    import pandas as pd

    from credence.graph.sqlite import SQLiteStore

    with SQLiteStore(":memory:") as store:
        store.upsert_users(pd.DataFrame({"id": ["a", "b", "c", "d"], "created": [0] * 4}))
        store.upsert_distrust(
            pd.DataFrame(
                {
                    "rater": ["c", "d", "d", "a"],
                    "rated": ["a", "a", "b", "b"],
                    "weight": [2, 3, 4, 1],
                    "created": 0,
                }
            )
        )
        snap = store.export_graph()
    evidence = distrust_received(snap.distrust, snap.index_of(["a", "b"]))
    assert evidence == DistrustEvidence(ratings=3, raters=2, weight=9.0, inside=1)


@pytest.mark.parametrize(
    ("matrix", "members"),
    [
        (np.zeros((2, 3)), [0]),
        (np.array([[0.0, -1.0], [0.0, 0.0]]), [0]),
        (np.array([[0.0, np.inf], [0.0, 0.0]]), [0]),
        (np.zeros((2, 2)), [2]),
        (np.zeros((2, 2)), []),
    ],
)
def test_distrust_received_refuses_bad_input(matrix: np.ndarray, members: list[int]) -> None:
    with pytest.raises(ParameterError):
        distrust_received(matrix, np.array(members, dtype=np.int64))
