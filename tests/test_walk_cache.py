"""The per-matrix cache of diffuse(): hits only on the same, unchanged arrays; bounded; thread-safe.

Oracles: a dense linear solve of ``(I - a P) y = (1 - a) b`` for values, a dense numpy
reading of the rules (symmetric, finite, >= 0, no self loop) for which inputs are refused,
and the uncached path on a fresh copy for the exact error message.
"""

from __future__ import annotations

import gc
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.scoring import diffuse
from credence.scoring.diffusion import WALK_CACHE
from credence.scoring.walk_cache import CacheInfo, PreparedGraph, WalkCache, is_cacheable


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    WALK_CACHE.clear()
    yield
    WALK_CACHE.clear()


def graph(seed: int, n: int = 40, p: float = 0.15) -> sp.csr_matrix:
    """A symmetric weighted G(n, p) with the last two nodes isolated, canonical float64 CSR."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    dense = np.where(upper, rng.uniform(0.1, 5.0, (n, n)), 0.0)
    dense = dense + dense.T
    dense[-2:, :] = dense[:, -2:] = 0.0
    return sp.csr_matrix(dense)


def exact(dense: np.ndarray, base: np.ndarray, a: float) -> np.ndarray:
    """Dense oracle: y = (1 - a) (I - a P)^-1 b, isolated nodes y_u = b_u."""
    degree = dense.sum(axis=1)
    linked = degree > 0
    walk = np.zeros_like(dense)
    walk[linked] = dense[linked] / degree[linked, None]
    walk[~linked, ~linked] = 1.0
    return (1.0 - a) * np.linalg.solve(np.eye(dense.shape[0]) - a * walk, base)


def refused_by_the_rules(dense: np.ndarray) -> bool:
    """Dense reading of check_adjacency's rules (round-off symmetry aside: none is made here)."""
    if not np.isfinite(dense).all() or (dense < 0).any() or np.diag(dense).any():
        return True
    return not np.array_equal(dense, dense.T)


def message_of(call: Callable[[], object]) -> str | None:
    try:
        call()
    except ParameterError as error:
        return str(error)
    return None


def test_a_second_call_on_the_same_matrix_is_served_from_the_cache() -> None:
    A = graph(0)
    base = np.linspace(0.0, 1.0, A.shape[0])
    first = diffuse(A, base, damping=0.5, tol=1e-10)
    assert WALK_CACHE.info() == CacheInfo(hits=0, misses=1, stale=0, entries=1, maxsize=2)
    second = diffuse(A, base[::-1], damping=0.85, tol=1e-10)
    assert WALK_CACHE.info().hits == 1
    assert np.abs(first - exact(A.toarray(), base, 0.5)).max() <= 1e-10
    assert np.abs(second - exact(A.toarray(), base[::-1], 0.85)).max() <= 1e-10
    # the cached walk is the one an uncached call prepares: same result to the bit
    assert np.array_equal(second, diffuse(A, base[::-1], damping=0.85, tol=1e-10, cache=False))
    assert WALK_CACHE.info().hits == 1  # cache=False left it alone
    # a tolerance float32 cannot certify: a float64 walk is prepared once, from the private copy
    tight = diffuse(A, base, damping=0.5, tol=1e-14)
    assert np.abs(tight - exact(A.toarray(), base, 0.5)).max() <= 1e-13
    assert WALK_CACHE.info().hits == 2


def test_another_matrix_with_the_same_values_is_validated_on_its_own() -> None:
    A = graph(1)
    base = np.full(A.shape[0], 0.5)
    diffuse(A, base)
    twin = A.copy()
    diffuse(twin, base)  # equal values, other arrays: not found by identity
    assert WALK_CACHE.info()[:4] == (0, 2, 0, 2)
    del twin
    gc.collect()
    assert WALK_CACHE.info().entries == 1  # its entry went with it
    shared = sp.csr_matrix(A.shape)
    shared.data, shared.indices, shared.indptr = A.data, A.indices, A.indptr  # the very same arrays
    diffuse(shared, base)
    assert WALK_CACHE.info().hits == 1


