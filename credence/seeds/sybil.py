"""Graphs of the sybil-resistance experiment: an honest population and a planted sybil region.

:func:`honest_graph` draws the honest side with the shared link generator
(:func:`credence.seeds.graphs.block_model`, one community: a Chung-Lu power-law
graph) and gives it homophilous bases; :func:`attach_region` appends a sybil region
of any size behind a fixed set of attack links. The experiment that measures them
is :mod:`credence.analysis.sybil_resistance`.

Examples
--------
>>> A, b = honest_graph(500, seed=2)
>>> B, bases, sybil = attach_region(A, b, 40, attack_links=3, seed=2)
>>> B.shape, int(sybil.sum()), int(B[np.flatnonzero(~sybil)][:, np.flatnonzero(sybil)].nnz)
((540, 540), 40, 3)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_int, check_real
from credence.core.errors import ParameterError
from credence.seeds.graphs import block_model, pair_keys, sorted_unique

__all__ = ["attach_region", "honest_graph"]


def honest_graph(
    n: int, *, avg_degree: float = 10.0, exponent: float = 2.5, seed: int = 0
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A random honest population: a Chung-Lu power-law graph and Beta-distributed bases.

    The links are :func:`credence.seeds.graphs.block_model` with one community:
    Pareto propensities (density exponent ``exponent``, the largest expected degree
    capped at ``20 sqrt(n)``), exactly ``round(n * avg_degree / 2)`` distinct links
    drawn between users chosen by propensity, unit weights. Bases are ``Beta(5, 3)``
    (mean 0.625), nudged towards the mean of their neighbours once so they are
    homophilous, as real credit records are.

    Parameters
    ----------
    n : int
        Number of honest users (>= 2; named ``honest_users`` in errors).
    avg_degree : float
        Average degree, in the open interval ``(0, n - 1)``.
    exponent : float
        Density exponent of the propensities (> 2).
    seed : int
        Seed of the draws: same seed, same graph and bases.

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix, shape (n, n)
    base : ndarray of float64, shape (n,), in [0, 1]

    Raises
    ------
    ParameterError
        For a parameter of the wrong type or out of its domain.

    Examples
    --------
    >>> A, b = honest_graph(1000, seed=1)
    >>> A.shape, A.nnz // 2, bool((A != A.T).nnz == 0), bool(0.0 <= b.min() and b.max() <= 1.0)
    ((1000, 1000), 5000, True, True)
    """
    n = check_int(n, "honest_users", 2)
    avg = check_real(avg_degree, "avg_degree", lo=0.0, hi=n - 1, lo_open=True, hi_open=True)
    g = check_real(exponent, "exponent", lo=2.0, lo_open=True)
    rng = np.random.default_rng(seed)
    adjacency = block_model(n, avg_degree=avg, degree_exponent=g, communities=1, seed=rng).adjacency()
    raw = rng.beta(5.0, 3.0, n)
    deg = np.asarray(adjacency.sum(axis=1)).ravel()
    neighbours = np.divide(adjacency @ raw, deg, out=raw.copy(), where=deg > 0)
    base = np.clip(0.5 * raw + 0.5 * neighbours, 0.0, 1.0)
    return adjacency, base


def attach_region(
    adjacency: sp.csr_matrix,
    base: np.ndarray,
    size: int,
    *,
    attack_links: int,
    internal_degree: int = 10,
    sybil_base: float = 1.0,
    seed: int = 0,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Append a sybil region of ``size`` accounts to an honest graph.

    Sybils link to ``internal_degree`` other sybils on average (a ring, which
    keeps the region connected, plus random chords; every other sybil when the
    region is that small), and exactly ``attack_links`` links join distinct sybils
    to distinct random honest users. The honest ends depend on ``seed`` only, not
    on ``size``, so curves compare like with like.

    Parameters
    ----------
    adjacency : scipy.sparse.csr_matrix, shape (n, n)
        The honest graph.
    base : array_like, shape (n,)
        The honest bases.
    size : int
        Accounts in the region (>= 1).
    attack_links : int
        Links between the region and honest users, in ``[0, min(n, size)]``.
    internal_degree : int
        Average number of sybil friends of a sybil (>= 1).
    sybil_base : float
        Base of every sybil, in [0, 1] (1: the best records they can fabricate).
    seed : int
        Seed of the attack links' honest ends and of the region's chords.

    Returns
    -------
    adjacency : csr_matrix, shape (n + size, n + size)
    base : ndarray, the honest bases followed by ``sybil_base``
    sybil : ndarray of bool, the sybil mask

    Raises
    ------
    ParameterError
        For a parameter of the wrong type or out of its domain.

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> B, b, s = attach_region(A, np.array([0.5, 0.5]), 3, attack_links=1)
    >>> B.shape, int(B.nnz // 2), b.tolist(), s.tolist()
    ((5, 5), 5, [0.5, 0.5, 1.0, 1.0, 1.0], [False, False, True, True, True])
    """
    n = adjacency.shape[0]
    size = check_int(size, "size", 1)
    g = check_int(attack_links, "attack_links", 0)
    internal = check_int(internal_degree, "internal_degree", 1)
    value = check_real(sybil_base, "sybil_base", lo=0.0, hi=1.0)
    if g > n:
        raise ParameterError("attack_links", attack_links, f"must be <= the number of honest users ({n})")
    if g > size:
        raise ParameterError("attack_links", attack_links, f"must be <= the region size ({size})")
    # two streams: the honest ends must not move when the region grows
    honest_rng = np.random.default_rng([seed, 1])
    region_rng = np.random.default_rng([seed, 2, size])
    if size - 1 <= internal:
        iu, ju = np.triu_indices(size, 1)
        si, sj = iu.astype(np.int64), ju.astype(np.int64)
    else:
        ring = np.arange(size)
        chords = max(0, round(size * internal / 2) - size)
        ci = region_rng.integers(0, size, chords)
        cj = region_rng.integers(0, size, chords)
        a = np.r_[ring, ci]
        b = np.r_[(ring + 1) % size, cj]
        ok = a != b
        pairs = sorted_unique(pair_keys(a[ok], b[ok], size))
        si, sj = pairs // size, pairs % size
    victims = honest_rng.choice(n, size=g, replace=False)
    ends = region_rng.choice(size, size=g, replace=False)
    rows = np.r_[si + n, victims, ends + n]
    cols = np.r_[sj + n, ends + n, victims]
    links = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n + size, n + size))
    total = (
        sp.block_diag([adjacency, sp.csr_matrix((size, size))], format="csr")
        + links
        + sp.coo_matrix((np.ones(si.size), (sj + n, si + n)), shape=(n + size, n + size))
    )
    total = sp.csr_matrix(total)
    total.sum_duplicates()
    sybil = np.r_[np.zeros(n, dtype=bool), np.ones(size, dtype=bool)]
    return total, np.r_[np.asarray(base, dtype=np.float64), np.full(size, value)], sybil
