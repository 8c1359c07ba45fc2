"""Exact explanations of the network component by local push.

The network component is linear in the base (DESIGN.md, "The network component")::

    n_u - mu = sum_v pi_u(v) (b_v - mu),    pi_u = row u of  M = (1 - a) P (I - a P)^-1

for every participant ``u`` with links (``d_u > 0``); ``M = P Pi`` with
``Pi = (1 - a)(I - a P)^-1`` the personalized-PageRank matrix, and each row of
``M`` is a probability distribution (the average of the neighbours' PPR vectors).
Isolated users and non-participants have ``n_u = mu``, which depends on nobody.

* :func:`contributors` estimates a row ``pi_u`` by **forward push** (Andersen,
  Chung & Lang 2006) started from the neighbour distribution ``P[u, :]``.
  It keeps ``pi_u = p + sum_w r_w Pi[w, :]`` with ``p, r >= 0``; pushing at
  ``w`` moves ``(1 - a) r_w`` into ``p_w`` and spreads ``a r_w`` over
  ``w``'s neighbours. Since every row of ``Pi`` averages ``b``, the contributions
  ``p_v (b_v - mu)`` add up to ``n_u - mu`` within ``|r|_1 * max_v |b_v - mu|``,
  and the push runs until that bound is ``<= tol``.
* :func:`influence` estimates a column ``M[:, v]`` by **backward push** (Andersen
  et al. 2008; Lofgren & Goel 2013) started from ``P[:, v]`` (``M = Pi P`` as
  ``P`` and ``Pi`` commute). It keeps ``M[u, v] = q_u + sum_w Pi[u, w] s_w``;
  pushing at ``w`` moves ``(1 - a) s_w`` into ``q_w`` and adds ``a P[x, w] s_w``
  to each neighbour ``x``. Every row of ``Pi`` sums to 1, so
  ``0 <= M[u, v] - q_u <= max_w s_w`` for every ``u``; the push runs until
  ``max_w s_w <= tol``.

Both pushes are vectorised by rounds (a frontier of nodes is pushed at once),
which keeps the invariants above exact.

Examples
--------
>>> import numpy as np
>>> A = np.array([[0.0, 1.0], [1.0, 0.0]])
>>> c = contributors(A, [1.0, 0.0], 0, damping=0.5, prior=0.5)
>>> c.indices.tolist(), c.weights.round(6).tolist()  # n_0 = b_0/3 + 2 b_1/3
([1, 0], [0.666667, 0.333333])
>>> round(c.total, 6)  # n_0 - mu = 1/3 - 1/2
-0.166667
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.errors import ConvergenceError
from scoring.diffusion import (
    _restrict,
    check_adjacency,
    check_damping,
    check_max_iter,
    check_node,
    check_participating,
    check_prior,
    check_tol,
    check_vector,
)

__all__ = ["Contributions", "Influence", "contributors", "influence"]


@dataclass(frozen=True)
class Contributions:
    """Who raised or lowered the network component ``n_u`` of one user (read-only arrays).

    Attributes
    ----------
    node : int
        The user ``u`` explained.
    indices : ndarray of int64
        Users ``v`` with a positive estimated weight, by decreasing ``|contribution|``
        (ties by index).
    weights : ndarray of float64
        Estimates of ``pi_u(v)``; each is a lower bound, short by at most ``residual_mass``.
    contributions : ndarray of float64
        ``weights * (b_v - mu)``.
    total : float
        ``sum(contributions)``: ``|total - (n_u - mu)| <= residual_bound``.
    residual_bound : float
        ``residual_mass * max_v |b_v - mu|`` over participants; ``<= tol``.
    residual_mass : float
        Walk probability not yet assigned (``1 - sum(weights)``, up to round-off).
    mu : float
        The prior.
    """

    node: int
    indices: np.ndarray
    weights: np.ndarray
    contributions: np.ndarray
    total: float
    residual_bound: float
    residual_mass: float
    mu: float

    def __post_init__(self) -> None:
        for array in (self.indices, self.weights, self.contributions):
            array.flags.writeable = False


@dataclass(frozen=True)
class Influence:
    """Whose network component depends on one user's base, and by how much (read-only arrays).

    If ``b_v`` changes by ``delta``, ``n_u`` changes by exactly ``delta * pi_u(v)``.

    Attributes
    ----------
    node : int
        The user ``v`` whose influence is measured.
    indices : ndarray of int64
        Users ``u`` with a positive estimated weight, by decreasing weight (ties by index).
        ``v`` itself may appear: walks from ``v`` can return to ``v``.
    weights : ndarray of float64
        Estimates of ``pi_u(v) = d n_u / d b_v``; each is a lower bound, short by at
        most ``residual_bound``. Users not listed have ``pi_u(v) <= residual_bound``.
    residual_bound : float
        Largest remaining residual; ``<= tol``.
    """

    node: int
    indices: np.ndarray
    weights: np.ndarray
    residual_bound: float

    def __post_init__(self) -> None:
        for array in (self.indices, self.weights):
            array.flags.writeable = False


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a CSR matrix's data of the given rows, and each row's length."""
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    total = int(lengths.sum())
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift, lengths