def test_weights_changed_in_place_are_validated_again() -> None:
    A = graph(2)
    n = A.shape[0]
    base = np.random.default_rng(2).random(n)
    diffuse(A, base, damping=0.5, tol=1e-10)
    dense = A.toarray()
    i, j = (int(x) for x in np.argwhere(np.triu(dense) > 0)[0])
    # a valid change: both mirrors of one link, in place
    A.data[A.indptr[i] + np.searchsorted(A.indices[A.indptr[i] : A.indptr[i + 1]], j)] = 9.0
    A.data[A.indptr[j] + np.searchsorted(A.indices[A.indptr[j] : A.indptr[j + 1]], i)] = 9.0
    dense[i, j] = dense[j, i] = 9.0
    y = diffuse(A, base, damping=0.5, tol=1e-10)
    assert WALK_CACHE.info()[:3] == (0, 2, 1)  # stale: checked and prepared again
    assert np.abs(y - exact(dense, base, 0.5)).max() <= 1e-10
    assert np.abs(y - exact(graph(2).toarray(), base, 0.5)).max() > 1e-3  # the old answer would be wrong
    diffuse(A, base, damping=0.5, tol=1e-10)
    assert WALK_CACHE.info().hits == 1  # the changed matrix, once validated, is cached in turn


def test_a_change_and_its_undoing_between_calls_is_the_same_matrix() -> None:
    A = graph(3)
    base = np.full(A.shape[0], 0.25)
    diffuse(A, base)
    kept = A.data[0]
    A.data[0] = 123.0
    A.data[0] = kept
    diffuse(A, base)
    assert WALK_CACHE.info()[:3] == (1, 1, 0)


def mutations(A: sp.csr_matrix) -> Iterator[tuple[str, Callable[[sp.csr_matrix], None]]]:
    """In-place changes of a cached matrix's arrays, each named."""
    row = int(np.flatnonzero(np.diff(A.indptr) >= 2)[0])
    k = int(A.indptr[row])
    mirror_row = int(A.indices[k])
    mirror = int(A.indptr[mirror_row] + np.searchsorted(
        A.indices[A.indptr[mirror_row] : A.indptr[mirror_row + 1]], row))  # fmt: skip

    def both(value: float) -> Callable[[sp.csr_matrix], None]:
        def change(M: sp.csr_matrix) -> None:
            M.data[k] = M.data[mirror] = value

        return change

    def one(value: float) -> Callable[[sp.csr_matrix], None]:
        def change(M: sp.csr_matrix) -> None:
            M.data[k] = value

        return change

    def self_loop(M: sp.csr_matrix) -> None:
        M.indices[k] = row

    def swap_columns(M: sp.csr_matrix) -> None:  # the row unsorted and its weights moved
        M.indices[k], M.indices[k + 1] = M.indices[k + 1], M.indices[k]

    def move_pointer(M: sp.csr_matrix) -> None:  # one entry moved to the next row
        M.indptr[row + 1] -= 1

    yield "asymmetric weight", one(A.data[k] * 1.5)
    yield "one ulp", one(float(np.nextafter(A.data[k], np.inf)))  # round-off: symmetrised, not refused
    for value in (-1.0, math.nan, math.inf, -math.inf):
        yield f"both mirrors {value}", both(value)
    yield "nan on one side", one(math.nan)
    yield "explicit zeros", both(0.0)  # dropped by the general path: a valid matrix without the link
    yield "self loop", self_loop
    yield "unsorted row", swap_columns
    yield "row pointer moved", move_pointer


@pytest.mark.parametrize("index", range(11))
def test_every_rejection_still_happens_after_an_in_place_change(index: int) -> None:
    A = graph(4)
    n = A.shape[0]
    base = np.random.default_rng(4).random(n)
    name, change = list(mutations(A))[index]
    diffuse(A, base)  # cached
    change(A)
    fresh = A.copy()  # the mutated matrix, never seen by the cache
    expected = message_of(lambda: diffuse(fresh, base, cache=False))
    got = message_of(lambda: diffuse(A, base))
    assert got == expected, name  # the same refusal, word for word, or none
    assert WALK_CACHE.info().stale == 1, name
    dense = sp.coo_matrix((A.data, (np.repeat(np.arange(n), np.diff(A.indptr)), A.indices)), shape=A.shape)
    dense_array = dense.toarray()  # duplicates summed, as the checks count them
    refused = refused_by_the_rules(dense_array)
    if name == "one ulp":
        assert not refused_by_the_rules((dense_array + dense_array.T) / 2)
        assert got is None
    else:
        assert (got is not None) == refused, name
    if got is None:
        y = diffuse(A, base, tol=1e-10)
        symmetric = (dense_array + dense_array.T) / 2
        assert np.abs(y - exact(symmetric, base, 0.5)).max() <= 1e-9, name
    else:
        assert "parameter 'adjacency'" in got
        with pytest.raises(ParameterError):  # refused again: nothing invalid was cached
            diffuse(A, base)
        assert WALK_CACHE.info().entries == 0


