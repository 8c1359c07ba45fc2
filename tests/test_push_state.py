"""DiffusionState: incremental repairs agree with a full solve of the changed graph."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ParameterError
from credence.scoring import DiffusionState, component_value, diffuse, network_component


def random_graph(rng: np.random.Generator, n: int, p: float) -> sp.csr_matrix:
    upper = np.triu(rng.random((n, n)) < p, k=1)
    dense = np.where(upper, rng.uniform(0.1, 5.0, (n, n)), 0.0)
    return sp.csr_matrix(dense + dense.T)


def full_solution(state: DiffusionState) -> tuple[np.ndarray, np.ndarray]:
    """y and n of the state's current graph by an independent full solve (dense formulas)."""
    dense = state.adjacency(participating_only=True).toarray()
    y = diffuse(dense, state.base, damping=state.damping, tol=1e-14)
    degree = dense.sum(axis=1)
    n = np.where(degree > 0, dense @ y / np.where(degree > 0, degree, 1.0), state.mu)
    return y, n


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["base", "link", "unlink", "participate"]),
        st.integers(0, 24),
        st.integers(0, 24),
        st.floats(0.0, 1.0),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), damping=st.sampled_from([0.3, 0.5, 0.85]), operations=OPERATIONS)
def test_incremental_equals_full(seed: int, damping: float, operations: list) -> None:
    rng = np.random.default_rng(seed)
    tol = 1e-9
    state = DiffusionState(random_graph(rng, 25, 0.15), rng.random(25), damping=damping, tol=tol, prior=0.5)
    for kind, u, v, value in operations:
        if kind == "base":
            state.set_base(u, value)
        elif kind == "link" and u != v:
            state.set_link(u, v, 0.1 + 4 * value)
        elif kind == "unlink" and u != v:
            state.set_link(u, v, 0.0)
        elif kind == "participate":
            state.set_participating(u, value > 0.3)
    assert state.residual_norm() <= state.threshold
    y, n = full_solution(state)
    np.testing.assert_allclose(state.y, y, atol=2 * tol)
    np.testing.assert_allclose(state.network(), n, atol=2 * tol)


def test_changed_users_cover_every_moved_network_value() -> None:
    rng = np.random.default_rng(3)
    state = DiffusionState(random_graph(rng, 60, 0.06), rng.random(60), damping=0.5, tol=1e-10, prior=0.5)
    for step in range(30):
        before = state.network().copy()
        u, v = rng.choice(60, 2, replace=False)
        if step % 3 == 0:
            changed = state.set_base(int(u), float(rng.random()))
        elif step % 3 == 1:
            changed = state.set_link(int(u), int(v), float(rng.uniform(0.0, 2.0)))
        else:
            changed = state.set_participating(int(u), bool(step % 2))
        moved = np.flatnonzero(np.abs(state.network() - before) > 1e-12)
        assert set(moved.tolist()) <= set(changed.tolist())


def test_non_participant_neither_gives_nor_receives() -> None:
    rng = np.random.default_rng(5)
    adjacency = random_graph(rng, 30, 0.2)
    base = rng.random(30)
    state = DiffusionState(adjacency, base, damping=0.5, tol=1e-12, prior=0.5)
    state.set_participating(7, False)
    assert state.network()[7] == 0.5
    before = state.network().copy()
    state.set_base(7, 1.0 - base[7])  # a non-participant's base reaches nobody
    np.testing.assert_array_equal(state.network(), before)
    members = np.ones(30, dtype=bool)
    members[7] = False
    expected = network_component(
        adjacency, state.base, damping=0.5, prior=0.5, participating=members, tol=1e-14
    )
    np.testing.assert_allclose(state.network(), expected.n, atol=1e-11)


def test_added_users_and_links_grow_the_pool() -> None:
    state = DiffusionState(np.array([[0.0, 1.0], [1.0, 0.0]]), [0.2, 0.8], damping=0.5, tol=1e-12, prior=0.5)
    new = state.add_users([1.0, 0.0])
    assert new.tolist() == [2, 3]
    assert state.network()[2] == 0.5  # isolated: the prior
    for other in range(4):
        if other != 2:
            state.set_link(2, other, 1.0 + other)
    assert state.link_weight(2, 3) == 4.0
    y, n = full_solution(state)
    np.testing.assert_allclose(state.network(), n, atol=1e-11)
    state.set_link(0, 2, 0.0)
    assert state.link_weight(0, 2) == 0.0
    y, n = full_solution(state)
    np.testing.assert_allclose(state.y, y, atol=1e-11)


def test_recompute_is_a_warm_full_solve() -> None:
    rng = np.random.default_rng(8)
    state = DiffusionState(random_graph(rng, 40, 0.1), rng.random(40), damping=0.85, tol=1e-10)
    state.set_link(0, 1, 3.0)
    state.recompute()
    y, _ = full_solution(state)
    np.testing.assert_allclose(state.y, y, atol=1e-10)


def test_component_value_sharing_rules() -> None:
    n = np.array([0.9, 0.1, 0.3])
    degree = np.array([2.0, 2.0, 0.0])
    symmetric = component_value(n, degree, mu=0.5, shrinkage=2.0, sharing="symmetric")
    np.testing.assert_allclose(symmetric, [0.7, 0.3, 0.5])
    with pytest.raises(ParameterError, match="'sharing'"):
        component_value(n, degree, mu=0.5, shrinkage=2.0, sharing="both")


def test_bad_changes_are_refused() -> None:
    state = DiffusionState(np.array([[0.0, 1.0], [1.0, 0.0]]), [0.2, 0.8], damping=0.5, tol=1e-9)
    with pytest.raises(ParameterError, match="'v'"):
        state.set_link(0, 0, 1.0)
    with pytest.raises(ParameterError, match="'weight'"):
        state.set_link(0, 1, -1.0)
    with pytest.raises(ParameterError, match="'node'"):
        state.set_base(5, 0.5)
    with pytest.raises(ParameterError, match="'value'"):
        state.set_base(0, 1.5)
    assert state.link_weight(0, 1) == 1.0
    assert state.base.tolist() == [0.2, 0.8]


def test_contributors_first_keeps_the_largest_and_the_total() -> None:
    rng = np.random.default_rng(21)
    state = DiffusionState(random_graph(rng, 80, 0.08), rng.random(80), damping=0.5, tol=1e-12, prior=0.5)
    u = int(np.argmax(state.degree))
    everyone = state.contributors(u, threshold=1e-6)
    top = state.contributors(u, threshold=1e-6, first=5)
    assert top.total == pytest.approx(everyone.total, abs=1e-14)
    assert top.count == everyone.count > 5
    np.testing.assert_array_equal(top.indices, everyone.indices[:5])
    assert top.rest == pytest.approx(everyone.contributions[5:].sum(), abs=1e-14)
    with pytest.raises(ParameterError, match="'first'"):
        state.contributors(u, first=-1)
