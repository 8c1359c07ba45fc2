"""The service behind the GraphQL API: one store, one scoring engine, one worker thread.

:class:`CredenceService` owns the store and the :class:`~credence.engine.ScoringEngine`
and is the only way the API touches them:

* Everything that reads the store or takes the engine's lock runs on one worker
  thread (``run``), never on the event loop: the store connections are not shared
  between threads, and a recompute or a push never stalls other requests' I/O.
* A score summary (score, band, components, reasons) is answered from the engine's
  memory without the lock (:meth:`~credence.engine.ScoringEngine.summaries`): it is a
  few array reads.
* Listings and statistics work on :class:`~credence.engine.EngineView` columns with
  numpy; pages are keyset pages (:func:`users_page`), so a cursor taken before a
  recompute still works after it.
* Score changes are published to subscribers (:class:`ScoreBroker`).

Examples
--------
>>> import numpy as np
>>> from credence.engine import EngineView
>>> ids = np.array(["a", "b", "c", "d"], dtype=object)
>>> table = EngineView(ids=ids, scores=np.array([700, 650, 700, 500]), base=np.zeros(4), degree=np.zeros(4),
...                    consent=np.ones(4, bool), quarantined=np.zeros(4, bool), participating=np.ones(4, bool),
...                    prior=0.5, damping=0.5, computed_at=0, generation=3,
...                    positions={user: row for row, user in enumerate(ids)})
>>> page = users_page(table, UserQuery(), first=2)
>>> page.ids, page.has_next
(['a', 'c'], True)
>>> users_page(table, UserQuery(), first=2, after=page.end_cursor).ids
['b', 'd']
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar, cast

import numpy as np

from credence.api.budget import CostBuckets
from credence.api.ids import decode_cursor, encode_cursor
from credence.api.relay import ChangeRelay, relayed_name
from credence.api.workers import SnapshotFollower
from credence.api.writer import AuditSpec, MutationWriter
from credence.core.errors import CredenceError, StoreError, ValidationError
from credence.core.scale import SCORE_MAX, SCORE_MIN
from credence.engine import EngineView, ScoreChange, ScoringEngine
from credence.graph.store import AuditDraft, GraphStore
from credence.scoring.policy import Policy

__all__ = [
    "SORTS",
    "CredenceService",
    "NumberRange",
    "ScoreBroker",
    "UserPage",
    "UserQuery",
    "histogram",
    "score_stats",
    "users_page",
]

T = TypeVar("T")
log = logging.getLogger("credence.api")
SORTS = ("SCORE_DESC", "SCORE_ASC", "USER_ID_ASC")


# --------------------------------------------------------------------------- listings


@dataclass(frozen=True, kw_only=True)
class NumberRange:
    """An explicit-operator numeric filter (every given bound must hold)."""

    eq: float | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    any_of: tuple[float, ...] | None = None

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Which of ``values`` satisfy every given bound (and, given ``any_of``, equal one of it).

        Examples
        --------
        >>> NumberRange(gte=600, lt=700).mask(np.array([550, 600, 650, 700])).tolist()
        [False, True, True, False]
        >>> NumberRange(any_of=(1.0, 3.0)).mask(np.array([1.0, 2.0, 3.0])).tolist()
        [True, False, True]
        """
        keep = np.ones(values.shape[0], dtype=bool)
        for bound, test in ((self.eq, np.equal), (self.gt, np.greater), (self.gte, np.greater_equal),
                            (self.lt, np.less), (self.lte, np.less_equal)):  # fmt: skip
            if bound is not None:
                keep &= test(values, bound)
        if self.any_of is not None:
            keep &= np.isin(values, np.asarray(self.any_of, dtype=np.float64))
        return keep