def test_replaced_arrays_are_a_new_matrix() -> None:
    A = graph(5)
    base = np.full(A.shape[0], 0.5)
    diffuse(A, base)
    A.data = A.data * 2.0  # a new array: another key
    y = diffuse(A, base, tol=1e-10)
    assert WALK_CACHE.info()[:3] == (0, 2, 0)
    assert np.abs(y - exact(A.toarray(), base, 0.5)).max() <= 1e-10
    A.data = -A.data
    with pytest.raises(ParameterError, match="finite and >= 0"):
        diffuse(A, base)


def test_only_canonical_float64_csr_matrices_are_kept() -> None:
    A = graph(6)
    base = np.full(A.shape[0], 0.5)
    unsorted = A.copy()
    unsorted.indices[:2], unsorted.data[:2] = unsorted.indices[1::-1].copy(), unsorted.data[1::-1].copy()
    unsorted.has_sorted_indices = False
    for other in (A.toarray(), sp.csr_array(A), A.astype(np.float32), A.tocsc(), unsorted):
        y = diffuse(other, base, tol=1e-10)
        assert np.abs(y - exact(A.toarray(), base, 0.5)).max() <= 1e-10
    assert WALK_CACHE.info().entries == 0
    assert not is_cacheable(A.toarray()) and is_cacheable(A) and not is_cacheable(sp.csr_matrix((2, 3)))
    with pytest.raises(ParameterError) as info:
        diffuse(A, base, cache=1)
    assert info.value.name == "cache"


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    cache = WalkCache(maxsize=2)
    matrices = [graph(seed, n=12, p=0.3) for seed in range(3)]
    graphs = [cache.graph(M) for M in matrices[:2]]
    assert cache.graph(matrices[0]) is graphs[0]  # 0 is now the most recent
    cache.graph(matrices[2])  # drops 1
    assert len(cache) == 2
    assert cache.graph(matrices[0]) is graphs[0]
    assert cache.graph(matrices[1]) is not graphs[1]  # validated again
    assert cache.info() == CacheInfo(hits=2, misses=4, stale=0, entries=2, maxsize=2)
    cache.resize(1)
    assert len(cache) == 1 and cache.graph(matrices[1]) is cache.graph(matrices[1])
    cache.resize(0)
    kept = cache.graph(matrices[0])
    assert len(cache) == 0 and cache.graph(matrices[0]) is not kept
    with pytest.raises(ParameterError):
        WalkCache(maxsize=-1)
    with pytest.raises(ParameterError):
        cache.resize(1.5)  # type: ignore[arg-type]


def test_an_entry_goes_with_its_matrix() -> None:
    cache = WalkCache(maxsize=4)
    A = graph(7)
    cache.graph(A)
    assert len(cache) == 1
    del A
    gc.collect()
    assert len(cache) == 0


def test_prepared_graph_prepares_each_storage_once() -> None:
    A = graph(8)
    prepared = PreparedGraph(A)
    assert prepared.walk(np.float32) is prepared.walk(np.float32)
    assert prepared.walk(np.float64).dtype == np.float64
    with pytest.raises(ParameterError):
        prepared.walk(np.int32)


def test_threads_sharing_the_cache_get_their_own_matrix_s_answer() -> None:
    WALK_CACHE.resize(2)
    matrices = [graph(seed, n=60, p=0.1) for seed in range(10, 14)]  # more matrices than entries
    rng = np.random.default_rng(9)
    jobs = [(int(rng.integers(0, 4)), rng.random(60)) for _ in range(160)]
    expected = [exact(matrices[m].toarray(), base, 0.5) for m, base in jobs]
    start = threading.Barrier(8)

    def run(job: int) -> float:
        if job < 8:
            start.wait()
        m, base = jobs[job]
        return float(np.abs(diffuse(matrices[m], base, tol=1e-10) - expected[job]).max())

    with ThreadPoolExecutor(max_workers=8) as pool:
        errors = list(pool.map(run, range(len(jobs))))
    assert max(errors) <= 1e-10
    info = WALK_CACHE.info()
    assert info.hits + info.misses == len(jobs) and info.entries <= 2 and info.stale == 0
