"""The diffusion kernel, the network component and its exact explanations (credence.scoring.diffusion, credence.scoring.push).

Oracles: a direct sparse solve, networkx PageRank through the identity in docs/design.md,
dense matrix inverses, closed forms worked out by hand, and finite differences.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ConvergenceError, ParameterError
from credence.scoring import (
    Diffusion,
    DiffusionState,
    check_adjacency,
    contributors,
    diffuse,
    influence,
    network_component,
)
from credence.scoring.validation import is_canonical_symmetric
from tests.strategies import graphs_with_base

# ----------------------------------------------------------------------------- helpers


def random_graph(
    rng: np.random.Generator, n: int, p: float, *, weighted: bool = True, isolated: int = 0
) -> sp.csr_matrix:
    """Symmetric G(n, p) adjacency with positive weights; the last ``isolated`` nodes have no links."""
    upper = np.triu(rng.random((n, n)) < p, k=1)
    weights = rng.uniform(0.1, 5.0, size=(n, n)) if weighted else np.ones((n, n))
    dense = np.where(upper, weights, 0.0)
    dense = dense + dense.T
    if isolated:
        dense[n - isolated :, :] = 0.0
        dense[:, n - isolated :] = 0.0
    return sp.csr_matrix(dense)


def connected_graph(rng: np.random.Generator, n: int, p: float) -> sp.csr_matrix:
    """A random weighted graph plus a Hamiltonian path, so it is connected with no isolated node."""
    dense = random_graph(rng, n, p).toarray()
    for i in range(n - 1):
        if dense[i, i + 1] == 0.0:
            dense[i, i + 1] = dense[i + 1, i] = rng.uniform(0.1, 5.0)
    return sp.csr_matrix(dense)


def dense_walk(dense: np.ndarray, *, isolated_stay: bool) -> np.ndarray:
    """P = D^-1 A; rows of isolated nodes are e_u (the walk stays) or zero."""
    degree = dense.sum(axis=1)
    walk = np.zeros_like(dense)
    linked = degree > 0
    walk[linked] = dense[linked] / degree[linked, None]
    if isolated_stay:
        walk[~linked, ~linked] = 1.0
    return walk


def direct_y(adjacency: sp.csr_matrix, base: np.ndarray, a: float) -> np.ndarray:
    """The oracle ``(1 - a) spsolve(I - a P, b)`` (isolated rows of P are e_u, giving y_u = b_u)."""
    walk = sp.csc_matrix(dense_walk(adjacency.toarray(), isolated_stay=True))
    system = sp.csc_matrix(sp.eye(adjacency.shape[0]) - a * walk)
    return (1.0 - a) * np.asarray(spla.spsolve(system, base))


def dense_explainer(dense: np.ndarray, a: float) -> np.ndarray:
    """M = (1 - a) P (I - a P)^-1 over a (sub)graph; row u is pi_u (zero for isolated u)."""
    walk = dense_walk(dense, isolated_stay=False)
    size = dense.shape[0]
    return (1.0 - a) * walk @ np.linalg.inv(np.eye(size) - a * walk)


def dense_component(
    dense: np.ndarray,
    base: np.ndarray,
    a: float,
    mu: float,
    k: float,
    members: np.ndarray,
    sharing: str,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, value) by the formulas of docs/design.md with dense linear algebra."""
    index = np.flatnonzero(members)
    sub = dense[np.ix_(index, index)]
    degree = sub.sum(axis=1)
    explainer = dense_explainer(sub, a)
    n_sub = np.where(degree > 0, explainer @ base[index], mu)
    c_sub = np.where(degree > 0, (degree * n_sub + k * mu) / (degree + k), mu)
    if sharing == "bonus_only":
        c_sub = np.maximum(c_sub, mu)
    n = np.full(dense.shape[0], mu)
    value = np.full(dense.shape[0], mu)
    n[index] = n_sub
    value[index] = c_sub
    return n, value


small_graphs = graphs_with_base


dampings = st.floats(0.05, 0.95)
PROPERTY = settings(max_examples=60, deadline=None)

# ----------------------------------------------------------------------------- diffuse vs oracles


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("damping", [0.15, 0.5, 0.85])
def test_diffuse_matches_direct_solve(seed: int, damping: float) -> None:
    rng = np.random.default_rng(seed)
    adjacency = random_graph(rng, 60, 0.08, isolated=3)
    base = rng.random(60)
    y = diffuse(adjacency, base, damping=damping, tol=1e-14)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, direct_y(adjacency, base, damping), rtol=0, atol=1e-12)


def test_direct_solve_with_literal_zero_rows_agrees_away_from_isolated_nodes() -> None:
    # docs/design.md's oracle (1 - a) spsolve(I - aP, b) with P = D^-1 A literally (zero rows for
    # isolated nodes) differs from diffuse only at isolated nodes, where it gives (1 - a) b_u.
    rng = np.random.default_rng(11)
    adjacency = random_graph(rng, 40, 0.1, isolated=4)
    base = rng.random(40)
    a = 0.6
    literal = sp.csc_matrix(dense_walk(adjacency.toarray(), isolated_stay=False))
    oracle = (1 - a) * spla.spsolve(sp.csc_matrix(sp.eye(40) - a * literal), base)
    y = diffuse(adjacency, base, damping=a, tol=1e-14)
    np.testing.assert_allclose(y[:-4], oracle[:-4], atol=1e-12)
    np.testing.assert_allclose(oracle[-4:], (1 - a) * base[-4:], atol=1e-15)
    assert np.array_equal(y[-4:], base[-4:])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("damping", [0.3, 0.5, 0.85])
