"""SQLite-only behaviour: one connection per thread, durability, file modes, failed commits.

Everything here runs on loopback files under ``tmp_path`` and is bounded in time and count.
"""

from __future__ import annotations

import collections
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credence.core.errors import ParameterError, StoreError
from credence.graph.config import SQLiteConfig, open_store, resolve_store, store_config_from_dict
from credence.graph.sqlite import SQLiteStore
from credence.graph.store import AuditDraft

NOW = 1_760_000_000


def users(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"id": list(ids), "created": [NOW] * len(ids)})


def audit(detail: str, actor: str = "app") -> AuditDraft:
    return AuditDraft(actor=actor, role="app", action="write", detail=detail, at=NOW)


class Probe(SQLiteStore):
    """Reads a pragma on the calling thread's own connection."""

    def pragma(self, name: str) -> Any:
        with self._reading() as db:
            return db.execute(f"PRAGMA {name}").fetchone()[0]

    def own_connection(self) -> sqlite3.Connection:
        """The calling thread's connection (to watch what a call makes it do)."""
        return self._connection()


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def open_handles(path: Path) -> int:
    """How many file descriptors of this process point at ``path`` (one per connection)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                count += 1
        except OSError:
            continue
    return count


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for a test; restored afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


# -- durability and file modes --------------------------------------------------------


def test_synchronous_is_full_by_default_and_normal_on_request(tmp_path: Path) -> None:
    with Probe(tmp_path / "full.db") as full, Probe(tmp_path / "normal.db", synchronous="NORMAL") as normal:
        assert (full.synchronous, normal.synchronous) == ("full", "normal")
        assert full.pragma("synchronous") == 2  # FULL
        assert normal.pragma("synchronous") == 1  # NORMAL
        assert full.pragma("journal_mode") == "wal"
        # Every thread's own connection has the same pragmas.
        box: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: box.update(sync=full.pragma("synchronous"), busy=full.pragma("busy_timeout"))
        )
        thread.start()
        thread.join(timeout=30)
        assert box == {"sync": 2, "busy": full.pragma("busy_timeout")}
        assert box["busy"] > 0


def test_a_bad_synchronous_setting_is_refused(tmp_path: Path) -> None:
    for bad in ("off", "extra", 1, None):
        with pytest.raises(ParameterError) as info:
            SQLiteStore(tmp_path / "x.db", synchronous=bad)  # type: ignore[arg-type]
        assert info.value.name == "synchronous"
        with pytest.raises(ParameterError):
            SQLiteConfig(path=tmp_path / "x.db", synchronous=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "x.db").exists()


def test_the_config_carries_synchronous(tmp_path: Path) -> None:
    config = resolve_store(db=tmp_path / "a.db", environ={"CREDENCE_SQLITE_SYNC": "Normal"})
    assert isinstance(config, SQLiteConfig) and config.synchronous == "normal"
    assert resolve_store(db=tmp_path / "a.db", environ={}).synchronous == "full"  # type: ignore[union-attr]
    assert store_config_from_dict(config.as_dict(), {}) == config
    assert store_config_from_dict({"kind": "sqlite", "path": "old.db"}, {}) == SQLiteConfig(
        path=Path("old.db")
    )
    with pytest.raises(ParameterError):
        resolve_store(db="a.db", environ={"CREDENCE_SQLITE_SYNC": "off"})
    with open_store(config) as store:
        assert isinstance(store, SQLiteStore) and store.synchronous == "normal"


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277])
def test_a_new_database_file_is_private_whatever_the_umask(tmp_path: Path, umask: Any, mask: int) -> None:
    umask(mask)
    path = tmp_path / "deep" / "credence.db"
    with SQLiteStore(path) as store:
        store.upsert_users(users("ann"))
        with store.transaction():
            store.record_audit([audit("x")])
            assert mode(path) == 0o600
            # WAL mode: the -wal and -shm files exist while the store is open, with the file's mode.
            assert mode(f"{path}-wal") == 0o600
            assert mode(f"{path}-shm") == 0o600
    assert mode(path) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path, umask: Any) -> None:
    path = tmp_path / "credence.db"
    SQLiteStore(path).close()
    path.chmod(0o640)
    with SQLiteStore(path) as store:
        store.upsert_users(users("ann"))
        assert mode(path) == 0o640
        assert mode(f"{path}-wal") == 0o640
        assert store.has_users(["ann"]).tolist() == [True]
    # A file SQLite did not make (here: empty) is left with its mode too.
    other = tmp_path / "made-by-hand.db"
    other.touch(mode=0o644)
    other.chmod(0o644)
    SQLiteStore(other).close()
    assert mode(other) == 0o644


# -- a failed commit -------------------------------------------------------------------


class FailingCommit(SQLiteStore):
    """A store whose next COMMIT fails for real: a deferred foreign key is left dangling."""

    fail_next = False

    def _connect(self) -> sqlite3.Connection:
        db = super()._connect()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY)")
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS child "
            "(p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        return db

    def _execute_commit(self, db: sqlite3.Connection) -> None:
        if self.fail_next:
            self.fail_next = False
            db.execute("INSERT INTO temp.child (p) VALUES (42)")
        super()._execute_commit(db)


def test_a_failed_commit_applies_nothing_and_is_a_store_error(tmp_path: Path) -> None:
    store = FailingCommit(tmp_path / "credence.db")
    try:
        store.upsert_users(users("ann"))
        store.fail_next = True

        def unit() -> None:
            with store.transaction():
                store.upsert_users(users("bob"))
                store.record_audit([audit("lost")])
                store.record_recompute(NOW, 0.5, "m1")

        with pytest.raises(StoreError) as info:
            unit()
        assert "commit failed" in str(info.value)
        assert info.value.code == "STORE_UNAVAILABLE"
        store.fail_next = True
        with pytest.raises(StoreError):
            store.set_consent("ann", False)  # a write's own transaction, the same
        with SQLiteStore(tmp_path / "credence.db") as fresh:
            for reader in (store, fresh):
                assert reader.has_users(["ann", "bob"]).tolist() == [True, False]
                assert reader.get_user("ann").consent_network is True
                assert reader.audit_log() == [] and reader.latest_recompute() is None
        # The store goes on working: the writer lock was released, the connection is clean.
        store.upsert_users(users("bob"))
        assert store.has_users(["bob"]).tolist() == [True]
    finally:
        store.close()


# -- threads and connections ------------------------------------------------------------


def run_thread(target: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # checked by the test
            box["error"] = exc
        box["done"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_an_audit_write_from_another_thread_does_not_join_an_open_unit(tmp_path: Path) -> None:
    """The bug this design fixes: one shared connection interleaved a thread's audit write
    with another thread's open transaction (and committed or rolled back the wrong work)."""
    with SQLiteStore(tmp_path / "credence.db") as store:
        store.upsert_users(users("ann"))
        other: dict[str, Any] = {}

        def mutation() -> None:
            with store.transaction():
                store.upsert_users(users("bob"))
                thread, box = run_thread(lambda: store.record_audit([audit("from the event loop")]))
                other.update(thread=thread, box=box)
                time.sleep(0.3)  # the writer waits for the unit (one writer at a time) ...
                assert thread.is_alive()
                # ... while readers on other threads go on, seeing only committed data.
                reader, seen = run_thread(lambda: store.has_users(["ann", "bob"]).tolist())
                reader.join(timeout=10)
                assert seen["value"] == [True, False]
                other["ended"] = time.monotonic()
                raise RuntimeError("the mutation failed")

        with pytest.raises(RuntimeError):
            mutation()
        other["thread"].join(timeout=30)
        assert "error" not in other["box"] and other["box"]["done"] >= other["ended"]
        # The mutation rolled back; the other thread's audit entry committed, alone.
        assert store.has_users(["bob"]).tolist() == [False]
        assert [e.detail for e in store.audit_log()] == ["from the event loop"]


