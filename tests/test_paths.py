"""Influence paths (credence/scoring/paths.py) against brute-force enumeration, and `credence paths`."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from credence.cli.commands_paths import paths as paths_command
from credence.cli.main import CredenceGroup
from credence.core.errors import ParameterError
from credence.graph.sqlite import SQLiteStore
from credence.scoring import DiffusionState, influence
from credence.scoring.paths import InfluencePath, influence_paths, walk_mass
from credence.seeds.synthetic import generate_population

# --------------------------------------------------------------------------- independent oracles


def random_graph(n: int, p: float, seed: int) -> np.ndarray:
    """Dense symmetric adjacency with random weights in [0.5, 3) (ties have probability 0)."""
    rng = np.random.default_rng(seed)
    upper = np.triu((rng.random((n, n)) < p) * rng.uniform(0.5, 3.0, (n, n)), 1)
    return upper + upper.T


def dense_transition(adjacency: np.ndarray, participating: np.ndarray | None = None) -> np.ndarray:
    mask = np.ones(adjacency.shape[0], dtype=bool) if participating is None else participating
    effective = adjacency * np.outer(mask, mask)
    degree = effective.sum(axis=1)
    return np.divide(effective, degree[:, None], out=np.zeros_like(effective), where=degree[:, None] > 0)


def dense_walk_mass(transition: np.ndarray, damping: float) -> np.ndarray:
    """``W = sum_{L>=1} (a P)^L = (I - a P)^-1 - I``, dense."""
    n = transition.shape[0]
    return np.linalg.inv(np.eye(n) - damping * transition) - np.eye(n)


def simple_paths(
    transition: np.ndarray, damping: float, source: int, target: int, max_hops: int
) -> list[tuple[float, tuple[int, ...]]]:
    """Every simple path (or simple cycle for source == target) by DFS, with its probability, best first."""
    out: list[tuple[float, tuple[int, ...]]] = []

    def extend(path: list[int], probability: float) -> None:
        x = path[-1]
        if len(path) > 1 and x == target:
            out.append((probability, tuple(path)))
            return
        if len(path) - 1 == max_hops:
            return
        for z in np.flatnonzero(transition[x]).tolist():
            if z in path and not (z == target == source):
                continue
            extend([*path, z], probability * damping * transition[x, z])

    extend([source], 1.0)
    return sorted(out, key=lambda item: -item[0])


def all_walks_mass(transition: np.ndarray, damping: float, source: int, target: int, length: int) -> float:
    """Sum of prod(a P) over every walk (repeats allowed) of 1..length hops, enumerated one by one."""
    n = transition.shape[0]
    total = 0.0
    for hops in range(1, length + 1):
        for middle in itertools.product(range(n), repeat=hops - 1):
            walk = (source, *middle, target)
            total += math.prod(damping * transition[x, z] for x, z in itertools.pairwise(walk))
    return total


# --------------------------------------------------------------------------- the kernel


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("damping", [0.3, 0.5, 0.85])
def test_all_simple_paths_match_brute_force(seed: int, damping: float) -> None:
    A = random_graph(7, 0.5, seed)
    P = dense_transition(A)
    W = dense_walk_mass(P, damping)
    for source, target in [(0, 6), (1, 2), (3, 3)]:
        expected = simple_paths(P, damping, source, target, max_hops=7)
        got = influence_paths(sp.csr_matrix(A), source, target, damping=damping, k=10_000, max_hops=7)
        # a cycle and its reverse have the same probability (reversibility): compare modulo ties
        assert sorted((round(p.probability, 14), p.nodes) for p in got) == sorted(
            (round(prob, 14), nodes) for prob, nodes in expected
        )
        np.testing.assert_allclose([p.probability for p in got], [prob for prob, _ in expected], rtol=1e-12)
        for p in got:
            assert p.total == pytest.approx(W[source, target], rel=1e-10)
            assert p.share == pytest.approx(p.probability / W[source, target], rel=1e-10)
        assert sum(p.share for p in got) <= 1.0 + 1e-12


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("k", "max_hops"), [(1, 6), (3, 2), (5, 3), (8, 4)])
def test_top_k_within_hop_bound(seed: int, k: int, max_hops: int) -> None:
    A = random_graph(9, 0.4, 100 + seed)
    P = dense_transition(A)
    expected = simple_paths(P, 0.5, 0, 8, max_hops)[:k]
    got = influence_paths(A, 0, 8, damping=0.5, k=k, max_hops=max_hops)
    assert [p.nodes for p in got] == [nodes for _, nodes in expected]
    probabilities = [p.probability for p in got]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(p.hops <= max_hops for p in got)


def test_transitions_multiply_to_probability() -> None:
    A = random_graph(8, 0.5, 7)
    P = dense_transition(A)
    for p in influence_paths(A, 0, 5, damping=0.6, k=20):
        assert len(p.transitions) == p.hops == len(p.nodes) - 1
        assert p.nodes[0] == 0 and p.nodes[-1] == 5 and len(set(p.nodes)) == len(p.nodes)
        for (x, z), t in zip(itertools.pairwise(p.nodes), p.transitions, strict=True):
            assert t == pytest.approx(P[x, z], rel=1e-12)
        assert math.prod(0.6 * t for t in p.transitions) == pytest.approx(p.probability, rel=1e-12)
        assert p.influence == pytest.approx(0.4 / 0.6 * p.probability, rel=1e-12)
        assert 0.0 < p.share <= 1.0


def test_walk_mass_is_the_sum_over_all_walks() -> None:
    """The total is the sum over every walk (enumerated) and the dense inverse; paths are a part of it."""
    A = np.array([[0, 1, 2, 0], [1, 0, 1, 1], [2, 1, 0, 3], [0, 1, 3, 0]], dtype=float)
    P = dense_transition(A)
    damping, length = 0.3, 9
    for source, target in [(0, 3), (1, 1)]:
        enumerated = all_walks_mass(P, damping, source, target, length)
        tail = damping ** (length + 1) / (1 - damping)  # walks longer than `length` add at most this
        exact = dense_walk_mass(P, damping)[source, target]
        assert enumerated <= exact <= enumerated + tail
        assert walk_mass(A, source, target, damping=damping) == pytest.approx(exact, rel=1e-11)
        found = influence_paths(A, source, target, damping=damping, k=1000, max_hops=4)
        assert found[0].total == pytest.approx(exact, rel=1e-11)
        assert sum(p.probability for p in found) < exact


def test_influence_of_all_walks_is_the_push_influence() -> None:
    """(1 - a)/a * W[s, t] = pi_s(t), the backward push of push.py, and the contributors' weight."""
    A = random_graph(10, 0.4, 3)
    damping = 0.5
    pushed = influence(A, 4, damping=damping, threshold=1e-14)
    weights = dict(zip(pushed.indices.tolist(), pushed.weights.tolist(), strict=True))
    base = np.random.default_rng(0).random(10)
    state = DiffusionState(A, base, damping=damping, tol=1e-13, prior=0.0)
    contributions = state.contributors(0, threshold=1e-13)
    direct = dict(zip(contributions.indices.tolist(), contributions.direct.tolist(), strict=True))
    for source in range(10):
        found = influence_paths(A, source, 4, damping=damping, k=1)
        if not found:
            assert weights.get(source, 0.0) == pytest.approx(0.0, abs=1e-12)
            continue
        assert (1 - damping) / damping * found[0].total == pytest.approx(weights[source], abs=1e-11)
    (top,) = influence_paths(A, 0, 4, damping=damping, k=1)
    assert top.influence / top.share == pytest.approx(direct[4], abs=1e-11)