def test_diffuse_matches_networkx_pagerank(seed: int, damping: float) -> None:
    # Forward PageRank x = (1 - a) s + a P^T x with s = D b / sum(D b) is x = D y / sum(D b).
    rng = np.random.default_rng(100 + seed)
    adjacency = connected_graph(rng, 50, 0.06)
    base = rng.uniform(0.05, 1.0, 50)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    graph = nx.from_scipy_sparse_array(adjacency)
    ranks = nx.pagerank(
        graph,
        alpha=damping,
        personalization={v: degree[v] * base[v] for v in range(50)},
        tol=1e-15,
        max_iter=100_000,
        weight="weight",
    )
    pagerank = np.array([ranks[v] for v in range(50)])
    expected = pagerank / degree * float(degree @ base)
    y = diffuse(adjacency, base, damping=damping, tol=1e-14)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("damping", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("weight", [1.0, 3.5])
def test_two_nodes_closed_form(damping: float, weight: float) -> None:
    # y1 = (1-a) b1 + a y2 and y2 = (1-a) b2 + a y1 give y1 = (b1 + a b2) / (1 + a);
    # the weight cancels in P. n1 = y2 = (b2 + a b1) / (1 + a).
    a, b1, b2 = damping, 0.9, 0.2
    adjacency = sp.csr_matrix(np.array([[0.0, weight], [weight, 0.0]]))
    y = diffuse(adjacency, [b1, b2], damping=a, tol=1e-15)
    np.testing.assert_allclose(y, [(b1 + a * b2) / (1 + a), (b2 + a * b1) / (1 + a)], atol=1e-14)
    nc = network_component(
        adjacency, [b1, b2], damping=a, prior=0.5, shrinkage=2.0, sharing="symmetric", tol=1e-15
    )
    n = np.array([(b2 + a * b1) / (1 + a), (b1 + a * b2) / (1 + a)])
    np.testing.assert_allclose(nc.n, n, atol=1e-14)
    np.testing.assert_allclose(nc.degree, [weight, weight])
    np.testing.assert_allclose(nc.value, (weight * n + 2.0 * 0.5) / (weight + 2.0), atol=1e-14)


def test_two_nodes_by_hand_with_bonus_only() -> None:
    # a = 1/2, b = (1, 0), w = 1, k = 2, mu = 1/2:
    # n = (1/3, 2/3); c = ((1/3 + 1) / 3, (2/3 + 1) / 3) = (4/9, 5/9); bonus_only -> (1/2, 5/9).
    nc = network_component(np.array([[0.0, 1.0], [1.0, 0.0]]), [1.0, 0.0], prior=0.5, tol=1e-15)
    np.testing.assert_allclose(nc.y, [2 / 3, 1 / 3], atol=1e-14)
    np.testing.assert_allclose(nc.n, [1 / 3, 2 / 3], atol=1e-14)
    np.testing.assert_allclose(nc.value, [1 / 2, 5 / 9], atol=1e-14)
    assert nc.mu == 0.5


@pytest.mark.parametrize("damping", [0.2, 0.5, 0.8])
def test_path_of_three_closed_form(damping: float) -> None:
    # Path 0 - 1 - 2, b = (1, 0, 0). y1 = (a/2)(y0 + y2), y0 = (1-a) + a y1, y2 = a y1
    # => y1 = (a/2)(1-a) + a^2 y1 => y1 = a / (2 (1 + a)), y0 = (1-a) + a y1, y2 = a y1.
    # n = P y: n0 = n2 = y1, n1 = (y0 + y2) / 2.   (a = 1/2: y = (7/12, 1/6, 1/12).)
    a = damping
    adjacency = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    y1 = a / (2 * (1 + a))
    y0, y2 = (1 - a) + a * y1, a * y1
    y = diffuse(adjacency, [1.0, 0.0, 0.0], damping=a, tol=1e-15)
    np.testing.assert_allclose(y, [y0, y1, y2], atol=1e-14)
    nc = network_component(adjacency, [1.0, 0.0, 0.0], damping=a, prior=0.0, tol=1e-15)
    np.testing.assert_allclose(nc.n, [y1, (y0 + y2) / 2, y1], atol=1e-14)
    if a == 0.5:
        np.testing.assert_allclose(y, [7 / 12, 1 / 6, 1 / 12], atol=1e-14)


@pytest.mark.parametrize("damping", [0.25, 0.5, 0.75])
def test_triangle_closed_form(damping: float) -> None:
    # Triangle, b = (1, 0, 0). By symmetry y1 = y2 = (a/2)(y0 + y1) => y1 = a y0 / (2 - a);
    # y0 = (1-a) + a y1 => y0 = (2 - a) / (2 + a), y1 = a / (2 + a).  (a = 1/2: 0.6, 0.2.)
    a = damping
    adjacency = np.ones((3, 3)) - np.eye(3)
    y = diffuse(adjacency, [1.0, 0.0, 0.0], damping=a, tol=1e-15)
    np.testing.assert_allclose(y, [(2 - a) / (2 + a), a / (2 + a), a / (2 + a)], atol=1e-14)


def test_isolated_nodes_get_base_and_prior_exactly() -> None:
    rng = np.random.default_rng(3)
    adjacency = random_graph(rng, 20, 0.2, isolated=5)
    base = rng.random(20)
    y = diffuse(adjacency, base, damping=0.85, tol=1e-12)
    assert np.array_equal(y[-5:], base[-5:])
    nc = network_component(adjacency, base, damping=0.85, prior=0.37, sharing="symmetric")
    assert np.array_equal(nc.y[-5:], base[-5:])
    assert np.all(nc.n[-5:] == 0.37)
    assert np.all(nc.value[-5:] == 0.37)
    assert np.all(nc.degree[-5:] == 0.0)


def test_empty_graph() -> None:
    assert diffuse(sp.csr_matrix((0, 0)), np.zeros(0)).shape == (0,)
    nc = network_component(sp.csr_matrix((0, 0)), np.zeros(0), prior=0.5)
    assert nc.value.shape == (0,)


# ----------------------------------------------------------------------------- network component


@pytest.mark.parametrize("sharing", ["bonus_only", "symmetric"])
@pytest.mark.parametrize("seed", range(4))
def test_network_component_matches_dense_formulas(sharing: str, seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    adjacency = random_graph(rng, 40, 0.1, isolated=2)
    base = rng.random(40)
    members = rng.random(40) < 0.8
    nc = network_component(
        adjacency, base, damping=0.7, shrinkage=3.0, sharing=sharing, participating=members, tol=1e-14
    )
    mu = float(base[members].mean())
    assert nc.mu == pytest.approx(mu, abs=1e-15)
    n, value = dense_component(adjacency.toarray(), base, 0.7, mu, 3.0, members, sharing)
    np.testing.assert_allclose(nc.n, n, atol=1e-12)
    np.testing.assert_allclose(nc.value, value, atol=1e-12)
    np.testing.assert_allclose(nc.degree, np.where(members, adjacency.toarray() @ members, 0.0))
    assert np.array_equal(nc.participating, members)


def test_non_participants_neither_give_nor_receive() -> None:
    rng = np.random.default_rng(7)
    adjacency = random_graph(rng, 30, 0.25)
    base = rng.random(30)
    members = np.ones(30, dtype=bool)
    members[[2, 5, 11, 17]] = False
    before = network_component(adjacency, base, participating=members)
    # Give: changing a non-participant's base changes nobody's n nor value (nor mu).
    changed = base.copy()
    changed[[2, 5, 11, 17]] = [0.0, 1.0, 0.0, 1.0]
    after = network_component(adjacency, changed, participating=members)
    assert np.array_equal(before.n, after.n)
    assert np.array_equal(before.value, after.value)
    assert before.mu == after.mu
    # Receive: non-participants get mu whatever their friends look like.
    assert np.all(before.n[~members] == before.mu)
    assert np.all(before.value[~members] == before.mu)
    assert np.all(before.degree[~members] == 0.0)
    # Same as physically deleting their rows and columns.
    keep = np.flatnonzero(members)
    deleted = network_component(adjacency[keep][:, keep], base[keep], prior=before.mu)
    np.testing.assert_allclose(before.n[keep], deleted.n, atol=1e-12)
    np.testing.assert_allclose(before.value[keep], deleted.value, atol=1e-12)


def test_participant_whose_friends_all_opted_out_is_isolated() -> None:
    adjacency = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    nc = network_component(
        adjacency, [0.2, 1.0, 1.0], prior=0.5, participating=np.array([True, False, False])
    )
    assert nc.n.tolist() == [0.5, 0.5, 0.5]
    assert nc.degree.tolist() == [0.0, 0.0, 0.0]
    assert nc.y[0] == 0.2


def test_bonus_only_never_below_prior() -> None:
    rng = np.random.default_rng(8)
    adjacency = random_graph(rng, 50, 0.1)
    base = rng.random(50) ** 3  # mostly low: many symmetric values fall below mu
    symmetric = network_component(adjacency, base, sharing="symmetric", prior=0.6)
    bonus = network_component(adjacency, base, prior=0.6)
    assert (symmetric.value < 0.6).any()
    assert np.all(bonus.value >= 0.6)
    assert np.array_equal(bonus.value, np.maximum(symmetric.value, 0.6))


def test_shrinkage_zero_and_large() -> None:
    rng = np.random.default_rng(9)
    adjacency = random_graph(rng, 20, 0.3, isolated=1)
    base = rng.random(20)
    raw = network_component(adjacency, base, shrinkage=0.0, sharing="symmetric", prior=0.5)
    linked = raw.degree > 0
    np.testing.assert_allclose(raw.value[linked], raw.n[linked], rtol=1e-15)
    assert raw.value[~linked].tolist() == [0.5]
    shrunk = network_component(adjacency, base, shrinkage=1e12, sharing="symmetric", prior=0.5)
    np.testing.assert_allclose(shrunk.value, 0.5, atol=1e-9)


def test_results_are_read_only() -> None:
    nc = network_component(np.array([[0.0, 1.0], [1.0, 0.0]]), [0.3, 0.7])
    with pytest.raises(ValueError, match="read-only"):
        nc.value[0] = 1.0


def test_warm_start_converges_at_once() -> None:
    rng = np.random.default_rng(10)
    adjacency = random_graph(rng, 80, 0.05)
    base = rng.random(80)
    y = diffuse(adjacency, base, damping=0.85, tol=1e-13)
    with pytest.raises(ConvergenceError):
        diffuse(adjacency, base, damping=0.85, tol=1e-9, max_iter=3)
    again = diffuse(adjacency, base, damping=0.85, tol=1e-9, max_iter=1, x0=y)
    np.testing.assert_allclose(again, y, atol=1e-11)
    nc = network_component(adjacency, base, damping=0.85, tol=1e-9, max_iter=1, x0=y)
    np.testing.assert_allclose(nc.y, y, atol=1e-11)


def test_convergence_error_when_max_iter_tiny() -> None:
    rng = np.random.default_rng(12)
    adjacency = random_graph(rng, 30, 0.2)
    with pytest.raises(ConvergenceError) as info:
        diffuse(adjacency, rng.random(30), damping=0.9, tol=1e-12, max_iter=2)
    assert info.value.iterations == 2
    assert info.value.tol == 1e-12
    assert info.value.residual > 1e-12
    assert info.value.code == "NOT_CONVERGED"
    with pytest.raises(ConvergenceError):
        network_component(adjacency, rng.random(30), damping=0.9, tol=1e-12, max_iter=2)


def test_tolerance_is_a_bound_on_the_error() -> None:
    # The solver stops on a certified residual <= tol (1 - a), which bounds the error by tol.
    rng = np.random.default_rng(13)
    adjacency = random_graph(rng, 100, 0.05)
    base = rng.random(100)
    exact = direct_y(adjacency, base, 0.9)
    for tol in (1e-3, 1e-6, 1e-9):
        y = diffuse(adjacency, base, damping=0.9, tol=tol)
        assert np.abs(y - exact).max() <= tol


# ----------------------------------------------------------------------------- properties


@PROPERTY
@given(
    small_graphs(), dampings, st.floats(0.0, 20.0), st.sampled_from(["bonus_only", "symmetric"]), st.data()
)
def test_value_in_unit_interval(
    graph: tuple[sp.csr_matrix, np.ndarray], damping: float, shrinkage: float, sharing: str, data: Any
) -> None:
    adjacency, base = graph
    members = np.array(data.draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base))))
    prior = data.draw(st.none() | st.floats(0.0, 1.0)) if members.any() else 0.5
    nc = network_component(
        adjacency,
        base,
        damping=damping,
        shrinkage=shrinkage,
        sharing=sharing,
        participating=members,
        prior=prior,
    )
    assert np.all((nc.value >= 0.0) & (nc.value <= 1.0))
    assert np.all((nc.n >= -1e-12) & (nc.n <= 1.0 + 1e-12))