@dataclass(frozen=True, kw_only=True)
class UserQuery:
    """Which users a listing or a statistic covers, and in what order."""

    score: NumberRange | None = None
    degree: NumberRange | None = None
    bands: tuple[str, ...] | None = None
    consent: bool | None = None
    quarantined: bool | None = None
    sort: str = "SCORE_DESC"

    def mask(self, table: EngineView, policy: Policy | None = None) -> np.ndarray:
        """Which rows of ``table`` the query covers: every filter given must hold.

        Parameters
        ----------
        table : EngineView
            The engine's columns (scores, degrees, consent, quarantine).
        policy : Policy, optional
            The policy whose bands a band filter names; needed only with ``bands``.

        Returns
        -------
        ndarray of bool
            One entry per row of ``table``.

        Raises
        ------
        ValidationError
            If ``bands`` is given without a policy, or names a band the policy lacks.
        """
        keep = np.ones(table.ids.shape[0], dtype=bool)
        if self.score is not None:
            keep &= self.score.mask(table.scores)
        if self.degree is not None:
            keep &= self.degree.mask(table.degree)
        if self.bands is not None:
            if policy is None:
                raise ValidationError("a band filter needs the policy", entity="filter", column="band")
            known = {band.name for band in policy.bands}
            unknown = sorted(set(self.bands) - known)
            if unknown:
                raise ValidationError(
                    f"unknown band; the bands are {', '.join(sorted(known))}",
                    entity="filter",
                    column="band",
                    value=unknown[0],
                )
            keep &= np.isin(policy.band_names(table.scores), np.array(self.bands, dtype=object))
        if self.consent is not None:
            keep &= table.consent == self.consent
        if self.quarantined is not None:
            keep &= table.quarantined == self.quarantined
        return keep


@dataclass(frozen=True)
class UserPage:
    """One page of a listing.

    ``has_previous`` and ``has_next`` tell whether users the query keeps come before the
    page's first user and after its last, in the listing's order (see :func:`users_page`).
    """

    ids: list[str]
    cursors: list[str]
    has_next: bool
    total: int
    generation: int
    has_previous: bool = False

    @property
    def start_cursor(self) -> str | None:
        """The cursor of the page's first user (``before`` for the previous page), None for an empty page."""
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        """The cursor of the page's last user (``after`` for the next page), None for an empty page."""
        return self.cursors[-1] if self.cursors else None


def _take_ordered(
    candidates: np.ndarray, key: np.ndarray, ids: np.ndarray, count: int, from_end: bool = False
) -> np.ndarray:
    """The ``count`` candidates with the smallest (key, id), or the largest ``from_end``, in ascending order."""
    if count <= 0:
        chosen = candidates[:0]
    elif candidates.size <= count:
        chosen = candidates
    else:
        values = key[candidates]
        rank = candidates.size - count if from_end else count - 1
        threshold = np.partition(values, rank)[rank]
        inside = candidates[values > threshold] if from_end else candidates[values < threshold]
        ties = candidates[values == threshold]
        ties = ties[np.argsort(ids[ties].astype(str), kind="stable")]
        wanted = count - inside.size
        ties = ties[ties.size - wanted :] if from_end else ties[:wanted]
        chosen = np.concatenate([inside, ties])
    order = np.lexsort((ids[chosen].astype(str), key[chosen]))
    return chosen[order]


def _scan(
    order: np.ndarray, keep: np.ndarray, start: int, stop: int, count: int, from_end: bool
) -> np.ndarray:
    """Up to ``count`` rows of ``order[start:stop]`` that ``keep`` holds: the first ones, or the last ``from_end``.

    Reads ``order`` in chunks from the chosen end, so a short page of a long listing
    touches a few chunks, not the whole of it.
    """
    picked: list[np.ndarray] = []
    found = 0
    chunk = max(4 * (count + 1), 1024)
    position = stop if from_end else start
    while found < count and (position > start if from_end else position < stop):
        low, high = (
            (max(start, position - chunk), position) if from_end else (position, min(stop, position + chunk))
        )
        block = order[low:high]
        hit = block[keep[block]]
        picked.append(hit)
        found += hit.size
        position = low if from_end else high
    if from_end:
        picked.reverse()
    rows = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return rows[max(rows.size - count, 0) :] if from_end else rows[:count]


def _cursor_key(cursor: str, sort: str, argument: str) -> tuple[int, str]:
    """The (score, user id) position in a ``users`` cursor of a listing in ``sort`` order.

    Raises
    ------
    ValidationError
        Naming ``argument``, if ``cursor`` is not a users cursor of this order.
    """
    data = decode_cursor(cursor, "users", argument)
    key = data.get("k")
    if data.get("s") != sort or not (isinstance(key, list) and len(key) == 2):
        raise ValidationError("cursor of a listing in another order", entity="cursor", column=argument,
                              value=cursor)  # fmt: skip
    if not isinstance(key[1], str) or isinstance(key[0], bool) or not isinstance(key[0], int):
        raise ValidationError("malformed cursor", entity="cursor", column=argument, value=cursor)
    return key[0], key[1]


