"""The embedded default store: one SQLite file in WAL mode.

Users get a dense integer key ``uid`` (their row id) on insert; links, events
and snapshots refer to it, so a link costs two integers and a float on disk and
the CSR export needs no string work. Each undirected link is stored once with
``u < v`` in a clustered ``WITHOUT ROWID`` table; an index on ``(v, u)`` serves
the other direction.

Connections and threads. Each thread gets its own connection to the file (same
pragmas), opened on its first use and closed by :meth:`SQLiteStore.close` (or when
a later thread opens one after the owner thread has ended). Writers serialize:
within the process on the store's writer lock, across processes on ``BEGIN
IMMEDIATE`` with a ``busy_timeout``; readers never block and are never blocked (WAL).
A ``":memory:"`` database cannot be shared between connections, so there the store
keeps one connection guarded by a re-entrant lock held for each whole transaction
and each read: fine for tests and doctests, not for a server.

Every write runs in one ``BEGIN IMMEDIATE`` transaction (a load either lands whole
or not at all), or joins the calling thread's unit of work
(:meth:`~credence.graph.store.StoreBase.transaction`) as a ``SAVEPOINT``, so that a
write that fails inside a unit rolls back only itself.

Durability: ``synchronous=FULL`` by default, so a transaction whose commit returned
survives a power loss or an OS crash. ``synchronous="normal"`` is faster on slow
disks, and in WAL mode it loses nothing in a process crash, but the last
transactions before a power loss or OS crash may roll back.

Checkpoints: the writers do not copy the WAL back into the database file inside their
``COMMIT`` (SQLite's automatic checkpoint, which stalls the write queue for tens of
milliseconds every few hundred commits); a background thread of the store runs passive
checkpoints shortly after commits (:mod:`credence.graph.wal_checkpoint`), and the
automatic one stays as a backstop at a high threshold.

A new database file is created with mode 0600 whatever the umask (its ``-wal`` and
``-shm`` files take the same mode); an existing file keeps its mode.

Bulk reads for the engine go through the ADBC SQLite driver, which hands whole
columns to Arrow without building a Python object per row.

Examples
--------
>>> import pandas as pd
>>> store = SQLiteStore(":memory:")
>>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
>>> _ = store.upsert_links(pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [2.0]}))
>>> store.neighbors("a")[["user", "weight"]].to_dict("records")
[{'user': 'b', 'weight': 2.0}]
>>> store.close()
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.checks import check_choice, check_int
from credence.core.errors import ConflictError, NotFoundError, StoreError
from credence.graph.config import check_synchronous
from credence.graph.disputes import Dispute, check_dispute_request, check_dispute_resolution
from credence.graph.journal import Change, ChangeDraft, format_people, parse_change, rename_person
from credence.graph.model import (
    COMPONENTS,
    DISTRUST_COLUMNS,
    IDENTITY_LEVELS,
    LINK_COLUMNS,
    REPAYMENT_COLUMNS,
    SCORE_COLUMNS,
    SPENDING_COLUMNS,
    USER_COLUMNS,
    Dataset,
    Records,
    check_text,
    empty_frame,
    epoch_now,
)
from credence.graph.store import (
    AUDIT_FILTERS,
    AdverseNotice,
    AuditEntry,
    AuditRow,
    ConsentChange,
    DataVersion,
    Flag,
    GraphExport,
    ProgressFn,
    RecomputeRecord,
    Review,
    StoreBase,
    StoreStats,
    User,
    assemble_graph_export,
    canonical_links,
    check_consent,
    check_review_request,
    check_review_resolution,
    coerce_users_frame,
    python_columns,
)
from credence.graph.wal_checkpoint import BACKSTOP_PAGES, WalCheckpointer

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

#: The event kinds and their tables (fixed names: never from input).
_EVENT_TABLES = {"repayments": "repayments", "spending": "spending"}

SCHEMA_VERSION = 1
#: Rows per executemany call: bounds memory and paces the progress bar.
_BATCH = 200_000
_USER_FIELDS = list(USER_COLUMNS)
#: The columns of each event table after ``id`` and ``uid``, in the records' order.
_EVENT_FIELDS = {
    "repayments": ["due", "paid", "amount", "status"],
    "spending": ["at", "amount", "category", "on_time"],
}
#: How long a writer waits for the write lock (in the process, then on the file), seconds.
_BUSY_SECONDS = 30.0
#: Indexes dropped during a big load and rebuilt after it (name -> definition).
_SECONDARY_INDEXES: dict[str, dict[str, str]] = {
    "links": {"links_v": "links (v, u)"},
    "repayments": {"repayments_uid": "repayments (uid)"},
    "spending": {"spending_uid": "spending (uid)"},
    "distrust": {"distrust_rated": "distrust (rated, rater)"},
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS users (
    uid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    {", ".join(f"{level} INTEGER NOT NULL" for level in IDENTITY_LEVELS)},
    declared_income REAL,
    verified_income REAL,
    verified_assets REAL,
    consent_network INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    u INTEGER NOT NULL,
    v INTEGER NOT NULL,
    weight REAL NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (u, v)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_v ON links (v, u);
CREATE TABLE IF NOT EXISTS repayments (
    id TEXT PRIMARY KEY,
    uid INTEGER NOT NULL,
    due INTEGER NOT NULL,
    paid INTEGER,
    amount REAL NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repayments_uid ON repayments (uid);
CREATE TABLE IF NOT EXISTS spending (
    id TEXT PRIMARY KEY,
    uid INTEGER NOT NULL,
    at INTEGER NOT NULL,
    amount REAL NOT NULL,
    category TEXT NOT NULL,
    on_time INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS spending_uid ON spending (uid);
CREATE TABLE IF NOT EXISTS distrust (
    rater INTEGER NOT NULL,
    rated INTEGER NOT NULL,
    weight REAL NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (rater, rated)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS distrust_rated ON distrust (rated, rater);
CREATE TABLE IF NOT EXISTS flags (
    fid INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    analyst TEXT NOT NULL,
    reason TEXT NOT NULL,
    flagged_at INTEGER NOT NULL,
    cleared_at INTEGER,
    cleared_by TEXT,
    clear_reason TEXT
);
CREATE INDEX IF NOT EXISTS flags_uid ON flags (uid);
CREATE TABLE IF NOT EXISTS consent_changes (
    cid INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    consent INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_changes_uid ON consent_changes (uid, cid);
CREATE TABLE IF NOT EXISTS notices (
    nid INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    at INTEGER NOT NULL,
    tier TEXT NOT NULL,
    tier_min INTEGER NOT NULL,
    score_before INTEGER NOT NULL,
    score_after INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    reasons TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notices_uid ON notices (uid, nid);
CREATE TABLE IF NOT EXISTS reviews (
    rid INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    tier TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    due INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by TEXT,
    outcome TEXT,
    resolution TEXT
);
CREATE INDEX IF NOT EXISTS reviews_uid ON reviews (uid, rid);
CREATE TABLE IF NOT EXISTS disputes (
    did INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL,
    detail TEXT NOT NULL,
    adverse INTEGER NOT NULL,
    reason TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    due INTEGER NOT NULL,
    resolved_at INTEGER,
    resolved_by TEXT,
    outcome TEXT,
    resolution TEXT,
    correction TEXT
);
CREATE INDEX IF NOT EXISTS disputes_uid ON disputes (uid, did);
CREATE UNIQUE INDEX IF NOT EXISTS disputes_one_open ON disputes (uid, kind, record) WHERE resolved_at IS NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
INSERT OR IGNORE INTO meta (key, value) VALUES ('data_version', 0);
CREATE TABLE IF NOT EXISTS tombstones (pseudonym TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS reviews_one_open ON reviews (uid, tier) WHERE resolved_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS flags_one_active ON flags (uid) WHERE cleared_at IS NULL;
CREATE TABLE IF NOT EXISTS scores (
    sid INTEGER PRIMARY KEY,
    uid INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    computed_at INTEGER NOT NULL,
    score INTEGER NOT NULL,
    {", ".join(f"{c} REAL NOT NULL" for c in COMPONENTS)}
);
CREATE INDEX IF NOT EXISTS scores_uid ON scores (uid, computed_at);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    version TEXT PRIMARY KEY,
    weights TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject, id);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, id);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    people TEXT NOT NULL,
    corrected TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS change_snapshots (
    sid INTEGER PRIMARY KEY,
    change INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recomputes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    computed_at INTEGER NOT NULL,
    prior REAL NOT NULL,
    model_version TEXT NOT NULL
);
"""
#: Columns of ``audit_log`` in :class:`~credence.graph.store.AuditEntry` field order.
_AUDIT_FIELDS = ["id", "at", "actor", "role", "action", "subject", "detail"]