@PROPERTY
@given(small_graphs(min_nodes=2), dampings, st.data())
def test_raising_one_base_never_lowers_any_n(
    graph: tuple[sp.csr_matrix, np.ndarray], damping: float, data: Any
) -> None:
    adjacency, base = graph
    v = data.draw(st.integers(0, len(base) - 1))
    raised = base.copy()
    raised[v] = data.draw(st.floats(float(base[v]), 1.0))
    before = network_component(adjacency, base, damping=damping, prior=0.5, tol=1e-13)
    after = network_component(adjacency, raised, damping=damping, prior=0.5, tol=1e-13)
    assert np.all(after.n >= before.n - 1e-10)
    assert np.all(after.value >= before.value - 1e-10)


@PROPERTY
@given(small_graphs(min_nodes=2), dampings, st.data())
def test_bonus_only_lowering_a_friend_never_goes_below_mu(
    graph: tuple[sp.csr_matrix, np.ndarray], damping: float, data: Any
) -> None:
    adjacency, base = graph
    v = data.draw(st.integers(0, len(base) - 1))
    lowered = base.copy()
    lowered[v] = data.draw(st.floats(0.0, float(base[v])))
    mu = data.draw(st.floats(0.0, 1.0))
    after = network_component(adjacency, lowered, damping=damping, prior=mu)
    assert np.all(after.value >= mu)


