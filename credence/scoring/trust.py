"""Trust mode for fraud work: SybilRank-style trust propagated from verified seeds.

SybilRank (Cao, Sirivianos, Yang and Pregueiro, NSDI 2012) ranks accounts by how
much trust reaches them from a few verified *seed* users in a short random walk.
A sybil region is joined to the honest region by few *attack links*, so a walk
started in the honest region seldom crosses into it within a few steps: stopped
early, before it mixes over the whole graph, the walk leaves the sybils with
little trust. Ranking by trust per unit of weighted degree removes the advantage
of simply having many links (the walk's stationary trust is proportional to the
degree), so the sybils sink to the bottom of the ranking.

With ``A`` the symmetric weighted adjacency among the participants, ``d`` their
weighted degrees and ``S`` the seeds::

    T_0(v) = total / |S|   for v in S, 0 elsewhere
    T_{i+1} = A D^-1 T_i                 (every node passes its trust to its
                                          neighbours in proportion to link weight)
    T_{i+1}(v) = T_i(v)    for isolated v (nothing to pass it to: it stays)
    normalized(v) = T(v) / d(v)          (0 for isolated nodes)

after ``ceil(log2(number of participants))`` steps by default. Every step keeps
the total: ``sum_v T_i(v) = total``. Non-participants (no consent to network
scoring, or quarantined) are removed from the graph before the walk, with their
links: they hold no trust and pass none on.

Seed groups
-----------
One seed that is an attack target (sybils linked to it, or it to them) spoils
the plain walk: in the first step it hands a share ``k / d(s)`` of its trust
(``k`` of its ``d(s)`` links lead to sybils) straight across the attack links,
before the walk has spread that trust over the honest region. The sybil region
then holds far more trust than its few attack links would let in from afar, and
when its volume is small next to that share, sybils outrank honest users.

With ``seed_groups = G > 1`` the seeds, sorted by index, are dealt round-robin
into ``G`` disjoint groups (group ``g`` takes the ``g``-th, ``(g+G)``-th, ...
seed; sizes differ by at most one) and the walk runs from each group with the
whole total::

    T^g_0(v) = total / |S_g|   for v in S_g, 0 elsewhere      (g = 1 .. G)
    T^g_{i+1} = A D^-1 T^g_i   (isolated v keeps its trust, as above)
    trust(v)      = mean_g   T^g(v)                  (still adds up to total)
    normalized(v) = median_g T^g(v) / d(v)           (0 for isolated nodes)

and the ranking is by the median. The ``G`` walks are one walk of an ``(n, G)``
matrix, a sparse-times-dense product per step: one pass over the links per step
(``G`` multiply-adds per link), ``O(n G)`` memory. ``G = 1`` is the plain walk.

Why the median: an attacked seed belongs to one group only, so only that group's
walk pours trust into the sybil region; in the others the sybils are as far from
the trust as ever. The median of ``G`` values ignores up to ``ceil(G / 2) - 1``
spoiled groups (none for ``G = 2``: with two groups of equal size the median is
the mean, which is the plain score; use ``G >= 3``), whereas an honest user,
reached by every group's walk, scores about the same in each, so its median is
close to its plain score. The price: each walk starts from fewer seeds, so it
covers the honest communities less evenly; keep enough seeds per group to reach
all of them within the walk.

Limitation: an attacker who reaches the seeds of ``ceil(G / 2)`` or more groups
(one who knows the seeds knows the groups, the split being deterministic) moves
the median as he moved the plain score; groups only multiply the seeds he must
reach. The median protects the ranking, not the trust: ``trust``, the mean over
groups, still carries the leak (with groups of equal size it is, by linearity,
exactly the plain walk's trust).

Examples
--------
A path 0 - 1 - 2 with the seed at one end: two steps carry the trust from node 0
to node 1 and back out to both ends.

>>> import numpy as np
>>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
>>> r = sybil_trust(A, [0])
>>> r.iterations, r.trust.tolist(), r.ranking.tolist()
(2, [0.5, 0.0, 0.5], [0, 2, 1])
>>> r.suspicious(1).tolist()
[1]

Seed groups: honest users 0 to 4 all linked to each other, seeds 0, 1 and 2, and
sybils 5 - 6 hanging off seed 0. The plain walk ranks sybil 5 above seed 0; with
three groups, ``{0}``, ``{1}`` and ``{2}``, only the walk from seed 0 reaches the
sybils early, the median discards it, and both sybils rank last.

>>> A = np.zeros((7, 7))
>>> A[:5, :5] = 1 - np.eye(5)
>>> A[0, 5] = A[5, 0] = A[5, 6] = A[6, 5] = 1
>>> sybil_trust(A, [0, 1, 2]).suspicious(2).tolist()
[6, 0]
>>> sybil_trust(A, [0, 1, 2], seed_groups=3).suspicious(2).tolist()
[5, 6]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from credence.core.arrays import unique_sorted
from credence.core.checks import check_int, check_real
from credence.core.errors import ParameterError
from credence.core.types import BoolArray, FloatArray, IntArray
from credence.scoring.diffusion import check_adjacency, check_participating, restrict

__all__ = ["TrustResult", "check_seeds", "default_iterations", "sybil_trust"]


# --------------------------------------------------------------------------- validation


def check_seeds(seeds: Any, n: int, participating: BoolArray | None = None, name: str = "seeds") -> IntArray:
    """Validate seed users: integer indices in ``[0, n)`` or a boolean mask of length ``n``.

    Parameters
    ----------
    seeds : int, array_like of int, or array_like of bool
        Indices of the seeds (repeats are ignored) or a boolean mask.
    n : int
        Number of nodes.
    participating : ndarray of bool, optional
        If given, every seed must be a participant.
    name : str
        Parameter name used in errors.

    Returns
    -------
    ndarray of int64
        The distinct seed indices, sorted (a new array).

    Raises
    ------
    ParameterError
        If ``seeds`` is empty, of another dtype or shape, out of range, or names a
        non-participant.

    Examples
    --------
    >>> check_seeds([2, 0, 2], 3).tolist()
    [0, 2]
    >>> check_seeds(np.array([False, True, True]), 3).tolist()
    [1, 2]
    >>> check_seeds([3], 3)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'seeds' = 3: must be node indices in [0, 3)
    """
    if isinstance(seeds, bool | np.bool_):
        raise ParameterError(name, seeds, "must be node indices or a boolean mask, not a single bool")
    try:
        arr = np.asarray(seeds)
    except (TypeError, ValueError) as exc:  # pragma: no cover - ragged input
        raise ParameterError(name, type(seeds).__name__, f"must be an array of node indices: {exc}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ParameterError(name, f"shape {arr.shape}", "must be a 1-D array of indices or a boolean mask")
    if arr.size == 0:
        raise ParameterError(name, "empty", "must name at least one seed")
    if arr.dtype == np.bool_:
        if arr.shape[0] != n:
            raise ParameterError(
                name, f"mask of length {arr.shape[0]}", f"a boolean mask must have length {n}"
            )
        index = np.flatnonzero(arr).astype(np.int64)
        if index.size == 0:
            raise ParameterError(name, "mask with no True entry", "must name at least one seed")
    elif arr.dtype.kind in "iu":
        out = (arr < 0) | (arr >= n)
        if out.any():
            raise ParameterError(
                name, arr[np.flatnonzero(out)[0]].item(), f"must be node indices in [0, {n})"
            )
        index = unique_sorted(arr)
    else:
        raise ParameterError(name, f"dtype {arr.dtype}", "must be integer node indices or a boolean mask")
    if participating is not None:
        absent = ~participating[index]
        if absent.any():
            raise ParameterError(
                name,
                int(index[np.flatnonzero(absent)[0]]),
                "is not participating (no consent or quarantined); seeds must participate",
            )
    return index


def _check_seed_groups(seed_groups: Any, n_seeds: int, name: str = "seed_groups") -> int:
    groups = check_int(seed_groups, name, 1)
    if groups > n_seeds:
        raise ParameterError(name, groups, f"must not exceed the number of distinct seeds ({n_seeds})")
    return groups


def default_iterations(n_participants: int) -> int:
    """``ceil(log2(n_participants))``, at least 1: SybilRank's early-terminated walk length.

    Examples
    --------
    >>> [default_iterations(n) for n in (1, 2, 3, 4, 5, 1024, 1025)]
    [1, 1, 2, 2, 3, 10, 11]
    """
    return max(1, (max(int(n_participants), 1) - 1).bit_length())


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class TrustResult:
    """Trust of every node after an early-terminated walk from the seeds (arrays read-only).

    Attributes
    ----------
    trust : ndarray of float64, shape (n,)
        Trust held by each node; adds up to ``total_trust``; 0 for non-participants.
    normalized : ndarray of float64, shape (n,)
        The ranking score: ``trust / degree``; with ``seed_groups > 1`` the median
        over the groups of each group's ``trust / degree`` (not ``trust / degree``
        in general). 0 for isolated nodes and non-participants.
    ranking : ndarray of int64, shape (n,)
        Every node index, most trusted first: participants by ``normalized``
        (descending), ties broken by ``trust`` (descending: an isolated seed
        ahead of unreached nodes), then by index; non-participants last, by index.
    iterations : int
        Steps of the walk that were taken.
    degree : ndarray of float64, shape (n,)
        Weighted degree among participants (0 for non-participants).
    participating : ndarray of bool, shape (n,)
        Who took part in the walk.
    seeds : ndarray of int64
        The distinct seed indices, sorted.
    seed_groups : int
        Number of disjoint seed groups walked separately (1: the plain walk).
    """

    trust: FloatArray
    normalized: FloatArray
    ranking: IntArray
    iterations: int
    degree: FloatArray
    participating: BoolArray
    seeds: IntArray
    seed_groups: int = 1

    def __post_init__(self) -> None:
        for array in (self.trust, self.normalized, self.ranking, self.degree, self.participating, self.seeds):
            array.flags.writeable = False

    def suspicious(self, k: int) -> IntArray:
        """The ``k`` lowest-ranked participants, least trusted first.

        Parameters
        ----------
        k : int
            How many (>= 0); all participants when ``k`` exceeds their number.

        Returns
        -------
        ndarray of int64
            Node indices: the participating tail of :attr:`ranking`, reversed.

        Raises
        ------
        ParameterError
            If ``k`` is not an integer >= 0.

        Examples
        --------
        >>> r = sybil_trust(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), [0])
        >>> r.suspicious(2).tolist(), r.suspicious(10).tolist()
        ([1, 2], [1, 2, 0])
        """
        n_part = int(np.count_nonzero(self.participating))
        take = min(check_int(k, "k"), n_part)
        return self.ranking[n_part - take : n_part][::-1].copy()


# --------------------------------------------------------------------------- the walk


def sybil_trust(
    adjacency: Any,
    seeds: Any,
    *,
    iterations: int | None = None,
    total_trust: float = 1.0,
    participating: Any = None,
    seed_groups: int = 1,
) -> TrustResult:
    """SybilRank trust: propagate trust from seed users for a few steps, rank by trust / degree.

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency over all users (see
        :func:`credence.scoring.diffusion.check_adjacency`).
    seeds : int, array_like of int, or array_like of bool
        Verified seed users, as indices or a boolean mask (see :func:`check_seeds`);
        at least one, all participating. Trust starts evenly spread over them.
    iterations : int, optional
        Steps of the walk (>= 0; 0 leaves the trust on the seeds). Default
        ``ceil(log2(number of participants))`` (at least 1): SybilRank's early
        termination, long enough to reach the honest region and short enough
        not to mix into a sybil region behind few attack links. A walk run to
        convergence (on a connected, non-bipartite graph) ends with trust
        proportional to degree, so that every ``normalized`` value is the same
        and the ranking says nothing.
    total_trust : float
        Total trust (finite, > 0); every value scales with it.
    participating : array_like of bool, shape (n,), optional
        Consenting and not quarantined; default everyone. Non-participants and
        their links are removed before the walk; they get trust 0 and rank last.
    seed_groups : int
        Split the distinct seeds, sorted by index, round-robin into this many
        disjoint groups (1 <= ``seed_groups`` <= number of distinct seeds), walk
        from each group with the whole ``total_trust``, and rank by the median
        over the groups of trust / degree; ``trust`` is the mean over the groups.
        A seed that is an attack target then spoils only its own group (see the
        module docstring). Default 1: the plain walk, unchanged. Costs ``O(n *
        seed_groups)`` memory; each step is still one pass over the links.

    Returns
    -------
    TrustResult

    Raises
    ------
    ParameterError
        Bad adjacency, seeds, iterations, total_trust, participating or seed_groups.

    Notes
    -----
    One step is ``T <- A (T / d)`` on nodes with links; an isolated participant
    (a seed whose neighbours all left, say) keeps its trust, so the total is
    conserved exactly in exact arithmetic (to rounding in floating point). An
    isolated node has no degree to normalise by: its ``normalized`` value is
    defined as 0. An isolated non-seed holds no trust and ranks with the
    unreached nodes at the bottom; an isolated seed keeps its trust, which puts
    it ahead of every node without trust but behind every linked node that the
    walk reached. One step costs one sparse matrix-vector product,
    ``O(links)``; with seed groups, one sparse matrix times an ``(n,
    seed_groups)`` dense matrix, ``O(links * seed_groups)`` arithmetic in one
    pass over the links.

    Examples
    --------
    A weighted triangle 0, 1, 2 (the link 0 - 1 weighs 2) with node 3 hanging off
    node 2, seeds 0 and 1: every degree is 3 but node 3's, which is 1.

    >>> A = np.array([[0, 2, 1, 0], [2, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]])
    >>> r = sybil_trust(A, [0, 1])
    >>> r.iterations, (r.trust * 9).round(9).tolist()
    (2, [3.0, 3.0, 2.0, 1.0])
    >>> r = sybil_trust(A, [0, 1], iterations=3)
    >>> (r.trust * 27).round(9).tolist(), r.ranking.tolist()
    ([8.0, 8.0, 9.0, 2.0], [2, 0, 1, 3])

    Two seed groups, ``{0}`` and ``{1}``, one step: group ``{0}`` gives nodes 0, 1,
    2 the trust 0, 2/3, 1/3, group ``{1}`` gives them 2/3, 0, 1/3 (node 3 nothing).
    ``trust`` is the mean; ``normalized`` the median (of two: their mean) of
    trust / degree, here the same as trust / degree.

    >>> r = sybil_trust(A, [0, 1], iterations=1, seed_groups=2)
    >>> r.seed_groups, (r.trust * 3).round(9).tolist(), (r.normalized * 9).round(9).tolist()
    (2, [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    """
    matrix = check_adjacency(adjacency)
    n = matrix.shape[0]
    members = check_participating(participating, n)
    seed_index = check_seeds(seeds, n, members)
    steps = None if iterations is None else check_int(iterations, "iterations")
    total = check_real(total_trust, "total_trust", lo=0.0, lo_open=True, joint=True)
    groups = _check_seed_groups(seed_groups, seed_index.size)

    index, sub = restrict(matrix, members)
    if steps is None:
        steps = default_iterations(index.size)
    position = np.full(n, -1, dtype=np.int64)
    position[index] = np.arange(index.size)

    degree_sub = np.asarray(sub.sum(axis=1), dtype=np.float64).ravel()
    isolated = degree_sub == 0.0
    inverse = np.zeros(index.size)
    np.divide(1.0, degree_sub, out=inverse, where=~isolated)

    # one column per seed group (a plain vector for one group): seed j of the sorted
    # seeds is in group j mod G, and every group starts with the whole total
    current: FloatArray  # (n,) for one group, (n, groups) for several
    if groups == 1:
        current = np.zeros(index.size)
        current[position[seed_index]] = total / seed_index.size
        scale = inverse
    else:
        member_of = np.arange(seed_index.size) % groups
        current = np.zeros((index.size, groups))
        current[position[seed_index], member_of] = total / np.bincount(member_of)[member_of]
        scale = inverse[:, np.newaxis]
    kept = np.zeros_like(current)
    for _ in range(steps):
        kept[isolated] = current[isolated]
        current = np.asarray(sub @ (current * scale), dtype=np.float64).reshape(current.shape)
        current += kept

    if groups == 1:
        normalized_sub = current * inverse  # 0 where isolated
    else:
        normalized_sub = np.median(current * scale, axis=1)
        current = current.mean(axis=1)
    trust = np.zeros(n)
    trust[index] = current
    normalized = np.zeros(n)
    normalized[index] = normalized_sub
    degree = np.zeros(n)
    degree[index] = degree_sub

    # participants: normalized desc, trust desc, index asc; then non-participants by index
    order_sub = np.lexsort((index, -current, -normalized_sub))
    ranking = np.concatenate([index[order_sub], np.flatnonzero(~members)]).astype(np.int64)
    return TrustResult(
        trust=trust,
        normalized=normalized,
        ranking=ranking,
        iterations=steps,
        degree=degree,
        participating=members,
        seeds=seed_index,
        seed_groups=groups,
    )
