"""Validation of the scoring layer's parameters, on top of :mod:`credence.core.checks`.

Every ``check_*`` returns the value in its canonical type (a new array for arrays) or
raises :class:`~credence.core.errors.ParameterError` naming the parameter, its value
and the rule. :mod:`credence.scoring.diffusion` re-exports them all.

Examples
--------
>>> check_damping(0.5), check_sharing("symmetric"), check_node(2, 3)
(0.5, 'symmetric', 2)
"""

from __future__ import annotations

import numbers
from typing import Any, Literal, cast

import numba
import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_choice, check_int, check_real
from credence.core.errors import ParameterError
from credence.core.types import BoolArray, FloatArray

__all__ = [
    "SHARING_MODES",
    "Sharing",
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
    "is_canonical_symmetric",
]

#: How a user's network counts in their score, as a type (what :func:`check_sharing` returns):
#: ``"bonus_only"`` (it can only raise the score) or ``"symmetric"`` (it can lower it too).
Sharing = Literal["bonus_only", "symmetric"]
#: Its values.
SHARING_MODES: tuple[str, ...] = ("bonus_only", "symmetric")


# --------------------------------------------------------------------------- numbers


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
    # NaN and infinities fail the range itself, so they get the range's wording
    return check_real(damping, name, lo=0.0, hi=1.0, lo_open=True, hi_open=True, finite=False)


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
    return check_real(tol, name, lo=0.0, lo_open=True, joint=True)


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
    return check_real(shrinkage, name, lo=0.0, joint=True)


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
    return check_real(prior, name, lo=0.0, hi=1.0, finite=False)


def check_sharing(sharing: Any, name: str = "sharing") -> Sharing:
    """Validate the sharing rule of the network component: ``"bonus_only"`` or ``"symmetric"``.

    Examples
    --------
    >>> check_sharing("symmetric")
    'symmetric'
    >>> check_sharing("malus")
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'sharing' = 'malus': must be one of 'bonus_only', 'symmetric'
    """
    return cast(Sharing, check_choice(sharing, name, SHARING_MODES))


# --------------------------------------------------------------------------- arrays


def check_vector(vector: Any, n: int, name: str = "base", *, unit_interval: bool = False) -> FloatArray:
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


def check_participating(participating: Any, n: int, name: str = "participating") -> BoolArray:
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


# --------------------------------------------------------------------------- the graph


