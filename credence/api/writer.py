"""The server's one writer: changes from many clients, grouped into few store transactions.

Every mutation of the API becomes a :class:`Job` on one queue, served by one thread
that owns the engine's changes. The thread takes whatever jobs are waiting (up to
:attr:`MutationWriter.max_group`) and runs them in one engine unit of work
(:meth:`credence.engine.ScoringEngine.unit`): one store transaction, one commit (one
fsync) for the group. Each job runs in a savepoint of its own, so a rejected job (bad
input, unknown user, conflict) is undone alone and the others go on; its client gets
its error, the others their changes. A job's audit entries are written inside its
savepoint, in the same transaction as the change they describe.

A client hears "applied" only after the group committed, and "failed" only when
nothing of its job was stored: if the commit (or any write after a job changed the
engine's memory) fails, every job of the group fails and the engine, now ahead of the
store, refuses changes until the writer has rebuilt it from the store
(:meth:`~credence.engine.ScoringEngine.restore`), which it retries before the next
group. Without savepoints (Neo4j) each job is a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from credence.core.errors import ConflictError, CredenceError, InputError, NotFoundError, StoreError
from credence.engine import ScoringEngine
from credence.graph.store import AuditDraft, GraphStore, check_audit_drafts

__all__ = ["AuditSpec", "Job", "MutationWriter"]

log = logging.getLogger("credence.api.writer")

#: A job's audit entries, or a function of its result that gives them (e.g. a recompute's size).
AuditSpec = Sequence[AuditDraft] | Callable[[Any], Sequence[AuditDraft]]

#: Errors a job raises before it changed anything: its own client's mistake.
_REJECTIONS = (InputError, NotFoundError, ConflictError)

#: Seconds between attempts to rebuild a stale engine from the store.
_RESTORE_BACKOFF = 2.0


@dataclass
class Job:
    """One client's change: what to call, what to audit, and where to send the outcome."""

    call: Callable[[], Any]
    audit: AuditSpec
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    done: bool = False

    def drafts(self, result: Any) -> Sequence[AuditDraft]:
        """The audit entries of this job's ``result``."""
        return self.audit(result) if callable(self.audit) else self.audit

    def settle(self) -> None:
        """Hand the outcome to the waiting client, on its event loop."""
        self.loop.call_soon_threadsafe(_settle, self.future, self.result, self.error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass
class MutationWriter:
    """The thread that applies every change, grouping concurrent ones into one transaction.

    Parameters
    ----------
    engine : ScoringEngine
        The engine whose changes (and their store writes) this thread alone makes.
    store : GraphStore
        The engine's store (for savepoints and audit entries).
    max_group : int
        The most jobs one transaction takes.
    """

    engine: ScoringEngine
    store: GraphStore
    max_group: int = 64
    _jobs: queue.SimpleQueue[Job | None] = field(default_factory=queue.SimpleQueue, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _next_restore: float = field(default=0.0, repr=False)
    groups: int = 0
    jobs: int = 0
    #: Sequence number of the newest snapshot committed (the read-your-writes token), -1 before the first look.
    committed_seq: int = -1

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="credence-writer", daemon=True)
            self._thread.start()

    async def submit(self, call: Callable[[], Any], audit: AuditSpec = ()) -> Any:
        """Queue a change and wait until it is stored (its result) or refused (its error)."""
        self.start()
        loop = asyncio.get_running_loop()
        job = Job(call=call, audit=audit, loop=loop, future=loop.create_future())
        self._jobs.put(job)
        return await job.future

    def stop(self) -> None:
        """Finish the queued jobs, then end the thread."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=600)
            self._thread = None

    # ------------------------------------------------------------------ the thread

    def _serve(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # stop after this group
                    break
                group.append(more)
            try:
                self._run(group)
            except BaseException as error:  # never let the thread die with clients waiting
                log.exception("the writer failed a group")
                for job in group:
                    if not job.done:
                        job.error, job.done = error, True
            self._note_commit()
            for job in group:
                job.settle()
            self.groups += 1
            self.jobs += len(group)

    def _run(self, group: list[Job]) -> None:
        if self.engine.stale_since is not None and not self._restore():
            refusal = StoreError(
                "the scores are being rebuilt from the store after a failed write; nothing was changed",
                retry_after=int(_RESTORE_BACKOFF) + 1,
            )
            for job in group:
                job.error, job.done = refusal, True
            return
        if len(group) == 1 or not self.store.supports_savepoints:
            for job in group:
                self._alone(job)
            return
        current: Job | None = None
        try:
            with self.engine.unit():
                for job in group:
                    current = job
                    try:
                        with self.store.savepoint():
                            job.result = job.call()
                            self._audit(job)
                    except _REJECTIONS as error:
                        job.error, job.done = error, True  # undone alone; the group goes on
                current = None
        except BaseException as error:
            # Nothing of the group was committed. The job that failed hears its own error;
            # the others were fine but shared the transaction: they may simply try again.
            retry = error if isinstance(error, StoreError) else StoreError(
                "the transaction this change was grouped in failed; nothing of it was stored", retry_after=1
            )  # fmt: skip
            for job in group:
                if not job.done:
                    job.error, job.done, job.result = (error if job is current else retry), True, None
            return
        for job in group:
            job.done = True

    def _note_commit(self) -> None:
        """Read the newest committed snapshot's sequence number (the token a mutation answers with)."""
        try:
            self.committed_seq = self.store.latest_snapshot_seq()
        except CredenceError:
            log.warning("could not read the newest snapshot's sequence number")

    def _alone(self, job: Job) -> None:
        try:
            with self.engine.unit():
                job.result = job.call()
                self._audit(job)
        except BaseException as error:
            job.error, job.result = error, None
        job.done = True

    def _audit(self, job: Job) -> None:
        drafts = list(job.drafts(job.result))
        if drafts:
            check_audit_drafts(drafts)
            self.store.record_audit(drafts)

    def _restore(self) -> bool:
        """Try to rebuild a stale engine from the store (at most every few seconds); True if fresh."""
        now = time.monotonic()
        if now < self._next_restore:
            return False
        self._next_restore = now + _RESTORE_BACKOFF
        try:
            if self.engine.restore() is None:
                self.engine.recompute(write=True, now=self.engine.computed_at)
        except CredenceError:
            log.exception("rebuilding the engine from the store failed; retrying before the next change")
            return False
        log.warning("the engine was rebuilt from the store")
        return True