# ----------------------------------------------------------------------------- validation


GOOD = np.array([[0.0, 1.0], [1.0, 0.0]])


@pytest.mark.parametrize("damping", [0.0, 1.0, -0.1, 1.5, math.nan, math.inf, True, "0.5", None])
def test_bad_damping(damping: Any) -> None:
    with pytest.raises(ParameterError) as info:
        diffuse(GOOD, [0.5, 0.5], damping=damping)
    assert info.value.name == "damping"
    assert "damping" in str(info.value)


@pytest.mark.parametrize(
    ("adjacency", "fragment"),
    [
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), "finite and >= 0"),
        (np.array([[0.0, math.nan], [math.nan, 0.0]]), "finite and >= 0"),
        (np.array([[0.0, math.inf], [math.inf, 0.0]]), "finite and >= 0"),
        (np.array([[0.0, 1.0], [2.0, 0.0]]), "symmetric"),
        (np.array([[0.0, 1.0], [0.0, 0.0]]), "symmetric"),
        (np.array([[1.0, 1.0], [1.0, 0.0]]), "self loops"),
        (np.ones((2, 3)), "square"),
        (np.ones(4), "square"),
        ([[0, 1], [1, 0]], "scipy sparse matrix"),
        (sp.csr_matrix(np.array([[0.0, -2.0], [-2.0, 0.0]])), "entry (0, 1) = -2.0"),
    ],
)
def test_bad_adjacency(adjacency: Any, fragment: str) -> None:
    with pytest.raises(ParameterError, match=r"parameter 'adjacency'") as info:
        diffuse(adjacency, [0.5, 0.5])
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("base", "fragment"),
    [
        ([0.5], "length 2"),
        ([0.5, 0.5, 0.5], "length 2"),
        ([[0.5, 0.5]], "length 2"),
        ([0.5, math.nan], "element 1 = nan"),
        ([math.inf, 0.5], "element 0 = inf"),
        (["a", "b"], "numeric"),
    ],
)
def test_bad_base(base: Any, fragment: str) -> None:
    for call in (diffuse, network_component):
        with pytest.raises(ParameterError, match=r"parameter 'base'") as info:
            call(GOOD, base)
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"base": [0.5, 1.5]}, "base"),
        ({"base": [-0.1, 0.5]}, "base"),
        ({"prior": 1.2}, "prior"),
        ({"prior": math.nan}, "prior"),
        ({"shrinkage": -1.0}, "shrinkage"),
        ({"shrinkage": math.inf}, "shrinkage"),
        ({"sharing": "punitive"}, "sharing"),
        ({"participating": [1, 0]}, "participating"),
        ({"participating": np.array([True])}, "participating"),
        ({"participating": np.array([False, False])}, "prior"),
        ({"tol": 0.0}, "tol"),
        ({"tol": -1e-8}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"x0": [0.5]}, "x0"),
        ({"damping": 1.0}, "damping"),
    ],
)
def test_bad_network_component_parameters(kwargs: dict[str, Any], name: str) -> None:
    arguments: dict[str, Any] = {"base": [0.5, 0.5], **kwargs}
    with pytest.raises(ParameterError) as info:
        network_component(GOOD, **arguments)
    assert info.value.name == name
    assert info.value.code == "BAD_USER_INPUT"


