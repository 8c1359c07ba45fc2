"""Random friend graphs: the one link generator behind every synthetic graph of Credence.

The population generator (:mod:`credence.seeds.synthetic`), the diffusion
benchmark (``benchmarks/diffusion_peers.py``) and the honest side of the
sybil-resistance experiment (:mod:`credence.seeds.sybil`) all draw their links
here. The model is a degree-corrected stochastic block model:

* **communities** of power-law sizes (density exponent :data:`COMMUNITY_EXPONENT`,
  the largest at most a quarter of the nodes; sizes are Pareto quantiles, so the
  shape does not hang on the luck of the largest draw);
* **propensities** from a Pareto law (density exponent ``degree_exponent``),
  capped so that the largest expected degree stays below ``max_degree`` and its
  within-community links fit in the largest community (at most
  :data:`INTRA_ROOM` of its members); nodes are placed in communities big enough
  for their within-community links, as in the LFR benchmark;
* **links**: each picks a source by propensity and a target by propensity, in the
  source's community for a fraction ``homophily`` of the links and in another
  community for the rest; self-links and repeated pairs are redrawn, so a graph
  has exactly the links asked for unless the model saturates. With one community
  this is the Chung-Lu model.

:func:`block_model` draws a whole graph. The population generator calls its two
steps, :func:`block_model_nodes` and :func:`block_model_links`, itself, because it
interleaves other draws and plants fraud around the honest links with
:func:`distinct_pairs`. A link is an unordered pair ``lo < hi`` of node indices,
stored as the key ``lo * n + hi``, so sorting keys sorts pairs and a set of links
is one sorted ``int64`` array.

Examples
--------
>>> graph = block_model(2_000, avg_degree=10.0, homophily=0.9, seed=1)
>>> graph.n, graph.links, int(graph.community.max()) + 1
(2000, 10000, 10)
>>> A = graph.adjacency()
>>> A.shape, A.nnz // 2, A.has_canonical_format, bool((A != A.T).nnz == 0), float(A.diagonal().sum())
((2000, 2000), 10000, True, True, 0.0)
>>> lo, hi = graph.keys // graph.n, graph.keys % graph.n
>>> bool(abs(float((graph.community[lo] == graph.community[hi]).mean()) - 0.9) < 0.02)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_int, check_real
from credence.core.errors import ParameterError

__all__ = [
    "COMMUNITY_EXPONENT",
    "INTRA_ROOM",
    "Graph",
    "block_model",
    "block_model_links",
    "block_model_nodes",
    "cap_propensities",
    "distinct_pairs",
    "friend_weights",
    "keys_to_adjacency",
    "pair_keys",
    "pareto_propensities",
    "sorted_unique",
    "uniform_pairs",
]

#: At most this fraction of a community is expected among one member's links inside it.
INTRA_ROOM = 0.3

#: Density exponent of the power law of community sizes (the largest holds at most a
#: quarter of the nodes).
COMMUNITY_EXPONENT = 2.5

#: Draws of ``k`` candidate pairs ``(a, b)``, two index arrays of length ``k``.
PairDraw = Callable[[int], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- pairs


def pair_keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Keys ``min(a, b) * n + max(a, b)`` of the unordered pairs ``(a[i], b[i])``.

    Examples
    --------
    >>> pair_keys(np.array([3, 0]), np.array([1, 2]), 10).tolist()
    [13, 2]
    """
    return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """The distinct values of ``keys``, sorted (``np.unique`` without its overhead).

    Examples
    --------
    >>> sorted_unique(np.array([5, 1, 5, 3])).tolist()
    [1, 3, 5]
    """
    keys = np.sort(keys)
    if keys.size:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


def _in_sorted(keys: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    if not sorted_pool.size:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_pool, keys), sorted_pool.size - 1)
    return sorted_pool[pos] == keys


