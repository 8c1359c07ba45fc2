"""Validated, prepared adjacencies, kept per matrix so that a second diffusion on it only solves.

Pure numerics (scipy CSR in, :class:`~credence.scoring.solver.WalkGraph` out). Two pieces:

* :class:`PreparedGraph`: an adjacency already checked by
  :func:`~credence.scoring.validation.check_adjacency`, with its walks for the solver
  (:func:`~credence.scoring.solver.prepare_walk`), prepared on first need per storage type.
* :class:`WalkCache`: a small, bounded, thread-safe map from a CSR matrix to its
  :class:`PreparedGraph`. :func:`~credence.scoring.diffusion.diffuse` uses the shared
  :data:`WALK_CACHE`.

What the cache assumes, precisely
---------------------------------
An entry is found by the *identity* of the matrix's three arrays (``indptr``,
``indices``, ``data``, held by weak reference: the cache never keeps a matrix alive,
and an entry goes when any of its arrays is garbage collected) and its shape. It is
used only if the arrays still hold exactly what was validated: the cache keeps a
private copy of them (the snapshot) and compares every element on every use (one
parallel pass reading both, ~15 ms at 1M users / 10M links; the check itself reads
every mirror at random, ~0.3 s). So an in-place change of any weight, column or row
pointer -- even back and forth -- is seen, and the matrix is validated again (and
refused if it is now invalid) as if it were new. Nothing is assumed about how the
arrays are changed; the one thing not covered is a change made *while* a call on the
same matrix is running (on another thread), which no check made before the solve can
see. The price is memory: an entry holds the snapshot (12-16 bytes per stored entry)
besides the walk (about 13 bytes per stored entry), at most :attr:`WalkCache.maxsize`
entries (default 2).

Only a canonical float64 ``scipy.sparse.csr_matrix`` is cached -- the input
:func:`~credence.scoring.validation.check_adjacency` passes unchanged, whose validation
depends on nothing but those arrays and the shape. Any other input (dense arrays,
other formats, unsorted or duplicate entries, round-off asymmetry) is validated,
converted and prepared on every call, as before.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> cache = WalkCache(maxsize=1)
>>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
>>> cache.graph(A) is cache.graph(A)  # validated and prepared once
True
>>> A.data[0] = 2.0  # now asymmetric: the copy differs, so it is checked again, and refused
>>> cache.graph(A)
Traceback (most recent call last):
...
credence.core.errors.ParameterError: parameter 'adjacency' = 'entry (0, 1) = 2.0 but (1, 0) = 1.0': must be symmetric
>>> cache.info()
CacheInfo(hits=1, misses=2, stale=1, entries=0, maxsize=1)
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import numba
import numpy as np
import scipy.sparse as sp

from credence.core.checks import check_int
from credence.scoring.solver import WalkGraph, prepare_walk
from credence.scoring.validation import check_adjacency

__all__ = ["WALK_CACHE", "CacheInfo", "PreparedGraph", "WalkCache", "is_cacheable"]


class PreparedGraph:
    """A validated adjacency and its solver walks, prepared on first need per storage type.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n, n)
        Already checked by :func:`~credence.scoring.validation.check_adjacency` (not
        checked again). Only read, never modified; it must not be modified while this
        object is in use.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
    n : int
        Number of nodes.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> graph = PreparedGraph(sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])))
    >>> graph
    PreparedGraph(n=2, links=1, walks=[])
    >>> graph.walk(np.float32) is graph.walk(np.float32), graph
    (True, PreparedGraph(n=2, links=1, walks=['float32']))
    """

    def __init__(self, matrix: sp.csr_matrix) -> None:
        self.matrix = matrix
        self.n = int(matrix.shape[0])
        self._walks: dict[np.dtype[Any], WalkGraph] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        names = sorted(kind.name for kind in self._walks)
        return f"PreparedGraph(n={self.n}, links={self.matrix.nnz // 2}, walks={names})"

    def walk(self, dtype: Any = np.float32) -> WalkGraph:
        """The walk in ``dtype`` storage (float32 or float64), prepared on the first call.

        Thread-safe: concurrent first calls prepare it once.

        Raises
        ------
        ParameterError
            ``dtype`` is neither float32 nor float64.
        """
        kind = np.dtype(dtype)
        walk = self._walks.get(kind)
        if walk is None:
            with self._lock:
                walk = self._walks.get(kind)
                if walk is None:
                    walk = self._walks[kind] = prepare_walk(self.matrix, dtype=kind)
        return walk


class CacheInfo(NamedTuple):
    """Counters of a :class:`WalkCache` (since it was made or cleared).

    Attributes
    ----------
    hits : int
        Calls served from an entry (its snapshot compared equal).
    misses : int
        Calls on a cacheable matrix that validated it (new, evicted, or changed).
    stale : int
        Of the misses, those whose entry was dropped because the arrays had changed.
    entries : int
        Entries held now.
    maxsize : int
        The bound on entries.
    """

    hits: int
    misses: int
    stale: int
    entries: int
    maxsize: int


def is_cacheable(adjacency: Any) -> bool:
    """Whether :class:`WalkCache` would keep ``adjacency``: a float64 ``csr_matrix``, square.

    Whether it is also canonical (so actually kept) is known only after its validation.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> is_cacheable(A), is_cacheable(A.toarray()), is_cacheable(sp.csr_array(A)), is_cacheable(A.astype(np.float32))
    (True, False, False, False)
    """
    return (
        isinstance(adjacency, sp.csr_matrix)
        and adjacency.dtype == np.float64
        and adjacency.shape[0] == adjacency.shape[1]
    )


@dataclass(frozen=True)
class _Entry:
    """One cached matrix: weak references to its arrays, a private copy of them, its graph."""

    refs: tuple[weakref.ref[np.ndarray], weakref.ref[np.ndarray], weakref.ref[np.ndarray]]
    shape: tuple[int, int]
    snapshot: tuple[np.ndarray, np.ndarray, np.ndarray]
    graph: PreparedGraph

    def belongs_to(self, arrays: tuple[np.ndarray, np.ndarray, np.ndarray], shape: tuple[int, int]) -> bool:
        """Whether the entry was made for these very arrays (alive, same objects) and shape."""
        return shape == self.shape and all(
            ref() is array for ref, array in zip(self.refs, arrays, strict=True)
        )

    def unchanged(self, arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> bool:
        """Whether the arrays still hold exactly the snapshot (every element compared)."""
        for array, copy in zip(arrays, self.snapshot, strict=True):
            if array.dtype != copy.dtype or array.shape != copy.shape:
                return False
        indptr, indices, data = arrays
        if not (indptr.flags.c_contiguous and indices.flags.c_contiguous and data.flags.c_contiguous):
            return False  # never cached so (prepare_walk reads them contiguous), and cheap to refuse
        return bool(_same(indptr, indices, data, *self.snapshot, max(1, 4 * numba.get_num_threads())))


class WalkCache:
    """A bounded, thread-safe cache of validated, prepared adjacencies, per CSR matrix.

    See the module notes for what it assumes: entries are found by the identity of a
    ``csr_matrix``'s arrays (weakly held) and used only when every element still equals
    the private copy taken when it was validated.

    Parameters
    ----------
    maxsize : int
        Most entries held (least recently used dropped first); 0 keeps none.

    Raises
    ------
    ParameterError
        ``maxsize`` is not an integer >= 0.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> cache = WalkCache(maxsize=2)
    >>> graphs = [sp.csr_matrix(np.array([[0.0, w], [w, 0.0]])) for w in (1.0, 2.0, 3.0)]
    >>> _ = [cache.graph(A) for A in graphs]
    >>> len(cache), cache.graph(graphs[2]) is cache.graph(graphs[2])  # the first was dropped
    (2, True)
    >>> del graphs[2]  # an entry goes with its matrix
    >>> len(cache)
    1
    """

    def __init__(self, maxsize: int = 2) -> None:
        self._maxsize = check_int(maxsize, "maxsize", 0)
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int, int], _Entry] = OrderedDict()
        self._dead: list[tuple[int, int, int]] = []  # keys whose arrays died while the lock was held
        self._hits = 0
        self._misses = 0
        self._stale = 0

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._entries)

    def __repr__(self) -> str:
        return f"WalkCache(maxsize={self._maxsize}, entries={len(self)})"

    @property
    def maxsize(self) -> int:
        """Most entries held."""
        return self._maxsize

    def resize(self, maxsize: int) -> None:
        """Change the bound (dropping the least recently used entries beyond it).

        Raises
        ------
        ParameterError
            ``maxsize`` is not an integer >= 0.
        """
        bound = check_int(maxsize, "maxsize", 0)
        with self._lock:
            self._maxsize = bound
            self._trim()

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._dead.clear()
            self._hits = self._misses = self._stale = 0

    def info(self) -> CacheInfo:
        """The counters and the number of entries."""
        with self._lock:
            self._purge()
            return CacheInfo(self._hits, self._misses, self._stale, len(self._entries), self._maxsize)

    def graph(self, adjacency: Any) -> PreparedGraph:
        """The validated adjacency, from the cache when it holds this unchanged matrix.

        A canonical float64 ``csr_matrix`` seen before, whose arrays are the same objects
        and hold the same values, is served from its entry: no validation and no
        preparation. Anything else is validated by
        :func:`~credence.scoring.validation.check_adjacency` (``copy=False``: a valid
        canonical float64 ``csr_matrix`` is used as it is, anything else converted to
        one) and, if it is a canonical ``csr_matrix``, cached.

        Parameters
        ----------
        adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
            Symmetric weighted adjacency (see
            :func:`~credence.scoring.validation.check_adjacency`).

        Returns
        -------
        PreparedGraph
            Its walks prepared on first need (and kept with the entry).

        Raises
        ------
        ParameterError
            Whatever :func:`~credence.scoring.validation.check_adjacency` raises.
        """
        if not is_cacheable(adjacency):
            return PreparedGraph(check_adjacency(adjacency, copy=False))
        arrays = (adjacency.indptr, adjacency.indices, adjacency.data)
        shape = (int(adjacency.shape[0]), int(adjacency.shape[1]))
        key = (id(arrays[0]), id(arrays[1]), id(arrays[2]))
        with self._lock:
            self._purge()
            entry = self._entries.get(key)
            if entry is not None:
                if entry.belongs_to(arrays, shape):
                    self._entries.move_to_end(key)
                else:  # another matrix's arrays that died, their ids reused
                    del self._entries[key]
                    entry = None
        if entry is not None:
            if entry.unchanged(arrays):  # outside the lock: one O(nnz) pass
                with self._lock:
                    self._hits += 1
                return entry.graph
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
                self._stale += 1
        with self._lock:
            self._misses += 1
        matrix = check_adjacency(adjacency, copy=False)
        if matrix is not adjacency or self._maxsize == 0:
            return PreparedGraph(matrix)  # converted: a new matrix each call, nothing to find it by
        snapshot = (arrays[0].copy(), arrays[1].copy(), arrays[2].copy())
        own = sp.csr_matrix((snapshot[2], snapshot[1], snapshot[0]), shape=shape, copy=False)
        graph = PreparedGraph(own)  # prepared from the private copy, which nobody else can change
        forget = self._forgetter(key)
        refs = (
            weakref.ref(arrays[0], forget),
            weakref.ref(arrays[1], forget),
            weakref.ref(arrays[2], forget),
        )
        with self._lock:
            self._entries[key] = _Entry(refs, shape, snapshot, graph)
            self._entries.move_to_end(key)
            self._trim()
        return graph

    def _forgetter(self, key: tuple[int, int, int]) -> Any:
        """A weak-reference callback that drops the entry of ``key`` (or leaves it for the next call)."""
        owner = weakref.ref(self)

        def forget(ref: weakref.ref[np.ndarray]) -> None:
            cache = owner()
            if cache is None:
                return
            # The collector may run this on any thread, even inside a locked section of this one.
            if cache._lock.acquire(blocking=False):
                try:
                    entry = cache._entries.get(key)
                    if entry is not None and ref in entry.refs:
                        del cache._entries[key]
                finally:
                    cache._lock.release()
            else:
                cache._dead.append(key)

        return forget

    def _purge(self) -> None:
        """Drop the entries whose arrays died while the lock was held (call with the lock)."""
        while self._dead:
            key = self._dead.pop()
            entry = self._entries.get(key)
            if entry is not None and any(ref() is None for ref in entry.refs):
                del self._entries[key]

    def _trim(self) -> None:
        """Drop the least recently used entries beyond the bound (call with the lock)."""
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)


#: The cache :func:`~credence.scoring.diffusion.diffuse` uses.
WALK_CACHE = WalkCache()


@numba.njit(cache=True, parallel=True)
def _same(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    indptr_copy: np.ndarray,
    indices_copy: np.ndarray,
    data_copy: np.ndarray,
    blocks: int,
) -> bool:  # pragma: no cover - compiled
    """Whether three arrays equal their copies element by element (same sizes, checked before).

    Weights are compared as values: the copies hold only finite positive weights (they
    passed the check), for which equal values are equal bits.
    """
    differ = np.zeros(blocks, dtype=np.int64)
    nnz = indices.size
    rows = indptr.size
    for block in numba.prange(blocks):
        fault = 0
        for k in range(block * rows // blocks, (block + 1) * rows // blocks):
            if indptr[k] != indptr_copy[k]:
                fault = 1
        for k in range(block * nnz // blocks, (block + 1) * nnz // blocks):
            if indices[k] != indices_copy[k] or data[k] != data_copy[k]:
                fault = 1
        differ[block] = fault
    return differ.sum() == 0  # type: ignore[no-any-return]
