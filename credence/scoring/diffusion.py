"""The network component: personalized-PageRank diffusion of base creditworthiness.

Pure numerics (scipy CSR and numpy arrays in, arrays out); see DESIGN.md,
"The network component". With ``A`` the symmetric weighted adjacency, ``D`` its
degree matrix, ``P = D^-1 A`` and ``a`` the damping (continue probability)::

    y = (1 - a) b + a P y        y_u = b_u for isolated u (the walk can only restart at u)
    n_u = (P y)_u                for d_u > 0, and mu for isolated u
    c_u = (d_u n_u + k mu) / (d_u + k)
    value_u = max(c_u, mu)       policy "bonus_only" (default); c_u for "symmetric"

The diffusion is solved by :mod:`credence.scoring.solver` (multicolour SOR on float32
storage with float64 accumulation, on all cores) to a *guaranteed* accuracy: the
returned ``y`` is within ``tol`` of the exact solution in every entry.

The ``check_*`` helpers validate parameters and raise
:class:`~credence.core.errors.ParameterError` naming the parameter and its value.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
>>> diffuse(A, np.array([1.0, 0.0]), damping=0.5).round(6).tolist()
[0.666667, 0.333333]
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.scoring.solver import Solution, WalkGraph, float32_suffices, prepare_walk, solve, walk_product

__all__ = [
    "POLICIES",
    "NetworkComponent",
    "check_adjacency",
    "check_damping",
    "check_max_iter",
    "check_node",
    "check_participating",
    "check_policy",
    "check_prior",
    "check_shrinkage",
    "check_tol",
    "check_vector",
    "diffuse",
    "network_component",
    "solve_validated",
]

Policy = Literal["bonus_only", "symmetric"]
POLICIES: tuple[str, ...] = ("bonus_only", "symmetric")

# --------------------------------------------------------------------------- validation


def _real(name: str, value: Any) -> float:
    """``value`` as a float, or ParameterError if it is not a real number (bools refused)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ParameterError(name, value, "must be a real number")
    return float(value)


def check_damping(damping: Any, name: str = "damping") -> float:
    """Validate the continue probability ``a`` of the walk: a float in the open interval (0, 1).

    Examples
    --------
    >>> check_damping(0.85)
    0.85
    >>> check_damping(1.0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'damping' = 1.0: must be in the open interval (0, 1)
    """
    value = _real(name, damping)
    if not 0.0 < value < 1.0:  # also refuses NaN
        raise ParameterError(name, damping, "must be in the open interval (0, 1)")
    return value


def check_tol(tol: Any, name: str = "tol") -> float:
    """Validate a tolerance: a finite float > 0.

    Examples
    --------
    >>> check_tol(1e-8)
    1e-08
    >>> check_tol(0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'tol' = 0: must be finite and > 0
    """
    value = _real(name, tol)
    if not (math.isfinite(value) and value > 0.0):
        raise ParameterError(name, tol, "must be finite and > 0")
    return value