def test_cycles_when_source_is_target() -> None:
    triangle = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    got = influence_paths(triangle, 0, 0, damping=0.5, k=10)
    # 0-1-0 and 0-2-0 (0.5 * 1/2 each way) before the two triangles (three hops of 0.5 * 1/2)
    assert [p.nodes for p in got][:2] == [(0, 1, 0), (0, 2, 0)]
    assert sorted(p.nodes for p in got[2:]) == [(0, 1, 2, 0), (0, 2, 1, 0)]
    np.testing.assert_allclose([p.probability for p in got], [1 / 16, 1 / 16, 1 / 64, 1 / 64])
    exact = dense_walk_mass(dense_transition(triangle), 0.5)[0, 0]
    assert got[0].total == pytest.approx(exact, rel=1e-11)


def test_non_participants_are_never_on_a_path() -> None:
    A = random_graph(9, 0.5, 11)
    participating = np.ones(9, dtype=bool)
    participating[[2, 5]] = False
    P = dense_transition(A, participating)
    got = influence_paths(A, 0, 8, damping=0.5, k=10_000, max_hops=9, participating=participating)
    assert got
    assert all(2 not in p.nodes and 5 not in p.nodes for p in got)
    expected = simple_paths(P, 0.5, 0, 8, 9)
    assert [p.nodes for p in got] == [nodes for _, nodes in expected]
    assert got[0].total == pytest.approx(dense_walk_mass(P, 0.5)[0, 8], rel=1e-10)
    assert influence_paths(A, 0, 2, damping=0.5, participating=participating) == []
    assert influence_paths(A, 5, 8, damping=0.5, participating=participating) == []