def _following(key: np.ndarray, ids: np.ndarray, keep: np.ndarray, position: tuple[int, str]) -> np.ndarray:
    """Rows strictly after ``position`` (sort key, user id) in (key, id) order; ties compared among ``keep`` only."""
    value, user = position
    later = key > value
    tie = np.flatnonzero(keep & (key == value))
    later[tie[ids[tie].astype(str) > user]] = True
    return later


def _preceding(key: np.ndarray, ids: np.ndarray, keep: np.ndarray, position: tuple[int, str]) -> np.ndarray:
    """Rows strictly before ``position`` (sort key, user id) in (key, id) order; ties compared among ``keep`` only."""
    value, user = position
    earlier = key < value
    tie = np.flatnonzero(keep & (key == value))
    earlier[tie[ids[tie].astype(str) < user]] = True
    return earlier


def users_page(
    table: EngineView,
    query: UserQuery,
    *,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    policy: Policy | None = None,
    id_order: np.ndarray | None = None,
) -> UserPage:
    """A keyset page of users in ``query.sort`` order (ties by user id).

    The cursors hold a row's sort key and id, not an offset, so they stay valid across
    recomputes: ``after`` keeps the users strictly after that key in the current order,
    ``before`` those strictly before it (a user whose score moved across a cursor may be
    seen twice or not at all, as with any keyset page over changing data). Of that
    window the page is the ``first`` users, or the ``last`` ones, always in listing
    order. ``id_order`` (rows sorted by id) saves a sort of every id for ``USER_ID_ASC``.

    ``has_previous`` is exact: whether a user the query keeps lies before the page
    (at or before ``after``, or in the window before a ``last`` page); so is
    ``has_next`` (after the page in the window, or at or after ``before``). Both are
    counted in the same view of the scores as the page.

    Parameters
    ----------
    table
        The engine's columns, as one consistent view.
    query
        The filters and the order.
    first, last
        The page size from the start or from the end of the window: exactly one is
        given, already checked against the limits.
    after, before
        Cursors of this listing's edges (any of them, whichever page they came from).
    policy
        The policy a band filter names.
    id_order
        Rows sorted by user id, if the caller keeps them.

    Returns
    -------
    UserPage
        The page, its cursors, whether users precede and follow it, and the filter's count.

    Raises
    ------
    ValidationError
        If the sort is unknown, a cursor is not one of a listing in this order, or a
        filter is invalid.
    ValueError
        If not exactly one of ``first`` and ``last`` is given.

    Examples
    --------
    >>> ids = np.array(["a", "b", "c", "d", "e"], dtype=object)
    >>> table = EngineView(ids=ids, scores=np.array([700, 650, 700, 500, 650]), base=np.zeros(5),
    ...                    degree=np.zeros(5), consent=np.ones(5, bool), quarantined=np.zeros(5, bool),
    ...                    participating=np.ones(5, bool), prior=0.5, damping=0.5, computed_at=0, generation=3,
    ...                    positions={user: row for row, user in enumerate(ids)})
    >>> end = users_page(table, UserQuery(), last=2)
    >>> end.ids, end.has_previous, end.has_next
    (['e', 'd'], True, False)
    >>> users_page(table, UserQuery(), last=2, before=end.start_cursor).ids
    ['c', 'b']
    """
    if (first is None) == (last is None):
        raise ValueError("give exactly one of first and last")
    if query.sort not in SORTS:
        raise ValidationError(
            f"must be one of {', '.join(SORTS)}", entity="users", column="sort", value=query.sort
        )
    from_end = last is not None
    size = int(last if last is not None else cast(int, first))
    keep = query.mask(table, policy)
    total = int(np.count_nonzero(keep))
    ids = table.ids
    low = None if after is None else _cursor_key(after, query.sort, "after")
    high = None if before is None else _cursor_key(before, query.sort, "before")
    if query.sort == "USER_ID_ASC":
        order = id_order if id_order is not None else np.argsort(ids.astype(str), kind="stable")
        sorted_ids = ids[order].astype(str) if low is not None or high is not None else ids[:0]
        start = 0 if low is None else int(np.searchsorted(sorted_ids, low[1], side="right"))
        stop = order.size if high is None else int(np.searchsorted(sorted_ids, high[1], side="left"))
        stop = max(stop, start)
        rows = _scan(order, keep, start, stop, size + 1, from_end)
        earlier = low is not None and bool(keep[order[:start]].any())
        later = high is not None and bool(keep[order[stop:]].any())
    else:
        key = -table.scores if query.sort == "SCORE_DESC" else table.scores.copy()

        def sort_key(position: tuple[int, str]) -> tuple[int, str]:
            return (-position[0] if query.sort == "SCORE_DESC" else position[0]), position[1]

        window = keep.copy()
        earlier = later = False
        if low is not None:
            following = _following(key, ids, keep, sort_key(low))
            earlier = bool((keep & ~following).any())
            window &= following
        if high is not None:
            preceding = _preceding(key, ids, keep, sort_key(high))
            later = bool((keep & ~preceding).any())
            window &= preceding
        rows = _take_ordered(np.flatnonzero(window), key, ids, size + 1, from_end)
    more = rows.size > size  # more of the window beyond the page, on the side it was cut
    rows = rows[rows.size - size :] if from_end and more else rows[:size]
    has_previous = earlier or (from_end and more)
    has_next = later or (not from_end and more)
    out_ids = [str(u) for u in ids[rows].tolist()]
    cursors = []
    for row, user in zip(rows.tolist(), out_ids, strict=True):
        value = 0 if query.sort == "USER_ID_ASC" else int(table.scores[row])
        cursors.append(encode_cursor("users", {"s": query.sort, "k": [value, user], "g": table.generation}))
    return UserPage(out_ids, cursors, has_next, total, table.generation, has_previous)