def distinct_pairs(
    rng: np.random.Generator,
    m: int,
    draw: PairDraw,
    n: int,
    initial: np.ndarray | None = None,
    max_rounds: int = 60,
) -> np.ndarray:
    """Sorted keys ``lo * n + hi`` of up to ``m`` distinct unordered pairs.

    Parameters
    ----------
    rng : numpy.random.Generator
        Picks which candidates to keep when a round draws more than needed.
    m : int
        How many pairs.
    draw : callable
        ``draw(k)`` returns ``k`` candidate pairs as two index arrays; self-pairs and
        repeats are dropped and the shortfall is redrawn, the next batch inflated by
        the observed yield.
    n : int
        The key base (the number of nodes).
    initial : ndarray of int64, optional
        Sorted, distinct keys to include; they count towards ``m``.
    max_rounds : int
        Give up after this many rounds, or after three rounds that found nothing new
        (the pairs ``draw`` can reach are (nearly) exhausted): then fewer than ``m``
        pairs come back.

    Returns
    -------
    ndarray of int64
        Sorted distinct keys.

    Examples
    --------
    Ten distinct pairs among five nodes is all of them:

    >>> rng = np.random.default_rng(0)
    >>> keys = distinct_pairs(rng, 10, uniform_pairs(rng, np.arange(5), np.arange(5)), 5)
    >>> keys.size, bool((np.diff(keys) > 0).all()), bool((keys // 5 < keys % 5).all())
    (10, True, True)
    """
    chunks: list[np.ndarray] = [] if initial is None else [initial]
    have = sum(c.size for c in chunks)
    batch = m - have
    empty_rounds = 0
    for _ in range(max_rounds):
        need = m - have
        if need <= 0 or empty_rounds >= 3:  # done, or (nearly) infeasible
            break
        a, b = draw(batch)
        keep = a != b
        a, b = a[keep], b[keep]
        keys = sorted_unique(pair_keys(a, b, n))
        for chunk in chunks:
            keys = keys[~_in_sorted(keys, chunk)]
        empty_rounds = 0 if keys.size else empty_rounds + 1
        yield_ = max(keys.size / batch, 0.02)
        if keys.size > need:
            keys = np.sort(rng.choice(keys, need, replace=False))
        chunks.append(keys)
        have += keys.size
        batch = min(math.ceil((m - have) / yield_ * 1.1) + 8, 4 * m + 1024)
    if not chunks:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(chunks))