def _create_private(path: str) -> None:
    """Create ``path`` empty with mode 0600 (whatever the umask) unless it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away
    finally:
        os.close(fd)


#: Bound parameters per ``IN (...)`` list, well under SQLite's limit.
_IN_CHUNK = 500


def _rows_in(db: sqlite3.Connection, query: str, values: Sequence[Any]) -> list[Any]:
    """The rows of ``query`` over ``values``, whose ``{marks}`` is an ``IN`` list bound in chunks."""
    rows: list[Any] = []
    for start in range(0, len(values), _IN_CHUNK):
        chunk = list(values[start : start + _IN_CHUNK])
        rows += db.execute(query.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
    return rows


class SQLiteStore(StoreBase):
    """A :class:`~credence.graph.store.GraphStore` on a SQLite file.

    Parameters
    ----------
    path : str or Path
        The database file (created with its folder if absent, mode 0600), or
        ``":memory:"`` (one connection behind a lock: tests and doctests only).
    cache_mib : int
        SQLite page cache of each connection, MiB.
    synchronous : {"full", "normal"}
        SQLite's ``synchronous`` setting. ``"full"`` (the default): a commit that
        returned survives a power loss or an OS crash. ``"normal"``: fewer syncs; a
        process crash still loses nothing (WAL), but the last transactions before a
        power loss or OS crash may roll back.

    Raises
    ------
    ParameterError
        If ``synchronous`` is not one of
        :data:`~credence.graph.config.SYNCHRONOUS_MODES`.
    StoreError
        If the file cannot be opened or has another schema version.
    """

    #: From this many rows on, a table's secondary indexes are rebuilt after the insert.
    reindex_threshold = 200_000
    #: Stores with at least this many users are exported through ADBC in a child process.
    bulk_read_threshold = 100_000
    #: A failed write inside a unit of work rolls back alone (``SAVEPOINT``).
    supports_savepoints = True

    def __init__(self, path: str | Path, *, cache_mib: int = 1024, synchronous: str = "full") -> None:
        super().__init__()
        self.path = str(path)
        self.synchronous = check_synchronous(synchronous)
        self._cache_mib = int(cache_mib)
        self._memory = self.path == ":memory:"
        self._closed = False
        #: The store's token (:class:`DataVersion`), read once.
        self._identity: str | None = None
        #: Guards the connection registry and ``_closed``.
        self._registry = threading.Lock()
        self._connections: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._local = threading.local()
        #: ":memory:": the one connection, and the lock held for each transaction and read.
        self._shared: sqlite3.Connection | None = None
        self._memory_lock = threading.RLock() if self._memory else None
        #: Writers of this process queue here before BEGIN IMMEDIATE (no busy polling).
        self._writer_lock: threading.Lock | threading.RLock = self._memory_lock or threading.Lock()
        #: Copies committed WAL pages into the file off the writers' path (file stores only).
        self._checkpointer = None if self._memory else WalCheckpointer(self._connect)
        db: sqlite3.Connection | None = None
        try:
            if not self._memory:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                _create_private(self.path)
            db = self._connect()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(
                    f"{self.path}: schema version {version}, this Credence reads {SCHEMA_VERSION}"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:
            if db is not None:
                db.close()
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        except BaseException:
            if db is not None:
                db.close()
            raise
        self._register(db)
        if self._memory:
            self._shared = db

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- connections -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """A new connection with the store's pragmas (sqlite3.Error if it cannot open)."""
        # check_same_thread=False only so that close() may close every thread's connection;
        # each connection is used by its owner thread alone (":memory:": under the lock).
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(_BUSY_SECONDS * 1000)}")
            # Bigger pages: fewer B-tree levels and splits for 10M-row tables (new files only).
            db.execute("PRAGMA page_size = 16384")
            if not self._memory:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
            db.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            # A bulk load's dirty pages stay in memory until commit instead of spilling.
            db.execute(f"PRAGMA cache_size = {-self._cache_mib * 1024}")
            db.execute("PRAGMA temp_store = MEMORY")
            db.execute("PRAGMA threads = 2")  # parallel sorts for index builds
        except BaseException:
            db.close()
            raise
        return db

    def _register(self, db: sqlite3.Connection) -> None:
        """Make ``db`` the calling thread's connection; close those of threads that have ended."""
        with self._registry:
            if self._closed:
                db.close()
                raise StoreError(f"{self.path}: the store is closed")
            ended = [(t, c) for t, c in self._connections if not _alive(t)]
            self._connections = [(t, c) for t, c in self._connections if _alive(t)]
            self._connections.append((weakref.ref(threading.current_thread()), db))
        for _, old in ended:
            with contextlib.suppress(sqlite3.Error):
                old.close()
        self._local.db = db

    def _connection(self) -> sqlite3.Connection:
        """The calling thread's connection (opened on first use); StoreError once closed."""
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        if self._shared is not None:
            return self._shared
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = self._connect()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store {self.path}: {exc}", retry_after=1) from exc
            self._register(db)
        return db

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection to read on (":memory:": under the lock); sqlite3 errors become StoreError."""
        lock = self._memory_lock
        if lock is not None:
            lock.acquire()
        try:
            db = self._connection()
            try:
                yield db
            except sqlite3.Error as exc:
                raise self._error("read failed", exc) from exc
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Like :meth:`_reading`, with several queries in one read transaction (one snapshot)."""
        with self._reading() as db:
            if db.in_transaction:  # the thread's unit of work: its own view
                yield db
                return
            db.execute("BEGIN")
            try:
                yield db
            finally:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection; the store refuses further use (StoreError)."""
        with self._registry:
            if self._closed:
                return
            self._closed = True
            connections = [c for _, c in self._connections]
            self._connections = []
        if self._checkpointer is not None:
            self._checkpointer.close()
        for db in connections:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _error(self, what: str, exc: sqlite3.Error) -> StoreError:
        busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        return StoreError(f"{self.path}: {what}: {exc}", retry_after=1 if busy else None)

    # -- transactions ---------------------------------------------------------

    def _begin(self) -> sqlite3.Connection:
        if not self._writer_lock.acquire(timeout=_BUSY_SECONDS):
            raise StoreError(
                f"{self.path}: another writer held the store for {_BUSY_SECONDS:g} s", retry_after=1
            )
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._writer_lock.release()
            raise self._error("cannot start a write", exc) from exc
        except BaseException:
            self._writer_lock.release()
            raise
        return db

    def _commit(self, tx: Any) -> None:
        db: sqlite3.Connection = tx
        try:
            self._execute_commit(db)
        except sqlite3.Error as exc:
            self._rollback(db)
            raise self._error("commit failed, nothing was applied", exc) from exc
        except BaseException:
            self._rollback(db)
            raise
        self._writer_lock.release()
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _execute_commit(self, db: sqlite3.Connection) -> None:
        db.execute("COMMIT")

    def _rollback(self, tx: Any) -> None:
        db: sqlite3.Connection = tx
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # a closed or broken connection has no transaction left to keep
        finally:
            self._writer_lock.release()

    @contextmanager
    def _nested(self, unit: Any) -> Iterator[None]:
        db: sqlite3.Connection = unit.tx
        name = f"credence_{unit.depth}"  # an internal name, never input
        try:
            db.execute(f"SAVEPOINT {name}")
        except sqlite3.Error as exc:
            raise self._error("cannot open a savepoint", exc) from exc
        try:
            yield
        except BaseException as exc:
            try:
                db.execute(f"ROLLBACK TO {name}")
                db.execute(f"RELEASE {name}")
            except sqlite3.Error as undo:
                unit.doomed = f"a savepoint could not be rolled back: {undo}"
            error = self._store_error(exc)
            if error is None:
                raise
            raise error from exc
        try:
            db.execute(f"RELEASE {name}")
        except sqlite3.Error as exc:
            unit.doomed = f"a savepoint could not be released: {exc}"
            raise self._error("cannot release a savepoint", exc) from exc

    def _store_error(self, exc: BaseException) -> StoreError | None:
        return (
            self._error("write failed and was rolled back", exc) if isinstance(exc, sqlite3.Error) else None
        )

    # -- id mapping -------------------------------------------------------------

    def _uids(self, user_ids: np.ndarray, db: sqlite3.Connection) -> np.ndarray:
        """The ``uid`` of each external id, -1 where absent."""
        user_ids = np.asarray(user_ids, dtype=object)
        if not len(user_ids):
            return np.empty(0, np.int64)
        unique = list(dict.fromkeys(user_ids.tolist())) if len(user_ids) <= 5_000 else pd.unique(user_ids)
        n_users = 0 if len(unique) <= 5_000 else db.execute("SELECT max(uid) FROM users").fetchone()[0] or 0
        if len(unique) > max(5_000, n_users // 20):
            # Same connection (the write may not be committed yet), Arrow hashing.
            rows = db.execute("SELECT id, uid FROM users").fetchall()
            stored_ids = pa.array([r[0] for r in rows], type=pa.large_string())
            stored_uids = np.array([r[1] for r in rows], dtype=np.int64)
            wanted = pa.array(user_ids, type=pa.large_string())
            found = pc.index_in(wanted, value_set=stored_ids)
            positions = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False))
            return np.append(stored_uids, -1)[positions]
        known: dict[str, int] = dict(
            _rows_in(db, "SELECT id, uid FROM users WHERE id IN ({marks})", list(unique))
        )
        return np.array([known.get(user, -1) for user in user_ids.tolist()], dtype=np.int64)

    def _has_users(self, user_ids: np.ndarray, tx: Any) -> np.ndarray:
        return self._uids(user_ids, tx) >= 0

    def has_users(self, user_ids: Any) -> np.ndarray:
        ids = np.asarray(list(user_ids), dtype=object)
        with self._reading() as db:
            return self._has_users(ids, db)

    def _uid(self, user_id: str, db: sqlite3.Connection | None = None) -> int:
        if db is None:
            with self._reading() as reader:
                return self._uid(user_id, reader)
        row = db.execute("SELECT uid FROM users WHERE id = ?", (self._user_id(user_id),)).fetchone()
        if row is None:
            raise NotFoundError("user", user_id)
        return int(row[0])

    # -- writes -----------------------------------------------------------------

    def _write_dataset(self, dataset: Dataset, tx: Any, progress: ProgressFn) -> dict[str, int]:
        db: sqlite3.Connection = tx
        users = dataset.users
        fresh = db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
        self._upsert(db, "users", users, _USER_FIELDS, "id", progress)

        links = dataset.links
        _, codes = dataset.reference_codes()
        uid_of = None
        if sum(dataset.counts().values()) > len(users):
            index, _ = dataset.reference_codes()
            # count(*) scans the table: only ask when the table was empty before this load.
            fresh_span = fresh and len(index) == index.n_defined == len(users)
            if fresh_span:
                span = db.execute("SELECT min(uid), max(uid), count(*) FROM users").fetchone()
                fresh_span = span == (1, len(users), len(users))
            if fresh_span:
                # Into an empty table, rows get uid 1..n in insertion (= index) order.
                uid_of = np.arange(1, len(users) + 1, dtype=np.int64)
            else:
                uid_of = self._uids_by_code(dataset, db)
        if len(links):
            assert uid_of is not None
            a, b = uid_of[codes["links.source"]], uid_of[codes["links.target"]]
            u, v = np.minimum(a, b), np.maximum(a, b)
            # Clustered-key order, so the B-tree appends instead of splitting pages.
            order = np.argsort(u * (int(v.max()) + 1) + v, kind="stable")
            frame = pd.DataFrame(
                {
                    "u": u[order],
                    "v": v[order],
                    "weight": links["weight"].to_numpy()[order],
                    "created": links["created"].to_numpy()[order],
                }
            )
            self._upsert(
                db,
                "links",
                frame,
                ["u", "v", "weight", "created"],
                "u, v",
                progress,
                update="weight = excluded.weight, created = min(created, excluded.created)",
            )

        for kind, fields in (
            ("repayments", ["due", "paid", "amount", "status"]),
            ("spending", ["at", "amount", "category", "on_time"]),
        ):
            events: pd.DataFrame = getattr(dataset, kind)
            if len(events):
                assert uid_of is not None
                uid = uid_of[codes[f"{kind}.user"]]
                frame = events[["id", *fields]].assign(uid=uid).sort_values("id")
                self._upsert(db, kind, frame, ["id", "uid", *fields], "id", progress)

        distrust = dataset.distrust
        if len(distrust):
            assert uid_of is not None
            rater, rated = uid_of[codes["distrust.rater"]], uid_of[codes["distrust.rated"]]
            order = np.lexsort((rated, rater))  # clustered-key order, as for links
            frame = pd.DataFrame(
                {
                    "rater": rater[order],
                    "rated": rated[order],
                    "weight": distrust["weight"].to_numpy()[order],
                    "created": distrust["created"].to_numpy()[order],
                }
            )
            # A repeated rating replaces the stored one, weight and time.
            self._upsert(
                db, "distrust", frame, ["rater", "rated", "weight", "created"], "rater, rated", progress
            )
        return dataset.counts()

    def _upsert(
        self,
        db: sqlite3.Connection,
        table: str,
        frame: pd.DataFrame,
        columns: list[str],
        key: str,
        progress: ProgressFn,
        *,
        update: str | None = None,
    ) -> None:
        """Insert-or-update rows; bulk loads into empty tables take the fast path.

        Validated input has unique keys, so into an empty table a plain INSERT
        is exact and skips the conflict check; and a big load drops the table's
        secondary indexes and rebuilds them once, by sorting, afterwards.
        """
        if not len(frame):
            return
        empty = db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        if not empty:
            keys = {k.strip() for k in key.split(",")}
            sets = update or ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
            sql += f" ON CONFLICT({key}) DO UPDATE SET {sets}"
        indexes = _SECONDARY_INDEXES.get(table, {}) if len(frame) >= self.reindex_threshold else {}
        for name in indexes:
            db.execute(f"DROP INDEX IF EXISTS {name}")
        self._executemany(db, sql, _rows(frame, columns), len(frame), table, progress)
        for name, definition in indexes.items():
            progress(f"{table} index", 0, 1)
            db.execute(f"CREATE INDEX {name} ON {definition}")
            progress(f"{table} index", 1, 1)

    @staticmethod
    def _executemany(
        db: sqlite3.Connection,
        sql: str,
        rows: Iterator[tuple[Any, ...]],
        total: int,
        stage: str,
        progress: ProgressFn,
    ) -> None:
        done = 0
        progress(stage, 0, total)
        while done < total:
            batch = list(itertools.islice(rows, _BATCH))
            if not batch:
                break
            db.executemany(sql, batch)
            done += len(batch)
            progress(stage, done, total)

    def _write_records(self, records: Records, tx: Any) -> None:
        db: sqlite3.Connection = tx
        if records.kind == "links":
            uid = dict(
                zip(*self._uid_map(records.column("source") + records.column("target"), db), strict=True)
            )
            rows = []
            for source, target, weight, created in records.rows:
                a, b = uid[source], uid[target]
                rows.append((min(a, b), max(a, b), weight, created))
            db.executemany(
                "INSERT INTO links (u, v, weight, created) VALUES (?, ?, ?, ?) ON CONFLICT(u, v) DO UPDATE "
                "SET weight = excluded.weight, created = min(created, excluded.created)",
                rows,
            )
            return
        fields = _EVENT_FIELDS[records.kind]
        uid = dict(zip(*self._uid_map(records.column("user"), db), strict=True))
        # Event id, uid, then the fields: the records' columns are id, user, fields...
        values = [(row[0], uid[row[1]], *row[2:]) for row in records.rows]
        columns = ["id", "uid", *fields]
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        db.executemany(
            f"INSERT INTO {records.kind} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT(id) DO UPDATE SET {sets}",
            values,
        )

    def _uid_map(self, user_ids: list[str], db: sqlite3.Connection) -> tuple[list[str], list[int]]:
        """Distinct ids among ``user_ids`` and their uids (every one stored: checked before)."""
        distinct = list(dict.fromkeys(user_ids))
        return distinct, self._uids(np.array(distinct, dtype=object), db).tolist()

    def _write_score_records(self, records: Records, tx: Any) -> int:
        db: sqlite3.Connection = tx
        uid = dict(zip(*self._uid_map(records.column("user"), db), strict=True))
        cols = ["uid", "model_version", "computed_at", "score", *COMPONENTS]
        last = self._last_sid(db)
        db.executemany(
            f"INSERT INTO scores ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [(uid[row[0]], *row[1:]) for row in records.rows],
        )
        self._stamp_snapshots(last, db)
        return len(records)

    def _last_sid(self, db: sqlite3.Connection) -> int | None:
        """The newest snapshot's sid when a change is open (its snapshots follow it), else None: nothing to stamp."""
        if self._change_id(db) is None:
            return None
        return int(db.execute("SELECT coalesce(max(sid), 0) FROM scores").fetchone()[0])

    def _stamp_snapshots(self, last: int | None, db: sqlite3.Connection) -> None:
        """Point the snapshots inserted after ``last`` to the open change (``last`` from :meth:`_last_sid`)."""
        if last is not None:
            db.execute("INSERT INTO change_snapshots (sid, change) SELECT sid, ? FROM scores WHERE sid > ?",
                       (self._change_id(db), last))  # fmt: skip

    def _write_change(self, draft: ChangeDraft, at: int, tx: Any) -> int:
        db: sqlite3.Connection = tx
        cursor = db.execute("INSERT INTO changes (at, kind, actor, people, corrected) VALUES (?, ?, ?, ?, ?)",
                            (at, draft.kind, draft.actor, format_people(draft.people),
                             json.dumps(list(draft.corrected))))  # fmt: skip
        return int(cursor.lastrowid or 0)

    def snapshot_changes(self, user_id: str) -> list[Change | None]:
        with self._snapshot() as db:
            uid = self._uid(user_id, db)
            rows = db.execute(
                "SELECT c.id, c.at, c.kind, c.people, c.actor, c.corrected FROM scores s "
                "LEFT JOIN change_snapshots cs ON cs.sid = s.sid LEFT JOIN changes c ON c.id = cs.change "
                "WHERE s.uid = ? ORDER BY s.computed_at, s.sid",
                (uid,),
            ).fetchall()
        return [None if row[0] is None else parse_change(*row) for row in rows]

    def _write_scores(self, scores: pd.DataFrame, tx: Any) -> int:
        db: sqlite3.Connection = tx
        uid = self._uids(scores["user"].to_numpy(dtype=object), db)
        cols = ["uid", "model_version", "computed_at", "score", *COMPONENTS]
        frame = scores.drop(columns="user").assign(uid=uid)
        last = self._last_sid(db)
        db.executemany(
            f"INSERT INTO scores ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            _rows(frame, cols),
        )
        self._stamp_snapshots(last, db)
        return len(frame)

    def _recorded_model(self, version: str, tx: Any) -> dict[str, float] | None:
        row = tx.execute("SELECT weights FROM models WHERE version = ?", (version,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def _record_model(self, version: str, weights: dict[str, float], tx: Any) -> None:
        tx.execute("INSERT INTO models (version, weights) VALUES (?, ?)", (version, json.dumps(weights)))

    def model_weights(self) -> dict[str, dict[str, float]]:
        with self._reading() as db:
            rows = db.execute("SELECT version, weights FROM models ORDER BY version").fetchall()
        return {str(version): dict(json.loads(weights)) for version, weights in rows}

    def _write_audit(self, rows: list[AuditRow], tx: Any) -> list[int]:
        db: sqlite3.Connection = tx
        # AUTOINCREMENT: ids only grow and are never reused, not even after clear().
        sql = "INSERT INTO audit_log (at, actor, role, action, subject, detail) VALUES (?, ?, ?, ?, ?, ?)"
        return [int(db.execute(sql, row).lastrowid or 0) for row in rows]

    def _write_recompute(self, record: RecomputeRecord, tx: Any) -> None:
        tx.execute(
            "INSERT INTO recomputes (computed_at, prior, model_version) VALUES (?, ?, ?)",
            (record.computed_at, record.prior, record.model_version),
        )

    def _count_data_change(self, tx: Any) -> DataVersion:
        rows = tx.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'data_version' RETURNING value"
        ).fetchall()
        return DataVersion(self._store_id(tx), int(rows[0][0]))

    def _store_id(self, db: sqlite3.Connection) -> str:
        if self._identity is None:
            self._identity = str(db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0])
        return self._identity

    def data_version(self) -> DataVersion:
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
            return DataVersion(self._store_id(db), int(row[0]))

    def latest_recompute(self) -> RecomputeRecord | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT computed_at, prior, model_version FROM recomputes ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return RecomputeRecord(computed_at=int(row[0]), prior=float(row[1]), model_version=str(row[2]))

    def remove_link(self, a: str, b: str) -> bool:
        with self._write_transaction() as db:
            ua, ub = self._uid(a, db), self._uid(b, db)
            cursor = db.execute("DELETE FROM links WHERE u = ? AND v = ?", (min(ua, ub), max(ua, ub)))
            return cursor.rowcount > 0

    def set_consent(
        self, user_id: str, consent: bool, *, actor: str = "system", at: int | None = None
    ) -> ConsentChange | None:
        consent = check_consent(consent)
        actor = check_text("consent", "actor", actor)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            uid = self._uid(user_id, db)
            (current,) = db.execute("SELECT consent_network FROM users WHERE uid = ?", (uid,)).fetchone()
            if bool(current) == consent:
                return None
            db.execute("UPDATE users SET consent_network = ? WHERE uid = ?", (int(consent), uid))
            cursor = db.execute(
                "INSERT INTO consent_changes (uid, consent, at, actor) VALUES (?, ?, ?, ?)",
                (uid, int(consent), at, actor),
            )
            cid = int(cursor.lastrowid or 0)
        return ConsentChange(id=cid, user=user_id, consent=consent, at=at, actor=actor)

    _REVIEW_COLUMNS = "rid, users.id, tier, reason, requested_by, requested_at, due, resolved_at, resolved_by, outcome, resolution"

    @staticmethod
    def _review(row: Any) -> Review:
        return Review(id=row[0], user=row[1], tier=row[2], reason=row[3], requested_by=row[4], requested_at=row[5],
                      due=row[6], resolved_at=row[7], resolved_by=row[8], outcome=row[9], resolution=row[10])  # fmt: skip

    def request_review(
        self, user_id: str, *, tier: str, reason: str, requested_by: str, due: int, at: int | None = None
    ) -> Review:
        tier, reason, requested_by, due = check_review_request(tier, reason, requested_by, due)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            uid = self._uid(user_id, db)
            if db.execute("SELECT 1 FROM reviews WHERE uid = ? AND tier = ? AND resolved_at IS NULL",
                          (uid, tier)).fetchone():  # fmt: skip
                raise ConflictError(f"user {user_id!r} already has an open review of {tier!r}")
            cursor = db.execute(
                "INSERT INTO reviews (uid, tier, reason, requested_by, requested_at, due) VALUES (?, ?, ?, ?, ?, ?)",
                (uid, tier, reason, requested_by, at, due),
            )
            rid = int(cursor.lastrowid or 0)
        return Review(id=rid, user=user_id, tier=tier, reason=reason, requested_by=requested_by, requested_at=at,
                      due=due)  # fmt: skip

    def resolve_review(
        self, review_id: int, *, outcome: str, resolution: str, analyst: str, at: int | None = None
    ) -> Review:
        outcome, resolution, analyst = check_review_resolution(outcome, resolution, analyst)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            row = db.execute(f"SELECT {self._REVIEW_COLUMNS} FROM reviews JOIN users ON users.uid = reviews.uid "
                             "WHERE rid = ?", (int(review_id),)).fetchone()  # fmt: skip
            if row is None:
                raise NotFoundError("review", int(review_id))
            if row[7] is not None:
                raise ConflictError(f"review {review_id} was already resolved")
            db.execute("UPDATE reviews SET resolved_at = ?, resolved_by = ?, outcome = ?, resolution = ? WHERE rid = ?",
                       (at, analyst, outcome, resolution, int(review_id)))  # fmt: skip
        return dataclasses.replace(self._review(row), resolved_at=at, resolved_by=analyst, outcome=outcome,
                                   resolution=resolution)  # fmt: skip

    def reviews(self, *, user: str | None = None, open_only: bool = False) -> list[Review]:
        where, params = [], []
        with self._snapshot() as db:
            if user is not None:
                where.append("reviews.uid = ?")
                params.append(self._uid(user, db))
            if open_only:
                where.append("resolved_at IS NULL")
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            rows = db.execute(f"SELECT {self._REVIEW_COLUMNS} FROM reviews JOIN users ON users.uid = reviews.uid "
                              f"{clause} ORDER BY rid", params).fetchall()  # fmt: skip
        return [self._review(row) for row in rows]

    _DISPUTE_COLUMNS = (
        "did, users.id, kind, record, detail, adverse, reason, opened_by, opened_at, due, resolved_at, resolved_by, "
        "outcome, resolution, correction"
    )

    @staticmethod
    def _dispute(row: Any) -> Dispute:
        return Dispute(id=row[0], user=row[1], kind=row[2], record=row[3], detail=row[4], adverse=bool(row[5]),
                       reason=row[6], opened_by=row[7], opened_at=row[8], due=row[9], resolved_at=row[10],
                       resolved_by=row[11], outcome=row[12], resolution=row[13], correction=row[14])  # fmt: skip

    def open_dispute(
        self,
        user_id: str,
        *,
        kind: str,
        record: str,
        detail: str,
        adverse: bool,
        reason: str,
        opened_by: str,
        due: int,
        at: int | None = None,
    ) -> Dispute:
        kind, record, reason, opened_by, due = check_dispute_request(kind, record, reason, opened_by, due)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            uid = self._uid(user_id, db)
            if db.execute("SELECT 1 FROM disputes WHERE uid = ? AND kind = ? AND record = ? AND resolved_at IS NULL",
                          (uid, kind, record)).fetchone():  # fmt: skip
                raise ConflictError(f"user {user_id!r} already has an open dispute of {kind} {record!r}")
            cursor = db.execute(
                "INSERT INTO disputes (uid, kind, record, detail, adverse, reason, opened_by, opened_at, due) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uid, kind, record, str(detail), int(bool(adverse)), reason, opened_by, at, due),
            )
            did = int(cursor.lastrowid or 0)
        return Dispute(id=did, user=user_id, kind=kind, record=record, detail=str(detail), adverse=bool(adverse),
                       reason=reason, opened_by=opened_by, opened_at=at, due=due)  # fmt: skip

    def resolve_dispute(
        self,
        dispute_id: int,
        *,
        outcome: str,
        resolution: str,
        analyst: str,
        correction: str | None = None,
        at: int | None = None,
    ) -> Dispute:
        outcome, resolution, analyst = check_dispute_resolution(outcome, resolution, analyst)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            stored = self._dispute_row(int(dispute_id), db)
            if not stored.open:
                raise ConflictError(f"dispute {dispute_id} was already resolved")
            db.execute("UPDATE disputes SET resolved_at = ?, resolved_by = ?, outcome = ?, resolution = ?, "
                       "correction = ? WHERE did = ?",
                       (at, analyst, outcome, resolution, correction, int(dispute_id)))  # fmt: skip
        return dataclasses.replace(stored, resolved_at=at, resolved_by=analyst, outcome=outcome,
                                   resolution=resolution, correction=correction)  # fmt: skip

    def _dispute_row(self, dispute_id: int, db: sqlite3.Connection) -> Dispute:
        row = db.execute(f"SELECT {self._DISPUTE_COLUMNS} FROM disputes JOIN users ON users.uid = disputes.uid "
                         "WHERE did = ?", (dispute_id,)).fetchone()  # fmt: skip
        if row is None:
            raise NotFoundError("dispute", dispute_id)
        return self._dispute(row)

    def dispute(self, dispute_id: int) -> Dispute:
        with self._snapshot() as db:
            return self._dispute_row(int(dispute_id), db)

    def disputes(
        self,
        *,
        user: str | None = None,
        open_only: bool = False,
        after: int | None = None,
        limit: int | None = None,
        before: int | None = None,
        newest: bool = False,
    ) -> list[Dispute]:
        where: list[str] = []
        params: list[Any] = []
        with self._snapshot() as db:
            if user is not None:
                where.append("disputes.uid = ?")
                params.append(self._uid(user, db))
            if open_only:
                where.append("resolved_at IS NULL")
            if after is not None:
                where.append("did > ?")
                params.append(int(after))
            if before is not None:
                where.append("did < ?")
                params.append(int(before))
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            page = "" if limit is None else f" LIMIT {int(limit)}"
            order = "did DESC" if newest else "did"
            rows = db.execute(f"SELECT {self._DISPUTE_COLUMNS} FROM disputes JOIN users ON users.uid = disputes.uid "
                              f"{clause} ORDER BY {order}{page}", params).fetchall()  # fmt: skip
        found = [self._dispute(row) for row in rows]
        return found[::-1] if newest else found

    def _erasure_key(self, tx: Any, *, create: bool = True) -> bytes | None:
        db: sqlite3.Connection = tx
        row = db.execute("SELECT value FROM meta WHERE key = 'erasure_key'").fetchone()
        if row is not None:
            return bytes(row[0])
        if not create:
            return None
        key = os.urandom(32)
        db.execute("INSERT INTO meta (key, value) VALUES ('erasure_key', ?)", (key,))
        return key

    def _erase(self, user_id: str, pseudonym: str, tx: Any) -> None:
        db: sqlite3.Connection = tx
        uid = self._uid(user_id, db)
        db.execute("DELETE FROM links WHERE u = ? OR v = ?", (uid, uid))
        db.execute("DELETE FROM distrust WHERE rater = ? OR rated = ?", (uid, uid))
        tables = (
            "repayments",
            "spending",
            "flags",
            "consent_changes",
            "notices",
            "reviews",
            "disputes",
            "scores",
        )
        # Before the snapshots go: a later snapshot may reuse a deleted one's sid.
        db.execute("DELETE FROM change_snapshots WHERE sid IN (SELECT sid FROM scores WHERE uid = ?)", (uid,))
        needle = json.dumps(user_id)
        for change, people in db.execute("SELECT id, people FROM changes WHERE instr(people, ?) > 0",
                                         (needle,)).fetchall():  # fmt: skip
            db.execute("UPDATE changes SET people = ? WHERE id = ?",
                       (rename_person(people, user_id, pseudonym), change))  # fmt: skip
        for table in tables:
            db.execute(f"DELETE FROM {table} WHERE uid = ?", (uid,))  # fixed table names, never input
        db.execute("UPDATE disputes SET record = ?, detail = '[erased]' WHERE kind = 'link' AND record = ?",
                   (pseudonym, user_id))  # fmt: skip
        db.execute("DELETE FROM users WHERE uid = ?", (uid,))
        db.execute(
            "UPDATE audit_log SET subject = ?, detail = '[erased]' WHERE subject = ?", (pseudonym, user_id)
        )
        db.execute("INSERT OR IGNORE INTO tombstones (pseudonym, at) VALUES (?, ?)", (pseudonym, epoch_now()))

    def _has_tombstones(self, pseudonyms: list[str], tx: Any) -> np.ndarray:
        db: sqlite3.Connection = tx
        query = "SELECT pseudonym FROM tombstones WHERE pseudonym IN ({marks})"
        found = {r[0] for r in _rows_in(db, query, pseudonyms)}
        return np.array([p in found for p in pseudonyms], dtype=bool)

    def record_notices(self, notices: Sequence[AdverseNotice]) -> int:
        if not notices:
            return 0
        with self._write_transaction() as db:
            uids = [self._uid(notice.user, db) for notice in notices]  # NotFoundError before any write
            db.executemany(
                "INSERT INTO notices (uid, at, tier, tier_min, score_before, score_after, model_version, reasons) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(uid, int(n.at), n.tier, int(n.tier_min), int(n.score_before), int(n.score_after), n.model_version,
                  json.dumps([list(r) for r in n.reasons])) for uid, n in zip(uids, notices, strict=True)],
            )  # fmt: skip
        return len(notices)

    def notices(self, user_id: str) -> list[AdverseNotice]:
        with self._snapshot() as db:
            uid = self._uid(user_id, db)
            rows = db.execute(
                "SELECT nid, at, tier, tier_min, score_before, score_after, model_version, reasons FROM notices "
                "WHERE uid = ? ORDER BY nid",
                (uid,),
            ).fetchall()
        return [AdverseNotice(id=r[0], user=user_id, at=r[1], tier=r[2], tier_min=r[3], score_before=r[4],
                              score_after=r[5], model_version=r[6],
                              reasons=tuple((str(c), str(t), float(p)) for c, t, p in json.loads(r[7])))
                for r in rows]  # fmt: skip

    def consent_history(self, user_id: str) -> list[ConsentChange]:
        with self._snapshot() as db:
            uid = self._uid(user_id, db)
            rows = db.execute(
                "SELECT cid, consent, at, actor FROM consent_changes WHERE uid = ? ORDER BY cid", (uid,)
            ).fetchall()
        return [ConsentChange(id=r[0], user=user_id, consent=bool(r[1]), at=r[2], actor=r[3]) for r in rows]

    def flag_user(self, user_id: str, *, analyst: str, reason: str, at: int | None = None) -> Flag:
        analyst, reason = check_text("flag", "analyst", analyst), check_text("flag", "reason", reason)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            uid = self._uid(user_id, db)
            if db.execute("SELECT 1 FROM flags WHERE uid = ? AND cleared_at IS NULL", (uid,)).fetchone():
                raise ConflictError(f"user {user_id!r} is already flagged")
            cursor = db.execute(
                "INSERT INTO flags (uid, analyst, reason, flagged_at) VALUES (?, ?, ?, ?)",
                (uid, analyst, reason, at),
            )
            fid = int(cursor.lastrowid or 0)
        return Flag(id=fid, user=user_id, analyst=analyst, reason=reason, flagged_at=at)

    def unflag_user(self, user_id: str, *, analyst: str, reason: str, at: int | None = None) -> Flag:
        analyst, reason = check_text("flag", "analyst", analyst), check_text("flag", "reason", reason)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as db:
            uid = self._uid(user_id, db)
            row = db.execute("SELECT fid FROM flags WHERE uid = ? AND cleared_at IS NULL", (uid,)).fetchone()
            if row is None:
                raise ConflictError(f"user {user_id!r} is not flagged")
            db.execute(
                "UPDATE flags SET cleared_at = ?, cleared_by = ?, clear_reason = ? WHERE fid = ?",
                (at, analyst, reason, row[0]),
            )
        return next(f for f in self.flags(user_id) if f.id == row[0])

    def clear(self, *, forget_erasures: bool = False) -> None:
        with self._write_transaction() as db:
            if forget_erasures:
                db.execute("DELETE FROM tombstones")
                db.execute("DELETE FROM meta WHERE key = 'erasure_key'")
            for table in (
                "recomputes",
                "change_snapshots",
                "changes",
                "audit_log",
                "models",
                "scores",
                "consent_changes",
                "notices",
                "reviews",
                "disputes",
                "flags",
                "spending",
                "repayments",
                "distrust",
                "links",
                "users",
            ):
                db.execute(f"DELETE FROM {table}")

    # -- reads ------------------------------------------------------------------

    def get_user(self, user_id: str) -> User:
        frame = self.get_users([user_id])
        return User.from_mapping(frame.iloc[0])

    def get_users(self, user_ids: Any) -> pd.DataFrame:
        ids = [self._user_id(i) for i in user_ids]
        if not ids:
            return empty_frame(USER_COLUMNS)
        with self._snapshot() as db:
            found = _rows_in(db, f"SELECT {', '.join(_USER_FIELDS)} FROM users WHERE id IN ({{marks}})", ids)
        frame = pd.DataFrame.from_records(found, columns=_USER_FIELDS)
        positions = pd.Index(frame["id"]).get_indexer(pd.Index(ids))
        if (positions < 0).any():
            raise NotFoundError("user", ids[int(np.argmin(positions))])
        return coerce_users_frame(frame.iloc[positions])

    def get_all_users(self) -> pd.DataFrame:
        (users,) = self._bulk_read([f"SELECT {', '.join(_USER_FIELDS)} FROM users ORDER BY id"])
        return coerce_users_frame(users) if len(users) else empty_frame(USER_COLUMNS)

    def links(self) -> pd.DataFrame:
        (frame,) = self._bulk_read(
            [
                "SELECT a.id AS source, b.id AS target, l.weight, l.created FROM links l "
                "JOIN users a ON a.uid = l.u JOIN users b ON b.uid = l.v"
            ]
        )
        if not len(frame):
            return empty_frame(LINK_COLUMNS)
        return canonical_links(frame)

    def neighbors(self, user_id: str) -> pd.DataFrame:
        with self._snapshot() as db:
            uid = self._uid(user_id, db)
            rows = db.execute(
                "SELECT users.id, l.weight, l.created FROM "
                "(SELECT v AS other, weight, created FROM links WHERE u = ?1 "
                " UNION ALL SELECT u, weight, created FROM links WHERE v = ?1) AS l "
                "JOIN users ON users.uid = l.other ORDER BY users.id",
                (uid,),
            ).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=["user", "weight", "created"])
        return frame.astype({"user": pd.StringDtype(), "weight": np.float64, "created": np.int64})

    def _events(
        self, table: str, schema: dict[str, Any], fields: list[str], order: str, user_id: str | None
    ) -> pd.DataFrame:
        select = (
            f"SELECT e.id, users.id, {', '.join('e.' + f for f in fields)} FROM {table} e "
            "JOIN users ON users.uid = e.uid"
        )
        if user_id is None:
            (frame,) = self._bulk_read([f"{select} ORDER BY e.{order}, e.id"])
            if not len(frame):
                return empty_frame(schema)
            frame.columns = list(schema)
            return frame.astype(schema)
        else:
            with self._snapshot() as db:
                uid = self._uid(user_id, db)
                rows = db.execute(f"{select} WHERE e.uid = ? ORDER BY e.{order}, e.id", (uid,)).fetchall()
        if not rows:
            return empty_frame(schema)
        frame = pd.DataFrame.from_records(rows, columns=list(schema))
        return frame.astype(schema)

    def events_of(self, user_ids: Sequence[str]) -> tuple[Records, Records]:
        ids = [self._user_id(user) for user in user_ids]
        repayments: list[tuple[Any, ...]] = []
        spending: list[tuple[Any, ...]] = []
        with self._snapshot() as db:
            for user in ids:
                uid = self._uid(user, db)
                for kind, order, out in (("repayments", "due", repayments), ("spending", "at", spending)):
                    fields = ", ".join(_EVENT_FIELDS[kind])
                    found = db.execute(
                        f"SELECT id, {fields} FROM {kind} WHERE uid = ? ORDER BY {order}, id", (uid,)
                    ).fetchall()
                    out += [(row[0], user, *row[1:]) for row in found]
        # SQLite keeps on_time as 0/1 (and NULL).
        spending = [(*row[:5], None if row[5] is None else bool(row[5])) for row in spending]
        return Records("repayments", tuple(repayments)), Records("spending", tuple(spending))

    def event_owners(self, kind: str, event_ids: Sequence[str]) -> dict[str, str]:
        table = _EVENT_TABLES[check_choice(kind, "kind", tuple(_EVENT_TABLES))]
        ids = list(dict.fromkeys(str(i) for i in event_ids))
        query = f"SELECT e.id, u.id FROM {table} e JOIN users u ON u.uid = e.uid WHERE e.id IN ({{marks}})"
        with self._snapshot() as db:
            rows = _rows_in(db, query, ids)
        return {str(event): str(user) for event, user in rows}

    def repayments(self, user_id: str | None = None) -> pd.DataFrame:
        return self._events(
            "repayments", REPAYMENT_COLUMNS, ["due", "paid", "amount", "status"], "due", user_id
        )

    def spending(self, user_id: str | None = None) -> pd.DataFrame:
        frame = self._events(
            "spending", SPENDING_COLUMNS, ["at", "amount", "category", "on_time"], "at", user_id
        )
        return frame

    def distrust(self, user_id: str | None = None) -> pd.DataFrame:
        select = (
            "SELECT a.id AS rater, b.id AS rated, d.weight, d.created FROM distrust d "
            "JOIN users a ON a.uid = d.rater JOIN users b ON b.uid = d.rated"
        )
        if user_id is None:
            (frame,) = self._bulk_read([f"{select} ORDER BY a.id, b.id"])
        else:
            with self._snapshot() as db:
                uid = self._uid(user_id, db)
                cursor = db.execute(
                    f"{select} WHERE d.rater = ?1 OR d.rated = ?1 ORDER BY a.id, b.id", (uid,)
                )
                frame = pd.DataFrame.from_records(cursor.fetchall(), columns=list(DISTRUST_COLUMNS))
        if not len(frame):
            return empty_frame(DISTRUST_COLUMNS)
        frame.columns = list(DISTRUST_COLUMNS)
        return frame.astype(DISTRUST_COLUMNS).reset_index(drop=True)

    def flags(self, user_id: str) -> list[Flag]:
        with self._snapshot() as db:
            uid = self._uid(user_id, db)
            rows = db.execute(
                "SELECT fid, analyst, reason, flagged_at, cleared_at, cleared_by, clear_reason "
                "FROM flags WHERE uid = ? ORDER BY flagged_at, fid",
                (uid,),
            ).fetchall()
        return [
            Flag(
                id=r[0],
                user=user_id,
                analyst=r[1],
                reason=r[2],
                flagged_at=r[3],
                cleared_at=r[4],
                cleared_by=r[5],
                clear_reason=r[6],
            )
            for r in rows
        ]

    def quarantined(self, *, among: Sequence[str] | None = None) -> np.ndarray:
        # CROSS JOIN keeps flags the outer loop: ordered by users.id, the planner would
        # otherwise walk the whole users index to find the few flagged ones.
        active = "SELECT users.id FROM flags CROSS JOIN users ON users.uid = flags.uid WHERE flags.cleared_at IS NULL"
        with self._reading() as db:
            if among is None:
                rows = db.execute(active).fetchall()
            else:
                # Users first: a few index lookups, however many flags are active.
                some = (
                    "SELECT users.id FROM users JOIN flags ON flags.uid = users.uid "
                    "WHERE users.id IN ({marks}) AND flags.cleared_at IS NULL"
                )
                rows = _rows_in(db, some, [self._user_id(i) for i in among])
        return np.array(sorted({r[0] for r in rows}), dtype=object)

    def _audit_page(
        self, size: int, after: int, before: int | None, filters: dict[str, str], newest: bool
    ) -> list[AuditEntry]:
        # Column names only from the fixed AUDIT_FILTERS; every value is bound.
        columns = [c for c in AUDIT_FILTERS if c in filters]
        where = "".join(f" AND {column} = ?" for column in columns)
        params: list[Any] = [after, *(filters[c] for c in columns)]
        if before is not None:
            where += " AND id < ?"
            params.append(before)
        direction = "DESC" if newest else "ASC"
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {', '.join(_AUDIT_FIELDS)} FROM audit_log WHERE id > ?{where} "
                f"ORDER BY id {direction} LIMIT ?",
                (*params, size),
            ).fetchall()
        entries = [AuditEntry(*row) for row in rows]
        return entries[::-1] if newest else entries

    def _scores(
        self, where: str, params: tuple[Any, ...], db: sqlite3.Connection | None = None
    ) -> pd.DataFrame:
        if db is None:
            with self._reading() as reader:
                return self._scores(where, params, reader)
        cols = ", ".join(f"s.{c}" for c in ["model_version", "computed_at", "score", *COMPONENTS])
        rows = db.execute(
            f"SELECT users.id, {cols} FROM scores s JOIN users ON users.uid = s.uid {where}",
            params,
        ).fetchall()
        if not rows:
            return empty_frame(SCORE_COLUMNS)
        return pd.DataFrame.from_records(rows, columns=list(SCORE_COLUMNS)).astype(SCORE_COLUMNS)

    def score_history(self, user_id: str) -> pd.DataFrame:
        with self._snapshot() as db:
            uid = self._uid(user_id, db)
            return self._scores("WHERE s.uid = ? ORDER BY s.computed_at, s.sid", (uid,), db)

    def snapshots_after(self, seq: int, *, limit: int = 10_000) -> tuple[pd.DataFrame, int]:
        check_int(seq, "seq", 0)
        check_int(limit, "limit", 1)
        cols = ", ".join(f"s.{c}" for c in ["model_version", "computed_at", "score", *COMPONENTS])
        with self._reading() as db:
            rows = db.execute(
                f"SELECT users.id, {cols}, s.sid FROM scores s JOIN users ON users.uid = s.uid "
                "WHERE s.sid > ? ORDER BY s.sid LIMIT ?",
                (int(seq), int(limit)),
            ).fetchall()
        if not rows:
            return empty_frame({**SCORE_COLUMNS, "seq": np.dtype("int64")}), int(seq)
        frame = pd.DataFrame.from_records(rows, columns=[*SCORE_COLUMNS, "seq"])
        return frame.astype({**SCORE_COLUMNS, "seq": np.dtype("int64")}), int(rows[-1][-1])

    def latest_snapshot_seq(self) -> int:
        with self._reading() as db:
            row = db.execute("SELECT max(sid) FROM scores").fetchone()
        return int(row[0] or 0)

    def latest_score_time(self) -> tuple[int, str] | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT s.computed_at, s.model_version FROM scores s ORDER BY s.sid DESC LIMIT 1"
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def latest_scores(self) -> pd.DataFrame:
        return self._scores(
            "WHERE s.sid = (SELECT s2.sid FROM scores s2 WHERE s2.uid = s.uid "
            "ORDER BY s2.computed_at DESC, s2.sid DESC LIMIT 1) ORDER BY users.id",
            (),
        )

    def stats(self) -> StoreStats:
        with self._snapshot() as db:

            def count(sql: str) -> int:
                return int(db.execute(sql).fetchone()[0])

            return StoreStats(
                users=count("SELECT count(*) FROM users"),
                links=count("SELECT count(*) FROM links"),
                repayments=count("SELECT count(*) FROM repayments"),
                spending=count("SELECT count(*) FROM spending"),
                distrust=count("SELECT count(*) FROM distrust"),
                consenting=count("SELECT count(*) FROM users WHERE consent_network"),
                quarantined=count("SELECT count(*) FROM flags WHERE cleared_at IS NULL"),
                flags=count("SELECT count(*) FROM flags"),
                score_snapshots=count("SELECT count(*) FROM scores"),
            )

    # -- export -----------------------------------------------------------------

    def export_graph(self, *, progress: ProgressFn | None = None) -> GraphExport:
        report = progress or (lambda stage, done, total: None)
        report("users", 0, 1)
        users, links, flagged, distrust = self._bulk_read(
            [
                f"SELECT uid, {', '.join(_USER_FIELDS)} FROM users ORDER BY uid",
                "SELECT u, v, weight FROM links",
                "SELECT DISTINCT uid FROM flags WHERE cleared_at IS NULL",
                "SELECT rater, rated, weight FROM distrust",
            ]
        )
        uids = users.pop("uid").to_numpy(dtype=np.int64)
        report("users", 1, 1)
        report("links", 1, 1)
        return assemble_graph_export(
            users,
            uids,
            links["u"].to_numpy(dtype=np.int64),
            links["v"].to_numpy(dtype=np.int64),
            links["weight"].to_numpy(dtype=np.float64),
            flagged["uid"].to_numpy(dtype=np.int64),
            distrust=(
                distrust["rater"].to_numpy(dtype=np.int64),
                distrust["rated"].to_numpy(dtype=np.int64),
                distrust["weight"].to_numpy(dtype=np.float64),
            ),
        )

    def _bulk_read(self, queries: list[str]) -> list[pd.DataFrame]:
        """Read-only queries as frames: in-process for small stores, Arrow in a child for big ones.

        Inside the thread's unit of work always in-process (the child would not see its writes).
        """
        with self._snapshot() as db:
            n_users = db.execute("SELECT max(uid) FROM users").fetchone()[0] or 0
            if self._memory or n_users < self.bulk_read_threshold or self._unit() is not None:
                frames = []
                for sql in queries:
                    cursor = db.execute(sql)
                    names = [d[0] for d in cursor.description]
                    frames.append(pd.DataFrame.from_records(cursor.fetchall(), columns=names))
                return frames
        from credence.graph.adbc_export import read_arrow

        return [table.to_pandas() for table in read_arrow(self.path, queries)]


def _alive(thread: weakref.ref[threading.Thread]) -> bool:
    owner = thread()
    return owner is not None and owner.is_alive()


def _rows(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of plain Python values (None for missing) in bounded-memory chunks."""
    for start in range(0, len(frame), _BATCH):
        yield from zip(*python_columns(frame[columns].iloc[start : start + _BATCH]), strict=True)