def test_diffuse_accepts_any_real_base_network_component_only_unit_interval() -> None:
    y = diffuse(GOOD, [-2.0, 3.0], damping=0.5, tol=1e-15)
    np.testing.assert_allclose(y, [(-2.0 + 1.5) / 1.5, (3.0 - 1.0) / 1.5], atol=1e-14)


# ----------------------------------------------------------------------------- check_adjacency


def test_check_adjacency_canonicalises_without_touching_input() -> None:
    # (0, 1) given twice (1 + 1 = 2), (1, 0) = 2 once, an explicit zero at (1, 2); int32 values.
    coo = sp.coo_matrix(
        (np.array([1, 1, 2, 0], dtype=np.int32), (np.array([0, 0, 1, 1]), np.array([1, 1, 0, 2]))),
        shape=(3, 3),
    )
    original = coo.copy()
    matrix = check_adjacency(coo)
    assert isinstance(matrix, sp.csr_matrix)
    assert matrix.dtype == np.float64
    assert matrix.has_canonical_format
    assert matrix.nnz == 2
    assert matrix.toarray().tolist() == [[0, 2, 0], [2, 0, 0], [0, 0, 0]]
    assert coo.nnz == 4
    assert np.array_equal(coo.data, original.data)
    with pytest.raises(ParameterError, match=r"entry \(0, 1\) = 3.0 but \(1, 0\) = 2.0"):
        check_adjacency(
            sp.coo_matrix((np.array([1, 2, 2]), (np.array([0, 0, 1]), np.array([1, 1, 0]))), shape=(2, 2))
        )


@pytest.mark.parametrize("kind", [sp.csr_array, sp.csc_matrix, sp.coo_array, sp.lil_matrix, np.asarray])
def test_check_adjacency_accepts_formats(kind: Any) -> None:
    dense = np.array([[0.0, 2.0, 0.5], [2.0, 0.0, 0.0], [0.5, 0.0, 0.0]], dtype=np.float32)
    matrix = check_adjacency(kind(dense))
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix.toarray(), dense)


def test_check_adjacency_symmetrises_round_off_only() -> None:
    nearly = np.array([[0.0, 1.0], [1.0 + 1e-13, 0.0]])
    matrix = check_adjacency(nearly)
    assert matrix[0, 1] == matrix[1, 0]
    with pytest.raises(ParameterError, match="symmetric"):
        check_adjacency(np.array([[0.0, 1.0], [1.0 + 1e-6, 0.0]]))


# ----------------------------------------------------------------------------- push: contributors


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("damping", [0.3, 0.5, 0.85])
def test_contributors_match_dense_and_add_up(seed: int, damping: float) -> None:
    rng = np.random.default_rng(300 + seed)
    adjacency = random_graph(rng, 40, 0.1, isolated=2)
    base = rng.random(40)
    members = rng.random(40) < 0.85
    index = np.flatnonzero(members)
    dense = adjacency.toarray()[np.ix_(index, index)]
    explainer = dense_explainer(dense, damping)
    mu = 0.45
    nc = network_component(adjacency, base, damping=damping, prior=mu, participating=members, tol=1e-14)
    state = DiffusionState(adjacency, base, damping=damping, prior=mu, participating=members, tol=1e-12)
    for threshold in (1e-1, 1e-3, 1e-9):
        for local, u in enumerate(index):
            result = state.contributors(int(u), threshold=threshold)
            exact = nc.n[u] - mu
            assert abs(result.total - exact) <= result.bound + 1e-12
            if dense[local].sum() == 0:
                assert result.indices.size == 0
                continue
            assert result.n == pytest.approx(nc.n[u], abs=1e-11)
            row = explainer[local]
            weights = row[np.searchsorted(index, result.indices)]
            assert np.all(result.direct <= weights + 1e-12)  # settled walk mass is a lower bound ...
            assert np.all(weights - result.direct <= result.onward.sum() + 1e-12)  # ... short by the rest
            assert result.direct.sum() + result.onward.sum() == pytest.approx(1.0, abs=1e-12)
            expected = result.direct * (base[result.indices] - mu) + result.onward * (
                nc.y[result.indices] - mu
            )
            np.testing.assert_allclose(result.contributions, expected, atol=1e-11)
            assert np.all(np.diff(np.abs(result.contributions)) <= 0)
            assert set(result.indices.tolist()) <= set(index.tolist())
            if threshold == 1e-9:
                np.testing.assert_allclose(result.direct, weights, atol=1e-7)


