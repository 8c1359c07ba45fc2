"""Local push: the diffusion kept current on a changing graph, and exact explanations.

:class:`DiffusionState` holds the solution ``y`` of ``y = c + a P y`` (docs/design.md, "The
network component"; ``c_u = (1 - a) b_u``, or ``b_u`` for a user without links), its
residual ``r = c + a P y - y`` and ``P y``, over a graph that can change one link, one
user's base or one user's participation at a time. The invariant kept after every
change is the one a full solve stops on::

    max_u |r_u| <= tol * (1 - a)    =>    max_u |y_u - y*_u| <= tol

(``||a P||_inf = a``, so the error ``e = (I - a P)^-1 r`` is at most ``|r|_inf / (1 - a)``).
A change perturbs ``r`` only where ``c`` or a row of ``P`` changed (the changed user, the
two ends of a link, the neighbours of a user who stops or starts participating); the
repair pushes residual from node to node until the invariant holds again (Gauss-Southwell
on the residual, the scheme of Zhang, Lofgren & Goel 2016 for dynamic PageRank). Each
push at ``u`` moves ``r_u`` into ``y_u`` and ``a P_xu r_u`` into each neighbour's
residual, and the ``P y`` of each neighbour is updated in the same loop, so the set of
users whose network component moved comes out of the repair directly.

Explanations run on the same state:

* :meth:`DiffusionState.contributors` — forward push from ``P[u, :]``. The push keeps
  ``pi_u = p + sum_w r_w Pi[w, :]`` exactly, with ``Pi = (1 - a)(I - a P)^-1`` whose row
  ``w`` applied to ``b`` is ``y_w``. Hence ``n_u - mu = sum_v p_v (b_v - mu) +
  sum_w r_w (y_w - mu)``: every user's share is its own base through ``p_v`` plus, where
  the push stopped, its diffused value through ``r_v``. The shares add up to
  ``n_u - mu`` within ``2 tol`` whatever the push depth, so the push can stop early.
* :meth:`DiffusionState.influence` — backward push from the column ``P[:, v]``: for every
  user ``u`` an estimate of ``pi_u(v) = d n_u / d b_v``, short by at most the stated bound.

The graph lives in a row pool (each row a slice ``start[u] : start[u] + length[u]`` with
spare capacity; a row that outgrows it moves to the end of the pool), so adding a link is
amortised O(1) and every kernel walks rows the same way. Non-participants (no consent,
quarantined) keep their links in the pool with a participation mask of 0: they take no
part in anyone's walk, and restoring them is a mask flip.

Examples
--------
Two friends at a = 0.5: ``y_0 = (b_0 + b_1) / 2 + ...``; raising ``b_1`` moves both.

>>> import numpy as np
>>> state = DiffusionState(np.array([[0.0, 1.0], [1.0, 0.0]]), [1.0, 0.0], damping=0.5, tol=1e-12)
>>> (state.y * 3).round(9).tolist()
[2.0, 1.0]
>>> changed = state.set_base(1, 1.0)
>>> state.y.round(9).tolist(), sorted(changed.tolist())
([1.0, 1.0], [0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from numba import njit

from credence.core.checks import check_int, check_real
from credence.core.errors import ConvergenceError, ParameterError
from credence.core.types import BoolArray, Float32Array, FloatArray, IndexArray, IntArray
from credence.scoring.diffusion import (
    check_adjacency,
    check_damping,
    check_node,
    check_participating,
    check_tol,
    check_vector,
    component_value,
    neutral_prior,
    solve_validated,
)

__all__ = ["Contributions", "DiffusionState", "Influence", "component_value", "contributors", "influence"]

# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _refresh(
    rows: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    base: np.ndarray,
    degree: np.ndarray,
    y: np.ndarray,
    py: np.ndarray,
    residual: np.ndarray,
    damping: float,
) -> None:
    """Recompute degree, ``(P y)_u`` and ``r_u`` of the given rows from scratch (their rows of P changed)."""
    for u in rows:
        total = 0.0
        acc = 0.0
        if mask[u] > 0.0:
            for j in range(start[u], start[u] + length[u]):
                x = cols[j]
                wx = weights[j] * mask[x]
                total += wx
                acc += wx * y[x]
        degree[u] = total
        if total > 0.0:
            py[u] = acc / total
            residual[u] = (1.0 - damping) * base[u] + damping * py[u] - y[u]
        else:
            py[u] = 0.0
            residual[u] = base[u] - y[u]


@njit(cache=True)
def _repair(
    seeds: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    degree: np.ndarray,
    y: np.ndarray,
    py: np.ndarray,
    residual: np.ndarray,
    damping: float,
    threshold: float,
    max_pushes: int,
    queue: np.ndarray,
    queued: np.ndarray,
    moved: np.ndarray,
    moved_list: np.ndarray,
) -> tuple[int, int]:
    """Push residuals above ``threshold`` (FIFO) starting from ``seeds``.

    Returns ``(number of users whose P y moved, pushes)``; ``pushes > max_pushes``
    means the budget ran out (the caller raises).
    """
    n = y.shape[0]
    head = 0
    size = 0
    n_moved = 0
    for s in seeds:
        if abs(residual[s]) > threshold and not queued[s]:
            queued[s] = True
            queue[(head + size) % n] = s
            size += 1
        if not moved[s]:
            moved[s] = True
            moved_list[n_moved] = s
            n_moved += 1
    pushes = 0
    while size > 0:
        u = queue[head]
        head = (head + 1) % n
        size -= 1
        queued[u] = False
        delta = residual[u]
        if abs(delta) <= threshold:
            continue
        pushes += 1
        if pushes > max_pushes:
            return n_moved, pushes
        y[u] += delta
        residual[u] = 0.0
        if degree[u] <= 0.0:
            continue
        for j in range(start[u], start[u] + length[u]):
            x = cols[j]
            wx = weights[j] * mask[x]
            if wx <= 0.0 or degree[x] <= 0.0:
                continue
            share = wx / degree[x] * delta
            py[x] += share
            residual[x] += damping * share
            if not moved[x]:
                moved[x] = True
                moved_list[n_moved] = x
                n_moved += 1
            if abs(residual[x]) > threshold and not queued[x]:
                queued[x] = True
                queue[(head + size) % n] = x
                size += 1
    return n_moved, pushes


@njit(cache=True, inline="always")
def _push(
    source: int,
    backward: bool,
    start: np.ndarray,
    length: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    degree: np.ndarray,
    damping: float,
    threshold: float,
    max_pushes: int,
    settled: np.ndarray,
    residual: np.ndarray,
    queue: np.ndarray,
    queued: np.ndarray,
    touched: np.ndarray,
    touched_list: np.ndarray,
) -> tuple[int, int]:
    """Push walk probability from ``source`` (FIFO) until every residual is <= ``threshold``.

    Forward (``backward=False``): the row ``P[source, :]``, the walk that leaves
    ``source``. Backward: the column ``P[:, source]``. The links are symmetric, so both
    read the same rows and differ only in the degree that normalises a link: the
    sender's (``P[w, x] = w_wx / d_w``) forward, the receiver's (``P[x, w] = w_xw / d_x``)
    backward. ``settled`` and ``residual`` receive ``p`` and ``r``.

    Returns ``(touched count, pushes)``; ``pushes > max_pushes`` means the budget ran out
    (the residuals then bound what is missing).
    """
    n = degree.shape[0]
    head = 0
    size = 0
    n_touched = 0
    for j in range(start[source], start[source] + length[source]):
        x = cols[j]
        wx = weights[j] * mask[x]
        if wx <= 0.0:
            continue
        residual[x] += wx / degree[x if backward else source]
        if not touched[x]:
            touched[x] = True
            touched_list[n_touched] = x
            n_touched += 1
        if not queued[x]:
            queued[x] = True
            queue[(head + size) % n] = x
            size += 1
    pushes = 0
    while size > 0:
        w = queue[head]
        head = (head + 1) % n
        size -= 1
        queued[w] = False
        mass = residual[w]
        if mass <= threshold:
            continue
        pushes += 1
        if pushes > max_pushes:
            break
        settled[w] += (1.0 - damping) * mass
        residual[w] = 0.0
        # forward divides by the sender's degree once per push, backward by each receiver's
        spread = damping * mass if backward else damping * mass / degree[w]
        for j in range(start[w], start[w] + length[w]):
            x = cols[j]
            wx = weights[j] * mask[x]
            if wx <= 0.0:
                continue
            residual[x] += spread * wx / degree[x] if backward else wx * spread
            if not touched[x]:
                touched[x] = True
                touched_list[n_touched] = x
                n_touched += 1
            if residual[x] > threshold and not queued[x]:
                queued[x] = True
                queue[(head + size) % n] = x
                size += 1
    return n_touched, pushes


# _push is inlined into one entry point per direction, so that each is compiled with the
# direction as a constant and carries no test in its loops. Measured on a 1M-user graph: a
# runtime test in the inner loop slowed the forward push by 4-9%, and one entry point holding
# both inlined copies by ~3%; these two run as fast as the separate kernels they replace.


@njit(cache=True)
def _forward_push(
    source: int,
    start: np.ndarray,
    length: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    degree: np.ndarray,
    damping: float,
    threshold: float,
    max_pushes: int,
    settled: np.ndarray,
    residual: np.ndarray,
    queue: np.ndarray,
    queued: np.ndarray,
    touched: np.ndarray,
    touched_list: np.ndarray,
) -> tuple[int, int]:
    """:func:`_push` from the row ``P[source, :]`` (contributors), compiled with ``backward=False``."""
    return _push(
        source, False, start, length, cols, weights, mask, degree, damping, threshold, max_pushes,
        settled, residual, queue, queued, touched, touched_list,
    )  # fmt: skip


@njit(cache=True)
def _backward_push(
    source: int,
    start: np.ndarray,
    length: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    degree: np.ndarray,
    damping: float,
    threshold: float,
    max_pushes: int,
    settled: np.ndarray,
    residual: np.ndarray,
    queue: np.ndarray,
    queued: np.ndarray,
    touched: np.ndarray,
    touched_list: np.ndarray,
) -> tuple[int, int]:
    """:func:`_push` from the column ``P[:, source]`` (influence), compiled with ``backward=True``."""
    return _push(
        source, True, start, length, cols, weights, mask, degree, damping, threshold, max_pushes,
        settled, residual, queue, queued, touched, touched_list,
    )  # fmt: skip


@njit(cache=True)
def _collect(
    nodes: np.ndarray,
    settled: np.ndarray,
    rest: np.ndarray,
    base: np.ndarray,
    y: np.ndarray,
    mu: float,
    direct: np.ndarray,
    onward: np.ndarray,
    parts: np.ndarray,
) -> None:
    """Read a forward push's result out: ``p_v``, ``r_v`` and each user's share."""
    for i in range(nodes.shape[0]):
        x = nodes[i]
        direct[i] = settled[x]
        onward[i] = rest[x]
        parts[i] = settled[x] * (base[x] - mu) + rest[x] * (y[x] - mu)


@njit(cache=True)
def _clear(
    nodes: np.ndarray, settled: np.ndarray, rest: np.ndarray, touched: np.ndarray, queued: np.ndarray
) -> None:
    """Reset a push's work arrays where it touched them (O(touched), not O(n))."""
    for x in nodes:
        settled[x] = 0.0
        rest[x] = 0.0
        touched[x] = False
        queued[x] = False