def test_a_reader_never_waits_for_a_writer(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "credence.db") as store:
        store.upsert_users(users("ann"))
        with store.transaction():
            store.upsert_users(users("bob"))
            started = time.monotonic()
            reader, seen = run_thread(lambda: store.stats().users)
            reader.join(timeout=10)
            assert seen["value"] == 1 and seen["done"] - started < 2.0
        assert store.stats().users == 2


def test_a_memory_store_serializes_threads_on_one_connection() -> None:
    store = SQLiteStore(":memory:")
    try:
        store.upsert_users(users("ann"))
        with store.transaction():
            store.upsert_users(users("bob"))
            reader, seen = run_thread(lambda: store.has_users(["bob"]).tolist())
            time.sleep(0.3)
            assert reader.is_alive()  # ":memory:": reads wait for the transaction (documented)
            committed = time.monotonic()
        reader.join(timeout=10)
        assert seen["value"] == [True] and seen["done"] >= committed
        writers = [run_thread(lambda k=k: store.record_audit([audit(f"w{k}")])) for k in range(4)]
        for thread, _ in writers:
            thread.join(timeout=30)
        assert all("error" not in box for _, box in writers)
        assert sorted(e.detail for e in store.audit_log()) == ["w0", "w1", "w2", "w3"]
    finally:
        store.close()


@needs_proc
def test_close_closes_every_thread_connection_and_refuses_further_use(tmp_path: Path) -> None:
    path = tmp_path / "credence.db"
    store = SQLiteStore(path)
    store.upsert_users(users("ann"))
    release = threading.Event()
    have_read = threading.Semaphore(0)

    def read_then_wait() -> int:
        users_seen = store.stats().users
        have_read.release()
        release.wait(30)
        return users_seen

    readers = [run_thread(read_then_wait) for _ in range(3)]  # alive, with a connection each
    for _ in readers:
        assert have_read.acquire(timeout=10)
    # The main thread's, the three readers' and the WAL checkpointer's (started by the upsert).
    assert open_handles(path) == 5
    store.close()
    store.close()  # twice is fine
    assert open_handles(path) == 0
    release.set()
    for thread, box in readers:
        thread.join(timeout=10)
        assert box.get("value") == 1, box
    for use in (store.stats, lambda: store.upsert_users(users("bob")), lambda: store.has_users(["ann"])):
        with pytest.raises(StoreError, match="closed"):
            use()
    thread, box = run_thread(store.latest_recompute)
    thread.join(timeout=10)
    assert isinstance(box["error"], StoreError)