def score_stats(scores: np.ndarray, policy: Policy) -> dict[str, Any]:
    """Count, mean, spread, percentiles and band counts of some scores.

    Examples
    --------
    >>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
    >>> stats = score_stats(np.array([400, 600, 800]), read_policy(DEFAULT_POLICY_PATH))
    >>> stats["count"], stats["mean"], stats["median"]
    (3, 600.0, 600.0)
    """
    scores = np.asarray(scores, dtype=np.float64)
    names = policy.band_names(scores) if scores.size else np.array([], dtype=object)
    bands = [{"name": band.name, "min": band.min, "count": int(np.count_nonzero(names == band.name))}
             for band in policy.bands]  # fmt: skip
    if scores.size == 0:
        return {"count": 0, "mean": None, "stddev": None, "min": None, "max": None, "median": None,
                "percentiles": [], "bands": bands}  # fmt: skip
    levels = (1, 5, 10, 25, 50, 75, 90, 95, 99)
    values = np.percentile(scores, levels)
    return {
        "count": int(scores.size), "mean": float(scores.mean()), "stddev": float(scores.std()),
        "min": int(scores.min()), "max": int(scores.max()), "median": float(np.median(scores)),
        "percentiles": [{"level": level, "value": float(v)} for level, v in zip(levels, values, strict=True)],
        "bands": bands,
    }  # fmt: skip


def histogram(scores: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Counts of scores in ``bins`` equal bins over [350, 950] (the last bin includes 950).

    Examples
    --------
    >>> [b["count"] for b in histogram(np.array([350, 649, 650, 950]), 2)]
    [2, 2]
    """
    counts, edges = np.histogram(
        np.asarray(scores, dtype=np.float64), bins=bins, range=(SCORE_MIN, SCORE_MAX)
    )
    return [{"lower": float(edges[i]), "upper": float(edges[i + 1]), "count": int(c)}
            for i, c in enumerate(counts.tolist())]  # fmt: skip


# --------------------------------------------------------------------------- subscriptions


class ScoreBroker:
    """Fans score changes out to subscribers' asyncio queues (thread-safe publish)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[
            int, tuple[asyncio.AbstractEventLoop, asyncio.Queue[ScoreChange], str | None]
        ] = {}
        self._next = 0

    def subscribe(self, user_id: str | None) -> tuple[int, asyncio.Queue[ScoreChange]]:
        """A queue receiving the changes of ``user_id`` (every user when None); call from the loop."""
        queue: asyncio.Queue[ScoreChange] = asyncio.Queue(maxsize=1_000)
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = (asyncio.get_running_loop(), queue, user_id)
            return self._next, queue

    def unsubscribe(self, token: int) -> None:
        """Stop delivering to the queue of ``token`` (from :meth:`subscribe`); an unknown token is ignored."""
        with self._lock:
            self._subscribers.pop(token, None)

    @property
    def subscribers(self) -> int:
        """How many queues are subscribed now."""
        with self._lock:
            return len(self._subscribers)

    def publish(self, changes: Sequence[ScoreChange]) -> None:
        """Deliver changes to the matching subscribers (from any thread); a full queue drops."""
        with self._lock:
            targets = list(self._subscribers.values())
        for loop, queue, user_id in targets:
            for change in changes:
                if user_id is None or change.user == user_id:
                    loop.call_soon_threadsafe(_offer, queue, change)


