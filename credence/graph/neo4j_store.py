"""The Neo4j 5.26 backend over Bolt, with the official ``neo4j`` driver.

Graph model::

    (:User {id, uid, created, <verification flags>, <capacity>, consent_network})
    (:User)-[:FRIEND {weight, created}]->(:User)     once per pair, low uid -> high uid
    (:User)-[:DISTRUST {weight, created}]->(:User)   rater -> rated, once per ordered pair
    (:Repayment {id, uid, due, paid, amount, status})
    (:Spending {id, uid, at, amount, category, on_time})
    (:Flag {fid, uid, analyst, reason, flagged_at, cleared_at, cleared_by, clear_reason})
    (:ConsentChange {cid, uid, consent, at, actor})  a change of a user's consent
    (:Notice {nid, uid, at, tier, tier_min, score_before, score_after, model_version, reasons})
                                                      an adverse-action notice (reasons: JSON)
    (:Review {rid, uid, tier, reason, requested_by, requested_at, due, resolved_at, resolved_by, outcome,
              resolution})                            a request for human review
    (:Dispute {did, uid, kind, record, detail, adverse, reason, opened_by, opened_at, due, resolved_at,
               resolved_by, outcome, resolution, correction})   a person's dispute of a record
    (:ScoreSnapshot {seq, uid, model_version, computed_at, score, <components>})
    (:AuditEntry {id, at, actor, role, action, subject, detail})   audit log, linked to nothing
    (:Model {version, weights})                       a model's weights (JSON) by version
    (:Counter {name, value})                          dense id allocation

``uid`` is a dense integer key (1, 2, ...) allocated from a counter, exactly as
SQLite's row id, so the CSR export needs no string work. Events, flags and
snapshots carry the owner's ``uid`` (indexed) rather than a relationship: they
are not part of the friendship graph and this keeps bulk loads lean.

Every statement is parameterized Cypher; writes go in ``UNWIND`` batches. Loads
of up to :attr:`Neo4jStore.single_transaction_rows` rows run in one transaction;
larger ones commit batch by batch (validation and reference checks still finish
before the first write, so bad input never writes anything; only a server
failure mid-way can leave a partial load, and re-running the same load repairs
it because every write is an idempotent upsert).

Offline loads. :meth:`Neo4jStore.load_offline` fills an *empty* database of a server
the bundled launcher runs (:mod:`credence.graph.neo4j_server`) with Neo4j's offline
importer instead of Cypher: the same checks first (nothing is stopped or written for
bad input), then typed CSV files, a stop, the import, a restart and this store's
schema; the graph it leaves is the one :meth:`~credence.graph.store.StoreBase.load`
would have written (same labels, properties and their types, relationship types and
directions, the ``user_uid`` counter, the same constraints and indexes).

Units of work. :meth:`~credence.graph.store.StoreBase.transaction` opens one explicit
transaction for the calling thread; every write method that thread calls inside joins
it, and its reads run in it (so they see its writes). Neo4j has no savepoints
(:attr:`Neo4jStore.supports_savepoints` is False): every write method finishes its
validation and its reference and conflict checks before its first write statement, so
a write refused for bad input leaves the unit as it was; one that fails after it wrote
(a server or connection error) makes the unit rollback-only, and its exit rolls back
and raises :class:`~credence.core.errors.StoreError`. Inside a unit big loads do not
commit batch by batch.

Outages. The driver is configured to fail fast: connecting times out after
:attr:`Neo4jStore.connection_timeout` seconds, acquiring a pooled connection after
:attr:`Neo4jStore.acquisition_timeout`, and Credence runs every read and write in an
explicit transaction that the driver does not retry. Every driver or server
unavailability error becomes a ``StoreError`` (``STORE_UNAVAILABLE``) with
``retry_after`` seconds. Pooled connections idle for more than
:attr:`Neo4jStore.liveness_check_timeout` seconds are checked before use, so once
the server is back the same store works again without being reopened.

Audit entries take their ids from the ``audit_id`` counter in the same transaction
that creates them: ``SET c.value = c.value + $n`` write-locks the counter before
reading it, so concurrent writers are serialised and ids increase in commit
order (a uniqueness constraint on ``AuditEntry.id`` backs this up). ``clear()``
keeps that one counter, so audit ids are never reused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from credence.core.checks import check_choice, check_int
from credence.core.errors import ConflictError, NotFoundError, OutcomeUnknownError, StoreError
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
    check_text,
    empty_frame,
    epoch_now,
)
from credence.graph.neo4j_server import Neo4jProcess, import_offline, is_running
from credence.graph.store import (
    AUDIT_FILTERS,
    AdverseNotice,
    AuditEntry,
    AuditRow,
    ConsentChange,
    DataVersion,
    Flag,
    GraphExport,
    LoadReport,
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

__all__ = ["Neo4jStore", "OfflineLoad"]

_F = TypeVar("_F", bound=Callable[..., Any])

_USER_FIELDS = list(USER_COLUMNS)
_USER_PROPS = _USER_FIELDS[1:]  # all but id

_SCHEMA = [
    "CREATE CONSTRAINT credence_user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
    "CREATE CONSTRAINT credence_user_uid IF NOT EXISTS FOR (u:User) REQUIRE u.uid IS UNIQUE",
    "CREATE CONSTRAINT credence_repayment_id IF NOT EXISTS FOR (r:Repayment) REQUIRE r.id IS UNIQUE",
    "CREATE CONSTRAINT credence_spending_id IF NOT EXISTS FOR (s:Spending) REQUIRE s.id IS UNIQUE",
    "CREATE CONSTRAINT credence_counter IF NOT EXISTS FOR (c:Counter) REQUIRE c.name IS UNIQUE",
    "CREATE INDEX credence_repayment_uid IF NOT EXISTS FOR (r:Repayment) ON (r.uid)",
    "CREATE INDEX credence_spending_uid IF NOT EXISTS FOR (s:Spending) ON (s.uid)",
    "CREATE INDEX credence_flag_uid IF NOT EXISTS FOR (f:Flag) ON (f.uid)",
    "CREATE INDEX credence_consent_uid IF NOT EXISTS FOR (c:ConsentChange) ON (c.uid)",
    "CREATE INDEX credence_notice_uid IF NOT EXISTS FOR (n:Notice) ON (n.uid)",
    "CREATE INDEX credence_review_uid IF NOT EXISTS FOR (r:Review) ON (r.uid)",
    "CREATE CONSTRAINT credence_tombstone IF NOT EXISTS FOR (t:Tombstone) REQUIRE t.pseudonym IS UNIQUE",
    "CREATE CONSTRAINT credence_review_rid IF NOT EXISTS FOR (r:Review) REQUIRE r.rid IS UNIQUE",
    "CREATE INDEX credence_dispute_uid IF NOT EXISTS FOR (d:Dispute) ON (d.uid)",
    "CREATE CONSTRAINT credence_dispute_did IF NOT EXISTS FOR (d:Dispute) REQUIRE d.did IS UNIQUE",
    "CREATE INDEX credence_score_uid IF NOT EXISTS FOR (s:ScoreSnapshot) ON (s.uid)",
    "CREATE INDEX credence_score_seq IF NOT EXISTS FOR (s:ScoreSnapshot) ON (s.seq)",
    "CREATE CONSTRAINT credence_audit_id IF NOT EXISTS FOR (e:AuditEntry) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT credence_model_version IF NOT EXISTS FOR (m:Model) REQUIRE m.version IS UNIQUE",
    "CREATE INDEX credence_audit_subject IF NOT EXISTS FOR (e:AuditEntry) ON (e.subject)",
    "CREATE INDEX credence_audit_actor IF NOT EXISTS FOR (e:AuditEntry) ON (e.actor)",
    "CREATE CONSTRAINT credence_recompute_seq IF NOT EXISTS FOR (r:Recompute) REQUIRE r.seq IS UNIQUE",
    "CREATE CONSTRAINT credence_change_id IF NOT EXISTS FOR (c:Change) REQUIRE c.id IS UNIQUE",
]
#: Properties of an ``AuditEntry`` node in :class:`~credence.graph.store.AuditEntry` field order.
_AUDIT_FIELDS = ["id", "at", "actor", "role", "action", "subject", "detail"]
#: The counter audit ids come from; ``clear()`` keeps it.
_AUDIT_COUNTER = "audit_id"
#: The counter of committed data-changing units (:class:`DataVersion`); ``clear()`` keeps it
#: and the store's token, so that a version never comes back after a clear.
_DATA_COUNTER = "data_version"
_IDENTITY_COUNTER = "store_id"
_KEPT_COUNTERS = [_AUDIT_COUNTER, _DATA_COUNTER, _IDENTITY_COUNTER]
#: The counters an offline load may find in an "empty" database (it writes them again).
_OWN_COUNTERS = [_DATA_COUNTER, _IDENTITY_COUNTER]
_COUNT_DATA_CHANGE = (
    "MERGE (c:Counter {name: $name}) ON CREATE SET c.value = 0 "
    "SET c.value = c.value + 1 RETURN c.value AS value"
)
#: Seconds a caller is told to wait before retrying after the server was unreachable.
_RETRY_UNAVAILABLE = 2


def _one_view(method: _F) -> _F:
    """Run a read method of several queries in one read transaction (one consistent view)."""

    @functools.wraps(method)
    def read(store: Any, *args: Any, **kwargs: Any) -> Any:
        with store._reading():
            return method(store, *args, **kwargs)

    return cast(_F, read)


_ALLOCATE = (
    "MERGE (c:Counter {name: $name}) ON CREATE SET c.value = 0 "
    "SET c.value = c.value + $n RETURN c.value - $n AS base"
)


#: The event kinds and their node labels (fixed names: never from input).
_EVENT_LABELS = {"repayments": "Repayment", "spending": "Spending"}


@dataclass(frozen=True)
class OfflineLoad:
    """What :meth:`Neo4jStore.load_offline` did.

    Parameters
    ----------
    report : LoadReport
        Rows written per kind, and the wall-clock seconds of the whole offline load
        (checks, files, import, restart, schema and count checks).
    server : Neo4jProcess
        The server running after the load (a new pid: it was restarted).
    phases : dict of str to float
        Seconds of each step: ``check``, ``files``, ``import`` (stop, import tool,
        restart), ``schema`` (constraints, indexes, counter, counts).
    """

    report: LoadReport
    server: Neo4jProcess
    phases: dict[str, float]


class Neo4jStore(StoreBase):
    """A :class:`~credence.graph.store.GraphStore` on Neo4j 5.26 over Bolt.

    Parameters
    ----------
    uri : str
        Bolt URI, e.g. ``bolt://127.0.0.1:7687``.
    auth : tuple of (user, password), optional
        None for a server with authentication off.
    database : str
        Database name.
    batch_rows : int
        Rows per ``UNWIND`` statement.
    """

    #: Loads with at most this many rows in all run in one transaction (outside a unit of work).
    single_transaction_rows = 250_000
    #: From this many links in one load on, endpoints are addressed by internal node id.
    node_id_threshold = 50_000
    #: Neo4j has no savepoints (see :meth:`~credence.graph.store.StoreBase.savepoint`).
    supports_savepoints = False
    #: Seconds to establish a TCP connection before the server counts as unreachable.
    connection_timeout = 1.0
    #: Seconds to get a connection (from the pool, or a new one) before failing.
    acquisition_timeout = 1.5
    #: Pooled connections idle longer than this (seconds) are checked before use.
    liveness_check_timeout = 2.0
    #: Bound on the driver's own retries of managed transactions (Credence runs none).
    max_transaction_retry_time = 1.0

    def __init__(
        self,
        uri: str,
        *,
        auth: tuple[str, str] | None = None,
        database: str = "neo4j",
        batch_rows: int = 20_000,
    ) -> None:
        import neo4j

        super().__init__()
        self.uri = uri
        self.database = database
        self.batch_rows = batch_rows
        self._closed = False
        #: The store's token (:class:`DataVersion`), read when the store opens.
        self._identity = ""
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                notifications_min_severity="OFF",
                connection_timeout=self.connection_timeout,
                connection_acquisition_timeout=self.acquisition_timeout,
                liveness_check_timeout=self.liveness_check_timeout,
                max_transaction_retry_time=self.max_transaction_retry_time,
            )
        except (neo4j.exceptions.DriverError, ValueError) as exc:
            raise StoreError(f"cannot reach Neo4j at {uri}: {exc}") from exc
        try:
            self._driver.verify_connectivity()
            with self._session() as session:
                for statement in _SCHEMA:
                    session.run(statement).consume()
                session.run("CALL db.awaitIndexes(300)").consume()
                found = session.run(
                    "MERGE (c:Counter {name: $name}) ON CREATE SET c.token = randomUUID() RETURN c.token AS token",
                    name=_IDENTITY_COUNTER,
                ).single()
                self._identity = str(found["token"])
        except BaseException as exc:
            # A store that failed to open owns no connection: close the driver's pool now.
            self._driver.close()
            if isinstance(exc, neo4j.exceptions.Neo4jError):
                raise StoreError(f"Neo4j at {uri}: {exc}", retry_after=_retry_after(exc)) from exc
            if isinstance(exc, neo4j.exceptions.DriverError | OSError):
                raise StoreError(
                    f"cannot reach Neo4j at {uri}: {exc}", retry_after=_retry_after(exc)
                ) from exc
            raise

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    def close(self) -> None:
        self._closed = True
        self._driver.close()

    def _session(self, *, read: bool = False) -> Any:
        import neo4j

        if self._closed:
            raise StoreError(f"{self!r}: the store is closed")
        mode = neo4j.READ_ACCESS if read else neo4j.WRITE_ACCESS
        return self._driver.session(database=self.database, default_access_mode=mode)

    def _error(self, what: str, exc: BaseException) -> StoreError:
        """The StoreError a driver or server error becomes (with ``retry_after`` where it helps)."""
        import neo4j

        if isinstance(exc, neo4j.exceptions.IncompleteCommit):
            return OutcomeUnknownError(
                f"Neo4j at {self.uri}: the connection broke during the commit, which may or may not have "
                f"been applied: {exc}", retry_after=_retry_after(exc),
            )  # fmt: skip
        return StoreError(f"Neo4j at {self.uri}: {what}: {exc}", retry_after=_retry_after(exc))

    def _read(self, query: str, **params: Any) -> list[Any]:
        """Run a read: in the thread's unit of work or open snapshot, else in a read transaction of its own."""
        import neo4j

        unit = self._unit()
        if unit is not None:
            try:
                records: list[Any] = unit.tx.run(query, **params)
            except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError) as exc:
                unit.doomed = f"a read failed: {exc}"
                raise self._error("read failed", exc) from exc
            return records
        reader = getattr(self._units, "reader", None)
        if reader is not None:
            return reader(query, **params)
        with self._reading() as read:
            return read(query, **params)

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """One read transaction for several queries (one consistent view), or the thread's unit.

        Yields a function ``read(query, **params) -> list of records``; every
        :meth:`_read` of this thread inside the block runs through it.
        """
        import neo4j

        unit = self._unit()
        if unit is not None or getattr(self._units, "reader", None) is not None:
            yield self._read
            return
        failures = (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError)
        try:
            session = self._session(read=True)
        except failures as exc:
            raise self._error("read failed", exc) from exc
        try:
            try:
                tx = session.begin_transaction()
            except failures as exc:
                raise self._error("read failed", exc) from exc

            def read(query: str, **params: Any) -> list[Any]:
                try:
                    return list(tx.run(query, params))
                except failures as exc:
                    raise self._error("read failed", exc) from exc

            self._units.reader = read
            try:
                yield read
            finally:
                self._units.reader = None
                with contextlib.suppress(*failures):
                    tx.close()  # a read transaction: nothing to commit
        finally:
            with contextlib.suppress(*failures):
                session.close()

    # -- transactions ---------------------------------------------------------

    def _begin(self) -> _Writer:
        import neo4j

        try:
            return _Writer(self)
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as exc:
            raise self._error("write could not start, nothing was written", exc) from exc

    def _commit(self, tx: Any) -> None:
        import neo4j

        writer: _Writer = tx
        try:
            writer.commit()
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as exc:
            writer.abandon()
            raise self._error("commit failed, nothing was applied", exc) from exc
        except BaseException:
            writer.abandon()
            raise
        writer.close()

    def _rollback(self, tx: Any) -> None:
        writer: _Writer = tx
        writer.abandon()

    @contextmanager
    def _nested(self, unit: Any) -> Iterator[None]:
        writer: _Writer = unit.tx
        before = writer.writes
        try:
            yield
        except BaseException as exc:
            error = self._store_error(exc)
            if error is not None:
                unit.doomed = f"the server failed the transaction ({exc})"
                raise error from exc
            if writer.writes > before:
                # No savepoint to roll back to: the unit must not commit half of this write.
                unit.doomed = (
                    f"{type(exc).__name__} after the write had written ({exc}); Neo4j has no savepoints"
                )
            raise

    def _store_error(self, exc: BaseException) -> StoreError | None:
        import neo4j

        if isinstance(exc, neo4j.exceptions.DriverError | neo4j.exceptions.Neo4jError):
            return self._error("write failed and was rolled back", exc)
        return None

    # -- id mapping -------------------------------------------------------------

    def _uids(self, user_ids: np.ndarray, tx: Any) -> np.ndarray:
        user_ids = np.asarray(user_ids, dtype=object)
        if not len(user_ids):
            return np.empty(0, np.int64)
        unique = [str(x) for x in pd.unique(user_ids)]
        found: dict[str, int] = {}
        for start in range(0, len(unique), 50_000):
            chunk = unique[start : start + 50_000]
            records = tx.run(
                "UNWIND $ids AS id MATCH (u:User {id: id}) RETURN collect([id, u.uid]) AS pairs",
                ids=chunk,
            )
            found.update({p[0]: p[1] for p in records[0]["pairs"]})
        known = pd.Series(found, dtype=np.int64)
        positions = known.index.get_indexer(pd.Index(user_ids))
        return np.append(known.to_numpy(dtype=np.int64), -1)[positions]

    def _has_users(self, user_ids: np.ndarray, tx: Any) -> np.ndarray:
        return self._uids(user_ids, tx) >= 0

    def has_users(self, user_ids: Any) -> np.ndarray:
        ids = np.asarray(list(user_ids), dtype=object)
        with self._reading() as read:
            return self._has_users(ids, _Runner(read))

    def _uid(self, user_id: str, tx: Any = None) -> int:
        query = "MATCH (u:User {id: $id}) RETURN u.uid AS uid"
        user_id = self._user_id(user_id)
        records = tx.run(query, id=user_id) if tx is not None else self._read(query, id=user_id)
        if not records:
            raise NotFoundError("user", user_id)
        return int(records[0]["uid"])

    # -- writes -----------------------------------------------------------------

    def _write_dataset(self, dataset: Dataset, tx: Any, progress: ProgressFn) -> dict[str, int]:
        writer: _Writer = tx
        total = sum(dataset.counts().values())
        unit = self._unit()
        # Batch commits only for a load that is its own transaction, never inside a unit of work.
        writer.batched = total > self.single_transaction_rows and unit is not None and not unit.explicit
        written: dict[str, int] = {}

        users = dataset.users
        if len(users):
            uid = self._uids(users["id"].to_numpy(dtype=object), writer)
            new = uid < 0
            if new.any():
                base = writer.run(_ALLOCATE, name="user_uid", n=int(new.sum()))[0]["base"]
                uid[new] = base + 1 + np.arange(int(new.sum()))
            frame = users.assign(uid=uid)
            sets = ", ".join(f"u.{p} = r[{i + 2}]" for i, p in enumerate(_USER_PROPS))
            writer.unwind(
                f"UNWIND $rows AS r MERGE (u:User {{id: r[0]}}) ON CREATE SET u.uid = r[1] SET {sets}",
                frame[["id", "uid", *_USER_PROPS]],
                "users",
                progress,
            )
        written["users"] = len(users)

        links = dataset.links
        _, codes = dataset.reference_codes()
        uid_of = self._uids_by_code(dataset, writer) if total > len(users) else None
        if len(links):
            assert uid_of is not None
            a, b = uid_of[codes["links.source"]], uid_of[codes["links.target"]]
            frame = pd.DataFrame(
                {
                    "u": np.minimum(a, b),
                    "v": np.maximum(a, b),
                    "weight": links["weight"].to_numpy(),
                    "created": links["created"].to_numpy(),
                }
            ).sort_values(["u", "v"])
            no_links_yet = not writer.run("MATCH ()-[f:FRIEND]->() RETURN f LIMIT 1")
            match = "MATCH (a:User {uid: r[0]}) MATCH (b:User {uid: r[1]})"
            if len(frame) >= self.node_id_threshold:
                # Bulk: address endpoints by internal node id, read in this same
                # transaction; a node-by-id seek is ~1.6x faster than an index seek
                # when rows come sorted by source (measured at 100k users / 1M links).
                node_ids = self._node_ids(writer)
                frame = frame.assign(u=node_ids[frame["u"]], v=node_ids[frame["v"]])
                match = "MATCH (a) WHERE id(a) = r[0] MATCH (b) WHERE id(b) = r[1]"
            # Into an empty graph every (validated, unique) pair is new: CREATE skips
            # MERGE's per-pair check of existing relationships.
            if no_links_yet:
                query = f"UNWIND $rows AS r {match} CREATE (a)-[:FRIEND {{weight: r[2], created: r[3]}}]->(b)"
            else:
                query = (
                    f"UNWIND $rows AS r {match} "
                    "MERGE (a)-[f:FRIEND]->(b) "
                    "ON CREATE SET f.weight = r[2], f.created = r[3] "
                    "ON MATCH SET f.weight = r[2], "
                    "f.created = CASE WHEN r[3] < f.created THEN r[3] ELSE f.created END"
                )
            writer.unwind(query, frame, "links", progress)
        written["links"] = len(links)

        for kind, label, fields in (
            ("repayments", "Repayment", ["due", "paid", "amount", "status"]),
            ("spending", "Spending", ["at", "amount", "category", "on_time"]),
        ):
            events: pd.DataFrame = getattr(dataset, kind)
            if len(events):
                assert uid_of is not None
                uid = uid_of[codes[f"{kind}.user"]]
                frame = events[["id", *fields]].assign(uid=uid)[["id", "uid", *fields]]
                sets = ", ".join(f"e.{f} = r[{i + 1}]" for i, f in enumerate(["uid", *fields]))
                # As for links: validated ids are unique, so into an empty label CREATE is exact.
                first = not writer.run(f"MATCH (e:{label}) RETURN e.id LIMIT 1")
                verb = "CREATE" if first else "MERGE"
                writer.unwind(
                    f"UNWIND $rows AS r {verb} (e:{label} {{id: r[0]}}) SET {sets}",
                    frame,
                    kind,
                    progress,
                )
            written[kind] = len(events)

        distrust = dataset.distrust
        if len(distrust):
            assert uid_of is not None
            frame = pd.DataFrame(
                {
                    "rater": uid_of[codes["distrust.rater"]],
                    "rated": uid_of[codes["distrust.rated"]],
                    "weight": distrust["weight"].to_numpy(),
                    "created": distrust["created"].to_numpy(),
                }
            ).sort_values(["rater", "rated"])
            match = "MATCH (a:User {uid: r[0]}) MATCH (b:User {uid: r[1]})"
            if len(frame) >= self.node_id_threshold:
                node_ids = self._node_ids(writer)
                frame = frame.assign(rater=node_ids[frame["rater"]], rated=node_ids[frame["rated"]])
                match = "MATCH (a) WHERE id(a) = r[0] MATCH (b) WHERE id(b) = r[1]"
            # As for links: into a graph without distrust every (validated, unique) pair is new.
            if not writer.run("MATCH ()-[d:DISTRUST]->() RETURN d LIMIT 1"):
                query = (
                    f"UNWIND $rows AS r {match} CREATE (a)-[:DISTRUST {{weight: r[2], created: r[3]}}]->(b)"
                )
            else:
                # A repeated rating replaces the stored one, weight and time.
                query = (
                    f"UNWIND $rows AS r {match} "
                    "MERGE (a)-[d:DISTRUST]->(b) SET d.weight = r[2], d.created = r[3]"
                )
            writer.unwind(query, frame, "distrust", progress)
        written["distrust"] = len(distrust)
        return written

    @staticmethod
    def _node_ids(writer: _Writer) -> np.ndarray:
        """Internal node id of every user, indexed by uid (-1 where no such uid)."""
        top = writer.run("MATCH (c:Counter {name: 'user_uid'}) RETURN c.value AS v")
        highest = int(top[0]["v"]) if top else 0
        node_ids = np.full(highest + 1, -1, dtype=np.int64)
        step = 250_000
        for lo in range(1, highest + 1, step):
            pairs = writer.run(
                "MATCH (u:User) WHERE u.uid >= $lo AND u.uid < $hi "
                "RETURN collect(u.uid) AS uid, collect(id(u)) AS node",
                lo=lo,
                hi=lo + step,
            )[0]
            node_ids[np.asarray(pairs["uid"], dtype=np.int64)] = pairs["node"]
        return node_ids

    def _recorded_model(self, version: str, tx: Any) -> dict[str, float] | None:
        writer: _Writer = tx
        rows = writer.run("MATCH (m:Model {version: $version}) RETURN m.weights AS weights", version=version)
        return None if not rows else dict(json.loads(rows[0]["weights"]))

    def _record_model(self, version: str, weights: dict[str, float], tx: Any) -> None:
        writer: _Writer = tx
        writer.run("CREATE (:Model {version: $version, weights: $weights})", version=version,
                   weights=json.dumps(weights))  # fmt: skip

    def model_weights(self) -> dict[str, dict[str, float]]:
        rows = self._read(
            "MATCH (m:Model) RETURN m.version AS version, m.weights AS weights ORDER BY version"
        )
        return {str(r["version"]): dict(json.loads(r["weights"])) for r in rows}

    def _write_scores(self, scores: pd.DataFrame, tx: Any) -> int:
        writer: _Writer = tx
        uid = self._uids(scores["user"].to_numpy(dtype=object), writer)
        base = writer.run(_ALLOCATE, name="score_seq", n=len(scores))[0]["base"]
        fields = ["model_version", "computed_at", "score", *COMPONENTS]
        frame = scores[fields].assign(uid=uid, seq=base + 1 + np.arange(len(scores)))
        change = self._change_id(writer)
        if change is not None:  # the journaled change that produced these snapshots
            fields.append("change")
            frame = frame.assign(change=change)
        sets = ", ".join(f"s.{f} = r[{i + 2}]" for i, f in enumerate(fields))
        writer.unwind(
            f"UNWIND $rows AS r CREATE (s:ScoreSnapshot {{seq: r[0], uid: r[1]}}) SET {sets}",
            frame[["seq", "uid", *fields]],
            "scores",
            lambda *_: None,
        )
        return len(frame)

    def _write_change(self, draft: ChangeDraft, at: int, tx: Any) -> int:
        writer: _Writer = tx
        change = int(writer.run(_ALLOCATE, name="change_id", n=1)[0]["base"]) + 1
        writer.run("CREATE (:Change {id: $id, at: $at, kind: $kind, actor: $actor, people: $people, "
                   "corrected: $corrected})", id=change, at=at, kind=draft.kind, actor=draft.actor,
                   people=format_people(draft.people), corrected=json.dumps(list(draft.corrected)))  # fmt: skip
        return change

    @_one_view
    def snapshot_changes(self, user_id: str) -> list[Change | None]:
        uid = self._uid(user_id)
        records = self._read(
            "MATCH (s:ScoreSnapshot {uid: $uid}) WITH s ORDER BY s.computed_at, s.seq "
            "OPTIONAL MATCH (c:Change {id: s.change}) RETURN [c.id, c.at, c.kind, c.people, c.actor, c.corrected] AS row",
            uid=uid,
        )
        return [None if r["row"][0] is None else parse_change(*r["row"]) for r in records]

    def _write_audit(self, rows: list[AuditRow], tx: Any) -> list[int]:
        writer: _Writer = tx
        # The counter's write lock serialises concurrent writers until this one commits.
        base = writer.run(_ALLOCATE, name=_AUDIT_COUNTER, n=len(rows))[0]["base"]
        ids = [int(base) + 1 + i for i in range(len(rows))]
        props = ", ".join(f"{f}: r[{i}]" for i, f in enumerate(_AUDIT_FIELDS))
        numbered = [[i, *row] for i, row in zip(ids, rows, strict=True)]
        for start in range(0, len(numbered), self.batch_rows):
            writer.run(
                f"UNWIND $rows AS r CREATE (:AuditEntry {{{props}}})",
                rows=numbered[start : start + self.batch_rows],
            )
        return ids

    def _write_recompute(self, record: RecomputeRecord, tx: Any) -> None:
        writer: _Writer = tx
        seq = writer.run(_ALLOCATE, name="recompute_seq", n=1)[0]["base"] + 1
        writer.run(
            "CREATE (:Recompute {seq: $seq, computed_at: $at, prior: $prior, model_version: $version})",
            seq=seq,
            at=record.computed_at,
            prior=record.prior,
            version=record.model_version,
        )

    def _count_data_change(self, tx: Any) -> DataVersion:
        writer: _Writer = tx
        return DataVersion(
            self._identity, int(writer.run(_COUNT_DATA_CHANGE, name=_DATA_COUNTER)[0]["value"])
        )

    def data_version(self) -> DataVersion:
        rows = self._read("MATCH (c:Counter {name: $name}) RETURN c.value AS value", name=_DATA_COUNTER)
        return DataVersion(self._identity, int(rows[0]["value"]) if rows else 0)

    def latest_recompute(self) -> RecomputeRecord | None:
        rows = self._read(
            "MATCH (r:Recompute) RETURN r.computed_at AS at, r.prior AS prior, r.model_version AS version "
            "ORDER BY r.seq DESC LIMIT 1"
        )
        if not rows:
            return None
        return RecomputeRecord(
            computed_at=int(rows[0]["at"]),
            prior=float(rows[0]["prior"]),
            model_version=str(rows[0]["version"]),
        )

    def remove_link(self, a: str, b: str) -> bool:
        with self._write_transaction() as tx:
            ua, ub = self._uid(a, tx), self._uid(b, tx)
            records = tx.run(
                "MATCH (:User {uid: $u})-[f:FRIEND]->(:User {uid: $v}) DELETE f RETURN count(*) AS n",
                u=min(ua, ub),
                v=max(ua, ub),
            )
            return bool(records[0]["n"])

    def set_consent(
        self, user_id: str, consent: bool, *, actor: str = "system", at: int | None = None
    ) -> ConsentChange | None:
        consent = check_consent(consent)
        actor = check_text("consent", "actor", actor)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as tx:
            uid = self._uid(user_id, tx)
            current = tx.run("MATCH (u:User {uid: $uid}) RETURN u.consent_network AS c", uid=uid)[0]["c"]
            if bool(current) == consent:
                return None
            cid = tx.run(_ALLOCATE, name="consent_id", n=1)[0]["base"] + 1
            tx.run(
                "MATCH (u:User {uid: $uid}) SET u.consent_network = $c "
                "CREATE (:ConsentChange {cid: $cid, uid: $uid, consent: $c, at: $at, actor: $actor})",
                uid=uid, c=consent, cid=cid, at=at, actor=actor,
            )  # fmt: skip
        return ConsentChange(id=cid, user=user_id, consent=consent, at=at, actor=actor)

    @staticmethod
    def _review(node: Any, user: str) -> Review:
        return Review(id=node["rid"], user=user, tier=node["tier"], reason=node["reason"],
                      requested_by=node["requested_by"], requested_at=node["requested_at"], due=node["due"],
                      resolved_at=node.get("resolved_at"), resolved_by=node.get("resolved_by"),
                      outcome=node.get("outcome"), resolution=node.get("resolution"))  # fmt: skip

    def request_review(
        self, user_id: str, *, tier: str, reason: str, requested_by: str, due: int, at: int | None = None
    ) -> Review:
        tier, reason, requested_by, due = check_review_request(tier, reason, requested_by, due)
        at = epoch_now() if at is None else int(at)
        open_review = "MATCH (r:Review {uid: $uid, tier: $tier}) WHERE r.resolved_at IS NULL RETURN r LIMIT 1"
        with self._write_transaction() as tx:
            uid = self._uid(user_id, tx)
            # Checked before the first write (no savepoints), then again under the counter's lock.
            if tx.run(open_review, uid=uid, tier=tier):
                raise ConflictError(f"user {user_id!r} already has an open review of {tier!r}")
            rid = tx.run(_ALLOCATE, name="review_id", n=1)[0]["base"] + 1
            if tx.run(open_review, uid=uid, tier=tier):
                raise ConflictError(f"user {user_id!r} already has an open review of {tier!r}")
            tx.run(
                "CREATE (:Review {rid: $rid, uid: $uid, tier: $tier, reason: $reason, requested_by: $by, "
                "requested_at: $at, due: $due})",
                rid=rid, uid=uid, tier=tier, reason=reason, by=requested_by, at=at, due=due,
            )  # fmt: skip
        return Review(id=rid, user=user_id, tier=tier, reason=reason, requested_by=requested_by, requested_at=at,
                      due=due)  # fmt: skip

    def resolve_review(
        self, review_id: int, *, outcome: str, resolution: str, analyst: str, at: int | None = None
    ) -> Review:
        outcome, resolution, analyst = check_review_resolution(outcome, resolution, analyst)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as tx:
            found = tx.run("MATCH (r:Review {rid: $rid}) MATCH (u:User {uid: r.uid}) RETURN r, u.id AS user",
                           rid=int(review_id))  # fmt: skip
            if not found:
                raise NotFoundError("review", int(review_id))
            if found[0]["r"].get("resolved_at") is not None:
                raise ConflictError(f"review {review_id} was already resolved")
            tx.run(
                "MATCH (r:Review {rid: $rid}) SET r.resolved_at = $at, r.resolved_by = $by, r.outcome = $outcome, "
                "r.resolution = $resolution",
                rid=int(review_id), at=at, by=analyst, outcome=outcome, resolution=resolution,
            )  # fmt: skip
            stored = self._review(found[0]["r"], str(found[0]["user"]))
        return dataclasses.replace(stored, resolved_at=at, resolved_by=analyst, outcome=outcome,
                                   resolution=resolution)  # fmt: skip

    @_one_view
    def reviews(self, *, user: str | None = None, open_only: bool = False) -> list[Review]:
        where = []
        params: dict[str, Any] = {}
        if user is not None:
            params["uid"] = self._uid(user)
            where.append("r.uid = $uid")
        if open_only:
            where.append("r.resolved_at IS NULL")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        records = self._read(f"MATCH (r:Review) {clause}MATCH (u:User {{uid: r.uid}}) RETURN r, u.id AS user "
                             "ORDER BY r.rid", **params)  # fmt: skip
        return [self._review(rec["r"], str(rec["user"])) for rec in records]

    @staticmethod
    def _dispute(node: Any, user: str) -> Dispute:
        return Dispute(id=node["did"], user=user, kind=node["kind"], record=node["record"], detail=node["detail"],
                       adverse=bool(node["adverse"]), reason=node["reason"], opened_by=node["opened_by"],
                       opened_at=node["opened_at"], due=node["due"], resolved_at=node.get("resolved_at"),
                       resolved_by=node.get("resolved_by"), outcome=node.get("outcome"),
                       resolution=node.get("resolution"), correction=node.get("correction"))  # fmt: skip

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
        open_one = ("MATCH (d:Dispute {uid: $uid, kind: $kind, record: $record}) WHERE d.resolved_at IS NULL "
                    "RETURN d LIMIT 1")  # fmt: skip
        with self._write_transaction() as tx:
            uid = self._uid(user_id, tx)
            # Checked before the first write (no savepoints), then again under the counter's lock.
            if tx.run(open_one, uid=uid, kind=kind, record=record):
                raise ConflictError(f"user {user_id!r} already has an open dispute of {kind} {record!r}")
            did = tx.run(_ALLOCATE, name="dispute_id", n=1)[0]["base"] + 1
            if tx.run(open_one, uid=uid, kind=kind, record=record):
                raise ConflictError(f"user {user_id!r} already has an open dispute of {kind} {record!r}")
            tx.run(
                "CREATE (:Dispute {did: $did, uid: $uid, kind: $kind, record: $record, detail: $detail, "
                "adverse: $adverse, reason: $reason, opened_by: $by, opened_at: $at, due: $due})",
                did=did, uid=uid, kind=kind, record=record, detail=str(detail), adverse=bool(adverse),
                reason=reason, by=opened_by, at=at, due=due,
            )  # fmt: skip
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
        with self._write_transaction() as tx:
            stored = self._dispute_node(int(dispute_id), tx)
            if not stored.open:
                raise ConflictError(f"dispute {dispute_id} was already resolved")
            tx.run(
                "MATCH (d:Dispute {did: $did}) SET d.resolved_at = $at, d.resolved_by = $by, d.outcome = $outcome, "
                "d.resolution = $resolution, d.correction = $correction",
                did=int(dispute_id), at=at, by=analyst, outcome=outcome, resolution=resolution, correction=correction,
            )  # fmt: skip
        return dataclasses.replace(stored, resolved_at=at, resolved_by=analyst, outcome=outcome,
                                   resolution=resolution, correction=correction)  # fmt: skip

    def _dispute_node(self, dispute_id: int, tx: Any) -> Dispute:
        found = tx.run("MATCH (d:Dispute {did: $did}) MATCH (u:User {uid: d.uid}) RETURN d, u.id AS user",
                       did=dispute_id)  # fmt: skip
        if not found:
            raise NotFoundError("dispute", dispute_id)
        return self._dispute(found[0]["d"], str(found[0]["user"]))

    @_one_view
    def dispute(self, dispute_id: int) -> Dispute:
        found = self._read("MATCH (d:Dispute {did: $did}) MATCH (u:User {uid: d.uid}) RETURN d, u.id AS user",
                           did=int(dispute_id))  # fmt: skip
        if not found:
            raise NotFoundError("dispute", int(dispute_id))
        return self._dispute(found[0]["d"], str(found[0]["user"]))

    @_one_view
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
        where = []
        params: dict[str, Any] = {}
        if user is not None:
            params["uid"] = self._uid(user)
            where.append("d.uid = $uid")
        if open_only:
            where.append("d.resolved_at IS NULL")
        if after is not None:
            params["after"] = int(after)
            where.append("d.did > $after")
        if before is not None:
            params["before"] = int(before)
            where.append("d.did < $before")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        page = ""
        if limit is not None:
            params["limit"] = int(limit)
            page = " LIMIT $limit"
        order = "d.did DESC" if newest else "d.did"
        records = self._read(f"MATCH (d:Dispute) {clause}MATCH (u:User {{uid: d.uid}}) RETURN d, u.id AS user "
                             f"ORDER BY {order}{page}", **params)  # fmt: skip
        found = [self._dispute(rec["d"], str(rec["user"])) for rec in records]
        return found[::-1] if newest else found

    def _erasure_key(self, tx: Any, *, create: bool = True) -> bytes | None:
        found = tx.run("MATCH (m:Meta {key: 'erasure_key'}) RETURN m.value AS value")
        if found:
            return bytes.fromhex(found[0]["value"])
        if not create:
            return None
        key = os.urandom(32)
        tx.run("CREATE (:Meta {key: 'erasure_key', value: $value})", value=key.hex())
        return key

    def _erase(self, user_id: str, pseudonym: str, tx: Any) -> None:
        uid = self._uid(user_id, tx)
        labels = (
            "Repayment",
            "Spending",
            "Flag",
            "ConsentChange",
            "Notice",
            "Review",
            "Dispute",
            "ScoreSnapshot",
        )
        for label in labels:
            tx.run(f"MATCH (n:{label} {{uid: $uid}}) DETACH DELETE n", uid=uid)  # fixed labels, never input
        tx.run("MATCH (d:Dispute {kind: 'link', record: $id}) SET d.record = $pseudonym, d.detail = '[erased]'",
               id=user_id, pseudonym=pseudonym)  # fmt: skip
        found = tx.run("MATCH (c:Change) WHERE c.people CONTAINS $needle RETURN c.id AS id, c.people AS people",
                       needle=json.dumps(user_id))  # fmt: skip
        for row in found:
            tx.run("MATCH (c:Change {id: $id}) SET c.people = $people", id=row["id"],
                   people=rename_person(row["people"], user_id, pseudonym))  # fmt: skip
        tx.run("MATCH (u:User {uid: $uid}) DETACH DELETE u", uid=uid)  # with its FRIEND links
        tx.run("MATCH (e:AuditEntry {subject: $id}) SET e.subject = $pseudonym, e.detail = '[erased]'",
               id=user_id, pseudonym=pseudonym)  # fmt: skip
        tx.run("MERGE (t:Tombstone {pseudonym: $pseudonym}) ON CREATE SET t.at = $at", pseudonym=pseudonym,
               at=epoch_now())  # fmt: skip

    def _has_tombstones(self, pseudonyms: list[str], tx: Any) -> np.ndarray:
        found = {r["p"] for r in tx.run("MATCH (t:Tombstone) WHERE t.pseudonym IN $list RETURN t.pseudonym AS p",
                                        list=pseudonyms)}  # fmt: skip
        return np.array([p in found for p in pseudonyms], dtype=bool)

    def record_notices(self, notices: Sequence[AdverseNotice]) -> int:
        if not notices:
            return 0
        with self._write_transaction() as tx:
            uids = [self._uid(notice.user, tx) for notice in notices]  # NotFoundError before any write
            base = tx.run(_ALLOCATE, name="notice_id", n=len(notices))[0]["base"]
            rows = [{"nid": base + 1 + i, "uid": uid, "at": int(n.at), "tier": n.tier, "tier_min": int(n.tier_min),
                     "score_before": int(n.score_before), "score_after": int(n.score_after),
                     "model_version": n.model_version, "reasons": json.dumps([list(r) for r in n.reasons])}
                    for i, (uid, n) in enumerate(zip(uids, notices, strict=True))]  # fmt: skip
            tx.run("UNWIND $rows AS r CREATE (n:Notice) SET n = r", rows=rows)
        return len(notices)

    @_one_view
    def notices(self, user_id: str) -> list[AdverseNotice]:
        uid = self._uid(user_id)
        records = self._read("MATCH (n:Notice {uid: $uid}) RETURN n ORDER BY n.nid", uid=uid)
        return [AdverseNotice(id=r["n"]["nid"], user=user_id, at=r["n"]["at"], tier=r["n"]["tier"],
                              tier_min=r["n"]["tier_min"], score_before=r["n"]["score_before"],
                              score_after=r["n"]["score_after"], model_version=r["n"]["model_version"],
                              reasons=tuple((str(c), str(t), float(p)) for c, t, p in json.loads(r["n"]["reasons"])))
                for r in records]  # fmt: skip

    @_one_view
    def consent_history(self, user_id: str) -> list[ConsentChange]:
        uid = self._uid(user_id)
        records = self._read("MATCH (c:ConsentChange {uid: $uid}) RETURN c ORDER BY c.cid", uid=uid)
        return [
            ConsentChange(id=r["c"]["cid"], user=user_id, consent=bool(r["c"]["consent"]), at=r["c"]["at"],
                          actor=r["c"]["actor"])
            for r in records
        ]  # fmt: skip

    def flag_user(self, user_id: str, *, analyst: str, reason: str, at: int | None = None) -> Flag:
        analyst, reason = check_text("flag", "analyst", analyst), check_text("flag", "reason", reason)
        at = epoch_now() if at is None else int(at)
        active = "MATCH (f:Flag {uid: $uid}) WHERE f.cleared_at IS NULL RETURN f LIMIT 1"
        with self._write_transaction() as tx:
            uid = self._uid(user_id, tx)
            # Checked before the first write (no savepoints), then again under the counter's
            # write lock, which serialises concurrent flaggers: only a flagger that lost that
            # race fails after writing.
            if tx.run(active, uid=uid):
                raise ConflictError(f"user {user_id!r} is already flagged")
            fid = tx.run(_ALLOCATE, name="flag_id", n=1)[0]["base"] + 1
            if tx.run(active, uid=uid):
                raise ConflictError(f"user {user_id!r} is already flagged")
            tx.run(
                "CREATE (:Flag {fid: $fid, uid: $uid, analyst: $analyst, reason: $reason, flagged_at: $at})",
                fid=fid,
                uid=uid,
                analyst=analyst,
                reason=reason,
                at=at,
            )
        return Flag(id=fid, user=user_id, analyst=analyst, reason=reason, flagged_at=at)

    def unflag_user(self, user_id: str, *, analyst: str, reason: str, at: int | None = None) -> Flag:
        analyst, reason = check_text("flag", "analyst", analyst), check_text("flag", "reason", reason)
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as tx:
            uid = self._uid(user_id, tx)
            records = tx.run(
                "MATCH (f:Flag {uid: $uid}) WHERE f.cleared_at IS NULL "
                "SET f.cleared_at = $at, f.cleared_by = $analyst, f.clear_reason = $reason "
                "RETURN f.fid AS fid",
                uid=uid,
                at=at,
                analyst=analyst,
                reason=reason,
            )
            if not records:
                raise ConflictError(f"user {user_id!r} is not flagged")
            fid = records[0]["fid"]
        return next(f for f in self.flags(user_id) if f.id == fid)

    def clear(self, *, forget_erasures: bool = False) -> None:
        import neo4j

        # Everything but the audit id counter (audit ids are never reused) and the erasure
        # tombstones with their key (an erased person cannot come back by a reload).
        match = "MATCH (n) WHERE NOT (n:Counter AND n.name IN $keep) "
        if not forget_erasures:
            match += "AND NOT n:Tombstone AND NOT n:Meta "
        if self._unit() is not None:  # inside a unit of work: one transaction, as every write
            with self._write_transaction() as tx:
                tx.run(match + "DETACH DELETE n", keep=_KEPT_COUNTERS)
            return
        try:
            with self._session() as session:
                # Counted first: a clear cut short has still moved the version.
                session.run(_COUNT_DATA_CHANGE, name=_DATA_COUNTER).consume()
                session.run(
                    match + "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
                    keep=_KEPT_COUNTERS,
                ).consume()
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError) as exc:
            raise self._error("clear failed", exc) from exc

    # -- offline load -------------------------------------------------------------

    def load_offline(
        self,
        dataset: Dataset,
        server: Neo4jProcess,
        *,
        progress: ProgressFn | None = None,
        on_restart: Callable[[Neo4jProcess], None] | None = None,
        import_heap: str = "1g",
        import_off_heap: str = "2g",
        workdir: Path | None = None,
    ) -> OfflineLoad:
        """Load a validated dataset into this empty database with Neo4j's offline importer.

        For a first load of a big dataset: about four times the Cypher load's speed at a
        million users, but the server is stopped while the importer runs, so every
        other client loses its connections for that time. In order:

        1. refusals, before anything is stopped or written: ``server`` must be running
           and be the server this store talks to (same Bolt host and port), the store
           must use the ``neo4j`` database, no unit of work may be open, the database
           must hold no node but the store's own identity and data-version counters
           (not even an audit counter or an erasure tombstone), and every reference
           must resolve inside ``dataset`` (as :meth:`load` checks);
        2. the frames are written as typed CSV files (a header file and a data file per
           label and relationship type) into a fresh folder of mode 0700;
        3. :func:`~credence.graph.neo4j_server.import_offline`: stop, import, restart;
        4. this store's constraints and indexes, the ``user_uid`` counter, the store's
           token again and its data version one past the one before, then the counts of
           what was imported against ``dataset``.

        A failure in 3 or 4 puts the empty database back and starts the server again
        before the error propagates; the CSV folder is always removed.

        Parameters
        ----------
        dataset : Dataset
            Frames already validated by :func:`~credence.graph.model.parse_dataset`.
        server : Neo4jProcess
            The launcher's server (:func:`~credence.graph.neo4j_server.start_neo4j`, or
            the CLI's state file).
        progress : ProgressFn, optional
            Called per step: ``progress(stage, done, total)`` with the stages
            ``files``, ``import`` and ``schema``.
        on_restart : callable, optional
            ``on_restart(server)`` after every start of the server (its pid changes).
        import_heap, import_off_heap : str
            The importer's JVM heap and off-heap budget
            (:func:`~credence.graph.neo4j_server.import_offline`).
        workdir : Path or None
            Where to make the CSV folder (None: the system's temporary directory).

        Returns
        -------
        OfflineLoad
            The report, the restarted server and the seconds of each step.

        Raises
        ------
        ConflictError
            If the store is not empty, a unit of work is open, the database is not
            ``neo4j``, ``server`` is not the launcher serving this store's URI, or a
            user id was erased before.
        UnknownReferenceError
            If a row names a user that ``dataset`` does not define.
        StoreError
            If the import or the checks after it fail (the database is empty again and
            the server runs).
        """
        report = progress or (lambda stage, done, total: None)
        started = time.perf_counter()
        phases: dict[str, float] = {}
        self._check_offline_target(server)
        with self._reading() as read:
            # The store's identity and data-version counters are its own bookkeeping, not data:
            # they are written again after the import (the import replaces the whole database).
            if read(
                "MATCH (n) WHERE NOT (n:Counter AND n.name IN $own) RETURN 1 AS one LIMIT 1",
                own=_OWN_COUNTERS,
            ):
                raise ConflictError(
                    f"an offline load needs an empty database, and {self.uri} (database {self.database!r}) holds "
                    "nodes (an audit-id counter or an erasure tombstone counts: audit ids are never reused and "
                    "erased people stay erased); load into it transactionally instead (without --offline)"
                )
            runner = _Runner(read)
            self._check_not_erased(dataset, runner)
            self._check_references(dataset, runner)
        counts = dataset.counts()
        before = self.data_version()
        phases["check"] = time.perf_counter() - started
        if not counts["users"]:  # nothing to import (references resolved, so no rows at all)
            return OfflineLoad(
                LoadReport(written=counts, seconds=time.perf_counter() - started), server, phases
            )

        folder = Path(tempfile.mkdtemp(prefix="credence-neo4j-csv-", dir=workdir))  # mode 0700
        try:
            step = time.perf_counter()
            report("files", 0, 1)
            nodes, relationships, multiline = _write_import_files(dataset, folder)
            report("files", 1, 1)
            phases["files"] = time.perf_counter() - step
            marks: dict[str, float] = {}

            def finish(restarted: Neo4jProcess) -> None:
                marks["import"] = time.perf_counter()
                report("import", 1, 1)
                report("schema", 0, 1)
                self._finish_offline(counts, before)
                report("schema", 1, 1)

            step = time.perf_counter()
            report("import", 0, 1)
            restarted = import_offline(
                server,
                nodes=nodes,
                relationships=relationships,
                database=self.database,
                heap=import_heap,
                off_heap=import_off_heap,
                multiline_fields=multiline,
                verify=finish,
                on_restart=on_restart,
            )
            phases["import"] = marks["import"] - step
            phases["schema"] = time.perf_counter() - marks["import"]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        seconds = time.perf_counter() - started
        return OfflineLoad(LoadReport(written=counts, seconds=seconds), restarted, phases)

    def _check_offline_target(self, server: Neo4jProcess) -> None:
        """Refuse an offline load unless ``server`` is the running launcher this store talks to."""
        if self._unit() is not None:
            raise ConflictError("an offline load cannot run inside a unit of work (it stops the server)")
        if self.database != "neo4j":
            raise ConflictError(
                f"an offline load imports into the launcher's 'neo4j' database, not {self.database!r}"
            )
        mine, theirs = urlsplit(self.uri), urlsplit(server.bolt_uri)
        local = {"127.0.0.1", "localhost"}
        same_host = mine.hostname == theirs.hostname or {mine.hostname, theirs.hostname} <= local
        if not (same_host and mine.port == theirs.port):
            raise ConflictError(
                f"an offline load needs the Neo4j server this store uses to be one the bundled launcher runs; "
                f"{self.uri} is not the launcher's {server.bolt_uri} (home {server.home})"
            )
        if not is_running(server):
            raise ConflictError(
                f"an offline load needs the launcher's server running; pid {server.pid} (home {server.home}) is not"
            )

    def _finish_offline(self, counts: dict[str, int], before: DataVersion) -> None:
        """After the import: the schema, the store's counters, then the counts against the dataset.

        The store keeps its token and its data version moves past ``before``, so that an
        engine image of the empty store is never taken for the imported one.
        """
        import neo4j

        try:
            with self._session() as session:
                for statement in _SCHEMA:
                    session.run(statement).consume()
                session.run("CALL db.awaitIndexes(3600)").consume()
                session.run(
                    "CREATE (:Counter {name: 'user_uid', value: $n}) "
                    "CREATE (:Counter {name: $identity, token: $token}) "
                    "CREATE (:Counter {name: $data, value: $version})",
                    n=counts["users"],
                    identity=_IDENTITY_COUNTER,
                    token=self._identity,
                    data=_DATA_COUNTER,
                    version=before.version + 1,
                ).consume()
        except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError) as exc:
            raise self._error("creating the schema after the offline import failed", exc) from exc
        stored = self.stats()
        found = {kind: getattr(stored, kind) for kind in counts}
        if found != counts:
            raise StoreError(f"the offline import wrote {found}, not the dataset's {counts}; it was undone")

    # -- reads ------------------------------------------------------------------

    def get_user(self, user_id: str) -> User:
        return User.from_mapping(self.get_users([user_id]).iloc[0])

    def get_users(self, user_ids: Any) -> pd.DataFrame:
        ids = [self._user_id(i) for i in user_ids]
        if not ids:
            return empty_frame(USER_COLUMNS)
        props = ", ".join(f"u.{p}" for p in _USER_FIELDS)
        records = self._read(f"UNWIND $ids AS id MATCH (u:User {{id: id}}) RETURN [{props}] AS row", ids=ids)
        frame = pd.DataFrame([r["row"] for r in records], columns=_USER_FIELDS)
        positions = pd.Index(frame["id"]).get_indexer(pd.Index(ids))
        if (positions < 0).any():
            raise NotFoundError("user", ids[int(np.argmin(positions))])
        return coerce_users_frame(frame.iloc[positions])

    def get_all_users(self) -> pd.DataFrame:
        frame, _ = self._users_columns()
        if not len(frame):
            return empty_frame(USER_COLUMNS)
        return coerce_users_frame(frame.sort_values("id"))

    @_one_view
    def _users_columns(self) -> tuple[pd.DataFrame, np.ndarray]:
        """All users, columnar, sorted by uid; also the uids."""
        props = ", ".join(f"u.{p}" for p in ["uid", *_USER_FIELDS])
        rows: list[list[Any]] = []
        top = self._read("MATCH (c:Counter {name: 'user_uid'}) RETURN c.value AS v")
        highest = int(top[0]["v"]) if top else 0
        step = 250_000
        for lo in range(1, highest + 1, step):
            # collect() drops nulls, so each user travels as one list (nulls kept).
            records = self._read(
                f"MATCH (u:User) WHERE u.uid >= $lo AND u.uid < $hi "
                f"WITH u ORDER BY u.uid RETURN collect([{props}]) AS rows",
                lo=lo,
                hi=lo + step,
            )
            rows.extend(records[0]["rows"])
        frame = pd.DataFrame(rows, columns=["uid", *_USER_FIELDS])
        uids = frame.pop("uid").to_numpy(dtype=np.int64)
        return frame, uids

    def links(self) -> pd.DataFrame:
        records = self._read(
            "MATCH (a:User)-[f:FRIEND]->(b:User) "
            "RETURN collect(a.id) AS s, collect(b.id) AS t, collect(f.weight) AS w, "
            "collect(f.created) AS c"
        )
        frame = pd.DataFrame(
            {
                "source": records[0]["s"],
                "target": records[0]["t"],
                "weight": records[0]["w"],
                "created": records[0]["c"],
            }
        )
        if not len(frame):
            return empty_frame(LINK_COLUMNS)
        return canonical_links(frame)

    @_one_view
    def neighbors(self, user_id: str) -> pd.DataFrame:
        uid = self._uid(user_id)
        records = self._read(
            "MATCH (:User {uid: $uid})-[f:FRIEND]-(o:User) "
            "RETURN o.id AS user, f.weight AS weight, f.created AS created ORDER BY user",
            uid=uid,
        )
        frame = pd.DataFrame(
            [[r["user"], r["weight"], r["created"]] for r in records],
            columns=["user", "weight", "created"],
        )
        return frame.astype({"user": pd.StringDtype(), "weight": np.float64, "created": np.int64})

    @_one_view
    def _events(
        self, label: str, schema: dict[str, Any], fields: list[str], order: str, user_id: str | None
    ) -> pd.DataFrame:
        props = ", ".join(f"e.{f}" for f in fields)
        if user_id is None:
            records = self._read(
                f"MATCH (e:{label}) MATCH (u:User {{uid: e.uid}}) "
                f"RETURN [e.id, u.id, {props}] AS row ORDER BY e.{order}, e.id"
            )
        else:
            uid = self._uid(user_id)
            records = self._read(
                f"MATCH (e:{label} {{uid: $uid}}) "
                f"RETURN [e.id, $user, {props}] AS row ORDER BY e.{order}, e.id",
                uid=uid,
                user=user_id,
            )
        if not records:
            return empty_frame(schema)
        frame = pd.DataFrame([r["row"] for r in records], columns=list(schema))
        return frame.astype(schema)

    def event_owners(self, kind: str, event_ids: Sequence[str]) -> dict[str, str]:
        label = _EVENT_LABELS[check_choice(kind, "kind", tuple(_EVENT_LABELS))]
        records = self._read(
            f"MATCH (e:{label}) WHERE e.id IN $ids MATCH (u:User {{uid: e.uid}}) RETURN e.id AS id, u.id AS user",
            ids=list(dict.fromkeys(str(i) for i in event_ids)),
        )
        return {str(r["id"]): str(r["user"]) for r in records}

    def repayments(self, user_id: str | None = None) -> pd.DataFrame:
        return self._events(
            "Repayment", REPAYMENT_COLUMNS, ["due", "paid", "amount", "status"], "due", user_id
        )

    def spending(self, user_id: str | None = None) -> pd.DataFrame:
        return self._events(
            "Spending", SPENDING_COLUMNS, ["at", "amount", "category", "on_time"], "at", user_id
        )

    @_one_view
    def distrust(self, user_id: str | None = None) -> pd.DataFrame:
        if user_id is None:
            records = self._read(
                "MATCH (a:User)-[d:DISTRUST]->(b:User) "
                "RETURN collect([a.id, b.id, d.weight, d.created]) AS rows"
            )
        else:
            uid = self._uid(user_id)
            records = self._read(
                "MATCH (a:User)-[d:DISTRUST]->(b:User) WHERE a.uid = $uid OR b.uid = $uid "
                "RETURN collect([a.id, b.id, d.weight, d.created]) AS rows",
                uid=uid,
            )
        rows = records[0]["rows"] if records else []
        if not rows:
            return empty_frame(DISTRUST_COLUMNS)
        frame = pd.DataFrame(rows, columns=list(DISTRUST_COLUMNS)).astype(DISTRUST_COLUMNS)
        return frame.sort_values(["rater", "rated"], ignore_index=True)

    @_one_view
    def flags(self, user_id: str) -> list[Flag]:
        uid = self._uid(user_id)
        records = self._read("MATCH (f:Flag {uid: $uid}) RETURN f ORDER BY f.flagged_at, f.fid", uid=uid)
        return [
            Flag(
                id=r["f"]["fid"],
                user=user_id,
                analyst=r["f"]["analyst"],
                reason=r["f"]["reason"],
                flagged_at=r["f"]["flagged_at"],
                cleared_at=r["f"].get("cleared_at"),
                cleared_by=r["f"].get("cleared_by"),
                clear_reason=r["f"].get("clear_reason"),
            )
            for r in records
        ]

    def quarantined(self, *, among: Sequence[str] | None = None) -> np.ndarray:
        if among is None:
            records = self._read(
                "MATCH (f:Flag) WHERE f.cleared_at IS NULL MATCH (u:User {uid: f.uid}) "
                "RETURN DISTINCT u.id AS id ORDER BY id"
            )
        else:
            records = self._read(
                "MATCH (u:User) WHERE u.id IN $ids MATCH (f:Flag {uid: u.uid}) WHERE f.cleared_at IS NULL "
                "RETURN DISTINCT u.id AS id ORDER BY id",
                ids=[self._user_id(i) for i in among],
            )
        return np.array([r["id"] for r in records], dtype=object)

    def _audit_page(
        self, size: int, after: int, before: int | None, filters: dict[str, str], newest: bool
    ) -> list[AuditEntry]:
        # Property names only from the fixed AUDIT_FILTERS; every value is a parameter.
        columns = [c for c in AUDIT_FILTERS if c in filters]
        where = "".join(f" AND e.{c} = ${c}" for c in columns)
        if before is not None:
            where += " AND e.id < $before"
        props = ", ".join(f"e.{f}" for f in _AUDIT_FIELDS)
        direction = "DESC" if newest else "ASC"
        records = self._read(
            f"MATCH (e:AuditEntry) WHERE e.id > $after{where} "
            f"RETURN [{props}] AS row ORDER BY e.id {direction} LIMIT $size",
            after=after,
            before=before,
            size=size,
            **{c: filters[c] for c in columns},
        )
        entries = [AuditEntry(*r["row"]) for r in records]
        return entries[::-1] if newest else entries

    def _scores(self, match: str, **params: Any) -> pd.DataFrame:
        fields = ", ".join(f"s.{c}" for c in ["model_version", "computed_at", "score", *COMPONENTS])
        records = self._read(f"{match} RETURN [u.id, {fields}] AS row", **params)
        if not records:
            return empty_frame(SCORE_COLUMNS)
        frame = pd.DataFrame([r["row"] for r in records], columns=list(SCORE_COLUMNS))
        return frame.astype(SCORE_COLUMNS)

    @_one_view
    def score_history(self, user_id: str) -> pd.DataFrame:
        uid = self._uid(user_id)
        return self._scores(
            "MATCH (s:ScoreSnapshot {uid: $uid}) MATCH (u:User {uid: $uid}) "
            "WITH s, u ORDER BY s.computed_at, s.seq",
            uid=uid,
        )

    def snapshots_after(self, seq: int, *, limit: int = 10_000) -> tuple[pd.DataFrame, int]:
        check_int(seq, "seq", 0)
        check_int(limit, "limit", 1)
        fields = ", ".join(f"s.{c}" for c in ["model_version", "computed_at", "score", *COMPONENTS])
        records = self._read(
            "MATCH (s:ScoreSnapshot) WHERE s.seq > $seq WITH s ORDER BY s.seq LIMIT $limit "
            f"MATCH (u:User {{uid: s.uid}}) RETURN [u.id, {fields}, s.seq] AS row ORDER BY s.seq",
            seq=int(seq),
            limit=int(limit),
        )
        dtypes = {**SCORE_COLUMNS, "seq": np.dtype("int64")}
        if not records:
            return empty_frame(dtypes), int(seq)
        frame = pd.DataFrame([r["row"] for r in records], columns=list(dtypes))
        return frame.astype(dtypes), int(records[-1]["row"][-1])

    def latest_snapshot_seq(self) -> int:
        rows = self._read("MATCH (s:ScoreSnapshot) RETURN max(s.seq) AS seq")
        return int(rows[0]["seq"] or 0) if rows else 0

    def latest_score_time(self) -> tuple[int, str] | None:
        rows = self._read(
            "MATCH (s:ScoreSnapshot) RETURN s.computed_at AS at, s.model_version AS version "
            "ORDER BY s.seq DESC LIMIT 1"
        )
        return None if not rows else (int(rows[0]["at"]), str(rows[0]["version"]))

    def latest_scores(self) -> pd.DataFrame:
        return self._scores(
            "MATCH (s:ScoreSnapshot) WITH s ORDER BY s.computed_at DESC, s.seq DESC "
            "WITH s.uid AS uid, head(collect(s)) AS s "
            "MATCH (u:User {uid: uid}) WITH s, u ORDER BY u.id"
        )

    @_one_view
    def stats(self) -> StoreStats:
        def count(query: str) -> int:
            return int(self._read(query)[0]["n"])

        return StoreStats(
            users=count("MATCH (u:User) RETURN count(u) AS n"),
            links=count("MATCH ()-[f:FRIEND]->() RETURN count(f) AS n"),
            repayments=count("MATCH (e:Repayment) RETURN count(e) AS n"),
            spending=count("MATCH (e:Spending) RETURN count(e) AS n"),
            distrust=count("MATCH ()-[d:DISTRUST]->() RETURN count(d) AS n"),
            consenting=count("MATCH (u:User) WHERE u.consent_network RETURN count(u) AS n"),
            quarantined=count("MATCH (f:Flag) WHERE f.cleared_at IS NULL RETURN count(DISTINCT f.uid) AS n"),
            flags=count("MATCH (f:Flag) RETURN count(f) AS n"),
            score_snapshots=count("MATCH (s:ScoreSnapshot) RETURN count(s) AS n"),
        )

    # -- export -----------------------------------------------------------------

    def _relationship_columns(
        self, kind: str, highest: int, *, report: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(from uid, to uid, weight)`` of every ``kind`` relationship (a fixed label, never input).

        Columnar chunks: one record with three long lists per uid range, so the driver
        decodes lists (in Rust with neo4j-rust-ext) instead of 10M records.
        """
        step = 100_000
        parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
        if report is not None:
            report(0)
        for lo in range(1, highest + 1, step):
            records = self._read(
                f"MATCH (a:User)-[r:{kind}]->(b:User) WHERE a.uid >= $lo AND a.uid < $hi "
                "RETURN collect(a.uid) AS u, collect(b.uid) AS v, collect(r.weight) AS w",
                lo=lo,
                hi=lo + step,
            )
            for part, name, dtype in zip(parts, "uvw", (np.int64, np.int64, np.float64), strict=True):
                part.append(np.asarray(records[0][name], dtype=dtype))
            if report is not None:
                report(min(lo + step - 1, highest))
        return (
            np.concatenate(parts[0]) if parts[0] else np.empty(0, np.int64),
            np.concatenate(parts[1]) if parts[1] else np.empty(0, np.int64),
            np.concatenate(parts[2]) if parts[2] else np.empty(0, np.float64),
        )

    @_one_view
    def export_graph(self, *, progress: ProgressFn | None = None) -> GraphExport:
        report = progress or (lambda stage, done, total: None)
        report("users", 0, 1)
        users, uids = self._users_columns()
        report("users", 1, 1)
        n = len(uids)
        highest = int(uids[-1]) if n else 0
        u, v, w = self._relationship_columns(
            "FRIEND", highest, report=lambda done: report("links", done, highest)
        )
        flagged = self._read(
            "MATCH (f:Flag) WHERE f.cleared_at IS NULL RETURN collect(DISTINCT f.uid) AS uids"
        )
        distrust = self._relationship_columns("DISTRUST", highest)
        return assemble_graph_export(
            users, uids, u, v, w, np.asarray(flagged[0]["uids"], np.int64), distrust=distrust
        )


class _Writer:
    """One write transaction, or a sequence of batch transactions for big loads."""

    def __init__(self, store: Neo4jStore) -> None:
        self.store = store
        self.session = store._session()
        try:
            self.tx = self.session.begin_transaction()
        except BaseException:
            self.session.close()  # the connection goes back to the pool, not to the garbage collector
            raise
        self.batched = False
        #: Statements run so far that changed something (Neo4j has no savepoints: see _nested).
        self.writes = 0

    def run(self, query: str, **params: Any) -> list[Any]:
        result = self.tx.run(query, params)
        records = list(result)
        self._count(result.consume())
        return records

    def _count(self, summary: Any) -> None:
        counters = summary.counters
        if counters.contains_updates or counters.contains_system_updates:
            self.writes += 1

    def unwind(self, query: str, frame: pd.DataFrame, stage: str, progress: ProgressFn) -> None:
        total = len(frame)
        progress(stage, 0, total)
        size = self.store.batch_rows
        for start in range(0, total, size):
            rows = _plain_rows(frame.iloc[start : start + size])
            self._count(self.tx.run(query, {"rows": rows}).consume())
            if self.batched:
                # Each batch commits on its own: each counts, so that a load cut short has moved the version.
                self.tx.run(_COUNT_DATA_CHANGE, {"name": _DATA_COUNTER}).consume()
                self.tx.commit()
                self.tx = self.session.begin_transaction()
            progress(stage, min(start + size, total), total)

    def commit(self) -> None:
        self.tx.commit()

    def abandon(self) -> None:
        """Roll back (if still open) and release the session, whatever state the connection is in."""
        import neo4j

        failures = (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError)
        with contextlib.suppress(*failures):
            if not self.tx.closed():
                self.tx.rollback()
        self.close()

    def close(self) -> None:
        import neo4j

        with contextlib.suppress(neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError, OSError):
            self.session.close()


class _Runner:
    """A read function (:meth:`Neo4jStore._reading`) in the shape of a ``_Writer`` for read helpers."""

    def __init__(self, read: Any) -> None:
        self.run = read


def _retry_after(exc: BaseException) -> int | None:
    """Seconds to wait before retrying after ``exc`` (None: retrying will not help)."""
    import neo4j

    unavailable = (
        neo4j.exceptions.ServiceUnavailable,
        neo4j.exceptions.SessionExpired,
        neo4j.exceptions.ConnectionPoolError,
        neo4j.exceptions.DatabaseUnavailable,
        OSError,
    )
    if isinstance(exc, unavailable):
        return _RETRY_UNAVAILABLE
    if isinstance(exc, neo4j.exceptions.TransientError):
        return 1
    return None


def _plain_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """Rows as lists of Bolt-encodable Python values (None for every missing value)."""
    return [list(row) for row in zip(*python_columns(frame), strict=True)]


#: Import-tool column types of the user properties (``uid`` is also the node's import id).
_USER_TYPES: dict[str, str] = {
    "id": "string",
    "created": "long",
    **{level: "boolean" for level in IDENTITY_LEVELS},
    "declared_income": "double",
    "verified_income": "double",
    "verified_assets": "double",
    "consent_network": "boolean",
}
_EVENT_TYPES: dict[str, dict[str, str]] = {
    "repayments": {"id": "string", "uid": "long", "due": "long", "paid": "long", "amount": "double",
                   "status": "string"},
    "spending": {"id": "string", "uid": "long", "at": "long", "amount": "double", "category": "string",
                 "on_time": "boolean"},
}  # fmt: skip


def _write_import_files(
    dataset: Dataset, folder: Path
) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, list[Path]]], bool]:
    """Typed CSV files of a checked dataset for the import tool: ``(nodes, relationships, multiline)``.

    ``nodes`` and ``relationships`` are the import tool's groups; ``multiline`` says
    whether a string holds a line break (the importer must then parse multi-line fields).

    Users get the uids a load into an empty store gives them (1, 2, ... in frame order);
    they are the import ids of ``User`` nodes. Missing values are empty unquoted fields
    (no property, as a Cypher ``SET x = null``); strings are always quoted, quotes doubled.
    """
    assert set(_USER_TYPES) == set(USER_COLUMNS)
    _, codes = dataset.reference_codes()
    uid_of = np.arange(1, len(dataset.users) + 1, dtype=np.int64)  # by code: users are codes 0..n-1
    nodes: list[tuple[str, list[Path]]] = []
    relationships: list[tuple[str, list[Path]]] = []
    multiline = False

    def write(name: str, header: list[str], columns: dict[str, Any]) -> list[Path]:
        nonlocal multiline
        head, body = folder / f"{name}.header.csv", folder / f"{name}.csv"
        head.write_text(",".join(header) + "\n", encoding="utf-8")
        table = pa.table({key: _arrow(value) for key, value in columns.items()})
        for column in table.columns:
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                multiline = multiline or bool(pc.any(pc.match_substring_regex(column, "[\\r\\n]")).as_py())
        pa_csv.write_csv(table, body, pa_csv.WriteOptions(include_header=False, batch_size=65_536))
        return [head, body]

    users = dataset.users
    user_columns: dict[str, Any] = {"import_id": uid_of, "uid": uid_of}
    user_columns.update({name: users[name] for name in _USER_TYPES})
    header = [":ID(User)", "uid:long", *(f"{name}:{kind}" for name, kind in _USER_TYPES.items())]
    nodes.append(("User", write("users", header, user_columns)))

    for kind, label in _EVENT_LABELS.items():
        events: pd.DataFrame = getattr(dataset, kind)
        if len(events):
            types = _EVENT_TYPES[kind]
            columns = {name: events[name] for name in types if name != "uid"}
            columns["uid"] = uid_of[codes[f"{kind}.user"]]
            columns = {name: columns[name] for name in types}
            nodes.append((label, write(kind, [f"{n}:{t}" for n, t in types.items()], columns)))

    for kind, rel, (first, second), low_high in (
        ("links", "FRIEND", ("source", "target"), True),
        ("distrust", "DISTRUST", ("rater", "rated"), False),
    ):
        frame: pd.DataFrame = getattr(dataset, kind)
        if not len(frame):
            continue
        a, b = uid_of[codes[f"{kind}.{first}"]], uid_of[codes[f"{kind}.{second}"]]
        if low_high:  # once per pair, low uid -> high uid
            a, b = np.minimum(a, b), np.maximum(a, b)
        header = [":START_ID(User)", ":END_ID(User)", "weight:double", "created:long"]
        columns = {"a": a, "b": b, "weight": frame["weight"], "created": frame["created"]}
        relationships.append((rel, write(kind, header, columns)))
    return nodes, relationships, multiline


def _arrow(values: Any) -> pa.Array:
    """A column as Arrow (pandas missing values become nulls; strings stay strings)."""
    if isinstance(values, pd.Series):
        return pa.array(values, from_pandas=True)
    return pa.array(np.asarray(values))
