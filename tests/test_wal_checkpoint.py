"""WAL checkpoints off the writer's path: the background checkpointer of SQLite stores.

The oracle is the database file itself: a copy of the main file alone (no ``-wal``)
holds a commit only once a checkpoint has copied it there.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from credence.core.errors import ParameterError
from credence.graph.sqlite import SQLiteStore
from credence.graph.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

NOW = 1_760_000_000


def users_in_main_file(path: Path, scratch: Path) -> int:
    """Users in ``path``'s main file alone, as a copy without its WAL reads them."""
    copy = scratch / "copy.db"
    for leftover in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(path, copy)
    db = sqlite3.connect(copy)
    try:
        return int(db.execute("SELECT count(*) FROM users").fetchone()[0])
    except sqlite3.DatabaseError:  # copied halfway through a checkpoint's writes
        return -1
    finally:
        db.close()


def wait_for(predicate: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_commits_reach_the_database_file_without_the_writer_checkpointing(tmp_path: Path) -> None:
    path = tmp_path / "credence.db"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with SQLiteStore(path) as store:
        # The writers' own automatic checkpoint fires only past the backstop.
        with store.transaction():
            pass
        for k in range(30):  # small commits: far below BACKSTOP_PAGES
            store.upsert_users(pd.DataFrame({"id": [f"u{k}"], "created": [NOW]}))
        assert Path(f"{path}-wal").stat().st_size < BACKSTOP_PAGES * 16384
        assert wait_for(lambda: users_in_main_file(path, scratch) == 30), users_in_main_file(path, scratch)
        # And later commits too (the thread keeps serving after its first checkpoint).
        store.upsert_users(pd.DataFrame({"id": ["late"], "created": [NOW]}))
        assert wait_for(lambda: users_in_main_file(path, scratch) == 31)


class Probe(SQLiteStore):
    """Reads a pragma on the calling thread's own connection."""

    def pragma(self, name: str) -> int:
        with self._reading() as db:
            return int(db.execute(f"PRAGMA {name}").fetchone()[0])


def test_writer_connections_keep_the_automatic_checkpoint_as_a_backstop(tmp_path: Path) -> None:
    path = tmp_path / "credence.db"
    with Probe(path) as store:
        seen: dict[str, int] = {}

        def on_another_thread() -> None:
            seen["store"] = store.pragma("wal_autocheckpoint")

        thread = threading.Thread(target=on_another_thread)
        thread.start()
        thread.join(timeout=30)
        other = sqlite3.connect(path)
        seen["plain"] = other.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        other.close()
    # SQLite's default (1000 pages) on a plain connection; the backstop on every store connection.
    assert seen == {"store": BACKSTOP_PAGES, "plain": 1000}
    assert BACKSTOP_PAGES > 1000


def test_a_burst_of_commits_shares_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "burst.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE t (x)")
    checkpointer = WalCheckpointer(lambda: sqlite3.connect(path), delay=0.5)
    try:
        for k in range(50):
            db.execute("INSERT INTO t VALUES (?)", (k,))
            checkpointer.committed()
        assert checkpointer.wait_idle(timeout=10)
        # 50 commits within the delay: one checkpoint (a slow machine may split the burst).
        assert 1 <= checkpointer.checkpoints <= 3
        assert checkpointer.failures == 0
    finally:
        checkpointer.close()
        db.close()


def test_close_stops_the_thread_and_later_commits_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "close.db"
    sqlite3.connect(path).close()
    checkpointer = WalCheckpointer(lambda: sqlite3.connect(path), delay=30.0)
    checkpointer.committed()  # the thread now waits out its long delay
    started = time.monotonic()
    checkpointer.close()  # ... which close cuts short
    assert time.monotonic() - started < 5
    assert not any(t.name == "credence-wal-checkpoint" and t.is_alive() for t in threading.enumerate())
    checkpointer.committed()
    assert checkpointer.checkpoints == 0
    assert not any(t.name == "credence-wal-checkpoint" and t.is_alive() for t in threading.enumerate())


def test_a_checkpointer_that_cannot_connect_logs_and_leaves_the_backstop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    checkpointer = WalCheckpointer(refuse, delay=0.0)
    with caplog.at_level(logging.WARNING, logger="credence.graph.sqlite"):
        checkpointer.committed()
        assert checkpointer.wait_idle(timeout=10)
        checkpointer.close()
    assert "cannot open its connection: unable to open database file" in caplog.text
    assert checkpointer.checkpoints == 0


def test_a_failed_checkpoint_is_counted_logged_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "fail.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE t (x)")
    # A connection that is closed before the checkpoint runs: each attempt raises.
    broken = sqlite3.connect(path, check_same_thread=False)
    broken.close()
    checkpointer = WalCheckpointer(lambda: broken, delay=0.0)
    try:
        with caplog.at_level(logging.WARNING, logger="credence.graph.sqlite"):
            for _ in range(2):
                checkpointer.committed()
                assert checkpointer.wait_idle(timeout=10)
        assert checkpointer.failures == 2
        assert checkpointer.checkpoints == 0
        assert caplog.text.count("WAL checkpoint failed") == 2
    finally:
        checkpointer.close()
        db.close()


def test_delay_must_not_be_negative() -> None:
    with pytest.raises(ParameterError, match="'delay' = -1: must be >= 0 seconds"):
        WalCheckpointer(lambda: sqlite3.connect(":memory:"), delay=-1)
