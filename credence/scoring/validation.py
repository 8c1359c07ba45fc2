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
    "BUCKET_BYTES",
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


def is_canonical_symmetric(matrix: Any, *, bucket_rows: int | None = None) -> bool:
    """Whether a square CSR matrix passes :func:`check_adjacency` unchanged, in O(nnz) passes.

    True when its rows have strictly increasing column indices (sorted, no duplicates),
    every stored weight is finite and > 0 (no explicit zeros), no entry is on the
    diagonal, and every stored ``(u, v, w)`` has its mirror ``(v, u, w)`` stored with
    exactly the same weight. False for anything else, including other sparse formats
    and non-float64 data (it never raises and never modifies the matrix).

    No transpose is built and nothing is sorted. Three parallel passes (numba):

    1. row-local (:func:`_canonical_rows`): the rows and weights, the entries on either
       side of the diagonal, and how many entries above it fall in each *bucket* of
       ``2^shift`` consecutive columns;
    2. :func:`_scatter`: each entry ``(u, v, w)`` above the diagonal is written, as
       ``(v, u, w)``, to the bucket of row ``v`` (sequential writes to a few hundred
       streams; the buckets come out ordered by ``u``);
    3. :func:`_match`: per bucket, each ``(v, u, w)`` is compared with the entry under
       row ``v``'s cursor, which walks that row's entries below the diagonal. A bucket's
       rows are chosen to hold about :data:`BUCKET_BYTES` of the matrix, so these reads
       stay in cache; they are first read in order, so they stream in.

    Every entry above the diagonal is thus matched with a distinct entry below it with the
    same column and weight; as many lie below as above (pass 1), so the match is one to
    one and the matrix symmetric. The buckets need, per link, two indices and a float64
    weight of scratch (16 bytes with int32 indices), freed on return.

    Parameters
    ----------
    matrix : any
        Only a float64 ``csr_matrix`` or ``csr_array`` can pass.
    bucket_rows : int, optional
        Rows per bucket, a power of two; default from the size of the matrix (about
        :data:`BUCKET_BYTES` of it per bucket). The answer never depends on it.

    Raises
    ------
    ParameterError
        ``bucket_rows`` is not a power of two >= 1 (the matrix itself never raises).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[0.0, 2.0], [2.0, 0.0]])))
    True
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[0.0, 2.0], [2.5, 0.0]])))
    False
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])))  # a self loop
    False
    >>> is_canonical_symmetric(sp.csr_matrix(np.array([[0.0, 2.0], [2.0, 0.0]])), bucket_rows=1)
    True
    """
    shift = None
    if bucket_rows is not None:
        rows_per = check_int(bucket_rows, "bucket_rows", 1)
        if rows_per & (rows_per - 1):
            raise ParameterError("bucket_rows", bucket_rows, "must be a power of two >= 1")
        shift = rows_per.bit_length() - 1
    if not isinstance(matrix, sp.csr_matrix | sp.csr_array) or matrix.dtype != np.float64:
        return False
    rows, cols = matrix.shape
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    nnz = int(indices.size)
    # the passes read without bounds checks: the row pointers must be sound first
    if rows != cols or indptr.size != rows + 1 or data.size != nnz or indices.dtype != indptr.dtype:
        return False
    if rows == 0:
        return nnz == 0
    if indptr[0] != 0 or indptr[-1] != nnz or bool((indptr[1:] < indptr[:-1]).any()):
        return False
    if not (indptr.flags.c_contiguous and indices.flags.c_contiguous and data.flags.c_contiguous):
        indptr, indices, data = (np.ascontiguousarray(x) for x in (indptr, indices, data))
    threads = numba.get_num_threads()
    blocks = max(1, min(rows, 16 * threads))
    if shift is None:
        shift = _bucket_shift(rows, nnz * (indices.itemsize + data.itemsize))
    buckets = ((rows - 1) >> shift) + 1
    counts = np.zeros((blocks, buckets), dtype=np.int64)
    if not _canonical_rows(indptr, indices, data, blocks, shift, counts):
        return False
    # bucket-major: bucket b holds block 0's entries, then block 1's, ... (rows in order)
    starts = np.zeros(blocks * buckets + 1, dtype=np.int64)
    np.cumsum(counts.T.ravel(), out=starts[1:])
    cursors = starts[:-1].reshape(buckets, blocks).T.copy()  # write position of (block, bucket)
    bounds = starts[::blocks].copy()  # bucket b: bounds[b]:bounds[b + 1]
    upper = int(starts[-1])
    rows_of = np.empty(upper, dtype=indices.dtype)
    columns = np.empty(upper, dtype=indices.dtype)
    weights = np.empty(upper, dtype=np.float64)
    _scatter(indptr, indices, data, blocks, shift, cursors, rows_of, columns, weights)
    return bool(_match(indptr, indices, data, bounds, rows_of, columns, weights, shift))