def test_no_path() -> None:
    # 0 - 1 - 2 - 3, and 4 alone
    A = np.zeros((5, 5))
    for x, z in [(0, 1), (1, 2), (2, 3)]:
        A[x, z] = A[z, x] = 1.0
    assert influence_paths(A, 0, 4, damping=0.5) == []
    assert influence_paths(A, 4, 4, damping=0.5) == []
    assert influence_paths(A, 0, 3, damping=0.5, max_hops=2) == []
    (path,) = influence_paths(A, 0, 3, damping=0.5, max_hops=3)
    assert path.nodes == (0, 1, 2, 3)
    assert walk_mass(A, 0, 4, damping=0.5) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"source": 5}, "source"),
        ({"target": -1}, "target"),
        ({"source": 1.0}, "source"),
        ({"damping": 1.0}, "damping"),
        ({"damping": 0}, "damping"),
        ({"k": 0}, "k"),
        ({"k": True}, "k"),
        ({"max_hops": 0}, "max_hops"),
        ({"max_hops": 2.5}, "max_hops"),
        ({"participating": [1, 1, 1]}, "participating"),
        ({"participating": [True, True]}, "participating"),
        ({"adjacency": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])}, "adjacency"),
        ({"adjacency": np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])}, "adjacency"),
    ],
)
def test_bad_parameters_raise(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "adjacency": np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float),
        "source": 0,
        "target": 2,
        "damping": 0.5,
    }
    args.update(kwargs)
    with pytest.raises(ParameterError) as info:
        influence_paths(**args)  # type: ignore[arg-type]
    assert info.value.name == name


def test_result_is_frozen() -> None:
    (path,) = influence_paths(np.array([[0.0, 1.0], [1.0, 0.0]]), 0, 1, damping=0.5)
    assert isinstance(path, InfluencePath)
    assert path.nodes == (0, 1) and path.probability == 0.5
    assert path.total == pytest.approx(2 / 3) and path.share == pytest.approx(0.75)
    with pytest.raises(AttributeError):
        path.share = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("paths") / "c.db"
    population = generate_population(n_users=600, seed=1)
    with SQLiteStore(str(path)) as store:
        store.load(population.dataset())
    return path, int(population.now)


def test_cli_paths(store_path: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    path, now = store_path
    monkeypatch.delenv("CREDENCE_NEO4J_URI", raising=False)
    group = CredenceGroup()
    group.add_command(paths_command)
    with SQLiteStore(str(path)) as store:
        exported = store.export_graph()
        users = exported.users
        participating = users["consent_network"].to_numpy(dtype=bool) & ~np.asarray(
            exported.quarantined, bool
        )
        ids = [str(u) for u in exported.ids]
        adjacency = sp.csr_matrix(exported.adjacency)
    # a participant two hops from another participant
    hops = sp.csr_matrix(adjacency.multiply(np.outer(participating, participating)))
    two = hops @ hops
    source = next(u for u in range(len(ids)) if participating[u] and hops[u].nnz >= 2)
    target = next(int(t) for t in two[source].indices if t != source and hops[source, t] == 0)
    a, b = ids[source], ids[target]

    runner = CliRunner()
    result = runner.invoke(
        group,
        ["paths", a, b, "--db", str(path), "--now", str(now), "--json", "--k", "3"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["participating"] is True
    assert 1 <= len(payload["paths"]) <= 3
    for p in payload["paths"]:
        assert p["users"][0] == a and p["users"][-1] == b
        assert all(participating[ids.index(u)] for u in p["users"])
        assert 0 < p["share"] <= 1
    assert payload["covered_share"] <= 1 + 1e-12
    pushed = influence(
        adjacency, target, damping=payload["damping"], threshold=1e-12, participating=participating
    )
    expected = dict(zip(pushed.indices.tolist(), pushed.weights.tolist(), strict=True))[source]
    assert payload["influence"] == pytest.approx(expected, rel=1e-4)  # the engine keeps float32 weights

    text = runner.invoke(group, ["paths", a, b, "--db", str(path), "--now", str(now)]).output
    assert f"{a} -> {b}" in text and "share" in text and "-(" in text

    missing = runner.invoke(group, ["paths", a, "nobody", "--db", str(path), "--now", str(now)])
    assert missing.exit_code != 0
    assert "not found" in missing.output


def test_state_adjacency_follows_the_state() -> None:
    A = random_graph(6, 0.6, 5)
    state = DiffusionState(A, np.full(6, 0.5), damping=0.5, tol=1e-10)
    np.testing.assert_allclose(state.adjacency().toarray(), A)
    state.set_link(0, 5, 2.0 if A[0, 5] == 0 else 0.0)
    B = A.copy()
    B[0, 5] = B[5, 0] = 2.0 if A[0, 5] == 0 else 0.0
    np.testing.assert_allclose(state.adjacency().toarray(), B)
    assert state.adjacency().nnz == np.count_nonzero(B)  # a removed link leaves no explicit zero
    state.set_participating(2, False)
    C = B.copy()
    C[2, :] = C[:, 2] = 0.0
    np.testing.assert_allclose(state.adjacency(participating_only=True).toarray(), C)
    np.testing.assert_allclose(state.adjacency().toarray(), B)