def uniform_pairs(rng: np.random.Generator, left: np.ndarray, right: np.ndarray) -> PairDraw:
    """A :func:`distinct_pairs` drawer: ``k`` pairs uniform in ``left`` x ``right``.

    Examples
    --------
    >>> a, b = uniform_pairs(np.random.default_rng(0), np.array([1, 2]), np.array([7]))(3)
    >>> bool(np.isin(a, [1, 2]).all()), b.tolist()
    (True, [7, 7, 7])
    """

    def draw(k: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.choice(left, k), rng.choice(right, k)

    return draw


def keys_to_adjacency(keys: np.ndarray, n: int, weights: Any = None) -> sp.csr_matrix:
    """The symmetric adjacency of ``n`` nodes with links ``keys`` (sorted, distinct).

    Parameters
    ----------
    keys : ndarray of int64
        Sorted distinct keys ``lo * n + hi``.
    n : int
        Number of nodes.
    weights : array_like, optional
        One weight per key (default 1).

    Returns
    -------
    scipy.sparse.csr_matrix
        float64, shape ``(n, n)``, in canonical format (sorted indices, no duplicates).

    Examples
    --------
    >>> keys_to_adjacency(np.array([1, 5]), 3, [2.0, 0.5]).toarray().tolist()
    [[0.0, 2.0, 0.0], [2.0, 0.0, 0.5], [0.0, 0.5, 0.0]]
    """
    w = np.ones(keys.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != keys.shape:
        raise ParameterError("weights", f"shape {w.shape}", f"must have one weight per link ({keys.size})")
    # int32 indices when they fit: a graph of millions of links then takes half the memory
    index = np.int32 if max(n, 2 * keys.size) < 2**31 else np.int64
    lo, hi = (keys // n).astype(index), (keys % n).astype(index)
    # (hi, lo) entries first: with keys sorted, every row then lists its columns in
    # increasing order, so the (stable, linear) COO-to-CSR pass leaves them sorted
    rows, cols = np.concatenate([hi, lo]), np.concatenate([lo, hi])
    del lo, hi
    matrix = sp.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))
    matrix.sum_duplicates()  # no duplicates: this only checks and records the canonical format
    return matrix


def friend_weights(rng: np.random.Generator, size: int) -> np.ndarray:
    """Link weights of ordinary friends: ``1 + lognormal(0, 0.75)`` (median 2).

    Examples
    --------
    >>> bool((friend_weights(np.random.default_rng(0), 100) > 1.0).all())
    True
    """
    return 1.0 + rng.lognormal(0.0, 0.75, size)


# --------------------------------------------------------------------------- propensities


def pareto_propensities(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Pareto propensities ``>= 1`` with density ``~ x**-exponent`` (``exponent > 2``: finite mean).

    Examples
    --------
    >>> bool(pareto_propensities(np.random.default_rng(0), 1000, 2.5).min() >= 1.0)
    True
    """
    return (1.0 - rng.random(n)) ** (-1.0 / (exponent - 1.0))


def cap_propensities(theta: np.ndarray, max_ratio: float) -> np.ndarray:
    """Cap ``theta`` so that ``max(theta) <= max_ratio * mean(theta)`` (of the capped values).

    Capping lowers the mean too, so the cap is found by fixed-point iteration.

    Examples
    --------
    >>> capped = cap_propensities(np.array([1.0, 1.0, 1.0, 97.0]), 2.0)
    >>> bool(capped.max() <= 2.0 * capped.mean() * (1 + 1e-9)), capped[:3].tolist()
    (True, [1.0, 1.0, 1.0])
    """
    if theta.size == 0:
        return theta
    cap = float(theta.max())
    for _ in range(50):
        new = max_ratio * float(np.minimum(theta, cap).mean())
        if new >= cap * (1 - 1e-9):
            break
        cap = new
    return np.minimum(theta, cap)


# --------------------------------------------------------------------------- the block model


def _assign_communities(
    rng: np.random.Generator, sizes: np.ndarray, need: np.ndarray, rounds: int = 20
) -> np.ndarray:
    """Random community of each node, with ``sizes[c]`` members in community ``c``.

    Nodes are placed at random, then nodes in a community smaller than their
    ``need`` swap places with random nodes of a big enough community who fit
    where they came from. Nodes that need more than the largest community get it.
    """
    assign = rng.permutation(np.repeat(np.arange(sizes.size, dtype=np.int64), sizes))
    need = np.minimum(need, sizes.max())
    by_size = np.argsort(-sizes, kind="stable")  # communities, largest first
    rank = np.empty_like(by_size)
    rank[by_size] = np.arange(by_size.size)
    sorted_sizes = sizes[by_size]
    members_before = np.cumsum(sorted_sizes)
    for _ in range(rounds):
        misplaced = np.flatnonzero(sizes[assign] < need)
        if not misplaced.size:
            break
        # partners: random nodes of a community among the largest ones that fit
        eligible = np.searchsorted(-sorted_sizes, -need[misplaced], side="right")
        pool = np.argsort(rank[assign], kind="stable")  # nodes, largest community first
        upto = members_before[eligible - 1]
        partner = pool[np.floor(rng.random(misplaced.size) * upto).astype(np.int64)]
        ok = (need[partner] <= sizes[assign[misplaced]]) & (sizes[assign[partner]] >= need[partner])
        # each node swaps at most once per round
        _, first = np.unique(partner, return_index=True)
        once = np.zeros(misplaced.size, dtype=bool)
        once[first] = True
        ok &= once & ~np.isin(partner, misplaced)
        a, b = misplaced[ok], partner[ok]
        assign[a], assign[b] = assign[b], assign[a].copy()
    return assign


def block_model_nodes(
    rng: np.random.Generator,
    n: int,
    *,
    communities: int,
    avg_degree: float,
    homophily: float,
    degree_exponent: float,
    max_degree: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Communities and degree propensities of ``n`` nodes (the first step of :func:`block_model`).

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of nodes (>= ``communities``).
    communities : int
        Number of communities (>= 1); sizes follow a power law (exponent
        :data:`COMMUNITY_EXPONENT`), the largest at most a quarter of the nodes, none
        empty.
    avg_degree : float
        The average degree the links will have (> 0).
    homophily : float
        The share of within-community links the links will have, in [0, 1].
    degree_exponent : float
        Density exponent of the Pareto propensities (> 2).
    max_degree : float
        Cap on the largest expected degree; it is also held to ``(n - 1) / 2`` and,
        with several communities, to what the largest community has room for.

    Returns
    -------
    community : ndarray of int64, shape (n,)
        Community of each node, in random order.
    propensity : ndarray of float64, shape (n,)
        Expected degrees are ``avg_degree * propensity / propensity.mean()``.

    Examples
    --------
    >>> community, theta = block_model_nodes(np.random.default_rng(0), 1000, communities=5,
    ...     avg_degree=10.0, homophily=0.8, degree_exponent=2.5, max_degree=100.0)
    >>> np.bincount(community).size, bool(10.0 * theta.max() / theta.mean() <= 100.0 * (1 + 1e-9))
    (5, True)
    """
    quantiles = (np.arange(communities) + 0.5) / communities
    weights = cap_propensities(
        (1.0 - quantiles) ** (-1.0 / (COMMUNITY_EXPONENT - 1.0)), max(1.0, communities / 4)
    )
    sizes = 1 + rng.multinomial(n - communities, weights / weights.sum())
    # hubs: a sane largest degree, whose within-community share fits in the largest community
    cap = min(max_degree, (n - 1) / 2.0)
    if communities > 1 and homophily > 0:
        with np.errstate(over="ignore"):  # a tiny homophily leaves room for any degree (inf)
            cap = min(cap, INTRA_ROOM * (sizes.max() - 1) / homophily)
    theta = cap_propensities(pareto_propensities(rng, n, degree_exponent), max(cap / avg_degree, 1.0))
    expected_intra = homophily * avg_degree * theta / theta.mean()
    return _assign_communities(rng, sizes, 1 + expected_intra / INTRA_ROOM), theta


def _intra_shares(theta: np.ndarray, room: np.ndarray, h: float) -> np.ndarray:
    """Per-node shares of within-community links, averaging ``h`` weighted by ``theta``.

    A node's share is ``min(t, room)``: ``t = h`` when everyone has room, else the
    smallest ``t`` that restores the mean, up to ``h + (1 - h) / 2`` (beyond that the
    few nodes left with links outside their community would have to link mostly
    among themselves). ``h = 1`` keeps every link inside, room or not.
    """
    if h <= 0.0 or h >= 1.0:
        return np.full_like(theta, h)
    target = h * float(theta.sum())
    lo, hi = h, h + (1.0 - h) / 2.0
    if float(theta @ np.minimum(hi, room)) <= target:
        return np.minimum(hi, room)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(theta @ np.minimum(mid, room)) < target else (lo, mid)
    return np.minimum(hi, room)


class _Sampler:
    """Draws indices with probability proportional to weights, overall or in a group.

    ``group`` must be sorted; ``n_groups`` bounds its values.
    """

    def __init__(
        self, rng: np.random.Generator, weights: np.ndarray, group: np.ndarray, n_groups: int
    ) -> None:
        self.rng = rng
        self.cum = np.cumsum(weights)
        self.total = float(self.cum[-1]) if weights.size else 0.0
        self.last = weights.size - 1
        self.lo = np.searchsorted(group, np.arange(n_groups), side="left")
        self.hi = np.searchsorted(group, np.arange(n_groups), side="right")
        cum0 = np.concatenate(([0.0], self.cum))
        self.start = cum0[self.lo]
        self.mass = cum0[self.hi] - self.start

    def overall(self, k: int) -> np.ndarray:
        """``k`` draws, sorted (sorted queries keep searchsorted cache-friendly)."""
        u = np.sort(self.rng.random(k)) * self.total
        return np.minimum(np.searchsorted(self.cum, u, "right"), self.last)

    def within(self, groups: np.ndarray) -> np.ndarray:
        """One draw inside each of ``groups`` (which must have positive mass)."""
        q = self.start[groups] + self.rng.random(groups.size) * self.mass[groups]
        idx = np.searchsorted(self.cum, q, "right")
        return np.clip(idx, self.lo[groups], self.hi[groups] - 1)


def block_model_links(
    rng: np.random.Generator,
    members: np.ndarray,
    community: np.ndarray,
    propensity: np.ndarray,
    m: int,
    *,
    homophily: float,
    communities: int,
) -> np.ndarray:
    """Sorted keys of ``m`` distinct links among ``members`` (the second step of :func:`block_model`).

    A fraction ``homophily`` of the links joins two members of the same community,
    the rest two members of different communities; expected degrees are
    proportional to the propensities. A member's share of within-community links is
    ``homophily`` unless their community is too small to hold that many of their
    links (hubs of small communities): then it is lower, and the others' a little
    higher. Within-community links that do not fit (saturated communities) are
    drawn between communities instead.

    Parameters
    ----------
    rng : numpy.random.Generator
    members : ndarray of int
        The nodes that take part, ascending (the rest get no link here).
    community, propensity : ndarray, shape (n,)
        Per node, as from :func:`block_model_nodes`; ``n`` is the key base.
    m : int
        Number of links.
    homophily : float
        In [0, 1].
    communities : int
        Number of communities (community labels are below it).

    Returns
    -------
    ndarray of int64
        Sorted keys ``lo * n + hi``; fewer than ``m`` only if the model saturates.

    Examples
    --------
    >>> community = np.array([0, 0, 0, 1, 1, 1])
    >>> keys = block_model_links(np.random.default_rng(0), np.arange(6), community, np.ones(6), 5,
    ...                          homophily=1.0, communities=2)
    >>> keys.size, bool((community[keys // 6] == community[keys % 6]).all())
    (5, True)
    """
    if m <= 0 or members.size < 2:
        return np.empty(0, dtype=np.int64)
    n = community.size
    bg = members[np.argsort(community[members], kind="stable")]  # grouped by community
    comm = community[bg]
    theta = propensity[bg]
    avg = 2.0 * m / bg.size

    if communities == 1:
        share = np.ones_like(theta)
    else:
        expected_degree = avg * theta / theta.mean()
        size = np.bincount(comm, minlength=communities)[comm]
        room = INTRA_ROOM * (size - 1) / expected_degree
        share = _intra_shares(theta, room, homophily)
    intra_sampler = _Sampler(rng, theta * share, comm, communities)
    inter_sampler = _Sampler(rng, theta * (1.0 - share), comm, communities)

    def draw_intra(k: int) -> tuple[np.ndarray, np.ndarray]:
        src = intra_sampler.overall(k)
        return bg[src], bg[intra_sampler.within(comm[src])]

    def draw_inter(k: int) -> tuple[np.ndarray, np.ndarray]:
        src = inter_sampler.overall(k)
        tgt = rng.permutation(inter_sampler.overall(k))  # independent of src
        tgt = np.where(comm[src] == comm[tgt], src, tgt)  # same community: rejected
        return bg[src], bg[tgt]

    m_intra = round(m * float(theta @ share) / float(theta.sum()))
    intra = distinct_pairs(rng, m_intra, draw_intra, n) if m_intra else np.empty(0, dtype=np.int64)
    # intra pairs that could not be placed (saturated communities) become inter pairs
    m_inter = m - intra.size
    inter = (
        distinct_pairs(rng, m_inter, draw_inter, n)
        if m_inter and inter_sampler.total > 0
        else np.empty(0, dtype=np.int64)
    )
    return np.sort(np.concatenate([intra, inter]))  # disjoint by construction


@dataclass(frozen=True, eq=False)
class Graph:
    """A graph drawn by :func:`block_model`.

    Attributes
    ----------
    keys : ndarray of int64
        The links, as sorted distinct keys ``lo * n + hi``.
    community : ndarray of int64, shape (n,)
        Community of each node.
    propensity : ndarray of float64, shape (n,)
        Degree propensity of each node (expected degree up to a constant factor).
    """

    keys: np.ndarray
    community: np.ndarray
    propensity: np.ndarray

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.community.size)

    @property
    def links(self) -> int:
        """Number of (undirected) links."""
        return int(self.keys.size)

    def adjacency(self, weights: Any = None) -> sp.csr_matrix:
        """The symmetric CSR adjacency (:func:`keys_to_adjacency`), unit weights by default."""
        return keys_to_adjacency(self.keys, self.n, weights)


def block_model(
    n: int,
    *,
    avg_degree: float,
    homophily: float = 0.85,
    degree_exponent: float = 2.5,
    communities: int | None = None,
    max_degree: float | None = None,
    seed: int | np.random.Generator = 0,
) -> Graph:
    """Draw a degree-corrected stochastic block model (see the module notes).

    Parameters
    ----------
    n : int
        Number of nodes (>= 2).
    avg_degree : float
        Average degree: the graph has ``round(n * avg_degree / 2)`` links, unless the
        model saturates (in (0, n - 1]).
    homophily : float
        Fraction of the links inside a community, in [0, 1] (irrelevant with one
        community).
    degree_exponent : float
        Density exponent of the Pareto degree propensities (> 2).
    communities : int, optional
        Number of communities, in [1, n]; default about one per 200 nodes. With one,
        the model is Chung-Lu.
    max_degree : float, optional
        Cap on the largest expected degree (> 0); default ``20 * sqrt(n)``.
    seed : int or numpy.random.Generator
        Seed (>= 0) or generator of the draws: same seed, same graph.

    Returns
    -------
    Graph

    Raises
    ------
    ParameterError
        For a parameter of the wrong type or out of its domain.

    Examples
    --------
    >>> g = block_model(500, avg_degree=6.0, communities=1, seed=2)
    >>> g.links, int(g.community.max())
    (1500, 0)
    >>> block_model(500, avg_degree=6.0, homophily=2.0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'homophily' = 2.0: must be in [0, 1]
    """
    n = check_int(n, "n", 2)
    avg = check_real(avg_degree, "avg_degree", lo=0.0, hi=n - 1, lo_open=True)
    h = check_real(homophily, "homophily", lo=0.0, hi=1.0)
    exponent = check_real(degree_exponent, "degree_exponent", lo=2.0, lo_open=True)
    k = max(1, round(n / 200)) if communities is None else check_int(communities, "communities", 1, n)
    cap = (
        20.0 * math.sqrt(n)
        if max_degree is None
        else check_real(max_degree, "max_degree", lo=0.0, lo_open=True)
    )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_int(seed, "seed"))
    community, propensity = block_model_nodes(
        rng, n, communities=k, avg_degree=avg, homophily=h, degree_exponent=exponent, max_degree=cap
    )
    keys = block_model_links(
        rng, np.arange(n), community, propensity, round(n * avg / 2), homophily=h, communities=k
    )
    return Graph(keys=keys, community=community, propensity=propensity)
