"""The ``GraphStore`` protocol, the records it returns, and the shared load logic.

Two backends implement it: :class:`credence.graph.sqlite.SQLiteStore` (the embedded
default) and :class:`credence.graph.neo4j_store.Neo4jStore`. One contract test suite
(``tests/test_store_contract.py``) runs against both.

Loading always follows the same path, written once in :class:`StoreBase`:

1. ``parse_*`` validation of every frame (pure, in :mod:`credence.graph.model`);
2. references to users outside the input are looked up in the store, and an
   unknown one is rejected naming its row;
3. only then is anything written, in one transaction where the backend allows.

A rejected load therefore leaves the store exactly as it was.

The store also keeps an append-only *audit log* (:class:`AuditEntry`): who read
whose data, when. :meth:`StoreBase.record_audit` validates a batch of
:class:`AuditDraft` and writes it in one transaction; :meth:`StoreBase.audit_log`
pages through it by id, forward (``first``/``after``) or backward (``last``/``before``).

Units of work
-------------
Every write method runs in its own transaction, unless the calling thread has opened
a unit of work with :meth:`StoreBase.transaction`: then every write the thread makes
inside the block joins that one transaction, which commits when the block exits and
rolls back whole if it raises. Reads on that thread see its own uncommitted writes;
other threads see none of them until the commit. Inside a unit, each write method (and
each :meth:`StoreBase.savepoint` block) is a savepoint: on SQLite a write that fails
rolls back only itself and the unit goes on; Neo4j has no savepoints, so its write
methods finish every check before their first write statement, and one that fails
after writing anyway (a server error) leaves the unit *rollback-only*: its exit rolls
back and raises :class:`~credence.core.errors.StoreError`.

>>> from credence.graph.sqlite import SQLiteStore
>>> store = SQLiteStore(":memory:")
>>> with store.transaction():
...     _ = store.upsert_users(pd.DataFrame({"id": ["a"], "created": [0]}))
...     _ = store.record_audit([AuditDraft(actor="ana", role="admin", action="load")])
...     store.stats().users  # this thread sees its own write
1
>>> try:
...     with store.transaction():
...         _ = store.upsert_users(pd.DataFrame({"id": ["b"], "created": [0]}))
...         raise RuntimeError("the mutation failed")
... except RuntimeError:
...     pass
>>> store.get_all_users()["id"].tolist(), len(store.audit_log())
(['a'], 1)
>>> store.close()
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from credence.core.checks import check_real
from credence.core.errors import (
    ConflictError,
    NotFoundError,
    ParameterError,
    StoreError,
    UnknownReferenceError,
    ValidationError,
    clip,
)
from credence.graph.disputes import Dispute
from credence.graph.journal import Change, ChangeDraft, check_change
from credence.graph.model import (
    COMPONENTS,
    IDENTITY_LEVELS,
    USER_COLUMNS,
    Dataset,
    Records,
    check_text,
    check_user_id,
    empty_frame,
    epoch_now,
    parse_dataset,
    parse_scores,
)

__all__ = [
    "DataVersion",
    "AUDIT_FILTERS",
    "AUDIT_MAX_LENGTHS",
    "AUDIT_PAGE_MAX",
    "AdverseNotice",
    "AuditDraft",
    "ConsentChange",
    "AuditEntry",
    "AuditRow",
    "Flag",
    "GraphExport",
    "GraphStore",
    "LoadReport",
    "ProgressFn",
    "REVIEW_OUTCOMES",
    "RecomputeRecord",
    "Review",
    "StoreBase",
    "StoreStats",
    "User",
    "assemble_graph_export",
    "build_adjacency",
    "build_distrust",
    "canonical_links",
    "check_audit_drafts",
    "check_consent",
    "check_review_request",
    "check_review_resolution",
    "check_model_weights",
    "check_recompute",
    "python_columns",
]

_ENTITY = {"links": "link", "repayments": "repayment", "spending": "spending", "distrust": "distrust"}
#: The kinds of rows a load reports, in order.
_KINDS = ("users", "links", "repayments", "spending", "distrust")
#: The user columns of each kind of records, checked in this order (as :meth:`StoreBase.load` checks them).
_RECORD_REFERENCES = {"links": ("source", "target"), "repayments": ("user",), "spending": ("user",)}

#: ``progress(stage, done, total)``: called as a long operation advances.
ProgressFn = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class User:
    """One stored user (the users frame schema as a record)."""

    id: str
    created: int
    phone_verified: bool
    id_verified: bool
    face_verified: bool
    education_verified: bool
    employer_verified: bool
    declared_income: float | None
    verified_income: float | None
    verified_assets: float | None
    consent_network: bool

    @classmethod
    def from_mapping(cls, row: Any) -> User:
        """Build from a mapping with the schema's keys (NaN/None capacity -> None)."""

        def amount(value: Any) -> float | None:
            if value is None or (isinstance(value, float) and np.isnan(value)):
                return None
            return float(value)

        return cls(
            id=str(row["id"]),
            created=int(row["created"]),
            **{level: bool(row[level]) for level in IDENTITY_LEVELS},
            declared_income=amount(row["declared_income"]),
            verified_income=amount(row["verified_income"]),
            verified_assets=amount(row["verified_assets"]),
            consent_network=bool(row["consent_network"]),
        )

    @property
    def verification_level(self) -> int:
        """How many of the identity checks passed (0-5)."""
        return sum(bool(getattr(self, level)) for level in IDENTITY_LEVELS)


@dataclass(frozen=True, kw_only=True)
class Flag:
    """An analyst flag. Active (the user is quarantined) until cleared."""

    id: int
    user: str
    analyst: str
    reason: str
    flagged_at: int
    cleared_at: int | None = None
    cleared_by: str | None = None
    clear_reason: str | None = None

    @property
    def active(self) -> bool:
        """True while the flag has not been cleared."""
        return self.cleared_at is None


@dataclass(frozen=True, kw_only=True)
class AdverseNotice:
    """An adverse-action notice: a score fell below a benefit tier the user had.

    ``reasons`` are the principal reasons at the time, ``(code, text, points)``,
    largest first (at most four); ``restore_points`` is how many points the score needs
    to reach the tier again. ``id`` is 0 for a notice not yet stored.
    """

    id: int = 0
    user: str
    at: int
    tier: str
    tier_min: int
    score_before: int
    score_after: int
    model_version: str
    reasons: tuple[tuple[str, str, float], ...]

    @property
    def restore_points(self) -> int:
        """Points the score needs to reach the tier again."""
        return self.tier_min - self.score_after


#: How a human review ends: the automated outcome stands (``upheld``) or not (``overturned``).
REVIEW_OUTCOMES: tuple[str, ...] = ("upheld", "overturned")


@dataclass(frozen=True, kw_only=True)
class Review:
    """A person's request for human review of an automated outcome (a benefit tier denied), and its resolution.

    Open while ``resolved_at`` is None; ``due`` is the deadline the reviewer works to.
    """

    id: int
    user: str
    tier: str
    reason: str
    requested_by: str
    requested_at: int
    due: int
    resolved_at: int | None = None
    resolved_by: str | None = None
    outcome: str | None = None
    resolution: str | None = None

    @property
    def open(self) -> bool:
        """True until resolved."""
        return self.resolved_at is None


@dataclass(frozen=True, kw_only=True)
class ConsentChange:
    """A change of a user's consent to network scoring: the consent from ``at`` on, and who made it.

    Only changes are recorded: before a user's first change their consent was the
    opposite of that change's (a user is created with the consent the data gave, by
    default consenting), and the latest change is the consent in force.
    """

    id: int
    user: str
    consent: bool
    at: int
    actor: str