def check_int(value: Any, name: str, lo: int = 0) -> int:
    """Validate an integer parameter that must be at least ``lo`` (bools refused).

    Examples
    --------
    >>> check_int(3, "k", 1)
    3
    >>> check_int(True, "seed")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'seed' = True: must be an integer >= 0
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < lo:
        raise ParameterError(name, value, f"must be an integer >= {lo}")
    return int(value)


def check_max_iter(max_iter: Any, name: str = "max_iter") -> int:
    """Validate an iteration limit: an integer >= 1.

    Examples
    --------
    >>> check_max_iter(10)
    10
    >>> check_max_iter(0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'max_iter' = 0: must be an integer >= 1
    """
    return check_int(max_iter, name, 1)


def check_shrinkage(shrinkage: Any, name: str = "shrinkage") -> float:
    """Validate the shrinkage strength ``k`` (pseudo-degree of the prior): finite and >= 0.

    Examples
    --------
    >>> check_shrinkage(2)
    2.0
    >>> check_shrinkage(-1.0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'shrinkage' = -1.0: must be finite and >= 0
    """
    value = _real(name, shrinkage)
    if not (math.isfinite(value) and value >= 0.0):
        raise ParameterError(name, shrinkage, "must be finite and >= 0")
    return value


def check_prior(prior: Any, name: str = "prior") -> float:
    """Validate the neutral prior ``mu``: a float in [0, 1].

    Examples
    --------
    >>> check_prior(0.5)
    0.5
    >>> check_prior(float("nan"))
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'prior' = nan: must be in [0, 1]
    """
    value = _real(name, prior)
    if not 0.0 <= value <= 1.0:
        raise ParameterError(name, prior, "must be in [0, 1]")
    return value


def check_policy(policy: Any, name: str = "policy") -> Policy:
    """Validate the sign policy: ``"bonus_only"`` or ``"symmetric"``.

    Examples
    --------
    >>> check_policy("symmetric")
    'symmetric'
    >>> check_policy("malus")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'policy' = 'malus': must be one of 'bonus_only', 'symmetric'
    """
    if policy == "bonus_only":
        return "bonus_only"
    if policy == "symmetric":
        return "symmetric"
    raise ParameterError(name, policy, "must be one of 'bonus_only', 'symmetric'")


def check_vector(vector: Any, n: int, name: str = "base", *, unit_interval: bool = False) -> np.ndarray:
    """Validate a per-node vector: 1-D, length ``n``, finite (and in [0, 1] if asked).

    Returns a new C-contiguous float64 array (the input is never aliased).

    Examples
    --------
    >>> check_vector([0.25, 1], 2).tolist()
    [0.25, 1.0]
    >>> check_vector([0.5, float("nan")], 2)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'base' = 'element 1 = nan': must be finite
    """
    try:
        arr = np.array(vector, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ParameterError(name, type(vector).__name__, f"must be numeric: {exc}") from None
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ParameterError(name, f"shape {arr.shape}", f"must be a 1-D array of length {n}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ParameterError(name, f"element {i} = {arr[i]}", "must be finite")
    if unit_interval:
        out = (arr < 0.0) | (arr > 1.0)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise ParameterError(name, f"element {i} = {arr[i]}", "must be in [0, 1]")
    return arr


def check_participating(participating: Any, n: int, name: str = "participating") -> np.ndarray:
    """Validate a participation mask: a boolean array of length ``n`` (``None`` -> all True).

    Integer arrays are refused, so an index list is never mistaken for a mask.

    Examples
    --------
    >>> check_participating(None, 2).tolist()
    [True, True]
    >>> check_participating([0, 1], 2)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'participating' = 'dtype int64': must be a boolean mask
    """
    if participating is None:
        return np.ones(n, dtype=bool)
    arr = np.asarray(participating)
    if arr.dtype != np.bool_:
        raise ParameterError(name, f"dtype {arr.dtype}", "must be a boolean mask")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ParameterError(name, f"shape {arr.shape}", f"must be a 1-D array of length {n}")
    return arr.copy()


def check_node(node: Any, n: int, name: str = "node") -> int:
    """Validate a node index: an integer in ``[0, n)``.

    Examples
    --------
    >>> check_node(1, 3)
    1
    >>> check_node(3, 3)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'node' = 3: must be an integer in [0, 3)
    """
    if isinstance(node, bool | np.bool_) or not isinstance(node, numbers.Integral) or not 0 <= int(node) < n:
        raise ParameterError(name, node, f"must be an integer in [0, {n})")
    return int(node)


def check_adjacency(adjacency: Any, *, sym_tol: float = 1e-10, name: str = "adjacency") -> sp.csr_matrix:
    """Validate a weighted adjacency and return it as canonical CSR float64.

    Parameters
    ----------
    adjacency : scipy sparse matrix/array or 2-D ndarray
        Square, symmetric (every link stored both ways), finite non-negative
        weights, no self loops (zero diagonal).
    sym_tol : float
        Relative symmetry tolerance: ``max |A - A^T| <= sym_tol * max |A|``.
        A matrix symmetric only within the tolerance is symmetrised as ``(A + A^T) / 2``.
    name : str
        Parameter name used in errors.

    Returns
    -------
    scipy.sparse.csr_matrix
        A new float64 CSR matrix (the input is never modified): duplicates
        summed, explicit zeros removed, indices sorted, exactly symmetric.

    Raises
    ------
    ParameterError
        If any of the conditions above fails; the value names the offending entry.

    Examples
    --------
    >>> import numpy as np
    >>> A = check_adjacency(np.array([[0, 2], [2, 0]]))
    >>> A.dtype, A.nnz, A.has_canonical_format
    (dtype('float64'), 2, True)
    >>> check_adjacency(np.array([[0.0, 1.0], [0.0, 0.0]]))
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'adjacency' = 'entry (0, 1) = 1.0 but (1, 0) = 0.0': must be symmetric
    """
    if sp.issparse(adjacency):
        matrix = sp.csr_matrix(cast(Any, adjacency), dtype=np.float64, copy=True)
    elif isinstance(adjacency, np.ndarray):
        if adjacency.ndim != 2:
            raise ParameterError(name, f"shape {adjacency.shape}", "must be a square matrix")
        try:
            matrix = sp.csr_matrix(adjacency.astype(np.float64))
        except (TypeError, ValueError) as exc:
            raise ParameterError(name, f"dtype {adjacency.dtype}", f"must be numeric: {exc}") from None
    else:
        raise ParameterError(name, type(adjacency).__name__, "must be a scipy sparse matrix or a 2-D ndarray")
    rows, cols = matrix.shape
    if rows != cols:
        raise ParameterError(name, f"shape {matrix.shape}", "must be a square matrix")
    matrix.sum_duplicates()  # also sorts indices
    data = matrix.data
    bad = ~np.isfinite(data) | (data < 0.0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        i, j = _entry_at(matrix, k)
        raise ParameterError(name, f"entry ({i}, {j}) = {data[k]}", "weights must be finite and >= 0")
    matrix.eliminate_zeros()
    diagonal = matrix.diagonal()
    if diagonal.any():
        i = int(np.flatnonzero(diagonal)[0])
        raise ParameterError(name, f"entry ({i}, {i}) = {diagonal[i]}", "must have no self loops")
    return _symmetric(matrix, sym_tol, name)


def _entry_at(matrix: sp.csr_matrix, k: int) -> tuple[int, int]:
    """(row, column) of the k-th stored entry of a CSR matrix."""
    row = int(np.searchsorted(matrix.indptr, k, side="right") - 1)
    return row, int(matrix.indices[k])


def _symmetric(matrix: sp.csr_matrix, sym_tol: float, name: str) -> sp.csr_matrix:
    """Check symmetry of a canonical CSR matrix; symmetrise it if only nearly symmetric."""
    transpose = matrix.transpose().tocsr()
    transpose.sort_indices()
    same_pattern = np.array_equal(matrix.indptr, transpose.indptr) and np.array_equal(
        matrix.indices, transpose.indices
    )
    if same_pattern and np.array_equal(matrix.data, transpose.data):
        return matrix
    scale = float(np.abs(matrix.data).max()) if matrix.nnz else 0.0
    difference = (matrix - transpose).tocoo()
    gap = np.abs(difference.data)
    if gap.size and gap.max() > sym_tol * scale:
        k = int(np.argmax(gap))
        i, j = int(difference.row[k]), int(difference.col[k])
        raise ParameterError(
            name, f"entry ({i}, {j}) = {matrix[i, j]} but ({j}, {i}) = {matrix[j, i]}", "must be symmetric"
        )
    symmetric = ((matrix + transpose) * 0.5).tocsr()
    symmetric.eliminate_zeros()
    symmetric.sort_indices()
    return sp.csr_matrix(symmetric)


# --------------------------------------------------------------------------- the kernel


def _restrict(matrix: sp.csr_matrix, members: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """Indices of the members and the adjacency among them (rows and columns dropped)."""
    index = np.flatnonzero(members)
    if index.size == matrix.shape[0]:
        return index, matrix
    sub = sp.csr_matrix(matrix[index][:, index])
    sub.sort_indices()
    return index, sub


def solve_validated(
    matrix: sp.csr_matrix,
    base: np.ndarray,
    damping: float,
    tol: float,
    max_iter: int,
    x0: np.ndarray | None,
) -> tuple[Solution, WalkGraph]:
    """Solve the diffusion on an adjacency already checked by :func:`check_adjacency` (no second check).

    For callers that build a symmetric, canonical, non-negative CSR themselves and would
    pay ``diffuse``'s O(nnz) validation for nothing; the solver is :mod:`credence.scoring.solver`.

    float32 storage whenever it can certify ``tol`` (see
    :func:`~credence.scoring.solver.float32_suffices`), float64 otherwise.
    """
    scale = float(np.abs(base).max()) if base.size else 0.0
    if x0 is not None and x0.size:
        scale = max(scale, float(np.abs(x0).max()))
    dtype = np.float32 if float32_suffices(tol, damping, scale) else np.float64
    walk = prepare_walk(matrix, dtype=dtype)
    return solve(walk, base, damping=damping, tol=tol, max_iter=max_iter, x0=x0), walk


def diffuse(
    adjacency: Any,
    base: Any,
    *,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 1000,
    x0: Any = None,
) -> np.ndarray:
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

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ParameterError
        Bad adjacency, base, damping, tol, max_iter or x0.
    ConvergenceError
        If the accuracy is not certified within ``max_iter`` passes.

    Examples
    --------
    A path 0 - 1 - 2 and an isolated node 3; only node 0 has base 1:

    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]))
    >>> y = diffuse(A, [1.0, 0.0, 0.0, 0.5], damping=0.5)
    >>> (y * 12).round(9).tolist()  # 7/12, 1/6, 1/12 and b_3 for the isolated node
    [7.0, 2.0, 1.0, 6.0]
    """
    matrix = check_adjacency(adjacency)
    n = matrix.shape[0]
    b = check_vector(base, n, "base")
    a = check_damping(damping)
    eps = check_tol(tol)
    limit = check_max_iter(max_iter)
    start = None if x0 is None else check_vector(x0, n, "x0")
    solution, _ = solve_validated(matrix, b, a, eps, limit, start)
    return solution.y


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
        The final component ``c_u`` after shrinkage and policy, in [0, 1]
        (``mu`` for non-participants).
    degree : ndarray of float64
        Weighted degree among participants (0 for non-participants).
    mu : float
        The neutral prior.
    participating : ndarray of bool
        Who took part in the diffusion.
    """

    y: np.ndarray
    n: np.ndarray
    value: np.ndarray
    degree: np.ndarray
    mu: float
    participating: np.ndarray

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
    policy: str = "bonus_only",
    participating: Any = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
    x0: Any = None,
) -> NetworkComponent:
    """The network component ``c_u`` of every user (DESIGN.md, "The network component").

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
    policy : {"bonus_only", "symmetric"}
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
    >>> (network_component(A, [1.0, 0.0], prior=0.5, policy="symmetric").value * 9).round(9).tolist()
    [4.0, 5.0]
    """
    matrix = check_adjacency(adjacency)
    size = matrix.shape[0]
    b = check_vector(base, size, "base", unit_interval=True)
    a = check_damping(damping)
    k = check_shrinkage(shrinkage)
    rule = check_policy(policy)
    members = check_participating(participating, size)
    eps = check_tol(tol)
    limit = check_max_iter(max_iter)
    start = None if x0 is None else check_vector(x0, size, "x0")
    if prior is None:
        if not members.any():
            raise ParameterError(
                "prior", None, "cannot default to the participants' mean: nobody participates"
            )
        mu = float(np.mean(b[members]))
    else:
        mu = check_prior(prior)

    index, sub = _restrict(matrix, members)
    solution, walk = solve_validated(sub, b[index], a, eps, limit, None if start is None else start[index])
    y_sub = solution.y
    d = walk.to_original(walk.degree)
    linked = d > 0.0
    n_sub = np.full(index.size, mu)
    n_sub[linked] = walk_product(walk, y_sub)[linked]
    c_sub = np.full(index.size, mu)
    c_sub[linked] = (d[linked] * n_sub[linked] + k * mu) / (d[linked] + k)
    if rule == "bonus_only":
        np.maximum(c_sub, mu, out=c_sub)
    # Guard against round-off pushing a value a hair outside [0, 1].
    np.clip(c_sub, 0.0, 1.0, out=c_sub)

    y = b.copy()
    y[index] = y_sub
    n = np.full(size, mu)
    n[index] = n_sub
    value = np.full(size, mu)
    value[index] = c_sub
    degree = np.zeros(size)
    degree[index] = d
    return NetworkComponent(y=y, n=n, value=value, degree=degree, mu=mu, participating=members)
