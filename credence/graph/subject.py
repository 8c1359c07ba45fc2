"""Everything a store holds about one person, as one JSON-ready document (a subject access export).

A person may ask a credit bureau for every record it holds about them (GDPR Article
15, FCRA file disclosure). :func:`generate_subject_export` gathers it from any
:class:`~credence.graph.store.GraphStore`: the user record, their links, repayments,
spending, the distrust they gave and received, consent changes, adverse-action notices, requests for human review,
disputes, analyst flags, score snapshots, and the audit entries about
them (who read their evidence, flagged or unflagged them); :func:`write_subject_export`
writes it to a file. Times are ISO-8601 in UTC (:func:`credence.core.times.format_datetime`);
values are plain JSON (missing values are null).

Each part is read as the store holds it when that part is read: a change committed
while an export runs may show in some parts and not in others.

Examples
--------
>>> import pandas as pd
>>> from credence.graph.sqlite import SQLiteStore
>>> from credence.graph.model import parse_dataset
>>> store = SQLiteStore(":memory:")
>>> _ = store.load(parse_dataset(users=pd.DataFrame({"id": ["ann", "bob"], "created": [0, 0]}),
...                              links=pd.DataFrame({"source": ["ann"], "target": ["bob"], "created": [60]}),
...                              distrust=pd.DataFrame({"rater": ["bob"], "rated": ["ann"], "weight": [2],
...                                                     "created": [90]})))
>>> _ = store.set_consent("ann", False, actor="shop-app", at=120)
>>> export = generate_subject_export(store, "ann", now=180)
>>> export["user"]["created"], export["links"], export["consent_history"]
('1970-01-01T00:00:00Z', [{'user': 'bob', 'weight': 1.0, 'created': '1970-01-01T00:01:00Z'}], [{'consent': False, 'at': '1970-01-01T00:02:00Z', 'actor': 'shop-app'}])
>>> export["distrust"]
[{'rater': 'bob', 'rated': 'ann', 'weight': 2.0, 'created': '1970-01-01T00:01:30Z'}]
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from credence.core.times import format_datetime
from credence.graph.model import check_user_id, epoch_now
from credence.graph.store import AUDIT_PAGE_MAX, GraphStore

__all__ = ["SUBJECT_EXPORT_FORMAT", "generate_subject_export", "write_subject_export"]

#: The export's ``format`` field: a reader checks it before trusting the layout.
SUBJECT_EXPORT_FORMAT = "credence-subject-export/1"

#: Columns that hold epoch seconds, written as ISO-8601.
_TIME_FIELDS = frozenset(
    {
        "created",
        "due",
        "paid",
        "at",
        "computed_at",
        "flagged_at",
        "cleared_at",
        "requested_at",
        "resolved_at",
        "opened_at",
    }
)


def _plain(name: str, value: Any) -> Any:
    """A JSON value: None for missing, ISO-8601 for times, Python scalars for numpy's."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if name in _TIME_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return format_datetime(value)
    return value


def _rows(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    columns = [c for c in frame.columns if c not in drop]
    return [{c: _plain(c, v) for c, v in zip(columns, row, strict=True)}
            for row in frame[columns].itertuples(index=False, name=None)]  # fmt: skip


def _record(item: Any, drop: tuple[str, ...] = ("user", "id")) -> dict[str, Any]:
    return {k: _plain(k, v) for k, v in dataclasses.asdict(item).items() if k not in drop}


def generate_subject_export(store: GraphStore, user_id: str, *, now: int | None = None) -> dict[str, Any]:
    """Everything ``store`` holds about ``user_id``, as a JSON-ready dict.

    Parameters
    ----------
    store
        Any store.
    user_id
        The person, by their user id as stored.
    now
        The export's time (default: the clock), recorded as ``exported_at``.

    Returns
    -------
    dict
        ``format``, ``user_id``, ``exported_at``, ``user`` (the stored record), ``links``
        (each friend with the link's weight and creation), ``repayments``, ``spending``,
        ``distrust`` (the rows the person gives or receives), ``consent_history``, ``notices`` (adverse-action),
        ``reviews`` (requests for human review), ``disputes`` (with their resolutions), ``flags``, ``score_history`` (oldest first, with the
        components and each snapshot's ``cause`` from the change journal: its kind, time,
        whether it was to the person's own data, and which of their records) and ``audit`` (the entries whose subject is the person, oldest first:
        who read their evidence, who flagged them).

    Raises
    ------
    ValidationError
        If ``user_id`` is not a valid user id.
    NotFoundError
        If the store has no such user.
    """
    user_id = check_user_id(user_id)
    user = store.get_user(user_id)  # NotFoundError first: nothing else is read for an unknown id
    audit: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        page = store.audit_log(first=AUDIT_PAGE_MAX, after=after, subject=user_id)
        audit += [_record(entry, drop=("subject",)) for entry in page]
        if len(page) < AUDIT_PAGE_MAX:
            break
        after = page[-1].id
    return {
        "format": SUBJECT_EXPORT_FORMAT,
        "user_id": user_id,
        "exported_at": format_datetime(epoch_now() if now is None else now),
        "user": _record(user, drop=("id",)),
        "links": _rows(store.neighbors(user_id)),
        "repayments": _rows(store.repayments(user_id), drop=("user",)),
        "spending": _rows(store.spending(user_id), drop=("user",)),
        "distrust": _rows(store.distrust(user_id)),
        "consent_history": [_record(change) for change in store.consent_history(user_id)],
        "notices": [_record(notice) for notice in store.notices(user_id)],
        "reviews": [_record(review) for review in store.reviews(user=user_id)],
        "disputes": [_record(dispute, drop=("user",)) for dispute in store.disputes(user=user_id)],
        "flags": [_record(flag) for flag in store.flags(user_id)],
        "score_history": _history(store, user_id),
        "audit": audit,
    }


def _history(store: GraphStore, user_id: str) -> list[dict[str, Any]]:
    """The score history, each snapshot with the journaled change behind it (without naming anyone else)."""
    rows = _rows(store.score_history(user_id), drop=("user",))
    causes = store.snapshot_changes(user_id)
    for row, cause in zip(rows, causes, strict=False):
        row["cause"] = None if cause is None else {
            "kind": cause.kind, "at": format_datetime(cause.at), "own": cause.concerns(user_id),
            "records": list(cause.records_of(user_id)), "corrected": [r for r in cause.records_of(user_id)
                                                                       if r in cause.corrected],
        }  # fmt: skip
    return rows


def write_subject_export(
    store: GraphStore, user_id: str, path: Path, *, now: int | None = None
) -> dict[str, Any]:
    """Write :func:`generate_subject_export` to ``path`` as JSON, atomically and readable by the owner only (0600).

    Returns the export that was written.
    """
    export = generate_subject_export(store, user_id, now=now)
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(export, out, indent=2, ensure_ascii=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return export