@njit(cache=True)
def _find(u: int, v: int, start: np.ndarray, length: np.ndarray, cols: np.ndarray) -> int:
    """Pool position of the entry (u, v), or -1."""
    for j in range(start[u], start[u] + length[u]):
        if cols[j] == v:
            return j
    return -1


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Contributions:
    """Who raised or lowered the network component of one user (read-only arrays).

    Attributes
    ----------
    node : int
        The user ``u`` explained.
    indices : ndarray of int64
        Contributing users ``v``, by decreasing ``|contribution|`` (ties by index).
    direct : ndarray of float64
        Walk probability settled on ``v`` (``p_v``): ``v``'s own base counts with this weight.
    onward : ndarray of float64
        Walk probability left at ``v`` when the push stopped (``r_v``): ``v``'s diffused
        value ``y_v`` (``v`` and ``v``'s own network) counts with this weight.
    contributions : ndarray of float64
        ``direct * (b_v - mu) + onward * (y_v - mu)``.
    total : float
        ``sum(contributions)``; equals ``n_u - mu`` within ``bound``.
    n : float
        The network value ``n_u`` before shrinkage (``mu`` without links).
    mu : float
        The neutral prior.
    bound : float
        ``2 tol``: ``|total - (n - mu)| <= bound``.
    rest : float
        The part of ``total`` from users not listed (0 unless ``first`` cut the list).
    count : int
        Number of users with a share.
    """

    node: int
    indices: IntArray
    direct: FloatArray
    onward: FloatArray
    contributions: FloatArray
    total: float
    n: float
    mu: float
    bound: float
    rest: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        for array in (self.indices, self.direct, self.onward, self.contributions):
            array.flags.writeable = False