def test_contributors_are_local_with_a_loose_threshold() -> None:
    rng = np.random.default_rng(14)
    size = 2000
    ends = np.arange(size - 1)
    path = sp.csr_matrix(
        (np.ones(2 * size - 2), (np.concatenate([ends, ends + 1]), np.concatenate([ends + 1, ends]))),
        shape=(size, size),
    )
    base = rng.random(size)
    result = contributors(path, base, 1000, damping=0.5, prior=0.5, threshold=1e-4, tol=1e-13)
    assert 0 < result.indices.size < 60
    exact = network_component(path, base, damping=0.5, prior=0.5, tol=1e-14).n[1000] - 0.5
    assert abs(result.total - exact) <= result.bound + 1e-12


def test_contributors_of_isolated_and_non_participants_are_empty() -> None:
    adjacency = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    for node, members in [(2, None), (0, np.array([False, True, True])), (1, np.array([False, True, True]))]:
        result = contributors(adjacency, [0.1, 0.9, 0.5], node, prior=0.5, participating=members)
        assert result.indices.size == 0
        assert result.total == 0.0
        assert result.n == 0.5
        assert result.bound == 0.0


def test_contributors_when_everyone_is_at_the_prior() -> None:
    result = contributors(GOOD, [0.5, 0.5], 0, prior=0.5)
    assert np.all(result.contributions == 0.0)
    assert result.total == 0.0


def test_contributors_own_base_counts_through_returning_walks() -> None:
    # n_u = (P y)_u still weighs b_u: walks u -> v -> u. Two nodes, a = 1/2: pi_0 = (1/3, 2/3).
    result = contributors(GOOD, [1.0, 0.0], 0, prior=0.0, threshold=1e-14, tol=1e-14)
    weights = dict(zip(result.indices.tolist(), result.direct.tolist(), strict=True))
    assert weights[0] == pytest.approx(1 / 3, abs=1e-13)
    assert weights[1] == pytest.approx(2 / 3, abs=1e-13)


def test_contributors_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="'node'"):
        contributors(GOOD, [0.5, 0.5], 2, prior=0.5)
    with pytest.raises(ParameterError, match="'node'"):
        contributors(GOOD, [0.5, 0.5], True, prior=0.5)
    with pytest.raises(ParameterError, match="'prior'"):
        contributors(GOOD, [0.5, 0.5], 0, prior=2.0)
    with pytest.raises(ParameterError, match="'threshold'"):
        contributors(GOOD, [0.5, 0.5], 0, prior=0.5, threshold=0.0)
    with pytest.raises(ParameterError, match="'base'"):
        contributors(GOOD, [0.5, 1.5], 0, prior=0.5)


# ----------------------------------------------------------------------------- push: influence


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("damping", [0.3, 0.5, 0.85])
def test_influence_matches_dense_column(seed: int, damping: float) -> None:
    rng = np.random.default_rng(400 + seed)
    adjacency = random_graph(rng, 40, 0.1, isolated=2)
    members = rng.random(40) < 0.85
    index = np.flatnonzero(members)
    explainer = dense_explainer(adjacency.toarray()[np.ix_(index, index)], damping)
    threshold = 1e-9
    for local, v in enumerate(index):
        result = influence(adjacency, int(v), damping=damping, threshold=threshold, participating=members)
        assert result.bound <= threshold
        estimate = np.zeros(index.size)
        estimate[np.searchsorted(index, result.indices)] = result.weights
        column = explainer[:, local]
        assert np.all(estimate <= column + 1e-12)
        assert np.all(column - estimate <= result.bound + 1e-12)
        assert np.all(np.diff(result.weights) <= 0)
    for v in np.flatnonzero(~members):
        assert influence(adjacency, int(v), damping=damping, participating=members).indices.size == 0


@pytest.mark.parametrize("seed", range(3))
def test_influence_matches_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    adjacency = random_graph(rng, 50, 0.08, isolated=1)
    base = rng.uniform(0.0, 0.5, 50)
    members = rng.random(50) < 0.9
    for v in rng.choice(np.flatnonzero(members), 5, replace=False):
        bumped = base.copy()
        bumped[v] += 0.5
        before = network_component(adjacency, base, prior=0.5, participating=members, tol=1e-14)
        after = network_component(adjacency, bumped, prior=0.5, participating=members, tol=1e-14)
        derivative = (after.n - before.n) / 0.5  # n is linear in b: exact up to the solver's tol
        result = influence(adjacency, int(v), threshold=1e-11, participating=members)
        estimate = np.zeros(50)
        estimate[result.indices] = result.weights
        np.testing.assert_allclose(estimate, derivative, atol=1e-9)


def test_forward_and_backward_push_agree() -> None:
    rng = np.random.default_rng(15)
    adjacency = random_graph(rng, 30, 0.15)
    base = rng.random(30)
    state = DiffusionState(adjacency, base, damping=0.7, prior=0.5, tol=1e-12)
    rows = np.zeros((30, 30))
    for u in range(30):
        result = state.contributors(u, threshold=1e-13)
        rows[u, result.indices] = result.direct
    columns = np.zeros((30, 30))
    for v in range(30):
        spread = state.influence(v, threshold=1e-13)
        columns[spread.indices, v] = spread.weights
    np.testing.assert_allclose(rows, columns, atol=1e-10)
    np.testing.assert_allclose(
        rows.sum(axis=1)[np.asarray(adjacency.sum(axis=1)).ravel() > 0], 1.0, atol=1e-10
    )


