"""Disputes in the scores: which records count while a dispute is open, and after it is resolved.

A person disputes one of their records (:class:`~credence.graph.disputes.Dispute`). What
it does to the scores follows the policy's :class:`~credence.scoring.policy.DisputeRules`:

* an **event** (a repayment, a spending or bill event) that is adverse to the person
  (late, missed or defaulted; a bill paid late) stops counting while its dispute is
  open, unless ``adverse_counts_while_open``; upheld, it is removed (it never counts
  again) or replaced by the correction; rejected, it counts again;
* a **link** that is adverse (taking it away would raise the person's score) is
  suspended from the diffusion while open, for both ends, on the same rule; upheld,
  it is removed from the store; rejected, it is back at its stored weight;
* a **flag** keeps its quarantine while its dispute is open (the quarantine protects
  the people the account could lift); upheld, the flag is cleared; rejected, it stays.

:func:`suspended_records` derives the records that do not count from the stored
disputes (a full recompute and a restart use it); :func:`open_dispute` and
:func:`resolve_dispute` change them one dispute at a time, rescoring incrementally, in the
engine's unit of work.

Examples
--------
>>> from credence.graph.disputes import Dispute, check_dispute_request
>>> from credence.scoring.policy import DisputeRules
>>> late = Dispute(id=1, user="ann", kind="repayment", record="r2", detail="{}", adverse=True, reason="paid",
...                opened_by="app", opened_at=0, due=1)
>>> suspended_records(DisputeRules(), [late]).repayments
{'r2'}
>>> suspended_records(DisputeRules(adverse_counts_while_open=True), [late]).repayments
set()
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credence.core.errors import ConflictError, NotFoundError, ValidationError
from credence.engine import events, explain
from credence.engine.model import ScoringModel
from credence.engine.results import ScoreChange
from credence.engine.state import EngineState, Suspended, link_key
from credence.graph.disputes import Dispute, check_dispute_request
from credence.graph.model import Records, epoch_now
from credence.graph.store import GraphStore
from credence.scoring.policy import DisputeRules

__all__ = [
    "DisputeOutcome",
    "Suspended",
    "check_correction",
    "link_key",
    "open_dispute",
    "resolve_dispute",
    "suspended_records",
]

#: The store's event kind of each disputable event.
_EVENT_KINDS = {"repayment": "repayments", "spending": "spending"}
#: Repayment statuses that count against the payer.
_ADVERSE_STATUSES = frozenset({"late", "missed", "defaulted"})


@dataclass(frozen=True)
class DisputeOutcome:
    """A dispute as stored after a change, and the score changes the change caused."""

    dispute: Dispute
    changes: tuple[ScoreChange, ...]


def _suspends_while_open(rules: DisputeRules, dispute: Dispute) -> bool:
    return dispute.kind != "flag" and dispute.adverse and not rules.adverse_counts_while_open


def suspended_records(rules: DisputeRules, disputes: Iterable[Dispute]) -> Suspended:
    """The records that do not count, from every stored dispute, in order."""
    out = Suspended()
    for dispute in disputes:
        kind = _EVENT_KINDS.get(dispute.kind)
        if kind is not None:
            ids = out.events(kind)
            if dispute.removed or (dispute.open and _suspends_while_open(rules, dispute)):
                ids.add(dispute.record)
            elif dispute.outcome is not None:
                ids.discard(dispute.record)  # rejected, or corrected: it counts (as corrected)
        elif dispute.kind == "link" and dispute.open and _suspends_while_open(rules, dispute):
            out.links.add(link_key(dispute.user, dispute.record))
    return out


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _disputed_record(
    model: ScoringModel, state: EngineState, store: GraphStore, user: str, kind: str, record: str
) -> tuple[dict[str, Any], bool]:
    """The record as stored now (JSON-ready) and whether it is adverse to ``user``; NotFoundError if not theirs."""
    if kind in _EVENT_KINDS:
        frame = store.repayments(user) if kind == "repayment" else store.spending(user)
        found = frame[frame["id"].astype(str) == record]
        if found.empty:
            raise NotFoundError(kind, f"{record} of user {user}")
        row = {str(name): _plain(value) for name, value in found.iloc[0].items()}
        if kind == "repayment":
            adverse = row["status"] in _ADVERSE_STATUSES
        else:
            adverse = row["category"] == "bill" and row["on_time"] is False
        return row, adverse
    if kind == "link":
        neighbours = store.neighbors(user)
        found = neighbours[neighbours["user"].astype(str) == record]
        if found.empty:
            raise NotFoundError("link", f"{user} - {record}")
        detail = {
            "other": record,
            "weight": float(found["weight"].iloc[0]),
            "created": int(found["created"].iloc[0]),
        }
        # Adverse when the person's score would rise without it (what-if, nothing stored).
        hypothetical = explain.what_if(
            model,
            state,
            store,
            add_links=(),
            remove_links=[(user, record)],
            remove_users=(),
            repayments=None,
            spending=None,
        )
        after = hypothetical.score_of(user)
        return detail, after is not None and after > int(state.scores[state.row(user)])
    flag_id = record
    flags = [f for f in store.flags(user) if str(f.id) == flag_id]
    if not flags:
        raise NotFoundError("flag", f"{record} of user {user}")
    if not flags[0].active:
        raise ValidationError("is not an active flag (it was cleared)", entity="dispute", column="record",
                              value=record)  # fmt: skip
    flag = flags[0]
    return {
        "id": flag.id,
        "analyst": flag.analyst,
        "reason": flag.reason,
        "flagged_at": flag.flagged_at,
    }, True


def open_dispute(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    user: str,
    *,
    kind: str,
    record: str,
    reason: str,
    opened_by: str,
    on_change: events.ChangeFn,
) -> DisputeOutcome:
    """Record ``user``'s dispute of one of their records, then suspend it if the policy says so."""
    state.row(user)  # NotFoundError before anything is written
    kind, record, reason, opened_by, _ = check_dispute_request(kind, record, reason, opened_by, 0)
    detail, adverse = _disputed_record(model, state, store, user, kind, record)
    at = epoch_now()
    dispute = store.open_dispute(
        user, kind=kind, record=record, detail=json.dumps(detail, sort_keys=True), adverse=adverse,
        reason=reason, opened_by=opened_by, due=at + model.policy.disputes.deadline_days * 86_400, at=at,
    )  # fmt: skip
    if dispute.kind == "flag" or not _suspends_while_open(model.policy.disputes, dispute):
        return DisputeOutcome(dispute, ())
    return DisputeOutcome(dispute, tuple(_suspend(model, state, store, dispute, on_change=on_change)))


