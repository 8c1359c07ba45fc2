"""The certified diffusion solver (credence.scoring.solver): accuracy contract, precision, orders, warm starts.

Oracle: a direct sparse solve ``(1 - a) spsolve(I - aP, b)`` with the rows of isolated
nodes replaced by ``e_u`` (so ``y_u = b_u`` there), in float64 on the exact weights.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from credence.core.errors import ConvergenceError, ParameterError
from credence.scoring.diffusion import check_adjacency
from credence.scoring.solver import (
    FLOAT32_MIN_TOL,
    Solution,
    WalkGraph,
    float32_suffices,
    prepare_walk,
    solve,
    walk_product,
)
from tests.strategies import graphs_with_base

METHODS = ["sor", "chebyshev"]
DTYPES = [np.float32, np.float64]

# ----------------------------------------------------------------------------- helpers


def random_graph(
    rng: np.random.Generator, n: int, p: float, *, isolated: int = 0, decimals: int | None = 2
) -> sp.csr_matrix:
    """Symmetric weighted G(n, p); the last ``isolated`` nodes have no links.

    Weights rounded to two decimals are not representable in float32, so the
    float32 rounding of the walk matrix is really there to be accounted for.
    """
    upper = sp.triu(
        sp.random(n, n, density=p, random_state=rng, data_rvs=lambda k: rng.uniform(0.1, 5.0, k)), k=1
    )
    matrix = sp.csr_matrix(upper + upper.T)
    if decimals is not None:
        matrix.data = np.round(matrix.data, decimals)
    if isolated:
        keep = np.ones(n)
        keep[n - isolated :] = 0.0
        mask = sp.diags(keep)
        matrix = sp.csr_matrix(mask @ matrix @ mask)
    return check_adjacency(matrix)


def direct(adjacency: sp.csr_matrix, base: np.ndarray, a: float) -> np.ndarray:
    """``(1 - a) spsolve(I - a P, b)`` with ``P[u] = e_u`` for isolated u (float64, exact weights)."""
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    linked = degree > 0
    walk = sp.diags(np.where(linked, 1.0 / np.where(linked, degree, 1.0), 0.0)) @ adjacency
    walk = walk + sp.diags((~linked).astype(float))
    system = sp.csc_matrix(sp.eye(adjacency.shape[0]) - a * walk)
    return (1.0 - a) * np.asarray(spla.spsolve(system, base))


def true_residual(adjacency: sp.csr_matrix, base: np.ndarray, a: float, y: np.ndarray) -> float:
    """``max_u |c_u + a (P y)_u - y_u|`` in float64 with the exact weights."""
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    linked = degree > 0
    py = np.where(linked, (adjacency @ y) / np.where(linked, degree, 1.0), 0.0)
    r = np.where(linked, (1.0 - a) * base + a * py - y, base - y)
    return float(np.abs(r).max())


@pytest.fixture(scope="module")
def graph() -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(2024)
    return random_graph(rng, 400, 0.02, isolated=5), rng.random(400)


# ----------------------------------------------------------------------------- accuracy contract


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("damping", [0.15, 0.5, 0.85, 0.95])
def test_matches_direct_solve_at_tight_tol(
    graph: tuple[sp.csr_matrix, np.ndarray], method: str, dtype: Any, damping: float
) -> None:
    adjacency, base = graph
    walk = prepare_walk(adjacency, dtype=dtype, method=method)
    solution = solve(walk, base, damping=damping, tol=1e-12)
    assert solution.y.dtype == np.float64
    np.testing.assert_allclose(solution.y, direct(adjacency, base, damping), rtol=0, atol=1e-12)
    assert solution.error_bound <= 1e-12


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("damping", [0.5, 0.85, 0.99])
@pytest.mark.parametrize("tol", [1e-3, 1e-4, 1e-6, 1e-8])
def test_error_within_tol_at_loose_tols(
    graph: tuple[sp.csr_matrix, np.ndarray], method: str, dtype: Any, damping: float, tol: float
) -> None:
    # At a = 0.99 the float32 rounding of the weights alone would move y by up to
    # a / (1 - a) * 6e-8 ~ 6e-6 > 1e-6: the solver must account for it (and refine).
    adjacency, base = graph
    exact = direct(adjacency, base, damping)
    solution = solve(prepare_walk(adjacency, dtype=dtype, method=method), base, damping=damping, tol=tol)
    assert np.abs(solution.y - exact).max() <= tol
    # The reported bounds are honest: the residual for the exact weights is within them.
    assert true_residual(adjacency, base, damping, solution.y) <= solution.residual * (1 + 1e-9) + 1e-15
    assert solution.error_bound == pytest.approx(solution.residual / (1 - damping))
    assert solution.error_bound <= tol
    # ... and the stopping rule is not needlessly strict: one pass less would not do.
    if solution.iterations > 1:
        with pytest.raises(ConvergenceError):
            solve(
                prepare_walk(adjacency, dtype=dtype, method=method),
                base,
                damping=damping,
                tol=tol,
                max_iter=solution.iterations - 1,
            )


def test_float32_accounts_for_weight_rounding() -> None:
    # Weights 0.1 are not float32; the error budget must include their rounding.
    rng = np.random.default_rng(5)
    adjacency = random_graph(rng, 200, 0.05, decimals=None)
    adjacency.data[:] = 0.1
    base = rng.random(200)
    walk = prepare_walk(adjacency)
    assert walk.weights.dtype == np.float32 and walk.weights_lo is not None
    assert 0.0 < walk.weight_error <= 2.0**-24
    assert walk.weight_error_lo <= 2.0**-48
    exact = direct(adjacency, base, 0.995)
    solution = solve(walk, base, damping=0.995, tol=1e-7)
    assert np.abs(solution.y - exact).max() <= 1e-7


def test_exact_float32_weights_need_no_low_part() -> None:
    rng = np.random.default_rng(6)
    adjacency = random_graph(rng, 100, 0.05, decimals=0)  # integer weights
    walk = prepare_walk(adjacency)
    assert walk.weights_lo is None
    assert walk.weight_error == walk.weight_error_lo == 0.0
    float64_walk = prepare_walk(adjacency, dtype=np.float64)
    assert float64_walk.weights_lo is None and float64_walk.weight_error == 0.0
    assert walk.nbytes < float64_walk.nbytes


@pytest.mark.parametrize("method", METHODS)
def test_float64_walk_reaches_float64_accuracy(graph: tuple[sp.csr_matrix, np.ndarray], method: str) -> None:
    adjacency, base = graph
    walk = prepare_walk(adjacency, dtype=np.float64, method=method)
    solution = solve(walk, base, damping=0.85, tol=1e-14)
    np.testing.assert_allclose(solution.y, direct(adjacency, base, 0.85), rtol=0, atol=1e-13)


def test_float32_walk_refuses_tolerances_it_cannot_certify(graph: tuple[sp.csr_matrix, np.ndarray]) -> None:
    adjacency, base = graph
    walk = prepare_walk(adjacency)
    assert float32_suffices(FLOAT32_MIN_TOL, 0.985)
    assert not float32_suffices(1e-15, 0.85)
    with pytest.raises(ParameterError, match=r"dtype=numpy\.float64"):
        solve(walk, base, damping=0.85, tol=1e-16)


# ----------------------------------------------------------------------------- isolated nodes and edge cases


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_isolated_nodes_keep_their_base_exactly(
    graph: tuple[sp.csr_matrix, np.ndarray], method: str, dtype: Any
) -> None:
    adjacency, base = graph
    walk = prepare_walk(adjacency, dtype=dtype, method=method)
    assert walk.to_original(walk.isolated)[-5:].all()
    assert not walk.to_original(walk.isolated)[:-5].any()
    y = solve(walk, base, damping=0.7, tol=1e-8).y
    assert np.array_equal(y[-5:], base[-5:])


def test_graph_without_links_and_empty_graph() -> None:
    lonely = prepare_walk(sp.csr_matrix((3, 3)))
    solution = solve(lonely, [0.2, 0.4, 0.6], damping=0.5)
    assert solution.y.tolist() == [0.2, 0.4, 0.6]
    assert solution.iterations == 0
    empty = prepare_walk(sp.csr_matrix((0, 0)))
    assert solve(empty, np.zeros(0), damping=0.5).y.shape == (0,)
    assert empty.nbytes > 0 and empty.links == 0


def test_two_nodes_closed_form() -> None:
    # y0 = (b0 + a b1) / (1 + a), y1 = (b1 + a b0) / (1 + a); the weight cancels in P.
    adjacency = sp.csr_matrix(np.array([[0.0, 3.7], [3.7, 0.0]]))
    for method in METHODS:
        y = solve(prepare_walk(adjacency, method=method), [0.9, 0.2], damping=0.6, tol=1e-12).y
        np.testing.assert_allclose(y, [(0.9 + 0.6 * 0.2) / 1.6, (0.2 + 0.6 * 0.9) / 1.6], atol=1e-12)


# ----------------------------------------------------------------------------- orders and colours


@pytest.mark.parametrize("method", METHODS)
def test_reorder_invariance(graph: tuple[sp.csr_matrix, np.ndarray], method: str) -> None:
    adjacency, base = graph
    tol = 1e-9
    results = {}
    for reorder in (False, True, "degree", "rcm"):
        walk = prepare_walk(adjacency, reorder=reorder, method=method)
        results[reorder] = solve(walk, base, damping=0.85, tol=tol).y
    for y in results.values():
        assert np.abs(y - results[False]).max() <= 2 * tol
    exact = direct(adjacency, base, 0.85)
    for y in results.values():
        assert np.abs(y - exact).max() <= tol


def test_orders_are_permutations_and_colours_proper(graph: tuple[sp.csr_matrix, np.ndarray]) -> None:
    adjacency, _ = graph
    n = adjacency.shape[0]
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    for reorder in (False, True, "rcm"):
        walk = prepare_walk(adjacency, reorder=reorder)
        assert walk.colours is not None and walk.method == "sor"
        order = np.arange(n) if walk.order is None else walk.order
        assert np.array_equal(np.sort(order), np.arange(n))
        np.testing.assert_allclose(walk.degree, degree[order], rtol=1e-15)
        rebuilt = sp.csr_matrix((walk.weights.astype(np.float64), walk.indices, walk.indptr), shape=(n, n))
        original = adjacency[order][:, order]
        np.testing.assert_allclose(rebuilt.toarray(), original.toarray(), rtol=2.0**-24)
        # no link inside a colour class
        colour = np.repeat(np.arange(walk.colours.size - 1), np.diff(walk.colours))
        rows = np.repeat(np.arange(n), np.diff(walk.indptr))
        assert not np.any(colour[rows] == colour[walk.indices])
    chebyshev = prepare_walk(adjacency, reorder=False, method="chebyshev")
    assert chebyshev.order is None and chebyshev.colours is None and chebyshev.method == "chebyshev"


def test_results_do_not_depend_on_threads() -> None:
    rng = np.random.default_rng(9)
    adjacency = random_graph(rng, 3000, 0.004)
    base = rng.random(3000)
    threads = numba.get_num_threads()
    try:
        for method in METHODS:
            walk = prepare_walk(adjacency, method=method)
            numba.set_num_threads(1)
            one = solve(walk, base, damping=0.85, tol=1e-9)
            numba.set_num_threads(threads)
            many = solve(walk, base, damping=0.85, tol=1e-9)
            assert np.array_equal(one.y, many.y)
            assert one.iterations == many.iterations
            assert np.array_equal(walk_product(walk, one.y), walk_product(walk, many.y))
    finally:
        numba.set_num_threads(threads)


def test_walk_product_is_float64_accurate(graph: tuple[sp.csr_matrix, np.ndarray]) -> None:
    adjacency, base = graph
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    linked = degree > 0
    expected = np.where(linked, (adjacency @ base) / np.where(linked, degree, 1.0), 0.0)
    for dtype in DTYPES:
        np.testing.assert_allclose(
            walk_product(prepare_walk(adjacency, dtype=dtype), base), expected, atol=1e-14
        )


def test_sor_needs_fewer_passes_than_chebyshev(graph: tuple[sp.csr_matrix, np.ndarray]) -> None:
    adjacency, base = graph
    sor = solve(prepare_walk(adjacency), base, damping=0.85, tol=1e-8)
    chebyshev = solve(prepare_walk(adjacency, method="chebyshev"), base, damping=0.85, tol=1e-8)
    assert sor.iterations < chebyshev.iterations


# ----------------------------------------------------------------------------- warm starts and failures


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_warm_start_from_the_solution(
    graph: tuple[sp.csr_matrix, np.ndarray], method: str, dtype: Any
) -> None:
    adjacency, base = graph
    walk = prepare_walk(adjacency, dtype=dtype, method=method)
    cold = solve(walk, base, damping=0.85, tol=1e-8)
    exact = solve(walk, base, damping=0.85, tol=1e-12)
    warm = solve(walk, base, damping=0.85, tol=1e-8, x0=exact.y)
    assert warm.iterations <= 2 < cold.iterations
    assert np.abs(warm.y - exact.y).max() <= 1e-8
    # a nearby start (yesterday's solution for a slightly different base) still helps
    nudged = base + 0.01 * np.random.default_rng(1).standard_normal(base.size)
    again = solve(walk, nudged, damping=0.85, tol=1e-8, x0=exact.y)
    assert again.iterations < solve(walk, nudged, damping=0.85, tol=1e-8).iterations
    assert np.abs(again.y - direct(adjacency, nudged, 0.85)).max() <= 1e-8


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_convergence_error_when_max_iter_is_too_small(
    graph: tuple[sp.csr_matrix, np.ndarray], method: str, dtype: Any
) -> None:
    adjacency, base = graph
    with pytest.raises(ConvergenceError) as info:
        solve(prepare_walk(adjacency, dtype=dtype, method=method), base, damping=0.9, tol=1e-12, max_iter=1)
    assert info.value.iterations == 1
    assert info.value.tol == 1e-12
    assert info.value.residual > 1e-12


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"damping": 1.0}, "damping"),
        ({"damping": 0.0}, "damping"),
        ({"damping": True}, "damping"),
        ({"tol": 0.0}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 1.5}, "max_iter"),
        ({"base": [0.5]}, "base"),
        ({"base": [0.5, float("inf")]}, "base"),
        ({"x0": [0.5, 0.5, 0.5]}, "x0"),
    ],
)
def test_bad_solve_parameters(kwargs: dict[str, Any], name: str) -> None:
    walk = prepare_walk(sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])))
    arguments: dict[str, Any] = {"base": [0.5, 0.5], "damping": 0.5, **kwargs}
    base = arguments.pop("base")
    with pytest.raises(ParameterError) as info:
        solve(walk, base, **arguments)
    assert info.value.name == name


@pytest.mark.parametrize(
    ("adjacency", "kwargs", "name"),
    [
        (np.array([[0.0, 1.0], [1.0, 0.0]]), {}, "adjacency"),
        (sp.csc_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])), {}, "adjacency"),
        (sp.csr_matrix(np.ones((2, 3))), {}, "adjacency"),
        (sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])), {"dtype": np.float16}, "dtype"),
        (sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])), {"reorder": "random"}, "reorder"),
        (sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])), {"method": "jacobi"}, "method"),
    ],
)
def test_bad_prepare_parameters(adjacency: Any, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError) as info:
        prepare_walk(adjacency, **kwargs)
    assert info.value.name == name


def test_walkgraph_is_compact(graph: tuple[sp.csr_matrix, np.ndarray]) -> None:
    adjacency, _ = graph
    walk = prepare_walk(adjacency)
    assert isinstance(walk, WalkGraph)
    assert walk.indptr.dtype == np.int64 and walk.indices.dtype == np.int32
    assert walk.degree.dtype == np.float64 and walk.isolated.dtype == np.bool_
    assert walk.links == adjacency.nnz // 2
    # 4 + 4 + 4 bytes per stored entry (two per link) plus a few per node
    assert walk.nbytes <= 24 * walk.links + 40 * walk.n


# ----------------------------------------------------------------------------- properties


@st.composite
def small_graphs(draw: Any) -> tuple[sp.csr_matrix, np.ndarray]:
    adjacency, base = draw(graphs_with_base(1, 9))
    return check_adjacency(adjacency), base


@settings(max_examples=80, deadline=None)
@given(
    small_graphs(),
    st.floats(0.05, 0.97),
    st.sampled_from([1e-4, 1e-8, 1e-11]),
    st.sampled_from(DTYPES),
    st.sampled_from(METHODS),
    st.sampled_from([False, True, "rcm"]),
)
def test_random_small_graphs(
    graph: tuple[sp.csr_matrix, np.ndarray], damping: float, tol: float, dtype: Any, method: str, reorder: Any
) -> None:
    adjacency, base = graph
    walk = prepare_walk(adjacency, dtype=dtype, method=method, reorder=reorder)
    solution = solve(walk, base, damping=damping, tol=tol)
    assert isinstance(solution, Solution)
    exact = direct(adjacency, base, damping)
    assert np.abs(solution.y - exact).max() <= tol
    assert solution.error_bound <= tol
    isolated = np.asarray(adjacency.sum(axis=1)).ravel() == 0
    assert np.array_equal(solution.y[isolated], base[isolated])


def test_a_solve_runs_on_one_thread_when_its_threads_stall() -> None:
    """The thread plan keeps numba's threads unless the one-thread probe sweep is faster."""
    import time as clock

    import numba

    from credence.scoring.solver import PROBE_NNZ, ThreadPlan

    default = numba.get_num_threads()
    seen: list[int] = []

    def stalls_on_threads() -> None:  # a sweep whose barriers stall: slow on several threads
        seen.append(numba.get_num_threads())
        clock.sleep(0.02 if numba.get_num_threads() > 1 else 0.001)

    def scales() -> None:  # a sweep that threads speed up
        seen.append(numba.get_num_threads())
        clock.sleep(0.02 / numba.get_num_threads())

    stalled, quiet, small = ThreadPlan(PROBE_NNZ), ThreadPlan(PROBE_NNZ), ThreadPlan(PROBE_NNZ - 1)
    for plan, kernel in ((stalled, stalls_on_threads), (quiet, scales), (small, stalls_on_threads)):
        for _ in range(4):
            plan.sweep(kernel, ())
        plan.restore()
        assert numba.get_num_threads() == default  # given back
    if default > 1:
        assert stalled.threads == 1 and seen[:4] == [default, 1, 1, 1]
        assert quiet.threads == default and seen[4:8] == [default, 1, default, default]
    assert small.threads == default and seen[8:] == [default] * 4  # small walks never probe