def test_influence_by_hand_on_a_star() -> None:
    # Star: centre 0, leaves 1..3, unit weights, a = 1/2. Column 0 of M = (1-a) P (I - aP)^-1.
    # From a leaf the walk's first step is to 0; by symmetry Pi[leaf, 0] = x, Pi[0, 0] = z:
    # z = (1-a) + a x, x = a z  => z = (1-a) / (1 - a^2) = 1 / (1 + a) = 2/3, x = 1/3.
    # pi_leaf(0) = Pi[0, 0] = 2/3; pi_0(0) = mean over leaves of Pi[leaf, 0] = 1/3.
    star = np.zeros((4, 4))
    star[0, 1:] = star[1:, 0] = 1.0
    result = influence(star, 0, threshold=1e-14)
    weights = dict(zip(result.indices.tolist(), result.weights.tolist(), strict=True))
    for leaf in (1, 2, 3):
        assert weights[leaf] == pytest.approx(2 / 3, abs=1e-12)
    assert weights[0] == pytest.approx(1 / 3, abs=1e-12)


def test_influence_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="'node'"):
        influence(GOOD, -1)
    with pytest.raises(ParameterError, match="'damping'"):
        influence(GOOD, 0, damping=0.0)
    with pytest.raises(ParameterError, match="'participating'"):
        influence(GOOD, 0, participating=[True, True, False])


# ----------------------------------------------------------------------------- the fast symmetry pass


def symmetric_oracle(matrix: sp.csr_matrix) -> bool:
    """What is_canonical_symmetric must say, computed independently with scipy (a transpose)."""
    if matrix.nnz == 0:
        return True
    return (
        bool(abs(matrix - matrix.T).max() == 0)
        and not matrix.diagonal().any()
        and bool((matrix.data > 0).all())
        and bool(np.isfinite(matrix.data).all())
    )


