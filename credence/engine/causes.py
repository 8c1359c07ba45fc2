"""What each engine change writes to the change journal (:mod:`credence.graph.journal`).

The drafts are built from the change's input before the store has checked it, so they
are lenient: input the journal cannot name (a missing column, a bad id) gives no draft,
and the change itself then fails with the store's own error, naming the row. A change
whose input is good is always journaled.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"id": ["r1", "r2", "r3"], "user": ["ann", "bob", "ann"]})
>>> event_change("repayments", frame).people
{'ann': ('r1', 'r3'), 'bob': ('r2',)}
>>> event_change("repayments", frame, stored=lambda ids: {"r3"}).corrected
('r3',)
>>> event_change("repayments", pd.DataFrame({"user": ["ann"]})) is None  # no ids: the store will say so
True
>>> link_change("link_removed", "ann", "bob").people
{'ann': ('bob',), 'bob': ('ann',)}
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import pandas as pd

from credence.core.errors import ValidationError
from credence.graph.journal import ChangeDraft, check_change
from credence.graph.model import Records

__all__ = ["event_change", "link_change", "person_change"]


def _draft(
    kind: str, people: Mapping[Any, Iterable[Any]], actor: str | None = None, corrected: Iterable[Any] = ()
) -> ChangeDraft | None:
    try:
        return check_change(kind, people, actor=actor, corrected=corrected)
    except ValidationError:
        return None


def event_change(
    kind: str, frame: pd.DataFrame | Records, stored: Callable[[list[str]], Collection[str]] | None = None
) -> ChangeDraft | None:
    """The journal draft of an event batch: each owner and the ids of their events in it.

    ``stored(ids)`` says which of the ids are stored already: those events are
    ``corrected`` (replaced by id), the rest new.
    """
    if isinstance(frame, Records):
        present = {"user", "id"} <= set(frame.columns)
        users, ids = (frame.column("user"), frame.column("id")) if present else ([], [])
    elif {"user", "id"} <= set(frame.columns):
        users, ids = frame["user"].tolist(), frame["id"].tolist()
    else:
        return None
    people: dict[Any, list[Any]] = {}
    for user, record in zip(users, ids, strict=True):
        people.setdefault(user.strip() if isinstance(user, str) else user, []).append(
            str(record).strip() if isinstance(record, str | int) else record
        )
    draft = _draft(kind, people)
    if draft is None or stored is None:
        return draft
    named = [record for records in draft.people.values() for record in records]
    known = set(stored(named))
    return _draft(kind, draft.people, corrected=[record for record in named if record in known])


def link_change(kind: str, a: Any, b: Any) -> ChangeDraft | None:
    """The journal draft of a link added or removed: each end and the other end."""
    return _draft(kind, {a: [b], b: [a]})


def person_change(
    kind: str, users: Iterable[Any], *, actor: str | None = None, record: Any = None, corrected: bool = False
) -> ChangeDraft | None:
    """The journal draft of a change to some people's own standing (consent, flag, dispute, erasure).

    ``corrected``: the ``record`` was replaced by a corrected one (an upheld dispute with a correction).
    """
    records = [] if record is None else [record]
    return _draft(kind, {user: records for user in users}, actor, records if corrected else ())
