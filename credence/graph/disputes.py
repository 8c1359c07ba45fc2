"""Disputes as stored: a person's challenge of one of their records, and how an analyst resolved it.

A dispute names one record of the person who opens it: a repayment or a spending
event (by event id), a link (by the other user's id) or a flag (by flag id). The store
keeps the record as it was when disputed (``detail``, JSON), whether it was adverse to
the person then, the deadline, and the resolution: ``upheld`` (the record is removed,
or, with a ``correction``, replaced by the corrected one) or ``rejected`` (it stands).
What a dispute does to a score is the engine's business (:mod:`credence.engine.disputes`);
the store only records it, validated by the checks here, which both backends run before
they write.

Examples
--------
>>> check_dispute_request("repayment", " r1 ", "I paid on time", "app-key", 86_400)
('repayment', 'r1', 'I paid on time', 'app-key', 86400)
>>> check_dispute_request("loan", "r1", "x", "app-key", 0)
Traceback (most recent call last):
...
credence.core.errors.ValidationError: dispute, column 'kind' (value 'loan'): must be one of repayment, spending, link, flag
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from credence.core.errors import ValidationError
from credence.graph.model import check_text

__all__ = [
    "DISPUTE_KINDS",
    "DISPUTE_OUTCOMES",
    "Dispute",
    "check_dispute_request",
    "check_dispute_resolution",
]

#: What a person can dispute: an event of theirs, one of their links, a flag on them.
DISPUTE_KINDS: tuple[str, ...] = ("repayment", "spending", "link", "flag")
#: How a dispute ends: the person was right (``upheld``: corrected or removed) or not (``rejected``).
DISPUTE_OUTCOMES: tuple[str, ...] = ("upheld", "rejected")


@dataclass(frozen=True, kw_only=True)
class Dispute:
    """A person's dispute of one of their records, and its resolution.

    Open while ``resolved_at`` is None; ``due`` is the deadline the analysts work to.
    ``correction`` (JSON) is the corrected record of an ``upheld`` dispute that corrected
    it rather than removing it.
    """

    id: int
    user: str
    kind: str
    record: str
    detail: str
    adverse: bool
    reason: str
    opened_by: str
    opened_at: int
    due: int
    resolved_at: int | None = None
    resolved_by: str | None = None
    outcome: str | None = None
    resolution: str | None = None
    correction: str | None = None

    @property
    def open(self) -> bool:
        """True until resolved."""
        return self.resolved_at is None

    @property
    def removed(self) -> bool:
        """True when upheld without a correction: the record no longer counts."""
        return self.outcome == "upheld" and self.correction is None

    def overdue(self, now: int) -> bool:
        """Whether the dispute is still open after its deadline."""
        return self.open and now > self.due


def _epoch(value: Any, column: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError("must be epoch seconds", entity="dispute", column=column, value=value)
    return int(value)


def check_dispute_request(
    kind: Any, record: Any, reason: Any, opened_by: Any, due: Any
) -> tuple[str, str, str, str, int]:
    """Validate a dispute's fields (each backend writes them only after this)."""
    if kind not in DISPUTE_KINDS:
        raise ValidationError(f"must be one of {', '.join(DISPUTE_KINDS)}", entity="dispute", column="kind",
                              value=kind)  # fmt: skip
    return (
        str(kind),
        check_text("dispute", "record", record, max_length=200),
        check_text("dispute", "reason", reason),
        check_text("dispute", "opened_by", opened_by, max_length=200),
        _epoch(due, "due"),
    )


def check_dispute_resolution(outcome: Any, resolution: Any, analyst: Any) -> tuple[str, str, str]:
    """Validate a dispute's resolution (outcome one of :data:`DISPUTE_OUTCOMES`, a reason, who)."""
    if outcome not in DISPUTE_OUTCOMES:
        raise ValidationError(f"must be one of {', '.join(DISPUTE_OUTCOMES)}", entity="dispute",
                              column="outcome", value=outcome)  # fmt: skip
    return (
        str(outcome),
        check_text("dispute", "resolution", resolution),
        check_text("dispute", "analyst", analyst, max_length=200),
    )