@needs_proc
def test_connections_of_ended_threads_do_not_pile_up(tmp_path: Path) -> None:
    path = tmp_path / "credence.db"
    with SQLiteStore(path) as store:
        store.upsert_users(users("ann"))
        for _ in range(20):
            thread, box = run_thread(lambda: store.get_user("ann").id)
            thread.join(timeout=10)
            assert box["value"] == "ann"
        # Each new thread's connection closes those of the threads that ended before it.
        # (SQLite may keep one closed descriptor for reuse while other connections hold locks;
        # the WAL checkpointer holds one more.)
        assert open_handles(path) <= 4


def test_eight_threads_writing_and_reading_for_a_bounded_time(tmp_path: Path) -> None:
    """Each write is a unit of work with its audit entry; reads run between them. Zero errors,
    every acknowledged write present exactly once, exactly one audit entry per write."""
    threads, seconds, most = 8, 3.0, 60
    path = tmp_path / "credence.db"
    store = SQLiteStore(path)
    store.upsert_users(users("root"))
    acknowledged: dict[int, list[str]] = {k: [] for k in range(threads)}
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(k: int) -> None:
        try:
            start.wait(timeout=30)
            deadline = time.monotonic() + seconds
            for i in range(most):
                if time.monotonic() > deadline:
                    break
                uid = f"t{k}-{i}"
                with store.transaction():
                    store.upsert_users(users(uid))
                    store.upsert_links(
                        pd.DataFrame({"source": [uid], "target": ["root"], "weight": [1.0], "created": [NOW]})
                    )
                    store.record_audit([audit(uid, actor=f"t{k}")])
                acknowledged[k].append(uid)
                # Reads between writes: own writes are there, the counts never go back.
                assert store.get_user(uid).id == uid
                assert store.neighbors(uid)["user"].tolist() == ["root"]
                assert store.stats().users >= 1 + len(acknowledged[k])
                assert store.audit_log(first=100, actor=f"t{k}")[-1].detail == uid  # most < 100
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    try:
        assert not any(worker.is_alive() for worker in workers)
        assert errors == []
        written = [uid for k in range(threads) for uid in acknowledged[k]]
        assert len(written) >= threads  # every thread wrote at least once
        with SQLiteStore(path) as fresh:
            for reader in (store, fresh):  # this store and a fresh connection agree
                ids = reader.get_all_users()["id"].tolist()
                assert collections.Counter(ids) == collections.Counter([*written, "root"])
                log = reader.audit_log(first=10_000)
                assert collections.Counter(e.detail for e in log) == collections.Counter(written)
                assert reader.stats().links == len(written)
    finally:
        store.close()


def test_a_file_from_before_distrust_opens_and_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with SQLiteStore(path) as store:
        store.upsert_users(users("ann", "bob"))
    # The file as an older Credence left it: schema version 1, no distrust table.
    db = sqlite3.connect(path)
    db.execute("DROP TABLE distrust")
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    with SQLiteStore(path) as store:
        assert store.stats().users == 2 and store.stats().distrust == 0
        assert store.distrust().empty
        assert store.export_graph().distrust.shape == (2, 2)
        store.upsert_distrust(
            pd.DataFrame({"rater": ["ann"], "rated": ["bob"], "weight": [3.0], "created": [NOW]})
        )
        assert store.distrust()["weight"].tolist() == [3.0]


def test_the_quarantine_list_reads_the_flags_not_every_user(tmp_path: Path) -> None:
    # A follower reads it after every feed step: it must cost the flags, not the users.
    store = Probe(tmp_path / "flags.db")
    store.upsert_users(users(*(f"u{i:05d}" for i in range(20_000))))
    store.flag_user("u19999", analyst="ana", reason="ring suspect", at=NOW)
    store.flag_user("u00007", analyst="ana", reason="ring suspect", at=NOW)
    steps = collections.Counter()

    def count() -> int:
        steps["vm"] += 1
        return 0

    db = store.own_connection()
    db.set_progress_handler(count, 10)
    assert store.quarantined().tolist() == ["u00007", "u19999"]
    everyone = steps["vm"]
    steps.clear()
    assert store.quarantined(among=["u19999", "u00001"]).tolist() == ["u19999"]
    among = steps["vm"]
    db.set_progress_handler(None, 0)
    # Walking 20,000 users costs several VM steps each (>= 4,000 callbacks of 10 steps).
    assert everyone < 200 and among < 200, (everyone, among)
    store.close()