def _degrees(matrix: sp.csr_matrix) -> np.ndarray:
    return np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()


def contributors(
    adjacency: Any,
    base: Any,
    node: int,
    *,
    damping: float = 0.5,
    prior: float,
    tol: float = 1e-8,
    participating: Any = None,
    max_iter: int = 100_000,
) -> Contributions:
    """Exact contributors to one user's network component, by forward push.

    ``n_u - mu = sum_v pi_u(v) (b_v - mu)`` with ``pi_u`` the row ``u`` of
    ``(1 - a) P (I - a P)^-1`` over the participants' graph (see the module
    docstring). The push stops once the returned contributions are guaranteed
    to add up to ``n_u - mu`` within ``residual_bound <= tol``.

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency over all users.
    base : array_like, shape (n,)
        Base creditworthiness in [0, 1].
    node : int
        The user ``u`` to explain.
    damping : float
        Continue probability ``a`` in (0, 1).
    prior : float
        The neutral prior ``mu`` in [0, 1] (e.g. ``NetworkComponent.mu``).
    tol : float
        Bound on ``|total - (n_u - mu)|``.
    participating : array_like of bool, shape (n,), optional
        As in :func:`~scoring.diffusion.network_component`; default everyone.
    max_iter : int
        Maximum number of push rounds.

    Returns
    -------
    Contributions
        Empty (``total = 0``, ``residual_bound = 0``) for an isolated user or a
        non-participant, whose ``n_u = mu`` exactly.

    Raises
    ------
    ParameterError
        Bad input.
    ConvergenceError
        If the bound is still above ``tol`` after ``max_iter`` rounds.

    Examples
    --------
    The path 0 - 1 - 2 with only node 0 at base 1 and mu = 0: ``n_1 = 1/3``,
    from ``pi_1(0) = 1/3`` (and ``pi_1(2) = 1/3`` contributing nothing).

    >>> import numpy as np
    >>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    >>> c = contributors(A, [1.0, 0.0, 0.0], 1, prior=0.0, tol=1e-12)
    >>> int(c.indices[0]), round(float(c.contributions[0]), 9), round(c.total * 3, 9)
    (0, 0.333333333, 1.0)
    >>> c.residual_bound <= 1e-12
    True
    """
    matrix = check_adjacency(adjacency)
    size = matrix.shape[0]
    b = check_vector(base, size, "base", unit_interval=True)
    u = check_node(node, size)
    a = check_damping(damping)
    mu = check_prior(prior)
    eps = check_tol(tol)
    rounds = check_max_iter(max_iter)
    members = check_participating(participating, size)
    empty = Contributions(u, np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0.0, 0.0, 0.0, mu)
    if not members[u]:
        return empty
    index, sub = _restrict(matrix, members)
    local = int(np.searchsorted(index, u))
    degree = _degrees(sub)
    if degree[local] == 0.0:
        return empty
    indptr, indices, data = sub.indptr, sub.indices, sub.data
    deviation = b[index] - mu
    scale = float(np.abs(deviation).max())

    estimate = np.zeros(index.size)
    residual = np.zeros(index.size)
    row = slice(int(indptr[local]), int(indptr[local + 1]))
    residual[indices[row]] = data[row] / degree[local]
    mass = float(residual.sum())
    target = eps / scale if scale > 0.0 else np.inf
    done = 0
    while mass > target:
        if done == rounds:
            raise ConvergenceError(rounds, mass * scale, eps)
        done += 1
        # Push the largest residuals, leaving unpushed at most target / 2 in total:
        # then mass - target / 2 shrinks at least by the factor a every round.
        support = np.flatnonzero(residual)
        values = residual[support]
        order = np.argsort(values, kind="stable")
        keep = int(np.searchsorted(np.cumsum(values[order]), target / 2.0, side="right"))
        push = support[order[keep:]]
        amounts = residual[push]
        estimate[push] += (1.0 - a) * amounts
        residual[push] = 0.0
        positions, lengths = _gather(indptr, push)
        spread = data[positions] * np.repeat(a * amounts / degree[push], lengths)
        np.add.at(residual, indices[positions], spread)
        mass = float(residual.sum())

    found = np.flatnonzero(estimate)
    weights = estimate[found]
    parts = weights * deviation[found]
    order = np.lexsort((found, -np.abs(parts)))
    return Contributions(
        node=u,
        indices=index[found[order]].astype(np.int64),
        weights=weights[order],
        contributions=parts[order],
        total=float(parts.sum()),
        residual_bound=mass * scale,
        residual_mass=mass,
        mu=mu,
    )


