"""The change journal: which change produced each incremental score snapshot.

A snapshot keeps a user's score and components, not why they moved. The journal keeps
the why: one :class:`Change` per incremental change (an event batch, a link, a consent,
a flag, a dispute, an erasure), with the people whose own data it changed and, for
each, the ids of their records it concerned. Every snapshot the change produced points
to it, written in the change's own transaction (:meth:`~credence.graph.store.StoreBase.change`),
so a snapshot exists exactly when its cause does. Full recomputes and imported scores
have no journal entry: their snapshots are explained by the evaluation time and the
model version they record.

What ``people`` holds, per kind:

========================  ==================================================
kind                      ``people``: person -> their records it concerned
========================  ==================================================
``repayments``            each payer -> the repayment ids recorded
``spending``              each spender -> the spending ids recorded
``users``                 each user created or updated -> ()
``link_added``            both ends -> the other end's id
``link_removed``          both ends -> the other end's id
``consent_given``         the person -> ()
``consent_withdrawn``     the person -> ()
``flag`` / ``unflag``     each person flagged or cleared -> ()
``dispute_opened``        the person -> the disputed record's id
``dispute_upheld``        the person -> the record's id (removed, or corrected)
``dispute_rejected``      the person -> the record's id (it counts again)
``erasure``               the erased person's pseudonym -> ()
========================  ==================================================

Examples
--------
>>> check_change("link_added", {"ann": ["bob"], "bob": ["ann"]}, actor=" app ")
ChangeDraft(kind='link_added', people={'ann': ('bob',), 'bob': ('ann',)}, actor='app', corrected=())
>>> change = parse_change(7, 1_700_000_000, "link_added", '{"ann": ["bob"], "bob": ["ann"]}', None)
>>> change.concerns("ann"), change.records_of("ann"), change.others("ann")
(True, ('bob',), ('bob',))
>>> check_change("rumour", {"ann": []})
Traceback (most recent call last):
...
credence.core.errors.ValidationError: change, column 'kind' (value 'rumour'): must be one of repayments, spending, users, link_added, link_removed, consent_given, consent_withdrawn, flag, unflag, dispute_opened, dispute_upheld, dispute_rejected, erasure
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from credence.core.errors import ValidationError
from credence.graph.model import check_text, check_user_id

__all__ = [
    "CHANGE_KINDS",
    "Change",
    "ChangeDraft",
    "check_change",
    "format_people",
    "parse_change",
    "rename_person",
]

#: What a journal entry can record (see the module's table).
CHANGE_KINDS: tuple[str, ...] = (
    "repayments",
    "spending",
    "users",
    "link_added",
    "link_removed",
    "consent_given",
    "consent_withdrawn",
    "flag",
    "unflag",
    "dispute_opened",
    "dispute_upheld",
    "dispute_rejected",
    "erasure",
)


@dataclass(frozen=True)
class ChangeDraft:
    """A change about to be journaled (:func:`check_change`): no id or time yet."""

    kind: str
    people: Mapping[str, tuple[str, ...]]
    actor: str | None = None
    #: Of the event ids in ``people``, those that replaced a stored event with the same id (the rest are new).
    corrected: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """A journaled change: what it was, when, by whom, and whose records it concerned."""

    id: int
    at: int
    kind: str
    people: Mapping[str, tuple[str, ...]]
    actor: str | None = None
    #: Event ids that replaced a stored event with the same id: corrections or updates (the rest are new).
    corrected: tuple[str, ...] = ()

    def concerns(self, user_id: str) -> bool:
        """Whether the change was to ``user_id``'s own data (their record, link, consent or flag)."""
        return user_id in self.people

    def records_of(self, user_id: str) -> tuple[str, ...]:
        """The ids of ``user_id``'s records the change concerned (empty for someone else)."""
        return tuple(self.people.get(user_id, ()))

    def others(self, user_id: str) -> tuple[str, ...]:
        """The other people whose own data the change was, in the order recorded."""
        return tuple(person for person in self.people if person != user_id)


def check_change(
    kind: Any, people: Mapping[Any, Iterable[Any]], *, actor: Any = None, corrected: Iterable[Any] = ()
) -> ChangeDraft:
    """Validate a change before it is journaled; the draft, stripped.

    Raises
    ------
    ValidationError
        Naming the field: a kind outside :data:`CHANGE_KINDS`, no person, a bad user id,
        a record id that is not a non-empty string, or an empty actor.
    """
    if kind not in CHANGE_KINDS:
        raise ValidationError(f"must be one of {', '.join(CHANGE_KINDS)}", entity="change", column="kind",
                              value=kind)  # fmt: skip
    if not people:
        raise ValidationError("names nobody", entity="change", column="people", value=dict(people))
    checked: dict[str, tuple[str, ...]] = {}
    for person, records in people.items():
        ids = tuple(check_text("change", "records", record, max_length=1_000) for record in records)
        key = check_user_id(person)
        checked[key] = tuple(dict.fromkeys((*checked.get(key, ()), *ids)))
    named = {record for records in checked.values() for record in records}
    fixed = tuple(
        dict.fromkeys(check_text("change", "corrected", record, max_length=1_000) for record in corrected)
    )
    for record in fixed:
        if record not in named:
            raise ValidationError(
                "is not a record of the change", entity="change", column="corrected", value=record
            )
    return ChangeDraft(kind=str(kind), people=checked, actor=None if actor is None else check_text("change", "actor", actor),
                       corrected=fixed)  # fmt: skip


def format_people(people: Mapping[str, Iterable[str]]) -> str:
    """The stored form of ``people``: JSON, person -> list of record ids, in the order given.

    >>> format_people({"ann": ("r1", "r2"), "bob": ()})
    '{"ann": ["r1", "r2"], "bob": []}'
    """
    return json.dumps({person: list(records) for person, records in people.items()})


def parse_change(
    change_id: int, at: int, kind: str, people: str, actor: str | None, corrected: str | None = None
) -> Change:
    """A :class:`Change` from its stored fields (``people`` in :func:`format_people`'s form, ``corrected`` a JSON list)."""
    parsed = json.loads(people)
    return Change(id=int(change_id), at=int(at), kind=str(kind),
                  people={str(p): tuple(str(r) for r in records) for p, records in parsed.items()},
                  actor=None if actor is None else str(actor),
                  corrected=tuple(str(r) for r in json.loads(corrected or "[]")))  # fmt: skip


def rename_person(people: str, old: str, new: str) -> str:
    """``people`` (stored form) with every mention of ``old``, as a person or a record, replaced by ``new``.

    Erasure uses it to leave only a pseudonym in the journal.

    >>> rename_person('{"ann": ["bob"], "bob": ["ann"]}', "bob", "erased:1f")
    '{"ann": ["erased:1f"], "erased:1f": ["ann"]}'
    """
    parsed = json.loads(people)
    renamed = {
        (new if p == old else p): [new if r == old else r for r in records] for p, records in parsed.items()
    }
    return format_people(renamed)