def _suspend(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    dispute: Dispute,
    *,
    on_change: events.ChangeFn,
) -> list[ScoreChange]:
    if dispute.kind in _EVENT_KINDS:
        state.touch()
        state.suspended.events(_EVENT_KINDS[dispute.kind]).add(dispute.record)
        return _rebase_user(model, state, store, dispute.user, on_change=on_change)
    state.touch()
    state.suspended.links.add(link_key(dispute.user, dispute.record))
    moved = state.diffusion.set_link(state.row(dispute.user), state.row(dispute.record), 0.0)
    return events.rescore(model, state, store, events.NO_ROWS, None, [moved], on_change=on_change)


def _rebase_user(
    model: ScoringModel, state: EngineState, store: GraphStore, user: str, *, on_change: events.ChangeFn
) -> list[ScoreChange]:
    rows = np.array([state.row(user)], dtype=np.int64)
    parts, moved = events.rebase(model, state, store, rows)
    return events.rescore(model, state, store, rows, parts, moved, on_change=on_change)


def check_correction(dispute: Dispute, correction: Records | None, outcome: str) -> None:
    """A correction replaces the disputed event: one row of its kind, with its id and user, on ``upheld``."""
    if correction is None:
        return
    if outcome != "upheld":
        raise ValidationError("only an upheld dispute corrects its record", entity="dispute", column="correction",
                              value=outcome)  # fmt: skip
    kind = _EVENT_KINDS.get(dispute.kind)
    if kind is None or correction.kind != kind:
        raise ValidationError(f"a {dispute.kind} dispute cannot be corrected with {correction.kind}",
                              entity="dispute", column="correction", value=correction.kind)  # fmt: skip
    if len(correction) != 1:
        raise ValidationError("must be exactly one record", entity="dispute", column="correction",
                              value=len(correction))  # fmt: skip
    (event,) = correction.rows
    columns = correction.columns
    if str(event[columns.index("id")]) != dispute.record or str(event[columns.index("user")]) != dispute.user:
        raise ValidationError(f"must keep the disputed record's id {dispute.record!r} and user {dispute.user!r}",
                              entity="dispute", column="correction", value=event[columns.index("id")])  # fmt: skip