@dataclass(frozen=True, kw_only=True)
class AuditDraft:
    """An audit entry to record: the store assigns its id (and ``at`` if None).

    ``subject`` is the user whose data was read (a valid user id, not
    necessarily a stored user: the log outlives user changes), or None.
    """

    actor: str
    role: str
    action: str
    subject: str | None = None
    detail: str = ""
    at: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One recorded audit entry. ``id`` is store-assigned, increasing, never reused."""

    id: int
    at: int
    actor: str
    role: str
    action: str
    subject: str | None
    detail: str


@dataclass(frozen=True)
class RecomputeRecord:
    """The engine's evaluation state after a recompute (:meth:`GraphStore.record_recompute`).

    A restarted server restores the evaluation time and the neutral prior from the
    newest record (:meth:`GraphStore.latest_recompute`) instead of re-deriving them.

    Attributes
    ----------
    computed_at : int
        The evaluation time of the recompute, epoch seconds.
    prior : float
        The neutral prior ``mu`` it used, in [0, 1].
    model_version : str
        The version of the model that scored.
    """

    computed_at: int
    prior: float
    model_version: str


@dataclass(frozen=True)
class DataVersion:
    """Which store, and how many data-changing write units it has committed (:meth:`GraphStore.data_version`).

    Every committed unit of work counts one, except one that only appends audit
    entries (reading evidence changes no data). Two equal versions of one store hold
    the same data, which is what lets a cache of derived state (the engine's image,
    :mod:`credence.engine.image`) tell whether it is still current.

    Attributes
    ----------
    store : str
        A random token made when the store was created; a new file or database has
        another, so versions of different stores never compare equal.
    version : int
        The count, from 0 for a new store.

    Examples
    --------
    >>> from credence.graph.sqlite import SQLiteStore
    >>> store = SQLiteStore(":memory:")
    >>> before = store.data_version()
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["a"], "created": [0]}))
    >>> after = store.data_version()
    >>> after.store == before.store, after.version - before.version
    (True, 1)
    >>> store.last_commit_version() == after  # what this thread's own last commit made
    True
    >>> store.close()
    """

    store: str
    version: int


#: Longest accepted audit text fields, characters (after stripping).
AUDIT_MAX_LENGTHS: dict[str, int] = {"actor": 200, "role": 100, "action": 200, "detail": 4_000}
#: Largest page :meth:`GraphStore.audit_log` returns.
AUDIT_PAGE_MAX = 10_000
#: The columns :meth:`GraphStore.audit_log` can filter on (exact match).
AUDIT_FILTERS: tuple[str, ...] = ("actor", "subject", "action")
#: A validated audit entry without its id: ``(at, actor, role, action, subject, detail)``.
AuditRow = tuple[int, str, str, str, str | None, str]
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class LoadReport:
    """What a load wrote: rows per kind and wall-clock seconds."""

    written: dict[str, int]
    seconds: float


@dataclass(frozen=True, kw_only=True)
class StoreStats:
    """Counts of what a store holds."""

    users: int
    links: int
    repayments: int
    spending: int
    distrust: int
    consenting: int
    quarantined: int
    flags: int
    score_snapshots: int

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain mapping (for printing)."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class GraphExport:
    """A store's users, friend links and distrust exported as arrays (``GraphStore.export_graph``).

    Not to be confused with score snapshots, the stored rows of a score history.

    Attributes
    ----------
    ids : ndarray of object
        External user id of each index ``0..n-1``.
    adjacency : scipy.sparse.csr_matrix
        Symmetric ``n x n`` weighted adjacency (every link stored both ways),
        sorted indices, no explicit zeros.
    users : DataFrame
        User attributes aligned with ``ids`` (the users frame schema).
    quarantined : ndarray of bool
        True for users with an active analyst flag.
    distrust : scipy.sparse.csr_matrix
        Directed ``n x n`` distrust, same index as ``adjacency``: entry ``(i, j)`` is
        the weight of ``ids[i]``'s distrust of ``ids[j]`` (the magnitude of a negative
        rating, > 0), sorted indices, no explicit zeros. Empty when not given.
    """

    ids: np.ndarray
    adjacency: sp.csr_matrix
    users: pd.DataFrame
    quarantined: np.ndarray
    distrust: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    _positions: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.distrust.shape != (n, n):
            if self.distrust.nnz:
                raise ValueError(f"distrust is {self.distrust.shape}, expected ({n}, {n})")
            object.__setattr__(self, "distrust", sp.csr_matrix((n, n), dtype=np.float64))

    @property
    def n_distrust(self) -> int:
        """Number of directed distrust entries."""
        return int(self.distrust.nnz)

    @property
    def n_users(self) -> int:
        """Number of users (nodes)."""
        return len(self.ids)

    @property
    def n_links(self) -> int:
        """Number of undirected links."""
        return int(self.adjacency.nnz // 2)

    def index_of(self, user_ids: Any) -> np.ndarray:
        """Indices of the given external ids (-1 where unknown).

        Examples
        --------
        >>> snap = GraphExport(np.array(["a", "b"], dtype=object),
        ...                      build_adjacency(np.array([0]), np.array([1]), np.array([2.0]), 2),
        ...                      pd.DataFrame(), np.zeros(2, bool))
        >>> snap.index_of(["b", "zz"]).tolist()
        [1, -1]
        """
        # Arrow's hash lookup: several times faster than a pandas object index on millions of ids.
        found = pc.index_in(
            pa.array(np.asarray(user_ids, dtype=object), type=pa.string()),
            value_set=pa.array(np.asarray(self.ids, dtype=object), type=pa.string()),
        )
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def build_adjacency(
    u: np.ndarray, v: np.ndarray, weight: np.ndarray, n: int, *, dtype: Any = np.float64
) -> sp.csr_matrix:
    """Symmetric CSR adjacency from undirected links given once each.

    Parameters
    ----------
    u, v : ndarray of int
        Endpoint indices of each link (any orientation, no duplicates).
    weight : ndarray of float
        Link weights.
    n : int
        Number of nodes.
    dtype : numpy dtype
        Value dtype of the result.

    Examples
    --------
    >>> build_adjacency(np.array([0, 2]), np.array([1, 1]), np.array([1.0, 3.0]), 3).toarray()
    array([[0., 1., 0.],
           [1., 0., 3.],
           [0., 3., 0.]])
    """
    index_dtype: type[np.integer[Any]] = np.int32 if n < 2**31 and 2 * len(u) < 2**31 else np.int64
    rows: np.ndarray[Any, np.dtype[np.integer[Any]]] = np.concatenate([u, v]).astype(index_dtype)
    cols: np.ndarray[Any, np.dtype[np.integer[Any]]] = np.concatenate([v, u]).astype(index_dtype)
    data = np.concatenate([weight, weight]).astype(dtype, copy=False)
    # scipy's COO->CSR is a counting sort in C++ (O(nnz)); a global lexsort was 10x slower.
    matrix = sp.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()
    matrix.sort_indices()
    return matrix


def build_distrust(rater: np.ndarray, rated: np.ndarray, weight: np.ndarray, n: int) -> sp.csr_matrix:
    """Directed CSR distrust matrix from distrust entries given once per ordered pair.

    Parameters
    ----------
    rater, rated : ndarray of int
        Row (who distrusts) and column (who is distrusted) of each entry; no
        ordered pair twice.
    weight : ndarray of float
        Distrust weights (> 0).
    n : int
        Number of nodes.

    Examples
    --------
    >>> build_distrust(np.array([0, 2]), np.array([1, 0]), np.array([3.0, 10.0]), 3).toarray()
    array([[ 0.,  3.,  0.],
           [ 0.,  0.,  0.],
           [10.,  0.,  0.]])
    """
    index_dtype: type[np.integer[Any]] = np.int32 if n < 2**31 and len(rater) < 2**31 else np.int64
    matrix = sp.coo_matrix(
        (
            np.asarray(weight, dtype=np.float64),
            (np.asarray(rater).astype(index_dtype), np.asarray(rated).astype(index_dtype)),
        ),
        shape=(n, n),
    ).tocsr()
    matrix.sort_indices()
    return matrix


@runtime_checkable
class GraphStore(Protocol):
    """What every store offers. Ids are external user ids (strings)."""

    def __enter__(self) -> GraphStore:
        """The store itself, so that ``with`` closes it at the end."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the store (:meth:`close`), whether or not the block raised."""
        ...

    def load(self, dataset: Dataset, *, progress: ProgressFn | None = None) -> LoadReport:
        """Upsert a validated dataset; all or nothing."""
        ...

    def upsert_users(self, frame: pd.DataFrame) -> LoadReport:
        """Validate and upsert users."""
        ...

    def upsert_links(self, frame: pd.DataFrame) -> LoadReport:
        """Validate and upsert undirected links."""
        ...

    def add_repayments(self, frame: pd.DataFrame) -> LoadReport:
        """Validate and upsert repayment events (by event id)."""
        ...

    def add_spending(self, frame: pd.DataFrame) -> LoadReport:
        """Validate and upsert spending/bill events (by event id)."""
        ...

    def upsert_distrust(self, frame: pd.DataFrame) -> LoadReport:
        """Validate and upsert directed distrust (a stored ordered pair takes the new weight and time)."""
        ...

    def add_records(self, records: Records) -> LoadReport:
        """Upsert validated links or events (:class:`~credence.graph.model.Records`), as :meth:`load` does.

        UnknownReferenceError (nothing written) if a row names a user the store lacks.
        """
        ...

    def events_of(self, user_ids: Sequence[str]) -> tuple[Records, Records]:
        """The stored repayments and spending of some users, as records.

        Grouped by user in the order given, each user's events as :meth:`repayments`
        and :meth:`spending` order them; NotFoundError for an unknown user.
        """
        ...

    def event_owners(self, kind: str, event_ids: Sequence[str]) -> dict[str, str]:
        """Which user each stored event among ``event_ids`` belongs to (``kind``: repayments or spending).

        Ids that are not stored are absent from the answer.
        """
        ...

    def remove_link(self, a: str, b: str) -> bool:
        """Remove the link between two users; False if there was none."""
        ...

    def get_user(self, user_id: str) -> User:
        """One user; NotFoundError if absent."""
        ...

    def get_users(self, user_ids: Any) -> pd.DataFrame:
        """Users in the given order (users frame schema); NotFoundError if any is absent."""
        ...

    def has_users(self, user_ids: Any) -> np.ndarray:
        """Boolean mask: which of the ids are stored."""
        ...

    def get_all_users(self) -> pd.DataFrame:
        """Every user (users frame schema), sorted by id."""
        ...

    def links(self) -> pd.DataFrame:
        """Every link once (links frame schema, ``source < target``), sorted."""
        ...

    def neighbors(self, user_id: str) -> pd.DataFrame:
        """Links of a user: columns ``user``, ``weight``, ``created``, sorted by ``user``."""
        ...

    def repayments(self, user_id: str | None = None) -> pd.DataFrame:
        """Repayment events of one user (or all), sorted by ``due``, ``id``."""
        ...

    def spending(self, user_id: str | None = None) -> pd.DataFrame:
        """Spending events of one user (or all), sorted by ``at``, ``id``."""
        ...

    def distrust(self, user_id: str | None = None) -> pd.DataFrame:
        """Distrust rows (distrust frame schema) the user gives or receives (or all), sorted by ``rater``, ``rated``.

        NotFoundError for an unknown user.
        """
        ...

    def set_consent(
        self, user_id: str, consent: bool, *, actor: str = "system", at: int | None = None
    ) -> ConsentChange | None:
        """Set a user's consent to network scoring, recording the change with ``actor`` and ``at``.

        The user's consent and its :class:`ConsentChange` commit in one transaction; a
        consent as it already was changes and records nothing (returns None). ``at``
        defaults to the clock.
        """
        ...

    def consent_history(self, user_id: str) -> list[ConsentChange]:
        """Every recorded consent change of a user, oldest first (NotFoundError if unknown)."""
        ...

    def erase_user(self, user_id: str, *, actor: str, role: str = "admin", at: int | None = None) -> str:
        """Remove everything held about a person in one transaction; returns their pseudonym (see StoreBase)."""
        ...

    def is_erased(self, user_id: str) -> bool:
        """Whether ``user_id`` was erased."""
        ...

    def request_review(
        self, user_id: str, *, tier: str, reason: str, requested_by: str, due: int, at: int | None = None
    ) -> Review:
        """Record a request for human review of ``user_id``'s outcome on benefit ``tier``.

        ConflictError if the user already has an open review of that tier.
        """
        ...

    def resolve_review(
        self, review_id: int, *, outcome: str, resolution: str, analyst: str, at: int | None = None
    ) -> Review:
        """Resolve an open review with ``outcome`` (one of :data:`REVIEW_OUTCOMES`) and a reason.

        NotFoundError for an unknown id, ConflictError if already resolved.
        """
        ...

    def reviews(self, *, user: str | None = None, open_only: bool = False) -> list[Review]:
        """Reviews, oldest first: one user's (NotFoundError if unknown), or everyone's; only open ones if asked."""
        ...

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
        """Record ``user_id``'s dispute of one of their records (see :class:`~credence.graph.disputes.Dispute`).

        The store does not check that the record exists: the engine does, in the same
        unit of work. ConflictError if the user already has an open dispute of it.
        """
        ...

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
        """Resolve an open dispute (outcome one of :data:`~credence.graph.disputes.DISPUTE_OUTCOMES`).

        NotFoundError for an unknown id, ConflictError if already resolved.
        """
        ...

    def dispute(self, dispute_id: int) -> Dispute:
        """One dispute by id (NotFoundError if there is none)."""
        ...

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
        """Disputes oldest first: one user's (NotFoundError if unknown) or everyone's, only open ones if asked.

        Those with ``after < id < before`` (dispute ids, exclusive; None: unbounded); of
        them the oldest ``limit``, or with ``newest`` the newest ``limit`` (still returned
        oldest first): keyset pages either way.
        """
        ...

    def record_notices(self, notices: Sequence[AdverseNotice]) -> int:
        """Store adverse-action notices (in the open unit of work, if any); returns how many.

        NotFoundError if a notice names an unknown user; then nothing is written.
        """
        ...

    def notices(self, user_id: str) -> list[AdverseNotice]:
        """A user's adverse-action notices, oldest first (NotFoundError if unknown)."""
        ...

    def flag_user(self, user_id: str, *, analyst: str, reason: str, at: int | None = None) -> Flag:
        """Flag (quarantine) a user; ConflictError if already flagged."""
        ...

    def unflag_user(self, user_id: str, *, analyst: str, reason: str, at: int | None = None) -> Flag:
        """Clear a user's active flag; ConflictError if none."""
        ...

    def flags(self, user_id: str) -> list[Flag]:
        """Every flag of a user, oldest first."""
        ...

    def quarantined(self, *, among: Sequence[str] | None = None) -> np.ndarray:
        """Ids of users with an active flag, sorted; with ``among``, only those of these ids.

        ``among`` lets a caller that looks at a few users (a follower applying a feed)
        avoid reading every flag; ids the store does not know are simply not flagged.
        """
        ...

    def record_audit(self, entries: Sequence[AuditDraft]) -> list[AuditEntry]:
        """Append audit entries, all in one transaction; returns them with their ids.

        ValidationError (naming the entry's 1-based row, the field and the value)
        if any entry is invalid; then nothing is written.
        """
        ...

    def audit_log(
        self,
        *,
        first: int | None = None,
        after: int | None = None,
        actor: str | None = None,
        subject: str | None = None,
        action: str | None = None,
        last: int | None = None,
        before: int | None = None,
    ) -> list[AuditEntry]:
        """Entries with ``after < id < before``, ascending by id (keyset paging both ways).

        Of those, the ``first`` (oldest; 100 when neither size is given) or the ``last``
        (newest, still returned oldest first). ``actor``, ``subject`` and ``action``
        filter by exact (stripped) value. ParameterError if both sizes are given, one is
        not in ``1..AUDIT_PAGE_MAX``, a cursor is not an id, or a filter is bad.
        """
        ...

    def write_scores(self, frame: pd.DataFrame, *, model_weights: Mapping[str, float] | None = None) -> int:
        """Append score snapshots (score frame schema); returns rows written.

        With ``model_weights`` (component -> weight of the model that produced the
        scores) the store also records those weights under each ``model_version`` of the
        frame, in the same transaction, so that an old snapshot is later priced with its
        own model's weights. ConflictError (nothing written) if a version is already
        recorded with other weights: a changed model needs a new version.
        """
        ...

    def write_score_records(
        self, records: Records, *, model_weights: Mapping[str, float] | None = None
    ) -> int:
        """:meth:`write_scores` of validated snapshots (``scores`` :class:`~credence.graph.model.Records`)."""
        ...

    def model_weights(self) -> dict[str, dict[str, float]]:
        """The recorded weights of every model version (see :meth:`write_scores`)."""
        ...

    def score_history(self, user_id: str) -> pd.DataFrame:
        """A user's snapshots, oldest first."""
        ...

    def snapshot_changes(self, user_id: str) -> list[Change | None]:
        """For each snapshot of :meth:`score_history`, the journaled change that produced it (None: none).

        See :meth:`StoreBase.change`; NotFoundError for an unknown user.
        """
        ...

    def change(
        self,
        kind: str,
        people: Mapping[str, Iterable[str]],
        *,
        actor: str | None = None,
        at: int | None = None,
        corrected: Iterable[str] = (),
    ) -> AbstractContextManager[GraphStore]:
        """Journal one change; the snapshots written inside the block point to it (:meth:`StoreBase.change`)."""
        ...

    def latest_scores(self) -> pd.DataFrame:
        """The newest snapshot of every scored user, sorted by user."""
        ...

    def snapshots_after(self, seq: int, *, limit: int = 10_000) -> tuple[pd.DataFrame, int]:
        """Score snapshots committed after sequence number ``seq``, oldest first: the change feed.

        Every snapshot gets a sequence number when it is written; numbers grow in commit
        order and are never reused (until ``clear``), so a reader that remembers the last
        one it saw misses nothing and sees nothing twice. Returns at most ``limit`` rows
        (the score frame schema plus ``seq``) and the last sequence number returned
        (``seq`` itself when there is nothing new).
        """
        ...

    def latest_snapshot_seq(self) -> int:
        """The sequence number of the newest committed snapshot (0 without any)."""
        ...

    def latest_score_time(self) -> tuple[int, str] | None:
        """Evaluation time and model version of the newest snapshot (None without any)."""
        ...

    def record_recompute(self, computed_at: int, prior: float, model_version: str) -> RecomputeRecord:
        """Append the engine's evaluation state after a recompute; returns it as recorded.

        ValidationError (nothing written) if ``computed_at`` is not an integer >= 0,
        ``prior`` not a finite number in [0, 1] or ``model_version`` empty.
        """
        ...

    def latest_recompute(self) -> RecomputeRecord | None:
        """The most recently recorded evaluation state (None if none was recorded)."""
        ...

    def data_version(self) -> DataVersion:
        """The store's identity and its count of committed data-changing units (:class:`DataVersion`)."""
        ...

    def last_commit_version(self) -> DataVersion | None:
        """The version the calling thread's last committed unit made (None: none yet, or audit only)."""
        ...

    def transaction(self) -> AbstractContextManager[GraphStore]:
        """A unit of work: every write of this thread inside the block commits as one transaction.

        It commits when the block exits and rolls back entirely if the block raises.
        Reads of this thread inside the block see its uncommitted writes. Nested in
        another unit it is a :meth:`savepoint`. StoreError if the commit fails (nothing
        is then applied) or, on Neo4j, if the unit became rollback-only.
        """
        ...

    def savepoint(self) -> AbstractContextManager[GraphStore]:
        """A part of the open unit of work that a failure undoes alone (where the backend can).

        With :attr:`supports_savepoints` the writes of a block that raises are rolled
        back and the unit goes on; without (Neo4j), a block that raises after it wrote
        makes the unit rollback-only. Outside a unit it is a :meth:`transaction`.
        """
        ...

    @property
    def supports_savepoints(self) -> bool:
        """Whether :meth:`savepoint` can undo a failed part alone (SQLite) or not (Neo4j)."""
        ...

    def export_graph(self, *, progress: ProgressFn | None = None) -> GraphExport:
        """The whole graph as CSR + aligned attribute arrays."""
        ...

    def stats(self) -> StoreStats:
        """Counts of everything stored."""
        ...

    def clear(self, *, forget_erasures: bool = False) -> None:
        """Delete everything, the audit log and the recompute records included.

        For tests and ``credence load --replace``.

        Audit ids are not reused afterwards: new entries get ids above every old one. The
        tombstones of erased users stay (a reload cannot bring them back) unless
        ``forget_erasures``, for a store that starts over from nothing (tests).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class _Unit:
    """The unit of work a thread has open on a store: the backend's transaction and its state."""

    __slots__ = ("change", "changes_data", "depth", "doomed", "explicit", "tx")

    def __init__(self, tx: Any, *, explicit: bool, changes_data: bool = True) -> None:
        self.tx = tx
        #: False while the unit has only appended audit entries: its commit leaves the data version.
        self.changes_data = changes_data
        #: The change (:meth:`StoreBase.change`) whose snapshots are being written, if any.
        self.change: _PendingChange | None = None
        #: Opened by transaction()/savepoint() (True) or by one write method (False).
        self.explicit = explicit
        #: Savepoints open inside it.
        self.depth = 0
        #: Why the unit can only roll back (None while it may commit).
        self.doomed: str | None = None