@pytest.mark.parametrize("seed", range(6))
def test_fast_symmetry_pass_agrees_with_a_transpose(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(150):
        n = int(rng.integers(1, 40))
        dense = np.triu(np.where(rng.random((n, n)) < rng.random(), rng.integers(1, 4, (n, n)), 0), 1)
        dense = (dense + dense.T).astype(np.float64)
        kind = int(rng.integers(0, 5))
        i, j = (int(x) for x in rng.integers(0, n, 2))
        if kind == 1:  # one entry changed (or added, or removed): no longer its mirror's
            dense[i, j] = float(rng.integers(0, 4))
        elif kind == 2:
            dense[i, i] = 1.0
        elif kind == 3:
            dense[i, j] += 1e-9
        matrix = sp.csr_matrix(dense)
        expected = symmetric_oracle(matrix)
        assert is_canonical_symmetric(matrix) == expected
        # the answer does not depend on the buckets of the mirror pass (one row each, ..., one for all)
        bucket_rows = 1 << (trial % 7)
        assert is_canonical_symmetric(matrix, bucket_rows=bucket_rows) == expected, bucket_rows


def test_fast_symmetry_pass_on_a_large_graph_differing_in_one_entry() -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    rows = rng.integers(0, n, 40_000)
    cols = rng.integers(0, n, 40_000)
    keep = rows != cols
    upper = sp.coo_matrix((rng.uniform(0.1, 3.0, int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    matrix = sp.csr_matrix(upper + upper.T)
    matrix.sum_duplicates()
    assert is_canonical_symmetric(matrix) and symmetric_oracle(matrix)
    for k in rng.integers(0, matrix.nnz, 20):
        broken = matrix.copy()
        broken.data[k] = np.nextafter(broken.data[k], np.inf)  # one weight, one ulp
        assert not is_canonical_symmetric(broken) and not symmetric_oracle(broken)
        for bucket_rows in (1, 16, 256, 8192):
            assert is_canonical_symmetric(matrix, bucket_rows=bucket_rows)
            assert not is_canonical_symmetric(broken, bucket_rows=bucket_rows)
        fixed = check_adjacency(broken)  # one ulp is round-off: symmetrised, not refused
        assert is_canonical_symmetric(fixed) and symmetric_oracle(fixed)
        far = matrix.copy()
        far.data[k] *= 1.5
        assert not is_canonical_symmetric(far) and not symmetric_oracle(far)
        with pytest.raises(ParameterError, match="symmetric"):
            check_adjacency(far)
    wide = matrix.copy()  # int64 row pointers and columns
    wide.indptr, wide.indices = wide.indptr.astype(np.int64), wide.indices.astype(np.int64)
    assert is_canonical_symmetric(wide) and is_canonical_symmetric(wide, bucket_rows=32)
    wide.data[int(rng.integers(0, wide.nnz))] *= 2.0
    assert not is_canonical_symmetric(wide) and not is_canonical_symmetric(wide, bucket_rows=32)
    moved = matrix.copy()  # one link's mirror moved to another column of the same row
    row = int(np.flatnonzero(np.diff(moved.indptr) >= 2)[0])
    start = moved.indptr[row]
    free = next(
        c for c in range(n) if c != row and c not in set(moved.indices[start : moved.indptr[row + 1]])
    )
    moved = moved.tolil()
    column = int(matrix.indices[start])
    moved[row, free], moved[row, column] = moved[row, column], 0.0
    moved = sp.csr_matrix(moved)
    moved.eliminate_zeros()
    assert moved.nnz == matrix.nnz
    assert not is_canonical_symmetric(moved) and not symmetric_oracle(moved)
    with pytest.raises(ParameterError, match="symmetric"):
        check_adjacency(moved)


def test_fast_symmetry_pass_refuses_what_it_cannot_vouch_for() -> None:
    good = sp.csr_matrix(np.array([[0.0, 2.0], [2.0, 0.0]]))
    assert is_canonical_symmetric(good)
    assert is_canonical_symmetric(sp.csr_array(good))
    assert not is_canonical_symmetric(good.tocoo())
    assert not is_canonical_symmetric(good.astype(np.float32))
    assert not is_canonical_symmetric(good.toarray())
    unsorted = sp.csr_matrix((np.ones(4), np.array([2, 1, 0, 0]), np.array([0, 2, 3, 4])), shape=(3, 3))
    assert not is_canonical_symmetric(unsorted)  # symmetric, but row 0 is not sorted
    assert check_adjacency(unsorted).has_canonical_format
    zero = sp.csr_matrix((np.array([0.0, 0.0]), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
    assert not is_canonical_symmetric(zero)  # explicit zeros: the general path drops them
    assert check_adjacency(zero).nnz == 0
    for value in (math.nan, math.inf, -1.0):
        bad = sp.csr_matrix((np.array([value, value]), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
        assert not is_canonical_symmetric(bad)
        with pytest.raises(ParameterError, match="finite and >= 0"):
            check_adjacency(bad)
    assert is_canonical_symmetric(sp.csr_matrix((0, 0)))
    assert is_canonical_symmetric(sp.csr_matrix((3, 3)))
    assert not is_canonical_symmetric(sp.csr_matrix((2, 3)))
    for bucket_rows in (0, 3, 2.0, True):
        with pytest.raises(ParameterError) as info:
            is_canonical_symmetric(good, bucket_rows=bucket_rows)
        assert info.value.name == "bucket_rows"
    # out-of-range and negative columns are refused before any bucket is counted
    for column in (2, 5, -1):
        wild = sp.csr_matrix((2, 2))
        wild.indptr = np.array([0, 1, 1], dtype=np.int32)
        wild.indices = np.array([column], dtype=np.int32)
        wild.data = np.array([1.0])
        assert not is_canonical_symmetric(wild, bucket_rows=1)


def test_check_adjacency_copy_false_reuses_only_what_passes_unchanged() -> None:
    good = sp.csr_matrix(np.array([[0.0, 2.0, 0.0], [2.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    assert check_adjacency(good, copy=False) is good
    copied = check_adjacency(good)
    assert copied is not good and copied.data is not good.data
    assert check_adjacency(sp.csr_array(good), copy=False) is not good  # a csr_array becomes a csr_matrix
    nearly = sp.csr_matrix(np.array([[0.0, 1.0], [1.0 + 1e-13, 0.0]]))
    before = nearly.data.copy()
    fixed = check_adjacency(nearly, copy=False)
    assert fixed is not nearly and fixed[0, 1] == fixed[1, 0]
    assert np.array_equal(nearly.data, before)  # the input is never modified


# ----------------------------------------------------------------------------- Diffusion


@pytest.mark.parametrize("damping", [0.5, 0.85])
def test_prepared_diffusion_matches_diffuse(damping: float) -> None:
    rng = np.random.default_rng(3)
    adjacency = random_graph(rng, 60, 0.08, isolated=3)
    diffusion = Diffusion(adjacency, damping=damping)
    assert diffusion.n == 60
    for tol in (1e-6, 1e-10, 1e-14):  # 1e-14: float32 cannot certify it, a float64 walk is prepared
        for _ in range(3):
            base = rng.random(60)
            y = diffusion.solve(base, tol=tol)
            expected = diffuse(adjacency, base, damping=damping, tol=tol)
            assert np.abs(y - expected).max() <= 2 * tol
            assert np.abs(y - direct_y(adjacency, base, damping)).max() <= tol + 1e-13
    solution = diffusion.solution(base, tol=1e-8, x0=y)
    assert solution.error_bound <= 1e-8
    assert diffusion.solution(base, tol=1e-8, x0=solution.y).iterations == 1


def test_prepared_diffusion_validates_like_diffuse() -> None:
    with pytest.raises(ParameterError, match="symmetric"):
        Diffusion(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ParameterError) as info:
        Diffusion(GOOD, damping=1.0)
    assert info.value.name == "damping"
    with pytest.raises(ParameterError) as info:
        Diffusion(GOOD, max_iter=0)
    assert info.value.name == "max_iter"
    diffusion = Diffusion(GOOD)
    for kwargs, name in (({"base": [0.5]}, "base"), ({"base": [0.5, 0.5], "tol": 0.0}, "tol"),
                         ({"base": [0.5, 0.5], "x0": [1.0]}, "x0")):  # fmt: skip
        with pytest.raises(ParameterError) as info:
            diffusion.solve(**kwargs)
        assert info.value.name == name
    with pytest.raises(ConvergenceError):
        Diffusion(random_graph(np.random.default_rng(1), 30, 0.2), damping=0.99, max_iter=1).solve(
            np.linspace(0, 1, 30), tol=1e-12
        )
