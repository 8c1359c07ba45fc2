"""WAL checkpoints of a SQLite file on a thread of their own, off the writer's path.

In WAL mode a commit appends pages to the ``-wal`` file; a checkpoint copies them back
into the database file and syncs it. SQLite's automatic checkpoint runs inside the
``COMMIT`` that crosses its threshold, so every few hundred commits one writer pays
for copying and syncing megabytes (tens of milliseconds on a small disk) while the
whole write queue waits behind it. :class:`WalCheckpointer` runs ``PASSIVE``
checkpoints on its own connection and thread instead, shortly after commits: a
passive checkpoint never takes the write lock, so writers keep appending while it
copies, and readers are never blocked either.

The writer connections keep an automatic checkpoint with a high threshold
(:data:`BACKSTOP_PAGES`) as a backstop, so the WAL stays bounded even if this thread
falls behind or cannot open its connection. Durability is unchanged: a transaction is
durable once its WAL frames are synced, which ``COMMIT`` does; a checkpoint only moves
committed pages and is itself crash-safe.

Examples
--------
>>> import sqlite3, tempfile, pathlib
>>> path = str(pathlib.Path(tempfile.mkdtemp()) / "doc.db")
>>> db = sqlite3.connect(path, isolation_level=None)
>>> _ = db.execute("PRAGMA journal_mode = WAL")
>>> _ = db.execute("PRAGMA wal_autocheckpoint = 0")
>>> _ = db.execute("CREATE TABLE t (x)")
>>> checkpointer = WalCheckpointer(lambda: sqlite3.connect(path), delay=0.0)
>>> _ = db.execute("INSERT INTO t VALUES (1)")
>>> checkpointer.committed()
>>> checkpointer.wait_idle(timeout=10)
True
>>> checkpointer.checkpoints >= 1
True
>>> checkpointer.close()
>>> db.close()
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable

from credence.core.errors import ParameterError

__all__ = ["BACKSTOP_PAGES", "WalCheckpointer"]

log = logging.getLogger("credence.graph.sqlite")

#: The writer connections' own automatic checkpoint threshold (pages): reached only when
#: the background checkpointer falls behind, so the WAL stays bounded.
BACKSTOP_PAGES = 8000


class WalCheckpointer:
    """Passive WAL checkpoints on a background thread, started on the first commit.

    Parameters
    ----------
    connect : callable
        Opens the checkpointer's own connection to the database (called on its thread).
    delay : float
        Seconds to wait after a commit before checkpointing, so that the commits of a
        burst share one checkpoint (one copy and one sync of the database file).

    Raises
    ------
    ParameterError
        If ``delay`` is negative (or NaN).

    Attributes
    ----------
    checkpoints : int
        Checkpoints run so far.
    failures : int
        Checkpoints that raised (logged; the next commit tries again).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, delay: float = 0.05) -> None:
        if not delay >= 0:
            raise ParameterError("delay", delay, "must be >= 0 seconds")
        self._connect = connect
        self.delay = float(delay)
        self.checkpoints = 0
        self.failures = 0
        self._condition = threading.Condition()
        self._pending = False
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """Note a commit: a checkpoint follows within about ``delay`` seconds."""
        with self._condition:
            if self._stopped:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="credence-wal-checkpoint", daemon=True)
                self._thread.start()
            self._condition.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every noted commit has been checkpointed; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not (self._pending or self._busy), timeout=timeout)

    def close(self) -> None:
        """Stop the thread after the checkpoint it may be running; later commits are not noted."""
        with self._condition:
            self._stopped = True
            thread = self._thread
            self._condition.notify_all()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            db = self._connect()
        except sqlite3.Error as exc:  # the writers' backstop keeps the WAL bounded
            log.warning("WAL checkpointer cannot open its connection: %s", exc)
            with self._condition:
                self._pending = False
                self._condition.notify_all()
            return
        try:
            while True:
                with self._condition:
                    self._condition.wait_for(lambda: self._pending or self._stopped)
                    if self._stopped:
                        return
                    # Let the rest of a burst commit first; close() cuts the wait short.
                    self._condition.wait_for(lambda: self._stopped, timeout=self.delay)
                    if self._stopped:
                        return
                    self._pending = False
                    self._busy = True
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    self.failures += 1
                    log.warning("WAL checkpoint failed (the next commit retries): %s", exc)
                finally:
                    with self._condition:
                        self._busy = False
                        self._condition.notify_all()
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.close()