#: Bytes of the matrix (indices and weights) per bucket of :func:`is_canonical_symmetric`'s
#: mirror pass: its rows' entries stay in a core's cache (1 MiB of L2 here) while it is matched.
BUCKET_BYTES = 1 << 19
_MAX_BUCKETS = 4096  # write streams of the scatter pass


def _bucket_shift(rows: int, nbytes: int) -> int:
    """log2 of the rows per bucket: about ``BUCKET_BYTES`` of the matrix, at most ``_MAX_BUCKETS`` buckets."""
    per_bucket = max(1, (rows * BUCKET_BYTES) // max(nbytes, 1))
    shift = max(0, per_bucket.bit_length() - 1)
    while ((rows - 1) >> shift) + 1 > _MAX_BUCKETS:
        shift += 1
    return shift


@numba.njit(cache=True, parallel=True)
def _canonical_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, blocks: int, shift: int, counts: np.ndarray
) -> bool:  # pragma: no cover
    """Row-local pass of :func:`is_canonical_symmetric` (row pointers already checked).

    Every row strictly increasing, inside ``[0, n)``, off the diagonal, weights finite and
    > 0; and as many entries below the diagonal as above. ``counts[block, b]``: entries
    above the diagonal in rows of ``block`` whose column is in bucket ``b`` (``v >> shift``).
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
                    v = max(0, min(v, n - 1))  # counted somewhere harmless: the answer is False
                previous = indices[k]
                if v > u:
                    net += 1
                    counts[block, v >> shift] += 1
                else:
                    net -= 1
        faults[block] = fault
        balance[block] = net
    return faults.sum() == 0 and balance.sum() == 0  # type: ignore[no-any-return]


@numba.njit(cache=True, parallel=True)
def _scatter(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    blocks: int,
    shift: int,
    cursors: np.ndarray,
    rows_of: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
) -> None:  # pragma: no cover
    """Write every entry ``(u, v, w)`` above the diagonal as ``(v, u, w)`` to the bucket of ``v``.

    Needs :func:`_canonical_rows` to have passed. ``cursors[block, b]`` is where ``block``
    writes its next entry of bucket ``b`` (blocks own disjoint ranges: no races).
    """
    n = indptr.size - 1
    for block in numba.prange(blocks):
        for u in range(block * n // blocks, (block + 1) * n // blocks):
            for k in range(indptr[u], indptr[u + 1]):
                v = indices[k]
                if v > u:
                    b = v >> shift
                    p = cursors[block, b]
                    rows_of[p] = v
                    columns[p] = u
                    weights[p] = data[k]
                    cursors[block, b] = p + 1


@numba.njit(cache=True, parallel=True)
def _match(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    rows_of: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
    shift: int,
) -> bool:  # pragma: no cover
    """Whether each bucketed ``(v, u, w)`` is the entry under row ``v``'s cursor (then advanced).

    A bucket lists its entries by increasing ``u`` (:func:`_scatter` keeps row order), so in
    a symmetric matrix each cursor walks its row's entries below the diagonal, one read
    per entry. Each mirror is verified where it is read, so a wrong cursor can only reject.
    """
    n = indptr.size - 1
    buckets = bounds.size - 1
    faults = np.zeros(buckets, dtype=np.int64)
    for b in numba.prange(buckets):
        low = b << shift
        high = min(n, (b + 1) << shift)
        cursor = np.empty(high - low, dtype=np.int64)  # row v: where its next mirror must be
        for v in range(low, high):
            cursor[v - low] = indptr[v]
        # read the bucket's rows in order first: streamed into cache, not fetched at random below
        fault = 0
        for k in range(indptr[low], indptr[high]):
            if indices[k] < 0 or not data[k] > 0.0:  # never true after _canonical_rows
                fault = 1
        for p in range(bounds[b], bounds[b + 1]):
            v = rows_of[p]
            c = cursor[v - low]
            if c >= indptr[v + 1] or indices[c] != columns[p] or data[c] != weights[p]:
                fault = 1
            cursor[v - low] = c + 1
        faults[b] = fault
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