class _PendingChange:
    """A change open in a unit of work: journaled at its first snapshot, or when it ends."""

    __slots__ = ("at", "draft", "id")

    def __init__(self, draft: ChangeDraft, at: int) -> None:
        self.draft = draft
        self.at = at
        self.id: int | None = None


class StoreBase:
    """Shared logic of the backends: validation, reference checks, units of work, conveniences.

    Subclasses implement ``_write_dataset`` and the reads, and the transaction hooks
    ``_begin``, ``_commit``, ``_rollback``, ``_nested`` and ``_store_error`` that
    :meth:`transaction` and every write method run through.
    """

    #: Whether a failed savepoint can be undone alone (see :meth:`savepoint`).
    supports_savepoints: bool = False

    def __init__(self) -> None:
        self._units = threading.local()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        """Release the backend's connections (every backend overrides it; ``with`` calls it)."""
        raise NotImplementedError

    # -- loading -------------------------------------------------------------

    def load(self, dataset: Dataset, *, progress: ProgressFn | None = None) -> LoadReport:
        """Upsert a validated dataset in one write transaction, after checking its references.

        Parameters
        ----------
        dataset : Dataset
            Frames already validated by :func:`~credence.graph.model.parse_dataset`.
        progress : ProgressFn, optional
            Called as the backend writes (``progress(stage, done, total)``).

        Returns
        -------
        LoadReport
            Rows written per kind, and the wall-clock seconds of the load.

        Raises
        ------
        UnknownReferenceError
            If a row names a user that is neither in ``dataset`` nor stored; nothing
            is written then.
        """
        import time

        started = time.perf_counter()
        with self._write_transaction() as tx:
            self._check_not_erased(dataset, tx)
            self._check_references(dataset, tx)
            written = self._write_dataset(dataset, tx, progress or _no_progress)
        return LoadReport(written=written, seconds=time.perf_counter() - started)

    def upsert_users(self, frame: pd.DataFrame) -> LoadReport:
        """Validate a raw users frame and :meth:`load` it (users are matched by id).

        Raises
        ------
        ValidationError
            Naming the first invalid row, column and value; nothing is written then.
        """
        return self.load(parse_dataset(users=frame))

    def upsert_links(self, frame: pd.DataFrame) -> LoadReport:
        """Validate a raw links frame and :meth:`load` it (a link is matched by its two users).

        Raises
        ------
        ValidationError
            Naming the first invalid row, column and value.
        UnknownReferenceError
            If a link names a user that is not stored; nothing is written then.

        Examples
        --------
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]})).written["users"]
        2
        >>> store.upsert_links(pd.DataFrame({"source": ["a"], "target": ["c"]}))
        Traceback (most recent call last):
        ...
        credence.core.errors.UnknownReferenceError: link row 1, column 'target' (value 'c'): no such user in the input or the store
        >>> store.stats().links
        0
        >>> store.close()
        """
        return self.load(parse_dataset(links=frame))

    def add_repayments(self, frame: pd.DataFrame) -> LoadReport:
        """Validate a raw repayments frame and :meth:`load` it (events are matched by id).

        Raises
        ------
        ValidationError
            Naming the first invalid row, column and value.
        UnknownReferenceError
            If an event names a user that is not stored; nothing is written then.
        """
        return self.load(parse_dataset(repayments=frame))

    def add_spending(self, frame: pd.DataFrame) -> LoadReport:
        """Validate a raw spending frame and :meth:`load` it (events are matched by id).

        Raises
        ------
        ValidationError
            Naming the first invalid row, column and value.
        UnknownReferenceError
            If an event names a user that is not stored; nothing is written then.
        """
        return self.load(parse_dataset(spending=frame))

    def upsert_distrust(self, frame: pd.DataFrame) -> LoadReport:
        """Validate a raw distrust frame and :meth:`load` it (an entry is matched by its ordered pair).

        A stored ``rater -> rated`` pair takes the new weight and time (a repeated
        rating replaces the earlier one). Everything is checked before the first write.

        Raises
        ------
        ValidationError
            Naming the first invalid row, column and value.
        UnknownReferenceError
            If a row names a user that is not stored; nothing is written then.

        Examples
        --------
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
        >>> _ = store.upsert_distrust(pd.DataFrame({"rater": ["a"], "rated": ["b"], "weight": [3], "created": [5]}))
        >>> _ = store.upsert_distrust(pd.DataFrame({"rater": ["a"], "rated": ["b"], "weight": [9], "created": [7]}))
        >>> store.distrust()
          rater rated  weight  created
        0     a     b     9.0        7
        >>> store.upsert_distrust(pd.DataFrame({"rater": ["a"], "rated": ["zed"], "created": [5]}))
        Traceback (most recent call last):
        ...
        credence.core.errors.UnknownReferenceError: distrust row 1, column 'rated' (value 'zed'): no such user in the input or the store
        >>> store.close()
        """
        return self.load(parse_dataset(distrust=frame))

    def add_records(self, records: Records) -> LoadReport:
        """Upsert validated links or events in one write transaction, after checking their users.

        The few rows of one change take this way: no frame is built (see
        :class:`~credence.graph.model.Records`); the result is what :meth:`load` of
        ``records.dataset()`` stores.

        Raises
        ------
        UnknownReferenceError
            If a row names a user that is not stored; nothing is written then.

        Examples
        --------
        >>> from credence.graph.model import repayment_records
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> _ = store.upsert_users(pd.DataFrame({"id": ["a"], "created": [0]}))
        >>> rows = [{"id": "r1", "user": "a", "due": 0, "amount": 5.0, "status": "missed"}]
        >>> store.add_records(repayment_records(rows)).written
        {'users': 0, 'links': 0, 'repayments': 1, 'spending': 0, 'distrust': 0}
        >>> store.add_records(repayment_records([{**rows[0], "user": "zed"}]))
        Traceback (most recent call last):
        ...
        credence.core.errors.UnknownReferenceError: repayment row 1, column 'user' (value 'zed'): no such user in the input or the store
        >>> store.close()
        """
        import time

        if records.kind == "scores":
            raise ValueError("score snapshots are written with write_score_records")
        started = time.perf_counter()
        with self._write_transaction() as tx:
            for column in _RECORD_REFERENCES[records.kind]:
                values = records.column(column)
                _fail_unknown(self._has_users(np.array(values, dtype=object), tx), values,
                              _ENTITY[records.kind], column)  # fmt: skip
            self._write_records(records, tx)
        written = {kind: len(records) if kind == records.kind else 0 for kind in _KINDS}
        return LoadReport(written=written, seconds=time.perf_counter() - started)

    def _write_records(self, records: Records, tx: Any) -> None:
        """Write checked records in the open transaction (by default as a dataset of this kind)."""
        self._write_dataset(records.dataset(), tx, _no_progress)

    def events_of(self, user_ids: Sequence[str]) -> tuple[Records, Records]:
        """The stored repayments and spending of some users, grouped by user in the order given.

        By default from :meth:`repayments` and :meth:`spending` of each user; a backend
        may read them in one go.
        """
        repayments = Records("repayments", ())
        spending = Records("spending", ())
        for user in user_ids:
            repayments += Records.from_frame("repayments", self.repayments(user))  # type: ignore[attr-defined]
            spending += Records.from_frame("spending", self.spending(user))  # type: ignore[attr-defined]
        return repayments, spending

    def write_scores(self, frame: pd.DataFrame, *, model_weights: Mapping[str, float] | None = None) -> int:
        """Validate score snapshots and append them in one transaction; the number of rows written.

        With ``model_weights`` the model's weights are recorded under each version of
        the frame in the same transaction (see :meth:`GraphStore.write_scores`).

        Raises
        ------
        ValidationError
            Naming the first invalid row, column and value.
        UnknownReferenceError
            If a snapshot is of a user that is not stored; nothing is written then.
        ConflictError
            If a version is recorded with other weights; nothing is written then.
        """
        scores = parse_scores(frame)
        return self._append_scores(
            scores["user"].to_numpy(dtype=object),
            scores["model_version"].astype(str).tolist(),
            model_weights,
            lambda tx: self._write_scores(scores, tx),
        )

    def write_score_records(
        self, records: Records, *, model_weights: Mapping[str, float] | None = None
    ) -> int:
        """:meth:`write_scores` of snapshots already validated (:func:`~credence.graph.model.score_records`).

        The same checks of users and model weights, in one transaction; no frame is built.

        Examples
        --------
        >>> from credence.graph.model import score_records
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> _ = store.upsert_users(pd.DataFrame({"id": ["a"], "created": [0]}))
        >>> store.write_score_records(score_records(["a"], "m1", 5, np.array([650]), np.full((1, 5), 0.5)))
        1
        >>> store.score_history("a")["score"].tolist()
        [650]
        >>> store.close()
        """
        if records.kind != "scores":
            raise ValueError(f"{records.kind} records are not score snapshots")
        users = records.column("user")
        return self._append_scores(
            np.array(users, dtype=object),
            records.column("model_version"),
            model_weights,
            lambda tx: self._write_score_records(records, tx),
        )

    def _write_score_records(self, records: Records, tx: Any) -> int:
        """Insert checked snapshot records in the open transaction (by default as a frame)."""
        return self._write_scores(records.frame(), tx)

    def _append_scores(
        self,
        users: np.ndarray,
        versions: list[str],
        model_weights: Mapping[str, float] | None,
        write: Callable[[Any], int],
    ) -> int:
        """The checks and the transaction of a snapshot write; ``write(tx)`` inserts the rows."""
        weights = None if model_weights is None else check_model_weights(model_weights)
        with self._write_transaction() as tx:
            known = self._has_users(users, tx)
            _fail_unknown(known, users, "score", "user")
            new_versions: list[str] = []
            if weights is not None:
                # Every version is checked before the first write (Neo4j has no savepoints).
                for version in sorted(set(versions)):
                    recorded = self._recorded_model(version, tx)
                    if recorded is None:
                        new_versions.append(version)
                    elif recorded != weights:
                        raise ConflictError(
                            f"model version {version!r} is recorded with other weights ({recorded}); "
                            "a changed model needs a new version"
                        )
            for version in new_versions:
                assert weights is not None
                self._record_model(version, weights, tx)
            return write(tx)

    def _recorded_model(self, version: str, tx: Any) -> dict[str, float] | None:  # pragma: no cover
        raise NotImplementedError

    def _record_model(self, version: str, weights: dict[str, float], tx: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- the engine's evaluation state ------------------------------------------

    def record_recompute(self, computed_at: int, prior: float, model_version: str) -> RecomputeRecord:
        """Validate the engine's evaluation state (:func:`check_recompute`) and append it.

        Joins the calling thread's unit of work when one is open, so that a recompute's
        snapshots and its evaluation state commit together.

        Returns
        -------
        RecomputeRecord
            The state as recorded (``model_version`` stripped, ``prior`` a float).

        Raises
        ------
        ValidationError
            Naming the bad field; nothing is written then.

        Examples
        --------
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> store.latest_recompute() is None
        True
        >>> _ = store.record_recompute(1_700_000_000, 0.52, "m1")
        >>> store.record_recompute(1_700_086_400, 0.5, " m2 ")
        RecomputeRecord(computed_at=1700086400, prior=0.5, model_version='m2')
        >>> store.latest_recompute().model_version
        'm2'
        >>> store.close()
        """
        record = check_recompute(computed_at, prior, model_version)
        with self._write_transaction() as tx:
            self._write_recompute(record, tx)
        return record

    def _write_recompute(self, record: RecomputeRecord, tx: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- units of work ------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """Open a unit of work on this thread: its writes commit together, or not at all.

        Every write method this thread calls inside the block joins one transaction;
        it commits when the block exits and rolls back entirely if the block raises
        (the exception goes on). Reads of this thread inside the block see its own
        uncommitted writes; other threads see none of them before the commit. Nested
        in an open unit, it is a :meth:`savepoint`.

        Yields
        ------
        StoreBase
            The store itself.

        Raises
        ------
        StoreError
            If the transaction cannot start, the commit fails (nothing is applied
            then), or the unit became rollback-only (Neo4j: a write failed after it
            had written); the unit is rolled back.

        Examples
        --------
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> with store.transaction():
        ...     _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
        ...     store.flag_user("a", analyst="ana", reason="ring", at=5).active
        True
        >>> store.quarantined().tolist()
        ['a']
        >>> store.close()
        """
        with self._unit_of_work(explicit=True):
            yield self

    @contextmanager
    def savepoint(self) -> Iterator[Self]:
        """A part of the open unit of work that fails alone: its writes are undone if it raises.

        On SQLite (:attr:`supports_savepoints`) it is a ``SAVEPOINT``: when the block
        raises, its writes are rolled back, the exception goes on, and the unit may
        still commit the rest. Neo4j has no savepoints: a block that raises before it
        wrote anything leaves the unit as it was (every write method checks its input
        and references before its first write), one that raises after it wrote makes
        the unit rollback-only. Outside a unit of work it is a :meth:`transaction`.

        Each write method called inside a unit is a savepoint of its own already.

        Examples
        --------
        >>> from credence.core.errors import ConflictError
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> with store.transaction():
        ...     _ = store.upsert_users(pd.DataFrame({"id": ["a"], "created": [0]}))
        ...     try:
        ...         with store.savepoint():
        ...             _ = store.set_consent("a", False)
        ...             store.unflag_user("a", analyst="ana", reason="not flagged")
        ...     except ConflictError:
        ...         pass
        >>> store.get_user("a").consent_network  # the savepoint's writes were undone
        True
        >>> store.close()
        """
        with self._unit_of_work(explicit=True):
            yield self

    @contextmanager
    def change(
        self,
        kind: str,
        people: Mapping[str, Iterable[str]],
        *,
        actor: str | None = None,
        at: int | None = None,
        corrected: Iterable[str] = (),
    ) -> Iterator[Self]:
        """Journal one change: every score snapshot written inside the block points to it.

        The block is a unit of work (or joins the open one, as a savepoint). The journal
        entry (:class:`~credence.graph.journal.Change`) is written with the block's first
        snapshot, or when the block ends without one; it commits with the change and
        its snapshots, or not at all. :meth:`snapshot_changes` reads it back per
        snapshot. Changes do not nest: a snapshot points to the innermost. ``corrected``
        names the event ids of ``people`` that replaced stored ones.

        Raises
        ------
        ValidationError
            From :func:`~credence.graph.journal.check_change`, before anything is written.

        Examples
        --------
        >>> from credence.graph.model import score_records
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> _ = store.upsert_users(pd.DataFrame({"id": ["a", "b"], "created": [0, 0]}))
        >>> snapshot = score_records(["a"], "m1", 5, np.array([650]), np.full((1, 5), 0.5))
        >>> _ = store.write_score_records(snapshot)
        >>> with store.change("link_added", {"a": ["b"], "b": ["a"]}, at=9):
        ...     _ = store.upsert_links(pd.DataFrame({"source": ["a"], "target": ["b"], "weight": [1.0]}))
        ...     _ = store.write_score_records(snapshot)
        >>> [None if c is None else (c.kind, c.at, c.records_of("a")) for c in store.snapshot_changes("a")]
        [None, ('link_added', 9, ('b',))]
        >>> store.close()
        """
        draft = check_change(kind, {person: tuple(records) for person, records in people.items()}, actor=actor,
                             corrected=corrected)  # fmt: skip
        when = epoch_now() if at is None else int(at)
        with self._write_transaction() as tx:
            unit = self._unit()
            assert unit is not None
            outer, unit.change = unit.change, _PendingChange(draft, when)
            try:
                yield self
                self._change_id(tx)
            finally:
                unit.change = outer

    def _change_id(self, tx: Any) -> int | None:
        """The id of the change open in this thread's unit (journaling it on first use); None without one."""
        unit = self._unit()
        pending = None if unit is None else unit.change
        if pending is None:
            return None
        if pending.id is None:
            pending.id = self._write_change(pending.draft, pending.at, tx)
        return pending.id

    def _write_change(self, draft: ChangeDraft, at: int, tx: Any) -> int:  # pragma: no cover - overridden
        """Append a journal entry in the open transaction; its id."""
        raise NotImplementedError

    def snapshot_changes(self, user_id: str) -> list[Change | None]:  # pragma: no cover - overridden
        """For each of the user's snapshots in :meth:`score_history`'s order, the change that produced it (or None)."""
        raise NotImplementedError

    def _unit(self) -> _Unit | None:
        """The unit of work the calling thread has open on this store, if any."""
        return getattr(self._units, "unit", None)

    @contextmanager
    def _write_transaction(self, *, changes_data: bool = True) -> Iterator[Any]:
        """The transaction one write method runs in: its own, or the open unit's (as a savepoint).

        ``changes_data=False`` for a write that changes no data (an audit entry): alone in
        its unit, the commit does not count in :meth:`data_version`.
        """
        with self._unit_of_work(explicit=False, changes_data=changes_data) as tx:
            yield tx

    @contextmanager
    def _unit_of_work(self, *, explicit: bool, changes_data: bool = True) -> Iterator[Any]:
        unit = self._unit()
        if unit is not None:
            unit.changes_data = unit.changes_data or changes_data
            if unit.doomed is not None:
                raise StoreError(f"{self!r}: the unit of work can only roll back ({unit.doomed})")
            unit.depth += 1
            try:
                with self._nested(unit):
                    yield unit.tx
            finally:
                unit.depth -= 1
            return
        tx = self._begin()
        unit = _Unit(tx, explicit=explicit, changes_data=changes_data)
        self._units.unit = unit
        try:
            yield tx
        except BaseException as exc:
            self._units.unit = None
            self._rollback(tx)
            error = self._store_error(exc)
            if error is None:
                raise
            raise error from exc
        self._units.unit = None
        if unit.doomed is not None:
            self._rollback(tx)
            raise StoreError(
                f"{self!r}: the unit of work was rolled back, nothing was applied: {unit.doomed}"
            )
        version = None
        if unit.changes_data:
            try:
                version = self._count_data_change(tx)
            except BaseException as exc:
                self._rollback(tx)
                error = self._store_error(exc)
                if error is None:
                    raise
                raise error from exc
        self._commit(tx)
        self._units.version = version

    def last_commit_version(self) -> DataVersion | None:
        """The version the calling thread's last committed unit made (None: none yet, or audit only).

        Read right after a unit, it is exactly the version that includes the unit's writes
        and nothing committed later, which :meth:`data_version` cannot promise when other
        processes write too.
        """
        return getattr(self._units, "version", None)

    def _count_data_change(self, tx: Any) -> DataVersion:  # pragma: no cover - overridden
        """Count one data-changing unit in the open transaction; the version it makes."""
        raise NotImplementedError

    def _begin(self) -> Any:  # pragma: no cover - overridden
        """Start a transaction (StoreError if it cannot start); the handle the writes use."""
        raise NotImplementedError

    def _commit(self, tx: Any) -> None:  # pragma: no cover - overridden
        """Commit; on failure roll back, release the transaction and raise StoreError."""
        raise NotImplementedError

    def _rollback(self, tx: Any) -> None:  # pragma: no cover - overridden
        """Roll back and release the transaction, never raising."""
        raise NotImplementedError

    @contextmanager
    def _nested(self, unit: _Unit) -> Iterator[None]:  # pragma: no cover - overridden
        """A savepoint in ``unit``: undo the block's writes if it raises (or doom the unit)."""
        raise NotImplementedError
        yield

    def _store_error(self, exc: BaseException) -> StoreError | None:  # pragma: no cover - overridden
        """The StoreError a backend error raised inside a transaction becomes (None: keep ``exc``)."""
        raise NotImplementedError

    # -- audit log -------------------------------------------------------------

    def record_audit(self, entries: Sequence[AuditDraft]) -> list[AuditEntry]:
        """Validate audit drafts (:func:`check_audit_drafts`) and append them in one transaction.

        Returns
        -------
        list of AuditEntry
            The entries as recorded, in order, with their new ids (none for no drafts).

        Raises
        ------
        ValidationError
            Naming the first bad entry (1-based row) and field; nothing is written then.
        """
        rows = check_audit_drafts(entries)
        if not rows:
            return []
        with self._write_transaction(changes_data=False) as tx:
            ids = self._write_audit(rows, tx)
        return [AuditEntry(i, *row) for i, row in zip(ids, rows, strict=True)]

    def audit_log(
        self,
        *,
        first: int | None = None,
        after: int | None = None,
        actor: str | None = None,
        subject: str | None = None,
        action: str | None = None,
        last: int | None = None,
        before: int | None = None,
    ) -> list[AuditEntry]:
        """Check the paging arguments and filters, then read one page of the audit log.

        Parameters
        ----------
        first : int, optional
            Most entries returned, the oldest of the window, in ``1..AUDIT_PAGE_MAX``;
            100 when neither ``first`` nor ``last`` is given.
        after : int, optional
            Only entries with a larger id (the last id of the previous page).
        actor, subject, action : str, optional
            Exact values to match, stripped (``subject`` checked as a user id).
        last : int, optional
            Instead of ``first``: most entries returned, the newest of the window, in
            ``1..AUDIT_PAGE_MAX``; still returned oldest first.
        before : int, optional
            Only entries with a smaller id (the first id of the next page).

        Returns
        -------
        list of AuditEntry
            Ascending by id.

        Raises
        ------
        ParameterError
            If both ``first`` and ``last`` are given, either is out of range, ``after`` or
            ``before`` is not an entry id, or a filter is not a valid value.

        Examples
        --------
        >>> from credence.graph.sqlite import SQLiteStore
        >>> store = SQLiteStore(":memory:")
        >>> [e.id for e in store.record_audit([AuditDraft(actor="ana", role="analyst", action="read:x")] * 3)]
        [1, 2, 3]
        >>> [e.id for e in store.audit_log(first=2, after=1)]
        [2, 3]
        >>> [e.id for e in store.audit_log(last=2)], [e.id for e in store.audit_log(last=1, before=3)]
        ([2, 3], [2])
        >>> store.close()
        """
        if first is not None and last is not None:
            raise ParameterError("last", last, "give first or last, not both")
        size, newest = (100 if first is None else first, False) if last is None else (last, True)
        if (
            isinstance(size, bool)
            or not isinstance(size, int | np.integer)
            or not 1 <= size <= AUDIT_PAGE_MAX
        ):
            raise ParameterError(
                "last" if newest else "first", size, f"must be an integer in [1, {AUDIT_PAGE_MAX}]"
            )
        for name, bound in (("after", after), ("before", before)):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int | np.integer)
                or not 0 <= bound <= _INT64_MAX
            ):
                raise ParameterError(name, bound, "must be None or an entry id (an integer >= 0)")
        filters: dict[str, str] = {}
        given = {"actor": actor, "subject": subject, "action": action}
        for name in AUDIT_FILTERS:
            value = given[name]
            if value is None:
                continue
            try:
                if name == "subject":
                    filters[name] = check_user_id(value)
                else:
                    filters[name] = check_text("audit", name, value, max_length=AUDIT_MAX_LENGTHS[name])
            except ValidationError as exc:
                raise ParameterError(name, value, exc.problem) from None
        return self._audit_page(
            int(size),
            0 if after is None else int(after),
            None if before is None else int(before),
            filters,
            newest,
        )

    def _write_audit(self, rows: list[AuditRow], tx: Any) -> list[int]:  # pragma: no cover - overridden
        """Insert validated rows in the open transaction; their new ids, in order."""
        raise NotImplementedError

    def _audit_page(
        self, size: int, after: int, before: int | None, filters: dict[str, str], newest: bool
    ) -> list[AuditEntry]:  # pragma: no cover - overridden
        """Up to ``size`` entries with ``after < id < before`` matching every ``column: value``, ascending.

        The oldest such entries, or the newest when ``newest`` (read newest first, returned
        oldest first); ``before`` None is no upper bound. ``filters`` holds validated
        values keyed by names from :data:`AUDIT_FILTERS`.
        """
        raise NotImplementedError

    # -- erasure ---------------------------------------------------------------

    def erase_user(self, user_id: str, *, actor: str, role: str = "admin", at: int | None = None) -> str:
        """Remove everything held about a person, in one transaction; returns their pseudonym.

        Deleted: the user, their links, repayments, spending, flags, consent changes,
        notices, reviews, disputes and score snapshots; another person's dispute of a
        link to them keeps its place with the erased id replaced by the pseudonym and
        the record's detail blanked. Audit entries about them keep their place
        in the log with the subject replaced by the pseudonym and the detail blanked, and
        an ``erase`` entry (subject: the pseudonym) is added. The pseudonym is a keyed
        hash of the id (the key is the store's own, made at its first erasure) and is kept
        as a tombstone: a later load or upsert of the same id is refused
        (:class:`~credence.core.errors.ConflictError`), so old data cannot come back
        silently. Neighbours' scores are not touched here: the engine rescores them first
        (:meth:`credence.engine.ScoringEngine.erase_user`).

        Raises
        ------
        NotFoundError
            If the user is unknown; nothing is written.
        """
        user_id = check_user_id(user_id)
        actor = check_text("audit", "actor", actor, max_length=AUDIT_MAX_LENGTHS["actor"])
        at = epoch_now() if at is None else int(at)
        with self._write_transaction() as tx:
            if not self._has_users(np.array([user_id], dtype=object), tx)[0]:
                raise NotFoundError("user", user_id)
            key = self._erasure_key(tx)
            assert key is not None  # made on first use
            pseudonym = _pseudonym(key, user_id)
            self._erase(user_id, pseudonym, tx)
            self._write_audit([(at, actor, role, "erase", pseudonym, "")], tx)
        return pseudonym

    def is_erased(self, user_id: str) -> bool:
        """Whether ``user_id`` was erased (its tombstone is kept)."""
        with self._write_transaction() as tx:
            return bool(self._erased(np.array([check_user_id(user_id)], dtype=object), tx)[0])

    def _check_not_erased(self, dataset: Dataset, tx: Any) -> None:
        ids = dataset.users["id"].to_numpy(dtype=object) if len(dataset.users) else np.empty(0, dtype=object)
        if not len(ids):
            return
        erased = self._erased(ids, tx)
        if erased.any():
            first = int(np.argmax(erased))
            raise ConflictError(f"user row {first + 1}, column 'id' (value {clip(str(ids[first]))!r}): this id was "
                                "erased; it cannot be loaded again")  # fmt: skip

    def _erased(self, user_ids: np.ndarray, tx: Any) -> np.ndarray:
        """Which of ``user_ids`` have a tombstone (all False when the store never erased anyone)."""
        key = self._erasure_key(tx, create=False)
        if key is None:
            return np.zeros(len(user_ids), dtype=bool)
        return self._has_tombstones([_pseudonym(key, str(u)) for u in user_ids.tolist()], tx)

    def _erasure_key(self, tx: Any, *, create: bool = True) -> bytes | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _erase(self, user_id: str, pseudonym: str, tx: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _has_tombstones(self, pseudonyms: list[str], tx: Any) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_references(self, dataset: Dataset, tx: Any) -> None:
        index, codes = dataset.reference_codes()
        outside = index.ids[index.n_defined :]
        if not len(outside):
            return
        valid = np.ones(len(index), dtype=bool)
        valid[index.n_defined :] = self._has_users(outside, tx)
        for kind, column in Dataset.REFERENCES:
            ok = valid[codes[f"{kind}.{column}"]]
            _fail_unknown(ok, getattr(dataset, kind)[column], _ENTITY[kind], column)

    def _uids_by_code(self, dataset: Dataset, tx: Any) -> np.ndarray:
        """Store key of every id in the dataset's index (after its users are written)."""
        index, _ = dataset.reference_codes()
        return self._uids(index.ids, tx)

    def _uids(self, user_ids: np.ndarray, tx: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------

    def _has_users(self, user_ids: np.ndarray, tx: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _write_dataset(
        self, dataset: Dataset, tx: Any, progress: ProgressFn
    ) -> dict[str, int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _write_scores(self, scores: pd.DataFrame, tx: Any) -> int:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _user_id(user_id: Any) -> str:
        return check_user_id(user_id)


def check_audit_drafts(entries: Sequence[AuditDraft], *, now: int | None = None) -> list[AuditRow]:
    """Validate audit drafts into rows ``(at, actor, role, action, subject, detail)``.

    Text is stripped; ``at`` None becomes ``now`` (default: the clock). The first
    bad field raises :class:`ValidationError` naming the entry (1-based row).

    Examples
    --------
    >>> check_audit_drafts([AuditDraft(actor=" ana ", role="analyst", action="read:x", at=5)])
    [(5, 'ana', 'analyst', 'read:x', None, '')]
    >>> check_audit_drafts([AuditDraft(actor="ana", role="analyst", action="read:x", at=-1)])
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: audit row 1, column 'at' (value -1): must be >= 0
    """
    if isinstance(entries, AuditDraft | str | bytes) or not isinstance(entries, Iterable):
        raise ParameterError("entries", entries, "must be a sequence of AuditDraft")
    now_s = epoch_now() if now is None else int(now)
    rows: list[AuditRow] = []
    for row, draft in enumerate(entries, start=1):
        if not isinstance(draft, AuditDraft):
            raise ValidationError(
                "must be an AuditDraft", entity="audit", row=row, value=type(draft).__name__
            )
        text: dict[str, str] = {}
        for name in ("actor", "role", "action"):
            try:
                text[name] = check_text(
                    "audit", name, getattr(draft, name), max_length=AUDIT_MAX_LENGTHS[name]
                )
            except ValidationError as exc:
                raise _audit_error(row, name, exc.value, exc.problem) from None
        subject = draft.subject
        if subject is not None:
            try:
                subject = check_user_id(subject)
            except ValidationError as exc:
                raise _audit_error(row, "subject", exc.value, exc.problem) from None
        detail = draft.detail
        if not isinstance(detail, str):
            raise _audit_error(row, "detail", detail, "must be a string (may be empty)")
        detail = detail.strip()
        if len(detail) > AUDIT_MAX_LENGTHS["detail"]:
            raise _audit_error(
                row, "detail", detail[:40], f"longer than {AUDIT_MAX_LENGTHS['detail']} characters"
            )
        at = now_s if draft.at is None else draft.at
        if isinstance(at, bool) or not isinstance(at, int | np.integer):
            raise _audit_error(row, "at", at, "must be an integer (epoch seconds)")
        if at < 0:
            raise _audit_error(row, "at", at, "must be >= 0")
        if at > _INT64_MAX:
            raise _audit_error(row, "at", at, "is too large")
        rows.append((int(at), text["actor"], text["role"], text["action"], subject, detail))
    return rows


def check_recompute(computed_at: Any, prior: Any, model_version: Any) -> RecomputeRecord:
    """Validate the engine's evaluation state into a :class:`RecomputeRecord`.

    Examples
    --------
    >>> check_recompute(1_700_000_000, 0.5, " m1 ")
    RecomputeRecord(computed_at=1700000000, prior=0.5, model_version='m1')
    >>> check_recompute(1_700_000_000, float("nan"), "m1")
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: recompute, column 'prior' (value nan): must be a finite number in [0, 1]
    """
    if isinstance(computed_at, bool) or not isinstance(computed_at, int | np.integer):
        raise ValidationError(
            "must be an integer (epoch seconds)", entity="recompute", column="computed_at", value=computed_at
        )
    if not 0 <= computed_at <= _INT64_MAX:
        raise ValidationError(
            f"must be in [0, {_INT64_MAX}]", entity="recompute", column="computed_at", value=computed_at
        )
    if (
        isinstance(prior, bool)
        or not isinstance(prior, int | float | np.integer | np.floating)
        or not math.isfinite(prior)
        or not 0.0 <= prior <= 1.0
    ):
        raise ValidationError(
            "must be a finite number in [0, 1]", entity="recompute", column="prior", value=prior
        )
    version = check_text("recompute", "model_version", model_version, max_length=200)
    return RecomputeRecord(computed_at=int(computed_at), prior=float(prior), model_version=version)


def _audit_error(row: int, column: str, value: Any, problem: str) -> ValidationError:
    return ValidationError(problem, entity="audit", row=row, column=column, value=value)


def _fail_unknown(ok: np.ndarray, column_values: Any, entity: str, column: str) -> None:
    if not ok.all():
        pos = int(np.argmin(ok))
        value = column_values.iloc[pos] if isinstance(column_values, pd.Series) else column_values[pos]
        raise UnknownReferenceError(
            "no such user in the input or the store",
            entity=entity,
            row=pos + 1,
            column=column,
            value=str(value),
        )


def users_frame_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A users frame (exact schema) from row mappings read back from a store."""
    frame = pd.DataFrame.from_records(records, columns=list(USER_COLUMNS))
    return coerce_users_frame(frame)


def coerce_users_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast stored user columns back to the frame schema (NULL capacity -> NaN)."""
    out = {}
    for name, dtype in USER_COLUMNS.items():
        column = frame[name]
        if dtype == np.dtype("float64"):
            out[name] = pd.to_numeric(column).astype(np.float64)
        else:
            out[name] = column.astype(dtype)
    return pd.DataFrame(out).reset_index(drop=True)


def canonical_links(frame: pd.DataFrame) -> pd.DataFrame:
    """Links with ``source < target``, sorted, in the links frame schema.

    Examples
    --------
    >>> raw = pd.DataFrame({"source": ["b", "a"], "target": ["a", "c"],
    ...                     "weight": [1.0, 2.0], "created": [0, 0]})
    >>> canonical_links(raw)[["source", "target"]].values.tolist()
    [['a', 'b'], ['a', 'c']]
    """
    src = frame["source"].astype(pd.StringDtype())
    dst = frame["target"].astype(pd.StringDtype())
    swap = (src > dst).to_numpy(bool)
    out = pd.DataFrame(
        {
            "source": src.where(~swap, dst),
            "target": dst.where(~swap, src),
            "weight": frame["weight"].to_numpy(dtype=np.float64),
            "created": frame["created"].to_numpy(dtype=np.int64),
        }
    )
    return out.sort_values(["source", "target"], ignore_index=True)


def python_columns(frame: pd.DataFrame) -> list[list[Any]]:
    """Each column as a list of plain Python values, None for every missing value.

    This is what database drivers bind; numpy's ``tolist`` does it in C for the
    columns that have no missing values.

    Examples
    --------
    >>> python_columns(pd.DataFrame({"a": [1, 2], "b": [0.5, None]}))
    [[1, 2], [0.5, None]]
    """
    columns: list[list[Any]] = []
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, np.dtype) and not (series.dtype.kind == "f" and series.isna().any()):
            columns.append(series.to_numpy().tolist())
        else:
            values = np.asarray(series.astype(object).where(series.notna(), None))
            columns.append(values.tolist())
    return columns


def assemble_graph_export(
    users: pd.DataFrame,
    uids: np.ndarray,
    link_u: np.ndarray,
    link_v: np.ndarray,
    link_weight: np.ndarray,
    flagged_uids: np.ndarray,
    distrust: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> GraphExport:
    """A :class:`GraphExport` from store keys: users sorted by ``uids``, links by key.

    Store keys become row indices: ``uid - 1`` when the keys are dense ``1..n``
    (the usual case), a binary search otherwise. ``distrust`` is ``(rater uids,
    rated uids, weights)``, once per ordered pair (None: no distrust).

    Examples
    --------
    >>> users = pd.DataFrame({"id": ["a", "b", "c"], "created": [0, 0, 0]})
    >>> snap = assemble_graph_export(users, np.array([2, 5, 9]), np.array([2]), np.array([9]),
    ...                          np.array([1.5]), flagged_uids=np.array([5]))
    >>> snap.adjacency.toarray()[0].tolist(), snap.quarantined.tolist()
    ([0.0, 0.0, 1.5], [False, True, False])
    """
    n = len(uids)
    dense = bool(n and uids[0] == 1 and uids[-1] == n)

    def rows(keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        return keys - 1 if dense else np.searchsorted(uids, keys)

    adjacency = build_adjacency(rows(link_u), rows(link_v), np.asarray(link_weight, dtype=np.float64), n)
    if distrust is None:
        distrust_matrix = sp.csr_matrix((n, n), dtype=np.float64)
    else:
        rater, rated, weight = distrust
        distrust_matrix = build_distrust(rows(rater), rows(rated), weight, n)
    quarantined = np.zeros(n, dtype=bool)
    quarantined[np.searchsorted(uids, np.asarray(flagged_uids, dtype=np.int64))] = True
    if n and set(USER_COLUMNS) <= set(users.columns):
        users = coerce_users_frame(users)
    elif not n:
        users = empty_frame(USER_COLUMNS)
    return GraphExport(
        ids=users["id"].to_numpy(dtype=object),
        adjacency=adjacency,
        users=users.reset_index(drop=True),
        quarantined=quarantined,
        distrust=distrust_matrix,
    )


def check_model_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """A model's weights as a plain dict in component order: every component, finite and >= 0.

    Examples
    --------
    >>> w = check_model_weights({"credit_history": 0.35, "fulfilment_capacity": 0.25, "behaviour": 0.2,
    ...                          "identity": 0.15, "connections": 0.05})
    >>> list(w) == list(COMPONENTS)
    True
    >>> check_model_weights({"credit_history": 1.0})
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'model_weights' = ['credit_history']: must name exactly the components credit_history, fulfilment_capacity, behaviour, identity, connections
    """
    if not isinstance(weights, Mapping) or set(weights) != set(COMPONENTS):
        names = sorted(weights) if isinstance(weights, Mapping) else weights
        raise ParameterError(
            "model_weights", names, "must name exactly the components " + ", ".join(COMPONENTS)
        )
    return {name: check_real(weights[name], f"model_weights.{name}", lo=0.0) for name in COMPONENTS}


def check_consent(consent: Any) -> bool:
    """Validate a consent flag (a real boolean, not a truthy value)."""
    if not isinstance(consent, bool | np.bool_):
        raise ValidationError("must be true or false", entity="user", column="consent_network", value=consent)
    return bool(consent)


def check_review_request(tier: Any, reason: Any, requested_by: Any, due: Any) -> tuple[str, str, str, int]:
    """Validate a review request's fields (each backend writes them only after this)."""
    tier = check_text("review", "tier", tier, max_length=200)
    reason = check_text("review", "reason", reason)
    requested_by = check_text("review", "requested_by", requested_by, max_length=200)
    if isinstance(due, bool) or not isinstance(due, int | np.integer):
        raise ValidationError("must be epoch seconds", entity="review", column="due", value=due)
    return tier, reason, requested_by, int(due)


def check_review_resolution(outcome: Any, resolution: Any, analyst: Any) -> tuple[str, str, str]:
    """Validate a review's resolution (outcome one of :data:`REVIEW_OUTCOMES`, a reason, who)."""
    if outcome not in REVIEW_OUTCOMES:
        raise ValidationError(f"must be one of {', '.join(REVIEW_OUTCOMES)}", entity="review", column="outcome",
                              value=outcome)  # fmt: skip
    return (
        str(outcome),
        check_text("review", "resolution", resolution),
        check_text("review", "analyst", analyst),
    )


def _pseudonym(key: bytes, user_id: str) -> str:
    """The erased user's reference in the audit log: a keyed hash, not reversible without the store's key."""
    return "erased:" + hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