def check_adjacency(
    adjacency: Any, *, sym_tol: float = 1e-10, name: str = "adjacency", copy: bool = True
) -> sp.csr_matrix:
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
    copy : bool
        ``False``: return ``adjacency`` itself (not a copy) when it is a ``csr_matrix`` of
        float64 that is already canonical and exactly symmetric -- for callers that only
        read the result. Any other input is still copied; the input is never modified.

    Returns
    -------
    scipy.sparse.csr_matrix
        A new float64 CSR matrix (unless ``copy=False``, above): duplicates
        summed, explicit zeros removed, indices sorted, exactly symmetric.

    Raises
    ------
    ParameterError
        If any of the conditions above fails; the value names the offending entry.

    Notes
    -----
    O(nnz) without a transpose for the common case: one parallel pass
    (:func:`is_canonical_symmetric`) confirms that the CSR is canonical with positive
    finite weights, no self loop and every link stored both ways with the same weight.
    Only an input that fails it (not canonical, explicit zeros, or any error) goes
    through the general path, which sums duplicates, names the offending entry or
    symmetrises round-off.

    Examples
    --------
    >>> import numpy as np
    >>> A = check_adjacency(np.array([[0, 2], [2, 0]]))
    >>> A.dtype, A.nnz, A.has_canonical_format
    (dtype('float64'), 2, True)
    >>> check_adjacency(A, copy=False) is A, check_adjacency(A) is A
    (True, False)
    >>> check_adjacency(np.array([[0.0, 1.0], [0.0, 0.0]]))
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'adjacency' = 'entry (0, 1) = 1.0 but (1, 0) = 0.0': must be symmetric
    """
    if sp.issparse(adjacency):
        reuse = (
            not copy
            and isinstance(adjacency, sp.csr_matrix)
            and adjacency.dtype == np.float64
            and is_canonical_symmetric(adjacency)
        )
        if reuse:
            return cast(sp.csr_matrix, adjacency)
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
    if is_canonical_symmetric(matrix):
        matrix.has_canonical_format = True  # sorted, no duplicates: confirmed by the pass
        return matrix
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
    if is_canonical_symmetric(matrix):
        return matrix
    return _symmetric(matrix, sym_tol, name)


def is_canonical_symmetric(matrix: Any) -> bool:
    """Whether a square CSR matrix passes :func:`check_adjacency` unchanged, in one O(nnz) pass.

    True when its rows have strictly increasing column indices (sorted, no duplicates),
    every stored weight is finite and > 0 (no explicit zeros), no entry is on the
    diagonal, and every stored ``(u, v, w)`` has its mirror ``(v, u, w)`` stored with
    exactly the same weight. False for anything else, including other sparse formats
    and non-float64 data (it never raises and never modifies the matrix).

    No transpose is built and nothing is sorted: a row-local pass checks the rows and
    counts the entries on either side of the diagonal; a second pass reads the mirror of
    each entry above the diagonal where a per-row cursor says it must be, column tile by
    column tile (see ``_mirrors``), and verifies it there; the entries below the diagonal
    are then matched by counting (as many below as above). Both passes run on all cores
    (numba); the second needs ``n`` integers of positions per thread.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[0.0, 2.0], [2.0, 0.0]])))
    True
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[0.0, 2.0], [2.5, 0.0]])))
    False
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])))  # a self loop
    False
    """
    if not isinstance(matrix, sp.csr_matrix | sp.csr_array) or matrix.dtype != np.float64:
        return False
    rows, cols = matrix.shape
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    nnz = int(indices.size)
    # the pass reads without bounds checks: the row pointers must be sound first
    if rows != cols or indptr.size != rows + 1 or data.size != nnz or indices.dtype != indptr.dtype:
        return False
    if rows == 0:
        return nnz == 0
    if indptr[0] != 0 or indptr[-1] != nnz or bool((indptr[1:] < indptr[:-1]).any()):
        return False
    threads = numba.get_num_threads()
    if not _canonical_rows(indptr, indices, data, max(1, min(rows, 16 * threads))):
        return False
    count = max(1, min(rows, _TILES))
    cuts = np.searchsorted(indptr, (np.arange(1, count, dtype=np.int64) * nnz) // count, side="left")
    tiles = np.maximum.accumulate(np.concatenate(([0], cuts, [rows])).astype(np.int64))
    return bool(_mirrors(indptr, indices, data, tiles, min(threads, count)))


_TILES = 8  # column tiles of the mirror pass (8: fastest of 8-64 on 1M users / 10M links)


@numba.njit(cache=True, inline="always")
def _first_at_least(indices: np.ndarray, left: int, right: int, u: int) -> int:  # pragma: no cover
    """First position in ``left:right`` (sorted) whose column is ``>= u``."""
    while left < right:
        mid = (left + right) // 2
        if indices[mid] < u:
            left = mid + 1
        else:
            right = mid
    return left


@numba.njit(cache=True, parallel=True)
def _canonical_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, blocks: int
) -> bool:  # pragma: no cover
    """Row-local half of :func:`is_canonical_symmetric` (row pointers already checked).

    Every row strictly increasing, inside ``[0, n)``, off the diagonal, weights finite and
    > 0; and as many entries below the diagonal as above.
    """
    n = indptr.size - 1
    faults = np.zeros(blocks, dtype=np.int64)
    balance = np.zeros(blocks, dtype=np.int64)  # entries above minus below
    for block in numba.prange(blocks):
        fault = 0
        net = 0
        for u in range(block * n // blocks, (block + 1) * n // blocks):
            previous = -1
            for k in range(indptr[u], indptr[u + 1]):
                v = indices[k]
                w = data[k]
                if v <= previous or v >= n or v == u or not (w > 0.0 and w < np.inf):
                    fault = 1
                previous = v
                net += 1 if v > u else -1
        faults[block] = fault
        balance[block] = net
    return faults.sum() == 0 and balance.sum() == 0  # type: ignore[no-any-return]


@numba.njit(cache=True, parallel=True)
def _mirrors(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, tiles: np.ndarray, threads: int
) -> bool:  # pragma: no cover
    """Whether every entry ``(u, v, w)`` with ``u < v`` has its mirror ``(v, u, w)`` stored.

    Needs :func:`_canonical_rows` to have passed (sorted rows: no bounds checks here).
    The columns are cut into tiles ``tiles[t]:tiles[t + 1]`` of about equal entries; for one
    tile, the rows are visited in order and each entry ``(u, v)`` whose column falls in the
    tile is compared with the entry under row ``v``'s cursor. Visiting rows in order meets
    the mirrors of a row ``v`` in increasing ``u``: in a symmetric matrix each cursor walks
    its row's entries below the diagonal, one read per entry and no search, and the rows a
    tile reads stay in cache. Each mirror is verified where it is read, so a wrong cursor
    can only reject. Thread ``t`` takes a contiguous run of tiles, with its own positions.
    """
    tiles_total = tiles.size - 1
    faults = np.zeros(threads, dtype=np.int64)
    for thread in numba.prange(threads):
        first_tile = thread * tiles_total // threads
        end_tile = (thread + 1) * tiles_total // threads
        if first_tile == end_tile:
            continue
        low = tiles[first_tile]
        high = tiles[end_tile]
        position = np.empty(high, dtype=indptr.dtype)  # row u: its next entry to check
        for u in range(high):
            position[u] = _first_at_least(indices, indptr[u], indptr[u + 1], max(low, u + 1))
        cursor = np.empty(high - low, dtype=indptr.dtype)  # row v: where the next mirror must be
        for v in range(low, high):
            cursor[v - low] = indptr[v]
        fault = 0
        for tile in range(first_tile, end_tile):
            top = tiles[tile + 1]
            for u in range(top):
                p = position[u]
                end = indptr[u + 1]
                while p < end and indices[p] < top:
                    v = indices[p]
                    c = cursor[v - low]
                    if c >= indptr[v + 1] or indices[c] != u or data[c] != data[p]:
                        fault = 1
                    cursor[v - low] = c + 1
                    p += 1
                position[u] = p
        faults[thread] = fault
    return faults.sum() == 0  # type: ignore[no-any-return]


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
