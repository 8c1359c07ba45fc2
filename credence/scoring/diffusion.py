"""The network component: personalized-PageRank diffusion of base creditworthiness.

Pure numerics (scipy CSR and numpy arrays in, arrays out); see docs/design.md,
"The network component". With ``A`` the symmetric weighted adjacency, ``D`` its
degree matrix, ``P = D^-1 A`` and ``a`` the damping (continue probability)::

    y = (1 - a) b + a P y        y_u = b_u for isolated u (the walk can only restart at u)
    n_u = (P y)_u                for d_u > 0, and mu for isolated u
    c_u = (d_u n_u + k mu) / (d_u + k)
    value_u = max(c_u, mu)       sharing "bonus_only" (default); c_u for "symmetric"

The diffusion is solved by :mod:`credence.scoring.solver` (multicolour SOR on float32
storage with float64 accumulation, on all cores) to a *guaranteed* accuracy: the
returned ``y`` is within ``tol`` of the exact solution in every entry.

The ``check_*`` helpers that validate its parameters live in
:mod:`credence.scoring.validation` and are re-exported here.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
>>> diffuse(A, np.array([1.0, 0.0]), damping=0.5).round(6).tolist()
[0.666667, 0.333333]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_bool
from credence.core.errors import ParameterError
from credence.core.types import BoolArray, FloatArray, IntArray
from credence.scoring.solver import Solution, WalkGraph, float32_suffices, prepare_walk, solve, walk_product
from credence.scoring.validation import (
    SHARING_MODES,
    check_adjacency,
    check_damping,
    check_max_iter,
    check_node,
    check_participating,
    check_prior,
    check_sharing,
    check_shrinkage,
    check_tol,
    check_vector,
)
from credence.scoring.walk_cache import WALK_CACHE, PreparedGraph

__all__ = [
    "SHARING_MODES",
    "WALK_CACHE",
    "Diffusion",
    "NetworkComponent",
    "check_adjacency",
    "check_damping",
    "check_max_iter",
    "check_node",
    "check_participating",
    "check_sharing",
    "check_prior",
    "check_shrinkage",
    "check_tol",
    "check_vector",
    "component_value",
    "diffuse",
    "mask_links",
    "network_component",
    "neutral_prior",
    "restrict",
    "solve_validated",
]

# --------------------------------------------------------------------------- participants


def restrict(matrix: sp.csr_matrix, members: BoolArray) -> tuple[IntArray, sp.csr_matrix]:
    """The members' indices and the adjacency among them (other rows and columns dropped).

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n, n)
        A canonical adjacency (from :func:`check_adjacency`).
    members : ndarray of bool, shape (n,)
        Who stays (from :func:`check_participating`).

    Returns
    -------
    index : ndarray of int64
        The members, ascending: row ``i`` of ``sub`` is user ``index[i]``.
    sub : scipy.sparse.csr_matrix
        Sorted indices; ``matrix`` itself when everyone is a member (not a copy).

    Examples
    --------
    >>> A = check_adjacency(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]]))
    >>> index, sub = restrict(A, np.array([True, False, True]))
    >>> index.tolist(), sub.toarray().tolist()
    ([0, 2], [[0.0, 1.0], [1.0, 0.0]])
    """
    index = np.flatnonzero(members).astype(np.int64, copy=False)
    if index.size == matrix.shape[0]:
        return index, matrix
    sub = sp.csr_matrix(matrix[index][:, index])
    sub.sort_indices()
    return index, sub


def mask_links(matrix: sp.csr_matrix, members: BoolArray) -> sp.csr_matrix:
    """The adjacency without the links of non-members: same shape, their rows and columns empty.

    For walks that keep every user's index (unlike :func:`restrict`). Canonical CSR
    (zeros dropped, indices sorted); ``matrix`` itself when everyone is a member.

    Examples
    --------
    >>> A = check_adjacency(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]]))
    >>> mask_links(A, np.array([True, False, True])).toarray().tolist()
    [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    if members.all():
        return matrix
    keep = sp.diags(members.astype(np.float64))
    out = sp.csr_matrix(keep @ matrix @ keep)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def neutral_prior(prior: Any, base: FloatArray, members: BoolArray) -> float:
    """The neutral prior ``mu``: ``prior`` checked, or by default the members' mean base.

    Raises
    ------
    ParameterError
        A bad ``prior``; or no ``prior`` and no member to average over.

    Examples
    --------
    >>> neutral_prior(None, np.array([0.2, 0.4, 0.9]), np.array([True, True, False]))
    0.30000000000000004
    >>> neutral_prior(0.5, np.zeros(1), np.zeros(1, dtype=bool))
    0.5
    """
    if prior is not None:
        return check_prior(prior)
    if not members.any():
        raise ParameterError("prior", None, "cannot default to the participants' mean: nobody participates")
    return float(np.mean(base[members]))


def component_value(
    n: FloatArray, degree: FloatArray, *, mu: float, shrinkage: float, sharing: str
) -> FloatArray:
    """The network component from ``n`` and the weighted degree: shrinkage, then the sharing rule.

    ``c_u = (d_u n_u + k mu) / (d_u + k)`` (``mu`` for ``d_u = 0``), then
    ``max(c_u, mu)`` under ``bonus_only``; clipped to [0, 1] against round-off.

    Parameters
    ----------
    n : ndarray of float64
        Network values ``(P y)_u`` (any value where ``degree`` is 0: it is not used).
    degree : ndarray of float64
        Weighted degrees among participants, same shape.
    mu : float
        The neutral prior.
    shrinkage : float
        ``k >= 0``, checked by :func:`check_shrinkage`.
    sharing : {"bonus_only", "symmetric"}
        Checked by :func:`check_sharing`.

    Returns
    -------
    ndarray of float64
        ``c_u`` in [0, 1], a new array.

    Examples
    --------
    >>> component_value(np.array([0.9, 0.1, 0.3]), np.array([2.0, 2.0, 0.0]), mu=0.5,
    ...                 shrinkage=2.0, sharing="bonus_only").tolist()
    [0.7, 0.5, 0.5]
    """
    k = check_shrinkage(shrinkage)
    rule = check_sharing(sharing)
    n = np.asarray(n, dtype=np.float64)
    degree = np.asarray(degree, dtype=np.float64)
    value = np.full(n.shape, mu, dtype=np.float64)
    linked = degree > 0.0
    value[linked] = (degree[linked] * n[linked] + k * mu) / (degree[linked] + k)
    if rule == "bonus_only":
        np.maximum(value, mu, out=value)
    # Guard against round-off pushing a value a hair outside [0, 1].
    return np.clip(value, 0.0, 1.0)


# --------------------------------------------------------------------------- the kernel


def _storage(base: FloatArray, x0: FloatArray | None, damping: float, tol: float) -> type[np.floating[Any]]:
    """float32 whenever it can certify ``tol`` (see :func:`~credence.scoring.solver.float32_suffices`)."""
    scale = float(np.abs(base).max()) if base.size else 0.0
    if x0 is not None and x0.size:
        scale = max(scale, float(np.abs(x0).max()))
    return np.float32 if float32_suffices(tol, damping, scale) else np.float64


def solve_validated(
    matrix: sp.csr_matrix,
    base: FloatArray,
    damping: float,
    tol: float,
    max_iter: int,
    x0: FloatArray | None,
) -> tuple[Solution, WalkGraph]:
    """Solve the diffusion on an adjacency already checked by :func:`check_adjacency` (no second check).

    For callers that build a symmetric, canonical, non-negative CSR themselves and would
    pay ``diffuse``'s O(nnz) validation for nothing; the solver is :mod:`credence.scoring.solver`.

    float32 storage whenever it can certify ``tol`` (see
    :func:`~credence.scoring.solver.float32_suffices`), float64 otherwise.
    """
    walk = prepare_walk(matrix, dtype=_storage(base, x0, damping, tol))
    return solve(walk, base, damping=damping, tol=tol, max_iter=max_iter, x0=x0), walk


def diffuse(
    adjacency: Any,
    base: Any,
    *,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 1000,
    x0: Any = None,
    cache: bool = True,
) -> FloatArray:
    """Personalized-PageRank diffusion ``y = (1 - a) b + a P y``, to a guaranteed accuracy.

    ``y_u = sum_v PPR_u(v) b_v`` where the walk starts at ``u``, continues with
    probability ``a`` to a neighbour chosen in proportion to link weight, and
    restarts at ``u`` otherwise. Isolated nodes get ``y_u = b_u``.

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency (see :func:`check_adjacency`).
    base : array_like, shape (n,)
        Base values ``b`` (any finite reals; the score uses [0, 1]).
    damping : float
        Continue probability ``a`` in (0, 1).
    tol : float
        Guaranteed max-abs error: the returned ``y`` is within ``tol`` of the exact
        solution in every entry. The solver (:func:`credence.scoring.solver.solve`) stops at
        the first iterate whose certified residual
        ``max_u |(1 - a) b_u + a (P y)_u - y_u|`` is ``<= tol * (1 - a)``, which
        implies it (``||aP||_inf = a``).
    max_iter : int
        Maximum number of passes over the matrix (sweeps and refinement passes).
    x0 : array_like, shape (n,), optional
        Warm start (e.g. the previous solution); default ``b``.
    cache : bool
        Reuse the validation and preparation of an earlier call on the same, unchanged
        matrix (:data:`WALK_CACHE`, below); ``False``: validate and prepare anew, and leave
        the cache alone.

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ParameterError
        Bad adjacency, base, damping, tol, max_iter, x0 or cache.
    ConvergenceError
        If the accuracy is not certified within ``max_iter`` passes.

    Notes
    -----
    **What is cached, and when.** A one-shot call validates the adjacency
    (:func:`check_adjacency`, O(nnz): every entry and its mirror), prepares it for the
    solver (:func:`~credence.scoring.solver.prepare_walk`: colouring, node order, float32
    weights) and solves. When ``adjacency`` is a canonical float64 ``csr_matrix`` (what
    :func:`check_adjacency` returns, used as it is), the validated matrix and its
    prepared walk are kept in :data:`WALK_CACHE` (a
    :class:`~credence.scoring.walk_cache.WalkCache`: the 2 most recently used matrices,
    thread-safe), found again by the identity of the matrix's ``indptr``, ``indices`` and
    ``data`` arrays (weakly held: dropping the matrix drops its entry). A later call on
    the same matrix compares those arrays element by element with a private copy taken
    when they were validated (one parallel pass, ~15 ms at 1M users / 10M links) and, if
    nothing changed, only solves; if anything changed in place it validates and prepares
    again, so a matrix made invalid is refused as on the first call. An entry costs a
    copy of the three arrays besides the walk. Other inputs (dense, other formats or
    dtypes, non-canonical CSR) are validated and converted on every call. For many
    bases on one graph without the comparison, use :class:`Diffusion`.

    Examples
    --------
    A path 0 - 1 - 2 and an isolated node 3; only node 0 has base 1:

    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]))
    >>> y = diffuse(A, [1.0, 0.0, 0.0, 0.5], damping=0.5)
    >>> (y * 12).round(9).tolist()  # 7/12, 1/6, 1/12 and b_3 for the isolated node
    [7.0, 2.0, 1.0, 6.0]

    A float64 ``csr_matrix`` is cached: a second call on it only compares and solves.

    >>> A = A.astype(np.float64)
    >>> before = WALK_CACHE.info().hits
    >>> _ = diffuse(A, [1.0, 0.0, 0.0, 0.5]), diffuse(A, [0.0, 1.0, 0.0, 0.5])
    >>> WALK_CACHE.info().hits - before
    1
    """
    use_cache = check_bool(cache, "cache")
    graph = (
        WALK_CACHE.graph(adjacency) if use_cache else PreparedGraph(check_adjacency(adjacency, copy=False))
    )
    n = graph.n
    b = check_vector(base, n, "base")
    a = check_damping(damping)
    eps = check_tol(tol)
    limit = check_max_iter(max_iter)
    start = None if x0 is None else check_vector(x0, n, "x0")
    walk = graph.walk(_storage(b, start, a, eps))
    return solve(walk, b, damping=a, tol=eps, max_iter=limit, x0=start).y


class Diffusion:
    """A validated and prepared adjacency: :func:`diffuse` for many bases on one graph.

    The adjacency is checked (:func:`check_adjacency`) and prepared for the solver
    (:func:`~credence.scoring.solver.prepare_walk`: colouring, node order, float32
    weights) once, here; each :meth:`solve` then only solves. ``Diffusion(A,
    damping=a).solve(b, tol=t)`` returns what ``diffuse(A, b, damping=a, tol=t)``
    returns (the same solver on the same prepared walk), and so is within ``tol`` of the
    exact solution in every entry.

    What is kept: the validated matrix and its float32 walk, from construction (and a
    float64 walk from the first solve that needs one), for the life of the object. Unlike
    :func:`diffuse`'s cache (:data:`WALK_CACHE`), nothing is compared before a solve: a
    solve costs only the solve, and the adjacency must not change while the object is
    in use. It does not use or fill :data:`WALK_CACHE`.

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency (see :func:`check_adjacency`). A canonical float64
        ``csr_matrix`` is used as it is, not copied: do not modify it while this object
        is in use (a float64 walk, for tolerances below what float32 can certify, is
        prepared from it on first need).
    damping : float
        Continue probability ``a`` in (0, 1).
    max_iter : int
        Maximum number of passes over the matrix per solve.

    Attributes
    ----------
    n : int
        Number of nodes.
    damping : float
    max_iter : int

    Raises
    ------
    ParameterError
        Bad adjacency, damping or max_iter.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=float))
    >>> diffusion = Diffusion(A, damping=0.5)
    >>> diffusion
    Diffusion(n=4, links=2, damping=0.5, max_iter=1000)
    >>> (diffusion.solve([1.0, 0.0, 0.0, 0.5]) * 12).round(9).tolist()
    [7.0, 2.0, 1.0, 6.0]
    >>> (diffusion.solve([0.0, 0.0, 1.0, 0.0], tol=1e-6) * 12).round(5).tolist()  # another base
    [1.0, 2.0, 7.0, 0.0]
    """

    def __init__(self, adjacency: Any, *, damping: float = 0.5, max_iter: int = 1000) -> None:
        self._graph = PreparedGraph(check_adjacency(adjacency, copy=False))
        self.damping = check_damping(damping)
        self.max_iter = check_max_iter(max_iter)
        self.n = self._graph.n
        self._graph.walk(np.float32)

    def __repr__(self) -> str:
        return (
            f"Diffusion(n={self.n}, links={self._graph.matrix.nnz // 2}, damping={self.damping!r}, "
            f"max_iter={self.max_iter})"
        )

    def solution(self, base: Any, *, tol: float = 1e-10, x0: Any = None) -> Solution:
        """Solve for one base; the :class:`~credence.scoring.solver.Solution` (``y``, passes, error bound).

        Parameters and errors as :meth:`solve`.

        Examples
        --------
        >>> import numpy as np
        >>> s = Diffusion(np.array([[0.0, 1.0], [1.0, 0.0]])).solution([1.0, 0.0], tol=1e-9)
        >>> s.y.round(6).tolist(), s.error_bound <= 1e-9
        ([0.666667, 0.333333], True)
        """
        b = check_vector(base, self.n, "base")
        eps = check_tol(tol)
        start = None if x0 is None else check_vector(x0, self.n, "x0")
        walk = self._graph.walk(_storage(b, start, self.damping, eps))
        return solve(walk, b, damping=self.damping, tol=eps, max_iter=self.max_iter, x0=start)

    def solve(self, base: Any, *, tol: float = 1e-10, x0: Any = None) -> FloatArray:
        """The diffusion ``y = (1 - a) b + a P y`` of one base, within ``tol`` of the exact solution.

        Parameters
        ----------
        base : array_like, shape (n,)
            Base values ``b`` (any finite reals).
        tol : float
            Guaranteed max-abs error (see :func:`diffuse`).
        x0 : array_like, shape (n,), optional
            Warm start (e.g. the previous solution); default ``b``.

        Returns
        -------
        ndarray of float64, shape (n,)

        Raises
        ------
        ParameterError
            Bad base, tol or x0.
        ConvergenceError
            If the accuracy is not certified within ``max_iter`` passes.

        Examples
        --------
        >>> import numpy as np
        >>> Diffusion(np.array([[0.0, 1.0], [1.0, 0.0]])).solve([1.0, 0.0]).round(6).tolist()
        [0.666667, 0.333333]
        """
        return self.solution(base, tol=tol, x0=x0).y


# --------------------------------------------------------------------------- the component


@dataclass(frozen=True)
class NetworkComponent:
    """The network component of every user (arrays are read-only, length n).

    Attributes
    ----------
    y : ndarray of float64
        Diffused base over the participants' graph; ``b_u`` for isolated and
        non-participating users.
    n : ndarray of float64
        ``(P y)_u`` for participants with links to other participants, ``mu`` otherwise.
    value : ndarray of float64
        The final component ``c_u`` after shrinkage and the sharing rule, in [0, 1]
        (``mu`` for non-participants).
    degree : ndarray of float64
        Weighted degree among participants (0 for non-participants).
    mu : float
        The neutral prior.
    participating : ndarray of bool
        Who took part in the diffusion.
    """

    y: FloatArray
    n: FloatArray
    value: FloatArray
    degree: FloatArray
    mu: float
    participating: BoolArray

    def __post_init__(self) -> None:
        for array in (self.y, self.n, self.value, self.degree, self.participating):
            array.flags.writeable = False


def network_component(
    adjacency: Any,
    base: Any,
    *,
    damping: float = 0.5,
    prior: float | None = None,
    shrinkage: float = 2.0,
    sharing: str = "bonus_only",
    participating: Any = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
    x0: Any = None,
) -> NetworkComponent:
    """The network component ``c_u`` of every user (docs/design.md, "The network component").

    Non-participants (not consenting, or quarantined) are removed from the
    graph entirely: their rows and columns are dropped before the diffusion,
    so they neither give to nor receive from anyone; they get ``value = mu``.
    Among participants::

        y = (1 - a) b + a P y                 (diffusion on the participants' graph)
        n_u = (P y)_u  if d_u > 0  else mu
        c_u = (d_u n_u + k mu) / (d_u + k)    (mu if d_u = 0)
        value_u = max(c_u, mu) ("bonus_only") or c_u ("symmetric")

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency over all users (see :func:`check_adjacency`).
    base : array_like, shape (n,)
        Base creditworthiness ``b`` in [0, 1].
    damping : float
        Continue probability ``a`` in (0, 1).
    prior : float, optional
        Neutral prior ``mu`` in [0, 1]; default: mean of ``base`` over participants.
    shrinkage : float
        ``k >= 0``, the weighted degree at which ``c_u`` is half way between
        ``mu`` and ``n_u``.
    sharing : {"bonus_only", "symmetric"}
        ``bonus_only`` never lets a user's network lower their component below ``mu``.
    participating : array_like of bool, shape (n,), optional
        Consenting and not quarantined; default everyone.
    tol, max_iter, x0
        Passed to the solver (see :func:`diffuse`): ``y`` is guaranteed within ``tol``
        of the exact diffusion in every entry (so is ``n``, a weighted average of
        ``y``, computed in float64); ``x0`` has length ``n`` and only its
        participants' entries are used (e.g. a previous ``y``).

    Returns
    -------
    NetworkComponent

    Raises
    ------
    ParameterError
        Bad input; also when ``prior`` is omitted and nobody participates.
    ConvergenceError
        If the diffusion does not converge.

    Examples
    --------
    Two friends; user 0 has base 1, user 1 base 0, a = 0.5, k = 2, mu = 0.5:
    ``n = (b_1 + a b_0) / (1 + a) = 1/3`` for user 0 and ``2/3`` for user 1.

    >>> import numpy as np
    >>> A = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> nc = network_component(A, [1.0, 0.0], prior=0.5)
    >>> (nc.n * 3).round(9).tolist()
    [1.0, 2.0]
    >>> (nc.value * 18).round(9).tolist()  # max(4/9, 1/2) and 5/9
    [9.0, 10.0]
    >>> (network_component(A, [1.0, 0.0], prior=0.5, sharing="symmetric").value * 9).round(9).tolist()
    [4.0, 5.0]
    """
    matrix = check_adjacency(adjacency, copy=False)  # only read: a valid CSR float64 is not copied
    size = matrix.shape[0]
    b = check_vector(base, size, "base", unit_interval=True)
    a = check_damping(damping)
    k = check_shrinkage(shrinkage)
    rule = check_sharing(sharing)
    members = check_participating(participating, size)
    eps = check_tol(tol)
    limit = check_max_iter(max_iter)
    start = None if x0 is None else check_vector(x0, size, "x0")
    mu = neutral_prior(prior, b, members)

    index, sub = restrict(matrix, members)
    solution, walk = solve_validated(sub, b[index], a, eps, limit, None if start is None else start[index])
    y_sub = solution.y
    d = walk.to_original(walk.degree)
    linked = d > 0.0
    n_sub = np.full(index.size, mu)
    n_sub[linked] = walk_product(walk, y_sub)[linked]
    c_sub = component_value(n_sub, d, mu=mu, shrinkage=k, sharing=rule)

    y = b.copy()
    y[index] = y_sub
    n = np.full(size, mu)
    n[index] = n_sub
    value = np.full(size, mu)
    value[index] = c_sub
    degree = np.zeros(size)
    degree[index] = d
    return NetworkComponent(y=y, n=n, value=value, degree=degree, mu=mu, participating=members)