@dataclass(frozen=True)
class Influence:
    """Whose network value ``n_u`` moves per unit change of one user's base (read-only arrays).

    Attributes
    ----------
    node : int
        The user ``v``.
    indices : ndarray of int64
        Users ``u`` with a positive estimate, by decreasing weight (ties by index).
    weights : ndarray of float64
        Estimates of ``pi_u(v) = d n_u / d b_v``, each short by at most ``bound``.
    bound : float
        Users not listed have ``pi_u(v) <= bound``.
    """

    node: int
    indices: IntArray
    weights: FloatArray
    bound: float

    def __post_init__(self) -> None:
        for array in (self.indices, self.weights):
            array.flags.writeable = False


# --------------------------------------------------------------------------- the state


class DiffusionState:
    """The diffusion ``y``, its residual and ``P y`` over a mutable graph.

    Parameters
    ----------
    adjacency : scipy sparse matrix or 2-D ndarray, shape (n, n)
        Symmetric weighted adjacency over all users (see
        :func:`~credence.scoring.diffusion.check_adjacency`).
    base : array_like, shape (n,)
        Base creditworthiness ``b`` in [0, 1].
    damping : float
        Continue probability ``a`` in (0, 1).
    tol : float
        Guaranteed max-abs error of ``y`` after construction and after every change.
    participating : array_like of bool, optional
        Consenting and not quarantined; default everyone.
    prior : float, optional
        Neutral prior ``mu``; default the participants' mean base. It is held fixed
        until the state is rebuilt, so one event does not move every score.
    y : array_like, optional
        A solution to start from (e.g. the previous full solve); it is repaired by push,
        so any close start works and a poor one only costs pushes.
    validate : bool
        Check the adjacency (O(nnz), no transpose); pass False only for a
        canonical symmetric CSR that has been checked already.
    max_pushes : int
        Budget of one repair or explanation; exceeding it raises ConvergenceError.

    Notes
    -----
    Resident memory: the row pool (4-byte column + 4-byte float32 weight per stored
    entry, two per link, with spare room after relocations) plus per-user arrays
    (about 110 bytes a user). Weights are rounded to float32 once, when the state is
    built, for ``tol >= 1e-7`` (float64 below); every sum over them is float64, and
    full solves of the state use the same weights, so incremental and full results
    stay within ``tol``.
    """

    # per user (length n)
    base: FloatArray
    mask: FloatArray  # 1.0 participating, 0.0 not: a factor in every link's weight
    y: FloatArray
    py: FloatArray
    degree: FloatArray
    residual: FloatArray
    start: IntArray  # row u is pool[start[u] : start[u] + length[u]], room for capacity[u]
    length: IntArray
    capacity: IntArray
    # the row pool
    cols: IndexArray
    weights: Float32Array | FloatArray

    def __init__(
        self,
        adjacency: Any,
        base: Any,
        *,
        damping: float,
        tol: float,
        participating: Any = None,
        prior: float | None = None,
        y: Any = None,
        validate: bool = True,
        max_pushes: int = 50_000_000,
    ) -> None:
        matrix = check_adjacency(adjacency) if validate else sp.csr_matrix(adjacency)
        n = matrix.shape[0]
        self.damping = check_damping(damping)
        self.tol = check_tol(tol)
        self.max_pushes = int(max_pushes)
        self.base = check_vector(base, n, "base", unit_interval=True)
        self.mask = check_participating(participating, n).astype(np.float64)
        self.mu = neutral_prior(prior, self.base, self.mask > 0)
        counts = np.diff(matrix.indptr).astype(np.int64)
        self.start = matrix.indptr[:-1].astype(np.int64)
        self.length = counts.copy()
        self.capacity = counts.copy()
        self.cols = matrix.indices.astype(np.int32)
        # float32 link strengths halve the pool; the rounding (~6e-8 relative) is far below any
        # tol >= 1e-7. Tighter tolerances keep float64. Every sum over weights is float64.
        data = np.asarray(matrix.data)
        self.weights = data.astype(np.float32) if self.tol >= 1e-7 else data.astype(np.float64)
        self.pool_size = int(matrix.nnz)
        self.degree = np.zeros(n)
        self.py = np.zeros(n)
        self.residual = np.zeros(n)
        self._alloc_work(n)
        if y is None:
            self.y = self._solve(None)
        else:
            self.y = check_vector(y, n, "y")
        self._refresh_all()
        self._repair(np.flatnonzero(np.abs(self.residual) > self.threshold))

    # ---------------------------------------------------------------- basics

    @property
    def n(self) -> int:
        """Number of users."""
        return int(self.base.shape[0])

    @property
    def n_links(self) -> int:
        """Number of links (each stored in both its rows)."""
        return int(self.length.sum()) // 2

    @property
    def threshold(self) -> float:
        """Largest residual the invariant allows: ``tol * (1 - a)``."""
        return self.tol * (1.0 - self.damping)

    @property
    def participating(self) -> BoolArray:
        """Participation mask (a copy)."""
        return self.mask > 0.0

    @property
    def nbytes(self) -> int:
        """Resident bytes of the state's arrays."""
        arrays = (
            self.start,
            self.length,
            self.capacity,
            self.cols,
            self.weights,
            self.degree,
            self.py,
            self.residual,
            self.base,
            self.mask,
            self.y,
            self._queue,
            self._queued,
            self._flag,
            self._list,
            self._settled,
            self._rest,
        )
        return int(sum(a.nbytes for a in arrays))

    def network(self) -> FloatArray:
        """``n_u = (P y)_u`` for users with links among participants, ``mu`` otherwise."""
        return np.where(self.degree > 0.0, self.py, self.mu)

    def residual_norm(self) -> float:
        """``max_u |r_u|`` (the invariant keeps it <= :attr:`threshold`)."""
        return float(np.abs(self.residual).max()) if self.n else 0.0

    #: The arrays :meth:`arrays` hands out and :meth:`from_arrays` takes back, with their dtypes.
    ARRAY_DTYPES: ClassVar[dict[str, type]] = {
        "base": np.float64, "mask": np.float64, "y": np.float64, "py": np.float64,
        "degree": np.float64, "residual": np.float64, "start": np.int64, "length": np.int64,
        "capacity": np.int64, "cols": np.int32,
    }  # fmt: skip

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The state as named arrays (not copies), for persisting it: :meth:`from_arrays` rebuilds it.

        Together with :meth:`parameters` this is the whole state: the pool (``cols``,
        ``weights``, spare room included), the rows into it and every per-user vector.
        """
        names = (*self.ARRAY_DTYPES, "weights")
        return {name: getattr(self, name) for name in names}

    def parameters(self) -> dict[str, float | int]:
        """The scalars of the state (damping, tol, prior, pool size, push budget), for :meth:`from_arrays`."""
        return {"damping": self.damping, "tol": self.tol, "mu": self.mu, "pool_size": self.pool_size,
                "max_pushes": self.max_pushes}  # fmt: skip

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, npt.NDArray[Any]], parameters: dict[str, float | int]
    ) -> DiffusionState:
        """The state :meth:`arrays` and :meth:`parameters` describe, without solving anything.

        The arrays are used as they are (read-only or copy-on-write memory maps work:
        a change writes only the pages it touches). Their names, dtypes, shapes and the
        pool's bounds are checked, not the invariant itself: hand back only what
        :meth:`arrays` gave.

        Raises
        ------
        ParameterError
            Naming the array or parameter that is missing or inconsistent.

        Examples
        --------
        >>> import numpy as np
        >>> adjacency = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> state = DiffusionState(adjacency, [0.2, 0.8], damping=0.5, tol=1e-9)
        >>> again = DiffusionState.from_arrays(state.arrays(), state.parameters())
        >>> bool(np.array_equal(again.y, state.y)), again.mu == state.mu
        (True, True)
        >>> again.set_base(0, 0.9) is not None  # it repairs like the original
        True
        >>> np.allclose(again.y, DiffusionState(adjacency, [0.9, 0.8], damping=0.5, tol=1e-9, prior=state.mu).y, atol=1e-8)
        True
        """
        names = (*cls.ARRAY_DTYPES, "weights")
        missing = [name for name in names if name not in arrays]
        if missing:
            raise ParameterError("arrays", missing[0], "is missing")
        for key in ("damping", "tol", "mu", "pool_size", "max_pushes"):
            if key not in parameters:
                raise ParameterError("parameters", key, "is missing")
        self = cls.__new__(cls)
        self.damping = check_damping(parameters["damping"])
        self.tol = check_tol(parameters["tol"])
        self.mu = float(check_real(parameters["mu"], "mu", lo=0.0, hi=1.0))
        self.max_pushes = int(parameters["max_pushes"])
        n = int(np.shape(arrays["base"])[0])
        for name, dtype in cls.ARRAY_DTYPES.items():
            array = np.asarray(arrays[name])
            if array.dtype != dtype or array.ndim != 1:
                raise ParameterError(name, str(array.dtype), f"must be a 1-D {np.dtype(dtype).name} array")
            if name != "cols" and array.shape[0] != n:
                raise ParameterError(name, array.shape[0], f"must have {n} entries, as base has")
            setattr(self, name, array)
        weights = np.asarray(arrays["weights"])
        wanted = np.float32 if self.tol >= 1e-7 else np.float64
        if weights.dtype != wanted or weights.shape != self.cols.shape:
            raise ParameterError(
                "weights", str(weights.dtype), f"must be {np.dtype(wanted).name}, shaped as cols"
            )
        self.weights = weights
        self.pool_size = int(parameters["pool_size"])
        if not 0 <= self.pool_size <= self.cols.shape[0]:
            raise ParameterError("pool_size", self.pool_size, f"must be in 0..{self.cols.shape[0]}")
        if n and int((self.start + self.capacity).max()) > self.pool_size:
            raise ParameterError("start", "a row", "reaches past the pool")
        self._alloc_work(n)
        return self

    def _alloc_work(self, n: int) -> None:
        self._queue = np.zeros(n, dtype=np.int64)
        self._queued = np.zeros(n, dtype=np.bool_)
        self._flag = np.zeros(n, dtype=np.bool_)
        self._list = np.zeros(n, dtype=np.int64)
        self._settled = np.zeros(n)
        self._rest = np.zeros(n)

    def adjacency(self, *, participating_only: bool = False) -> sp.csr_matrix:
        """The current friend graph as a symmetric canonical CSR (float64).

        Parameters
        ----------
        participating_only : bool
            Keep only links between two participants (the graph the diffusion runs on;
            non-participants keep empty rows). By default every stored link is kept.

        Examples
        --------
        >>> A = np.array([[0.0, 2.0, 0.0], [2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        >>> state = DiffusionState(A, [0.5, 0.5, 0.5], damping=0.5, tol=1e-8)
        >>> state.adjacency().toarray().tolist() == A.tolist()
        True
        >>> _ = state.set_participating(2, False)
        >>> state.adjacency(participating_only=True).toarray().tolist()
        [[0.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
        """
        rows = np.repeat(np.arange(self.n, dtype=np.int64), self.length)
        offsets = np.arange(rows.size, dtype=np.int64) - np.repeat(
            np.cumsum(self.length) - self.length, self.length
        )
        positions = np.repeat(self.start, self.length) + offsets
        cols = self.cols[positions].astype(np.int64)
        values = self.weights[positions].astype(np.float64)
        if participating_only:
            values = values * self.mask[rows] * self.mask[cols]
        keep = values > 0.0
        matrix = sp.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=(self.n, self.n))
        matrix.sum_duplicates()
        return matrix

    def _solve(self, x0: FloatArray | None) -> FloatArray:
        # The effective adjacency is symmetric, canonical and non-negative by construction:
        # solve it without diffuse()'s O(nnz) re-validation (a transpose).
        solution, _ = solve_validated(
            self.adjacency(participating_only=True), self.base, self.damping, self.tol, 1000, x0
        )
        return solution.y

    def _refresh_all(self) -> None:
        self._refresh_rows(np.arange(self.n, dtype=np.int64))

    def _refresh_rows(self, rows: IntArray) -> None:
        _refresh(
            np.asarray(rows, dtype=np.int64),
            self.start,
            self.length,
            self.cols,
            self.weights,
            self.mask,
            self.base,
            self.degree,
            self.y,
            self.py,
            self.residual,
            self.damping,
        )

    def _repair(self, seeds: IntArray) -> IntArray:
        """Push until the invariant holds; the users whose ``P y`` or row changed."""
        seeds = np.asarray(seeds, dtype=np.int64)
        n_moved, pushes = _repair(
            seeds,
            self.start,
            self.length,
            self.cols,
            self.weights,
            self.mask,
            self.degree,
            self.y,
            self.py,
            self.residual,
            self.damping,
            self.threshold,
            self.max_pushes,
            self._queue,
            self._queued,
            self._flag,
            self._list,
        )
        moved = self._list[:n_moved].copy()
        self._flag[moved] = False
        if pushes > self.max_pushes:
            self._queued[:] = False
            raise ConvergenceError(self.max_pushes, self.residual_norm(), self.tol)
        return moved

    # ---------------------------------------------------------------- changes

    def recompute(self) -> None:
        """Full solve of the current graph, warm-started from the current ``y``."""
        self.y = self._solve(self.y)
        self._refresh_all()

    def set_base(self, node: int, value: float) -> IntArray:
        """Change ``b_v``; returns the users whose ``P y`` moved (and ``v``)."""
        v = check_node(node, self.n)
        new = check_vector([value], 1, "value", unit_interval=True)[0]
        self.base[v] = new
        self._refresh_rows(np.array([v]))
        return self._repair(np.array([v]))

    def link_weight(self, u: int, v: int) -> float:
        """Stored weight of the link (0 if none), whatever the participation."""
        u = check_node(u, self.n, "u")
        v = check_node(v, self.n, "v")
        j = _find(u, v, self.start, self.length, self.cols)
        return 0.0 if j < 0 else float(self.weights[j])

    def neighbors(self, node: int) -> tuple[IntArray, FloatArray]:
        """Columns and weights of the node's stored links (copies), whatever the participation."""
        node = check_node(node, self.n, "node")
        lo = int(self.start[node])
        hi = lo + int(self.length[node])
        return self.cols[lo:hi].astype(np.int64), self.weights[lo:hi].astype(np.float64)

    def set_link(self, u: int, v: int, weight: float) -> IntArray:
        """Add, re-weight (``weight > 0``) or remove (``weight = 0``) the link u - v."""
        u = check_node(u, self.n, "u")
        v = check_node(v, self.n, "v")
        if u == v:
            raise ParameterError("v", v, "a link must join two different users")
        w = check_real(weight, "weight", lo=0.0, joint=True)
        if self.weights.dtype == np.float32 and w > float(np.finfo(np.float32).max):
            raise ParameterError("weight", weight, f"must fit the state's {self.weights.dtype.name} weights")
        for x, z in ((u, v), (v, u)):
            j = _find(x, z, self.start, self.length, self.cols)
            if j >= 0 and w == 0.0:
                self._drop(x, j)
            elif j >= 0:
                self.weights[j] = w
            elif w > 0.0:
                self._append(x, z, w)
        rows = np.array([u, v])
        self._refresh_rows(rows)
        return self._repair(rows)

    def set_participating(self, node: int, participating: bool) -> IntArray:
        """Let a user take part in the network, or take them out (consent, quarantine)."""
        v = check_node(node, self.n)
        self.mask[v] = 1.0 if participating else 0.0
        row = self.cols[self.start[v] : self.start[v] + self.length[v]]
        rows = np.concatenate([[v], row]).astype(np.int64)
        self._refresh_rows(rows)
        return self._repair(rows)

    def add_users(self, base: Any, participating: Any = None) -> IntArray:
        """Append users without links; returns their indices."""
        extra = check_vector(base, len(np.atleast_1d(base)), "base", unit_interval=True)
        count = extra.size
        members = check_participating(participating, count).astype(np.float64)
        old = self.n
        self.base = np.concatenate([self.base, extra])
        self.mask = np.concatenate([self.mask, members])
        self.y = np.concatenate([self.y, extra])
        self.start = np.concatenate([self.start, np.full(count, self.pool_size, dtype=np.int64)])
        self.length = np.concatenate([self.length, np.zeros(count, dtype=np.int64)])
        self.capacity = np.concatenate([self.capacity, np.zeros(count, dtype=np.int64)])
        self.degree = np.concatenate([self.degree, np.zeros(count)])
        self.py = np.concatenate([self.py, np.zeros(count)])
        self.residual = np.concatenate([self.residual, np.zeros(count)])
        self._alloc_work(self.n)
        return np.arange(old, self.n, dtype=np.int64)

    def _drop(self, row: int, position: int) -> None:
        last = int(self.start[row] + self.length[row] - 1)
        self.cols[position] = self.cols[last]
        self.weights[position] = self.weights[last]
        self.length[row] -= 1

    def _append(self, row: int, col: int, weight: float) -> None:
        if self.length[row] == self.capacity[row]:
            new_capacity = max(4, 2 * int(self.capacity[row]))
            self._reserve(self.pool_size + new_capacity)
            old = slice(int(self.start[row]), int(self.start[row] + self.length[row]))
            new = slice(self.pool_size, self.pool_size + int(self.length[row]))
            self.cols[new] = self.cols[old]
            self.weights[new] = self.weights[old]
            self.start[row] = self.pool_size
            self.capacity[row] = new_capacity
            self.pool_size += new_capacity
        position = int(self.start[row] + self.length[row])
        self.cols[position] = col
        self.weights[position] = weight
        self.length[row] += 1

    def _reserve(self, size: int) -> None:
        if size <= self.cols.shape[0]:
            return
        grown = max(size, int(self.cols.shape[0] * 1.25) + 16)
        cols = np.zeros(grown, dtype=np.int32)
        cols[: self.pool_size] = self.cols[: self.pool_size]
        weights = np.zeros(grown, dtype=self.weights.dtype)
        weights[: self.pool_size] = self.weights[: self.pool_size]
        self.cols, self.weights = cols, weights

    # ---------------------------------------------------------------- explanations

    def _push_budget(self, threshold: float) -> int:
        return min(self.max_pushes, int(4.0 / ((1.0 - self.damping) * threshold)) + 16)

    def contributors(self, node: int, *, threshold: float = 1e-3, first: int | None = None) -> Contributions:
        """Exact contributors to ``n_u - mu`` by forward push (see the module docstring).

        ``threshold`` only sets how far the push goes (smaller: more users named,
        each with a smaller onward share); the shares add up to ``n_u - mu`` within
        ``2 tol`` at any threshold. ``first`` keeps only the largest shares (the
        total still covers everyone; ``rest`` is the part not listed).
        """
        u = check_node(node, self.n)
        eps = check_tol(threshold, "threshold")
        if first is not None:
            first = check_int(first, "first")
        mu = self.mu
        if self.mask[u] == 0.0 or self.degree[u] <= 0.0:
            empty = np.zeros(0)
            return Contributions(
                u, np.zeros(0, np.int64), empty, empty.copy(), empty.copy(), 0.0, mu, mu, 0.0
            )
        count, _ = _forward_push(
            u,
            self.start,
            self.length,
            self.cols,
            self.weights,
            self.mask,
            self.degree,
            self.damping,
            eps,
            self._push_budget(eps),
            self._settled,
            self._rest,
            self._queue,
            self._queued,
            self._flag,
            self._list,
        )
        nodes = self._list[:count].copy()
        direct = np.empty(count)
        onward = np.empty(count)
        parts = np.empty(count)
        _collect(nodes, self._settled, self._rest, self.base, self.y, mu, direct, onward, parts)
        _clear(nodes, self._settled, self._rest, self._flag, self._queued)
        total = float(parts.sum())
        magnitude = np.abs(parts)
        if first is not None and first < count:
            keep = np.argpartition(-magnitude, first)[:first] if first else np.zeros(0, np.int64)
        else:
            keep = np.arange(count)
        order = keep[np.lexsort((nodes[keep], -magnitude[keep]))]
        return Contributions(
            node=u,
            indices=nodes[order],
            direct=direct[order],
            onward=onward[order],
            contributions=parts[order],
            total=total,
            n=float(self.py[u]),
            mu=mu,
            bound=2.0 * self.tol,
            rest=total - float(parts[order].sum()),
            count=count,
        )

    def influence(self, node: int, *, threshold: float = 1e-4) -> Influence:
        """``pi_u(v) = d n_u / d b_v`` for every user ``u``, by backward push from ``v``."""
        v = check_node(node, self.n)
        eps = check_tol(threshold, "threshold")
        if self.mask[v] == 0.0 or self.degree[v] <= 0.0:
            return Influence(v, np.zeros(0, np.int64), np.zeros(0), 0.0)
        count, _ = _backward_push(
            v,
            self.start,
            self.length,
            self.cols,
            self.weights,
            self.mask,
            self.degree,
            self.damping,
            eps,
            self._push_budget(eps),
            self._settled,
            self._rest,
            self._queue,
            self._queued,
            self._flag,
            self._list,
        )
        nodes = self._list[:count].copy()
        weights = self._settled[nodes].copy()
        bound = float(self._rest[nodes].max()) if count else 0.0
        _clear(nodes, self._settled, self._rest, self._flag, self._queued)
        keep = weights > 0.0
        nodes, weights = nodes[keep], weights[keep]
        order = np.lexsort((nodes, -weights))
        return Influence(v, nodes[order], weights[order], max(bound, 0.0))


# --------------------------------------------------------------------------- one-off queries


def contributors(
    adjacency: Any,
    base: Any,
    node: int,
    *,
    damping: float = 0.5,
    prior: float,
    tol: float = 1e-10,
    threshold: float = 1e-4,
    participating: Any = None,
) -> Contributions:
    """Who raised or lowered one user's network value, and by how much (one-off query).

    Solves the diffusion to ``tol`` and runs :meth:`DiffusionState.contributors`; to
    explain many users, build one :class:`DiffusionState` and query it instead.

    Examples
    --------
    The path 0 - 1 - 2 with only node 0 at base 1 and mu = 0: ``n_1 = 1/3``, all of it
    from node 0 (node 2's base is 0 and adds nothing).

    >>> import numpy as np
    >>> A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    >>> c = contributors(A, [1.0, 0.0, 0.0], 1, prior=0.0, tol=1e-12)
    >>> int(c.indices[0]), round(c.total * 3, 9), round(c.n * 3, 9)
    (0, 1.0, 1.0)
    """
    state = DiffusionState(
        adjacency, base, damping=damping, tol=tol, participating=participating, prior=prior
    )
    return state.contributors(node, threshold=threshold)


def influence(
    adjacency: Any,
    node: int,
    *,
    damping: float = 0.5,
    threshold: float = 1e-8,
    participating: Any = None,
) -> Influence:
    """How much every user's network value moves per unit change of one user's base.

    The influence does not depend on the bases, so no diffusion is solved.

    Examples
    --------
    Two friends at a = 0.5: ``n_0 = (a b_0 + b_1) / (1 + a)``, so node 1 moves
    ``n_0`` by 2/3 and its own ``n_1`` by 1/3 per unit of ``b_1``.

    >>> import numpy as np
    >>> inf = influence(np.array([[0.0, 1.0], [1.0, 0.0]]), 1, threshold=1e-12)
    >>> inf.indices.tolist(), (inf.weights * 3).round(9).tolist()
    ([0, 1], [2.0, 1.0])
    """
    matrix = check_adjacency(adjacency)
    zeros = np.zeros(matrix.shape[0])
    state = DiffusionState(
        matrix,
        zeros,
        damping=damping,
        tol=1e-12,
        participating=participating,
        prior=0.0,
        y=zeros,
        validate=False,
    )
    return state.influence(node, threshold=threshold)
