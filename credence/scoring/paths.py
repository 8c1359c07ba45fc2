"""Influence paths: the strongest walks through which one user's base reaches another's network value.

The network value of a linked participant ``s`` (docs/design.md, "The network component") is
``n_s = (P y)_s`` with ``y = (1 - a)(I - a P)^-1 b``, hence

    n_s = sum_v pi_s(v) b_v,    pi_s = (1 - a)/a * row s of W,    W = sum_{L>=1} (a P)^L.

``W[s, t]`` is a sum over every walk ``s = u_0 -> u_1 -> ... -> u_L = t`` (``L >= 1``) of
its *path probability*

    prob(u_0 .. u_L) = prod_i a P[u_i, u_{i+1}].

Read as the walk behind ``n_s``: it takes its first step surely, each later step with
probability ``a``, and stops at the node it stands on with probability ``1 - a``. The
probability that it follows exactly ``u_0 .. u_L`` and stops at ``t`` is
``prod_i P[u_i, u_{i+1}] * a^(L-1) * (1 - a) = (1 - a)/a * prob``. So:

* ``influence = (1 - a)/a * prob`` is the path's part of ``pi_s(t) = d n_s / d b_t``;
  the sum of ``influence`` over *all* walks from ``s`` to ``t`` is ``pi_s(t)`` exactly.
* In the contributors decomposition of :meth:`credence.scoring.DiffusionState.contributors`,
  ``n_s - mu = sum_t pi_s(t)(b_t - mu)``: ``t``'s exact contribution (the push's ``direct``
  weight in the limit of a zero threshold) is ``pi_s(t)(b_t - mu)``, and this path carries
  ``influence * (b_t - mu)`` of it, i.e. the fraction ``share`` below.
* ``share = prob / W[s, t]`` is the path's fraction of the total walk mass from ``s`` to
  ``t`` (the same fraction of ``pi_s(t)`` and of ``t``'s contribution). Walks that repeat
  a node are not listed, so the shares of all simple paths add up to at most 1.

:func:`influence_paths` lists the ``k`` simple paths (no repeated node; for ``s == t`` a
cycle whose other nodes are distinct) of at most ``max_hops`` hops with the largest
probability: Yen's k-shortest simple paths on the edge costs ``-log(a P[x, z]) > 0``, each
spur path a hop-bounded Bellman-Ford (whose optimum is simple, as every cycle costs more
than nothing). ``W[s, t]`` comes from the Neumann series of ``(a P)^L e_t`` to a relative
accuracy of about ``1e-12``.

Examples
--------
The path 0 - 1 - 2 at a = 0.5: the only simple path from 0 to 2 is 0 -> 1 -> 2, with
probability ``(0.5 * 1) * (0.5 * 0.5) = 1/8``; walks such as 0 -> 1 -> 0 -> 1 -> 2 make up
the rest of ``W[0, 2] = 1/6``.

>>> import numpy as np
>>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
>>> (path,) = influence_paths(A, 0, 2, damping=0.5)
>>> path.nodes, path.transitions, path.probability, round(path.share, 9)
((0, 1, 2), (1.0, 0.5), 0.125, 0.75)
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from credence.core.types import BoolArray, IntArray
from credence.scoring.diffusion import (
    check_adjacency,
    check_damping,
    check_max_iter,
    check_node,
    check_participating,
    mask_links,
)

__all__ = ["InfluencePath", "influence_paths", "walk_mass"]

#: Relative accuracy of the walk mass ``W[s, t]``.
_MASS_RTOL = 1e-12
_MASS_MAX_TERMS = 1_000_000


@dataclass(frozen=True)
class InfluencePath:
    """One simple path ``source -> ... -> target`` of the walk behind ``n_source``.

    Attributes
    ----------
    nodes : tuple of int
        ``u_0 = source, ..., u_L = target`` (``L = hops``).
    transitions : tuple of float
        ``P[u_i, u_{i+1}]`` per hop (``w / d`` over participants).
    probability : float
        ``prod_i a P[u_i, u_{i+1}]``: the path's term in ``W[s, t] = sum_{L>=1} (a P)^L [s, t]``.
    share : float
        ``probability / total``: the path's fraction of all walk mass from source to target,
        hence of ``pi_source(target)`` and of the target's contribution to ``n_source - mu``.
    total : float
        ``W[source, target]`` over all walks (any length, repeats allowed).
    influence : float
        ``(1 - a)/a * probability``: the path's part of ``pi_source(target) = d n_source / d b_target``.
    """

    nodes: tuple[int, ...]
    transitions: tuple[float, ...]
    probability: float
    share: float
    total: float
    influence: float

    @property
    def hops(self) -> int:
        """Number of hops ``L``."""
        return len(self.nodes) - 1


def _transition_matrix(matrix: sp.csr_matrix, mask: BoolArray) -> sp.csr_matrix:
    """``P = D^-1 A`` over participants (non-participants get empty rows and columns)."""
    effective = mask_links(matrix, mask)
    degree = np.asarray(effective.sum(axis=1)).ravel()
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0.0)
    transition = sp.csr_matrix(sp.diags(inverse) @ effective)
    transition.sort_indices()
    return transition


def _walk_mass(transition: sp.csr_matrix, damping: float, source: int, target: int) -> float:
    """``W[s, t] = sum_{L>=1} ((a P)^L)[s, t]`` by the Neumann series of the column ``e_t``.

    ``||a P||_inf = a``, so after ``L`` terms the rest is at most ``max|term| * a / (1 - a)``;
    the series stops when that is below ``_MASS_RTOL`` of the sum (``s`` and ``t`` must be
    connected, so the sum becomes positive).
    """
    term = np.zeros(transition.shape[0])
    term[target] = 1.0
    total = 0.0
    for _ in range(_MASS_MAX_TERMS):
        term = damping * (transition @ term)
        total += float(term[source])
        rest = float(term.max()) * damping / (1.0 - damping)
        if total > 0.0 and rest <= _MASS_RTOL * total:
            break
    return total


def walk_mass(
    adjacency: Any, source: int, target: int, *, damping: float, participating: Any = None
) -> float:
    """``W[source, target] = sum_{L>=1} ((a P)^L)[source, target]``, the total walk mass.

    ``(1 - a)/a * W[s, t] = pi_s(t) = d n_s / d b_t``. Zero if either user does not
    participate or they are not connected through participants.

    Examples
    --------
    Two friends at a = 0.5: the walks 0 -> 1, 0 -> 1 -> 0 -> 1, ... give ``W[0, 1] = 2/3``,
    and ``pi_0(1) = (1 - a)/a * 2/3 = 2/3`` (as :func:`credence.scoring.influence` says).

    >>> import numpy as np
    >>> round(walk_mass(np.array([[0.0, 1.0], [1.0, 0.0]]), 0, 1, damping=0.5), 12)
    0.666666666667
    """
    matrix = check_adjacency(adjacency)
    n = matrix.shape[0]
    source = check_node(source, n, "source")
    target = check_node(target, n, "target")
    a = check_damping(damping)
    mask = check_participating(participating, n)
    transition = _transition_matrix(matrix, mask)
    if not _connected(transition, source, target):
        return 0.0
    return _walk_mass(transition, a, source, target)


def _connected(transition: sp.csr_matrix, source: int, target: int) -> bool:
    """Whether some walk of at least one hop leads from ``source`` to ``target``."""
    if transition.indptr[source + 1] == transition.indptr[source]:
        return False
    if source == target:
        return True  # any neighbour leads straight back (the graph is symmetric)
    hops = dijkstra(transition, directed=True, unweighted=True, indices=[source])
    return bool(np.isfinite(hops[0, target]))


# --------------------------------------------------------------------------- Yen's algorithm


class _LocalGraph:
    """The edges that can lie on a path of <= ``max_hops`` hops, with ``-log(a P)`` costs.

    Nodes are renumbered; the source has no in-edges and the target no out-edges (for
    ``source == target`` the target is a separate copy of the source), so a simple path
    here is a simple path (or simple cycle) of the original graph.
    """

    def __init__(
        self, transition: sp.csr_matrix, damping: float, source: int, target: int, max_hops: int
    ) -> None:
        hops = dijkstra(transition, directed=True, unweighted=True, indices=[source, target], limit=max_hops)
        members = np.flatnonzero(hops[0] + hops[1] <= max_hops)
        if members.size == 0:  # the target is more than max_hops away: keep the two ends, unlinked
            members = np.array([source, target])
        local = sp.csr_matrix(transition[members][:, members]).tocoo()
        where = {int(g): i for i, g in enumerate(members.tolist())}
        s, t = where[source], where[target]
        rows, cols, values = local.row.astype(np.int64), local.col.astype(np.int64), local.data
        if source == target:
            t = members.size
            cols = np.where(cols == s, t, cols)
            keep = np.ones(rows.size, dtype=bool)
            self.globals = np.append(members, target)
        else:
            keep = (rows != t) & (cols != s)
            self.globals = members
        self.n = int(self.globals.size)
        graph = sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=(self.n, self.n))
        graph.sort_indices()
        self.indptr = graph.indptr.astype(np.int64)
        self.indices = graph.indices.astype(np.int64)
        self.transitions = graph.data
        self.cost = -np.log(damping * graph.data)
        self.row_of = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))
        self.source, self.target = s, t

    def edge(self, x: int, z: int) -> int:
        """Position of the edge ``x -> z``."""
        lo, hi = int(self.indptr[x]), int(self.indptr[x + 1])
        return lo + int(np.searchsorted(self.indices[lo:hi], z))

    def shortest(
        self, start: int, hops: int, blocked_nodes: BoolArray, blocked_edges: BoolArray
    ) -> list[int] | None:
        """Cheapest path ``start -> target`` of <= ``hops`` hops avoiding the blocked nodes/edges.

        Bellman-Ford backwards from the target, one level per hop; ``choice[j][x]`` is the
        edge taken from ``x`` with ``j`` hops left, or -1 to use fewer hops.
        """
        dist = np.full(self.n, np.inf)
        dist[self.target] = 0.0
        off = blocked_edges | blocked_nodes[self.row_of] | blocked_nodes[self.indices]
        nonempty = np.flatnonzero(np.diff(self.indptr) > 0)
        choices: list[IntArray] = []
        for _ in range(hops):
            candidate = self.cost + dist[self.indices]
            candidate[off] = np.inf
            order = np.lexsort((candidate, self.row_of))
            choice = np.full(self.n, -1, dtype=np.int64)
            best = order[self.indptr[nonempty]]
            better = candidate[best] < dist[nonempty]
            choice[nonempty[better]] = best[better]
            new = dist.copy()
            new[nonempty[better]] = candidate[best[better]]
            choices.append(choice)
            dist = new
        if not math.isfinite(dist[start]):
            return None
        path = [start]
        x, level = start, hops
        while x != self.target:
            while choices[level - 1][x] < 0:
                level -= 1
            x = int(self.indices[choices[level - 1][x]])
            level -= 1
            path.append(x)
        return path

    def path_cost(self, path: list[int]) -> float:
        return float(sum(self.cost[self.edge(x, z)] for x, z in itertools.pairwise(path)))


def _yen(graph: _LocalGraph, k: int, max_hops: int) -> list[list[int]]:
    """The ``k`` cheapest simple paths source -> target of <= ``max_hops`` hops (Yen 1971)."""
    no_nodes = np.zeros(graph.n, dtype=bool)
    no_edges = np.zeros(graph.indices.size, dtype=bool)
    first = graph.shortest(graph.source, max_hops, no_nodes, no_edges)
    if first is None:
        return []
    found = [first]
    seen = {tuple(first)}
    heap: list[tuple[float, tuple[int, ...]]] = []
    while len(found) < k:
        previous = found[-1]
        for i in range(len(previous) - 1):
            root = previous[: i + 1]
            blocked_nodes = no_nodes.copy()
            blocked_nodes[root[:-1]] = True
            blocked_edges = no_edges.copy()
            for path in found:
                if len(path) > i + 1 and path[: i + 1] == root:
                    blocked_edges[graph.edge(path[i], path[i + 1])] = True
            spur = graph.shortest(root[-1], max_hops - i, blocked_nodes, blocked_edges)
            if spur is None:
                continue
            candidate = tuple(root[:-1] + spur)
            if candidate not in seen:
                seen.add(candidate)
                heapq.heappush(heap, (graph.path_cost(list(candidate)), candidate))
        if not heap:
            break
        found.append(list(heapq.heappop(heap)[1]))
    return found


def influence_paths(
    adjacency: Any,
    source: int,
    target: int,
    *,
    damping: float,
    k: int = 5,
    max_hops: int = 6,
    participating: Any = None,
) -> list[InfluencePath]:
    """The ``k`` most probable simple walk paths from ``source`` to ``target``.

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency (see :func:`~credence.scoring.diffusion.check_adjacency`).
    source : int
        The user whose network value ``n_source`` is explained.
    target : int
        The contributor whose base reaches it; ``target == source`` lists simple cycles
        (the user's own base coming back through friends).
    damping : float
        Continue probability ``a`` in (0, 1).
    k : int
        How many paths (an integer >= 1); fewer are returned when fewer exist.
    max_hops : int
        Longest path considered (an integer >= 1).
    participating : array_like of bool, optional
        Consenting and not quarantined; default everyone. Others are on no path, and
        their links count in no degree.

    Returns
    -------
    list of InfluencePath
        By decreasing probability (ties in the order Yen's algorithm finds them); empty
        when ``source`` or ``target`` does not participate or no path of at most
        ``max_hops`` hops joins them. See the module docstring for what the
        probability, ``share`` and ``influence`` mean.

    Raises
    ------
    ParameterError
        For a bad adjacency, node, damping, ``k``, ``max_hops`` or participation mask.

    Examples
    --------
    A triangle 0 - 1 - 2 with a heavy link 1 - 2: from 0 to 2 the direct link
    (``0.5 * 1/2``) carries 55% of the walk mass, the detour through 1 (``0.5 * 1/2 * 0.5 * 4/5``)
    22%; the other 23% are walks that repeat a node.

    >>> import numpy as np
    >>> A = np.array([[0, 1, 1], [1, 0, 4], [1, 4, 0]], dtype=float)
    >>> paths = influence_paths(A, 0, 2, damping=0.5)
    >>> [p.nodes for p in paths], [round(p.share, 3) for p in paths]
    ([(0, 2), (0, 1, 2)], [0.55, 0.22])
    """
    matrix = check_adjacency(adjacency)
    n = matrix.shape[0]
    source = check_node(source, n, "source")
    target = check_node(target, n, "target")
    a = check_damping(damping)
    k = check_max_iter(k, "k")
    max_hops = check_max_iter(max_hops, "max_hops")
    mask = check_participating(participating, n)
    if not (mask[source] and mask[target]):
        return []
    transition = _transition_matrix(matrix, mask)
    if not _connected(transition, source, target):
        return []
    graph = _LocalGraph(transition, a, source, target, max_hops)
    found = _yen(graph, k, max_hops)
    if not found:
        return []
    total = _walk_mass(transition, a, source, target)
    out = []
    for path in found:
        steps = tuple(float(graph.transitions[graph.edge(x, z)]) for x, z in itertools.pairwise(path))
        probability = math.prod(a * p for p in steps)
        out.append(
            InfluencePath(
                nodes=tuple(int(graph.globals[x]) for x in path),
                transitions=steps,
                probability=probability,
                share=probability / total,
                total=total,
                influence=(1.0 - a) / a * probability,
            )
        )
    out.sort(key=lambda p: -p.probability)
    return out