def _offer(queue: asyncio.Queue[ScoreChange], change: ScoreChange) -> None:
    if not queue.full():
        queue.put_nowait(change)


# --------------------------------------------------------------------------- the service


@dataclass
class CredenceService:
    """The store, the engine, the worker thread and the broker of one API process.

    Parameters
    ----------
    store : GraphStore
        Where the data lives.
    engine : ScoringEngine
        The engine scoring that store (recomputed before serving).
    """

    store: GraphStore
    engine: ScoringEngine
    broker: ScoreBroker = field(default_factory=ScoreBroker)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="credence-engine")
    )
    #: Long graph analyses (ring peeling, Louvain, SybilRank) run here, on snapshots taken under
    #: the engine lock, so that they never hold up the worker thread's writes and reads.
    analysis_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="credence-analysis")
    )
    #: Audit entries of evidence reads are written here, never on the event loop and never
    #: inside the writer's transaction.
    audit_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="credence-audit")
    )
    writer: MutationWriter = field(init=False)
    #: Readiness probes of the store run here (their own connection; never queued behind writes).
    probe_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="credence-probe")
    )
    #: Set in a follower worker: the thread that applies the primary's snapshots.
    follower: SnapshotFollower | None = None
    #: Set in a follower worker: the line to the primary's writer for the common changes.
    relay: ChangeRelay | None = None
    #: Per-key cost buckets (rate limits; set by ``create_app`` from the limits), or None when off.
    buckets: CostBuckets | None = None
    _id_order: tuple[int, np.ndarray] | None = None
    _store_down_since: float | None = None

    def __post_init__(self) -> None:
        self.writer = MutationWriter(engine=self.engine, store=self.store)
        self.writer.committed_seq = self.store.latest_snapshot_seq()

    def generation_token(self) -> int:
        """The newest snapshot this process's answers reflect: committed here, or applied from the feed.

        Every response carries it as ``extensions.generation``; sent back in the
        ``X-Credence-Generation`` header, it makes any worker wait until it reflects
        that much (read-your-writes).
        """
        return self.follower.applied if self.follower is not None else self.writer.committed_seq

    # ------------------------------------------------------------------ freshness

    def note_store(self, error: BaseException | None) -> None:
        """Record the outcome of a store call: a StoreError marks the store down, success up."""
        if isinstance(error, StoreError):
            if self._store_down_since is None:
                self._store_down_since = time.time()
                log.warning("the store is unavailable: %s", error)
        elif error is None and self._store_down_since is not None:
            self._store_down_since = None
            log.warning("the store is available again")

    def stale_since(self) -> float | None:
        """Since when answers from memory may lag the store (store unreachable, or the engine stale); else None."""
        marks = [t for t in (self._store_down_since, self.engine.stale_since) if t is not None]
        return min(marks) if marks else None

    async def probe(self, timeout: float = 2.0) -> StoreError | None:
        """Whether the store answers a cheap read within ``timeout`` seconds (None) or not (the error)."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(self.probe_executor, self.store.latest_recompute), timeout
            )
        except TimeoutError:
            error = StoreError(f"the store did not answer within {timeout:g} s", retry_after=2)
            self.note_store(error)
            return error
        except StoreError as error:
            self.note_store(error)
            return error
        self.note_store(None)
        return None

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the worker thread (store and engine reads)."""
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, partial(function, *args, **kwargs))
        except StoreError as error:
            self.note_store(error)
            raise
        return result

    async def analyze(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a pure graph analysis on the analysis thread (no store access allowed there)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.analysis_executor, partial(function, *args, **kwargs))

    async def mutate(
        self,
        function: Callable[..., T],
        *args: Any,
        audit: AuditSpec = (),
        **kwargs: Any,
    ) -> T:
        """Apply an engine change through the writer and publish its score changes once stored.

        The change, the score snapshots it produces and its ``audit`` entries commit in
        one store transaction, grouped with whatever other changes are waiting
        (:class:`~credence.api.writer.MutationWriter`). The result comes back only after
        the commit; an error means nothing of the change was stored.

        In a follower worker the change is one of the common ones
        (:data:`~credence.api.relay.RELAYED_CHANGES`), run by the primary's writer
        (:class:`~credence.api.relay.ChangeRelay`); the answer waits until this worker
        has applied its commit from the change feed, which also tells its subscribers.
        """
        if self.follower is not None:
            return cast(T, await self._relayed(function, args, kwargs, audit))
        try:
            result = await self.writer.submit(partial(function, *args, **kwargs), audit)
        except StoreError as error:
            self.note_store(error)
            raise
        self.note_store(None)
        if isinstance(result, list):
            self.publish(result)
        return cast(T, result)

    async def _relayed(
        self, function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], audit: AuditSpec
    ) -> list[ScoreChange]:
        name = relayed_name(self.engine, function)
        if self.relay is None or self.follower is None or name is None or audit:
            # The forwarding app sends every other change to the primary whole: reaching here is a bug.
            raise CredenceError(
                f"a follower worker cannot apply {getattr(function, '__name__', function)!r} itself"
            )
        try:
            result = await self.relay.apply(name, args, kwargs)
        except StoreError as error:
            self.note_store(error)
            raise
        self.note_store(None)
        await self.follower.wait_for_commit(result.generation)
        return result.changes

    async def record_audit(self, drafts: Sequence[AuditDraft]) -> None:
        """Write audit entries of reads on the audit thread (its own store connection and transaction)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.audit_executor, self.store.record_audit, list(drafts))
        except StoreError as error:
            self.note_store(error)
            raise
        self.note_store(None)

    def publish(self, changes: Sequence[ScoreChange]) -> Sequence[ScoreChange]:
        """Hand the score moves among ``changes`` to the broker's subscribers; returns ``changes``.

        A change of components alone (the score the same) is not an event.
        """
        moved = [change for change in changes if change.moved]
        if moved:
            self.broker.publish(moved)
        return changes

    @property
    def policy(self) -> Policy:
        """The policy the engine scores with (its bands serve filters and statistics)."""
        return self.engine.policy

    def id_order(self) -> np.ndarray:
        """Rows sorted by user id (cached: ids only ever grow, so the count identifies the order)."""
        ids = self.engine.view().ids
        if self._id_order is None or self._id_order[0] != ids.size:
            self._id_order = (ids.size, np.argsort(ids.astype(str), kind="stable"))
        return self._id_order[1]

    def stats(self, query: UserQuery) -> dict[str, Any]:
        """The :func:`score_stats` of the scores in memory that ``query`` covers (its sort is ignored)."""
        table = self.engine.view()
        return score_stats(table.scores[query.mask(table, self.policy)], self.policy)

    def histogram(self, query: UserQuery, bins: int) -> list[dict[str, Any]]:
        """The :func:`histogram` of the scores in memory that ``query`` covers, in ``bins`` bins."""
        table = self.engine.view()
        return histogram(table.scores[query.mask(table, self.policy)], bins)

    def close(self) -> None:
        """Wait for the writer, analysis, audit and worker threads to finish; write the engine image if current; close the store."""
        self.writer.stop()
        if self.follower is not None:
            self.follower.stop()
        self.probe_executor.shutdown(wait=True)
        self.analysis_executor.shutdown(wait=True)
        self.audit_executor.shutdown(wait=True)
        self.executor.shutdown(wait=True)
        if self.follower is None:  # a follower's diffusion is not exact: only the writer's image is
            try:
                self.engine.save_image()
            except Exception:  # the next start restores from the store: the image is only a shortcut
                log.exception("the engine image could not be written")
        self.store.close()