def influence(
    adjacency: Any,
    node: int,
    *,
    damping: float = 0.5,
    tol: float = 1e-8,
    participating: Any = None,
    max_iter: int = 100_000,
) -> Influence:
    """How much every user's network component moves per unit change of one user's base.

    Estimates the column ``v`` of ``M = (1 - a) P (I - a P)^-1`` over the
    participants' graph by backward push: ``pi_u(v) = d n_u / d b_v`` for every
    participant ``u`` with links (see the module docstring). The component after
    shrinkage moves by ``pi_u(v) d_u / (d_u + k)`` (before the ``bonus_only`` floor).

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency over all users.
    node : int
        The user ``v``.
    damping : float
        Continue probability ``a`` in (0, 1).
    tol : float
        Entry-wise bound: every ``pi_u(v)`` is within ``tol`` of its estimate
        (0 for users not listed).
    participating : array_like of bool, shape (n,), optional
        As in :func:`~scoring.diffusion.network_component`; default everyone.
    max_iter : int
        Maximum number of push rounds.

    Returns
    -------
    Influence
        Empty (``residual_bound = 0``) for an isolated user or a non-participant,
        who influences nobody.

    Raises
    ------
    ParameterError
        Bad input.
    ConvergenceError
        If residuals above ``tol`` remain after ``max_iter`` rounds.

    Examples
    --------
    Two friends at a = 0.5: ``n_0 = (a b_0 + b_1) / (1 + a)``, so node 1 moves
    ``n_0`` by 2/3 and its own ``n_1`` by 1/3 per unit of ``b_1``.

    >>> import numpy as np
    >>> inf = influence(np.array([[0.0, 1.0], [1.0, 0.0]]), 1, tol=1e-12)
    >>> inf.indices.tolist(), (inf.weights * 3).round(9).tolist()
    ([0, 1], [2.0, 1.0])
    """
    matrix = check_adjacency(adjacency)
    size = matrix.shape[0]
    v = check_node(node, size)
    a = check_damping(damping)
    eps = check_tol(tol)
    rounds = check_max_iter(max_iter)
    members = check_participating(participating, size)
    empty = Influence(v, np.zeros(0, np.int64), np.zeros(0), 0.0)
    if not members[v]:
        return empty
    index, sub = _restrict(matrix, members)
    local = int(np.searchsorted(index, v))
    degree = _degrees(sub)
    if degree[local] == 0.0:
        return empty
    indptr, indices, data = sub.indptr, sub.indices, sub.data

    estimate = np.zeros(index.size)
    residual = np.zeros(index.size)
    row = slice(int(indptr[local]), int(indptr[local + 1]))
    neighbours = indices[row]
    residual[neighbours] = data[row] / degree[neighbours]  # P[x, v] = A[v, x] / d_x
    done = 0
    while True:
        push = np.flatnonzero(residual > eps)
        if push.size == 0:
            break
        if done == rounds:
            raise ConvergenceError(rounds, float(residual.max()), eps)
        done += 1
        amounts = residual[push]
        estimate[push] += (1.0 - a) * amounts
        residual[push] = 0.0
        positions, lengths = _gather(indptr, push)
        targets = indices[positions]
        spread = data[positions] * np.repeat(a * amounts, lengths) / degree[targets]
        np.add.at(residual, targets, spread)

    found = np.flatnonzero(estimate)
    weights = estimate[found]
    order = np.lexsort((found, -weights))
    return Influence(
        node=v,
        indices=index[found[order]].astype(np.int64),
        weights=weights[order],
        residual_bound=float(residual.max()),
    )