def resolve_dispute(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    dispute_id: int,
    *,
    outcome: str,
    resolution: str,
    analyst: str,
    correction: Records | None,
    on_change: events.ChangeFn,
) -> DisputeOutcome:
    """Resolve an open dispute and apply its outcome to the record and the scores."""
    stored = store.dispute(dispute_id)  # NotFoundError
    if not stored.open:
        raise ConflictError(f"dispute {dispute_id} was already resolved")
    check_correction(stored, correction, outcome)
    corrected = None if correction is None else json.dumps(dict(zip(correction.columns, correction.rows[0],
                                                                    strict=True)), sort_keys=True)  # fmt: skip
    dispute = store.resolve_dispute(dispute_id, outcome=outcome, resolution=resolution, analyst=analyst,
                                    correction=corrected)  # fmt: skip
    kind = _EVENT_KINDS.get(dispute.kind)
    if kind is not None:
        if correction is not None:
            store.add_records(correction)
        ids = state.suspended.events(kind)
        state.touch()
        if dispute.removed:
            ids.add(dispute.record)
        else:
            ids.discard(dispute.record)
        changes = _rebase_user(model, state, store, dispute.user, on_change=on_change)
    elif dispute.kind == "link":
        changes = _resolve_link(model, state, store, dispute, on_change=on_change)
    else:
        changes = _resolve_flag(model, state, store, dispute, on_change=on_change)
    return DisputeOutcome(dispute, tuple(changes))


def _resolve_link(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    dispute: Dispute,
    *,
    on_change: events.ChangeFn,
) -> list[ScoreChange]:
    key = link_key(dispute.user, dispute.record)
    neighbours = store.neighbors(dispute.user)
    stored = neighbours[neighbours["user"].astype(str) == dispute.record]
    state.touch()
    state.suspended.links.discard(key)
    u, v = state.row(dispute.user), state.row(dispute.record)
    if dispute.outcome == "upheld":
        if not stored.empty:
            store.remove_link(dispute.user, dispute.record)
        weight = 0.0
    else:
        weight = 0.0 if stored.empty else float(stored["weight"].iloc[0])
    moved = state.diffusion.set_link(u, v, weight)
    return events.rescore(model, state, store, events.NO_ROWS, None, [moved], on_change=on_change)


def _resolve_flag(
    model: ScoringModel,
    state: EngineState,
    store: GraphStore,
    dispute: Dispute,
    *,
    on_change: events.ChangeFn,
) -> list[ScoreChange]:
    if dispute.outcome != "upheld":
        return []
    active = [f for f in store.flags(dispute.user) if f.active and str(f.id) == dispute.record]
    if not active:
        return []  # cleared meanwhile: nothing left to lift
    return events.set_flag(model, state, store, dispute.user, flagged=False, analyst=str(dispute.resolved_by),
                           reason=f"dispute {dispute.id} upheld: {dispute.resolution}",
                           on_change=on_change)  # fmt: skip
