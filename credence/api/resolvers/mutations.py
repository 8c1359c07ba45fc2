"""Every mutation: records and links (app, admin), flags (analyst, admin), recompute (admin).

Each checks the caller's role and that the server is writable, then hands the change
to the writer (:meth:`~credence.api.service.CredenceService.mutate`): the change, its
score snapshots and its audit entry commit in one transaction, and the score changes
are published to subscribers once they are stored. Users are named by their stored
ids. Flags, unflags and recomputes are audited whatever the caller's role.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import strawberry

from credence.api.context import context_of
from credence.api.inputs import (
    MAX_LISTED_USERS,
    RepaymentInput,
    SpendingInput,
    UserInput,
    as_argument_error,
    repayments_frame,
    spending_frame,
    users_frame,
)
from credence.api.scalars import EpochSeconds, format_datetime
from credence.api.types.consent import HumanReview, ReviewOutcome, review_from
from credence.api.types.disputes import DisputeKind, DisputeOutcome, DisputePayload, dispute_from
from credence.api.types.payloads import (
    ChangePayload,
    ErasePayload,
    RecomputePayload,
    change_payload,
    recompute_payload,
)
from credence.api.types.scores import score_changes
from credence.core.errors import LimitExceededError, ValidationError
from credence.engine import ScoreChange
from credence.graph.disputes import Dispute
from credence.graph.model import check_text, check_user_id, epoch_now

T = TypeVar("T")


def _dispute_payload(changes: Sequence[ScoreChange], dispute: Dispute) -> DisputePayload:
    return DisputePayload(
        dispute=dispute_from(dispute, epoch_now()), changes=score_changes(c for c in changes if c.moved)
    )


def _told(argument: str, call: Callable[[], T]) -> T:
    """Run ``call``; a validation error about a stored record is told in terms of the mutation's ``argument``."""
    try:
        return call()
    except ValidationError as error:
        raise as_argument_error(error, argument) from None


#: How far ahead of the server's clock a recompute's evaluation time may be (seconds).
_CLOCK_SKEW = 86_400

__all__ = ["Mutation"]


@strawberry.type
class Mutation:
    """The root mutation type.

    Every mutation checks the caller's permission (``write``, ``flag`` or ``admin``)
    and that the server is writable (:class:`~credence.api.context.ReadOnlyError`
    otherwise). The changes run through
    :meth:`~credence.api.service.CredenceService.mutate`, which publishes the score
    changes to subscribers and answers with a ``ChangePayload``; ``recompute`` runs on
    the worker thread and publishes nothing. Invalid input raises
    :class:`~credence.core.errors.ValidationError` and changes nothing.
    """

    @strawberry.mutation(description="Create or update a user (app, admin).")
    async def upsert_user(self, info: strawberry.Info, input: UserInput) -> ChangePayload:
        """Create or update the user of ``input`` (matched by id) and score them (``write``).

        Fields left out keep their stored values; the merge reads the stored user on the
        writer, in the transaction of the change.
        """
        ctx = context_of(info)
        ctx.require("write", "upsertUser")
        ctx.writable()
        user_id = check_user_id(input.id)
        service = ctx.service

        def run() -> Any:
            stored = service.store.get_user(user_id) if service.store.has_users([user_id])[0] else None
            return _told("input", lambda: service.engine.upsert_users(users_frame(input, stored)))

        changes = await service.mutate(run)
        return await change_payload(info, changes, [user_id])

    @strawberry.mutation(description="Create or re-weight a link between two users (app, admin).")
    async def add_link(self, info: strawberry.Info, a: str, b: str, weight: float = 1.0) -> ChangePayload:
        """Create the link between ``a`` and ``b`` or re-weight it, then rescore what it moves (``write``)."""
        ctx = context_of(info)
        ctx.require("write", "addLink")
        ctx.writable()
        a, b = check_user_id(a), check_user_id(b)
        try:  # a bound engine method, so that a follower worker can relay it to the writer
            changes = await ctx.service.mutate(ctx.service.engine.add_link, a, b, weight=weight)
        except ValidationError as error:
            raise as_argument_error(error, "addLink") from None
        return await change_payload(info, changes, [a, b])

    @strawberry.mutation(description="Remove the link between two users (app, admin; NOT_FOUND if none).")
    async def remove_link(self, info: strawberry.Info, a: str, b: str) -> ChangePayload:
        """Remove the link between ``a`` and ``b``, then rescore what it moves (``write``).

        Raises
        ------
        NotFoundError
            If the two users are not linked.
        """
        ctx = context_of(info)
        ctx.require("write", "removeLink")
        ctx.writable()
        a, b = check_user_id(a), check_user_id(b)
        changes = await ctx.service.mutate(ctx.service.engine.remove_link, a, b)
        return await change_payload(info, changes, [a, b])

    @strawberry.mutation(description="Record a repayment event (app, admin).")
    async def record_repayment(self, info: strawberry.Info, input: RepaymentInput) -> ChangePayload:
        """Record one repayment (matched by event id), rescoring the payer and their network (``write``)."""
        ctx = context_of(info)
        ctx.require("write", "recordRepayment")
        ctx.writable()
        records = _told("input", lambda: repayments_frame(input))
        changes = await ctx.service.mutate(ctx.service.engine.record_repayments, records)
        return await change_payload(info, changes, [check_user_id(input.user)])

    @strawberry.mutation(description="Record a purchase or bill payment (app, admin).")
    async def record_spending(self, info: strawberry.Info, input: SpendingInput) -> ChangePayload:
        """Record one purchase or bill payment (matched by event id) and rescore what it moves (``write``)."""
        ctx = context_of(info)
        ctx.require("write", "recordSpending")
        ctx.writable()
        records = _told("input", lambda: spending_frame(input))
        changes = await ctx.service.mutate(ctx.service.engine.record_spending, records)
        return await change_payload(info, changes, [check_user_id(input.user)])

    @strawberry.mutation(description="Give or withdraw consent to network scoring (app, admin).")
    async def set_consent(self, info: strawberry.Info, user: str, consent: bool) -> ChangePayload:
        """Give or withdraw ``user``'s consent to network scoring (``write``).

        Without consent a user neither gives to nor receives from anyone's network value.
        """
        ctx = context_of(info)
        key = ctx.require("write", "setConsent")
        ctx.writable()
        user = check_user_id(user)
        changes = await ctx.service.mutate(ctx.service.engine.set_consent, user, consent, actor=key.name)
        return await change_payload(info, changes, [user])

    @strawberry.mutation(description="Quarantine a user (analyst, admin; audited with the reason).")
    async def flag_user(self, info: strawberry.Info, user: str, reason: str) -> ChangePayload:
        """Quarantine ``user``: they stop taking part in anyone's network (``flag``; audited with the reason).

        Raises
        ------
        ConflictError
            If the user is already flagged.
        """
        ctx = context_of(info)
        key = ctx.require("flag", "flagUser")
        ctx.writable()
        user = check_user_id(user)
        changes = await ctx.service.mutate(
            ctx.service.engine.flag_user, user, analyst=key.name, reason=reason,
            audit=[ctx.audit_action(key, "flag", user, reason)],
        )  # fmt: skip
        return await change_payload(info, changes, [user])

    @strawberry.mutation(
        description=(
            "Quarantine several users, e.g. a suspicious cluster (analyst, admin; audited per user with the reason; "
            "at most 100). Every id is checked before anything is written, and the flags, their audit entries "
            "and the score snapshots commit in one transaction: all of them or none."
        )
    )
    async def flag_users(self, info: strawberry.Info, users: list[str], reason: str) -> ChangePayload:
        """Quarantine several users, every id checked before anything is written (``flag``; audited).

        Repeated ids count once and each user gets an audit entry; everything commits in
        one transaction.

        Raises
        ------
        LimitExceededError
            If more than :data:`~credence.api.inputs.MAX_LISTED_USERS` users are named.
        ConflictError
            If one of them is already flagged (then none is).
        """
        ctx = context_of(info)
        key = ctx.require("flag", "flagUsers")
        ctx.writable()
        if len(users) > MAX_LISTED_USERS:
            raise LimitExceededError("users", len(users), MAX_LISTED_USERS)
        keys = list(dict.fromkeys(check_user_id(user) for user in users))
        check_text("flag", "reason", reason)
        changes = await ctx.service.mutate(
            ctx.service.engine.flag_users, keys, analyst=key.name, reason=reason,
            audit=[ctx.audit_action(key, "flag", user, reason) for user in keys],
        )  # fmt: skip
        return await change_payload(info, changes, keys)

    @strawberry.mutation(
        description="Erase a person: their records, links, score history, consent history, notices and reviews "
        "removed in one transaction, their neighbours rescored, the audit log's references pseudonymised, and the id "
        "refused if it is loaded again (admin; the store writes the audit entry, under the pseudonym)."
    )
    async def erase_user(self, info: strawberry.Info, user: str) -> ErasePayload:
        """:meth:`credence.engine.ScoringEngine.erase_user` (``admin``); the changes are published once stored.

        The writer is busy while memory is rebuilt from the store (a full in-memory
        recompute), so other changes wait for it.

        Raises
        ------
        NotFoundError
            If the user is unknown; nothing is written.
        """
        ctx = context_of(info)
        key = ctx.require("admin", "eraseUser")
        ctx.writable()
        user = check_user_id(user)
        erasure = await ctx.service.mutate(ctx.service.engine.erase_user, user, actor=key.name)
        ctx.service.publish(list(erasure.changes))
        return ErasePayload(erased=True, pseudonym=erasure.pseudonym,
                            changes=score_changes(c for c in erasure.changes if c.moved))  # fmt: skip

    @strawberry.mutation(
        description="Ask for human review of a benefit tier the user's score does not reach (app, admin; audited). "
        "An analyst resolves it within 30 days (reviews, resolveReview)."
    )
    async def request_review(self, info: strawberry.Info, user: str, tier: str, reason: str) -> HumanReview:
        """Record a request for human review (``write``); its audit entry commits with it.

        Raises
        ------
        ValidationError
            If ``tier`` is not a benefit tier, or the score reaches it.
        ConflictError
            If the user already has an open review of that tier.
        """
        ctx = context_of(info)
        key = ctx.require("write", "requestReview")
        ctx.writable()
        user = check_user_id(user)
        review = await ctx.service.mutate(
            ctx.service.engine.request_review, user, tier=tier, reason=reason, requested_by=key.name,
            audit=lambda done: [ctx.audit_action(key, "review:request", user, f"review={done.id} tier={tier}")],
        )  # fmt: skip
        return review_from(review)

    @strawberry.mutation(
        description="Resolve a human review with its outcome and the reason (analyst, admin; audited)."
    )
    async def resolve_review(
        self, info: strawberry.Info, id: int, outcome: ReviewOutcome, reason: str
    ) -> HumanReview:
        """Resolve an open review (``flag``); its audit entry commits with it.

        Raises
        ------
        NotFoundError
            If there is no review ``id``.
        ConflictError
            If it was already resolved.
        """
        ctx = context_of(info)
        key = ctx.require("flag", "resolveReview")
        ctx.writable()
        review = await ctx.service.mutate(
            ctx.service.engine.resolve_review, id, outcome=outcome.value, resolution=reason, analyst=key.name,
            audit=lambda done: [ctx.audit_action(key, "review:resolve", done.user,
                                                 f"review={done.id} outcome={done.outcome}: {reason}")],
        )  # fmt: skip
        return review_from(review)

    @strawberry.mutation(
        description="Dispute one of the user's records: a repayment or spending event (its id), a link (the other "
        "user's id) or a flag (its id) (app, admin; audited). An adverse record stops counting while the dispute "
        "is open, as the policy says; the score changes are published. Analysts resolve it by its deadline "
        "(disputes, resolveDispute)."
    )
    async def dispute_record(
        self, info: strawberry.Info, user: str, kind: DisputeKind, record: str, reason: str
    ) -> DisputePayload:
        """:meth:`credence.engine.ScoringEngine.open_dispute` (``write``); its audit entry commits with it.

        Raises
        ------
        NotFoundError
            If the user is unknown or the record is not theirs.
        ConflictError
            If the record already has an open dispute.
        """
        ctx = context_of(info)
        key = ctx.require("write", "disputeRecord")
        ctx.writable()
        user = check_user_id(user)
        outcome = await ctx.service.mutate(
            ctx.service.engine.open_dispute, user, kind=kind.value, record=record, reason=reason,
            opened_by=key.name,
            audit=lambda done: [ctx.audit_action(key, "dispute:open", user, f"dispute={done.dispute.id} "
                                                 f"{done.dispute.kind}={done.dispute.record}: {reason}")],
        )  # fmt: skip
        return _dispute_payload(ctx.service.publish(list(outcome.changes)), outcome.dispute)

    @strawberry.mutation(
        description="Resolve a dispute: upheld (the record is removed, or replaced by correctedRepayment / "
        "correctedSpending, which keep its id and user) or rejected (it counts again), with the reason (analyst, "
        "admin; audited). The score changes are published."
    )
    async def resolve_dispute(
        self,
        info: strawberry.Info,
        id: int,
        outcome: DisputeOutcome,
        reason: str,
        corrected_repayment: RepaymentInput | None = None,
        corrected_spending: SpendingInput | None = None,
    ) -> DisputePayload:
        """:meth:`credence.engine.ScoringEngine.resolve_dispute` (``flag``); its audit entry commits with it.

        Raises
        ------
        NotFoundError
            If there is no dispute ``id``.
        ConflictError
            If it was already resolved.
        ValidationError
            If both corrections are given, or a correction does not fit the dispute.
        """
        ctx = context_of(info)
        key = ctx.require("flag", "resolveDispute")
        ctx.writable()
        if corrected_repayment is not None and corrected_spending is not None:
            raise ValidationError("give correctedRepayment or correctedSpending, not both", entity="dispute",
                                  column="correction", value=id)  # fmt: skip
        correction = None
        if corrected_repayment is not None:
            correction = _told("correctedRepayment", lambda: repayments_frame(corrected_repayment))
        elif corrected_spending is not None:
            correction = _told("correctedSpending", lambda: spending_frame(corrected_spending))
        result = await ctx.service.mutate(
            ctx.service.engine.resolve_dispute, id, outcome=outcome.value, resolution=reason, analyst=key.name,
            correction=correction,
            audit=lambda done: [ctx.audit_action(key, "dispute:resolve", done.dispute.user,
                                                 f"dispute={done.dispute.id} outcome={done.dispute.outcome}"
                                                 f"{' corrected' if done.dispute.correction else ''}: {reason}")],
        )  # fmt: skip
        return _dispute_payload(ctx.service.publish(list(result.changes)), result.dispute)

    @strawberry.mutation(description="Clear a user's quarantine (analyst, admin; audited with the reason).")
    async def unflag_user(self, info: strawberry.Info, user: str, reason: str) -> ChangePayload:
        """Clear ``user``'s active flag, restoring their part in the network (``flag``; audited).

        Raises
        ------
        ConflictError
            If the user has no active flag.
        """
        ctx = context_of(info)
        key = ctx.require("flag", "unflagUser")
        ctx.writable()
        user = check_user_id(user)
        changes = await ctx.service.mutate(
            ctx.service.engine.unflag_user, user, analyst=key.name, reason=reason,
            audit=[ctx.audit_action(key, "unflag", user, reason)],
        )  # fmt: skip
        return await change_payload(info, changes, [user])

    @strawberry.mutation(description="Full recompute of every score, warm-started (admin).")
    async def recompute(self, info: strawberry.Info, now: EpochSeconds | None = None) -> RecomputePayload:
        """Score everyone again from the store, warm-started, and append the snapshots (``admin``; audited).

        ``now`` sets the evaluation time of this and later recomputes: it
        may not go back before the current one (the history stays in time order) nor be
        more than a day ahead of the server's clock. The recompute runs on the writer:
        other changes wait for it. Its audit entry commits with its snapshots.

        Raises
        ------
        ValidationError
            If ``now`` is out of that range; nothing is written.
        """
        ctx = context_of(info)
        key = ctx.require("admin", "recompute")
        ctx.writable()
        engine = ctx.service.engine

        def run() -> Any:
            if now is not None:
                earliest, latest = engine.computed_at or 0, int(time.time()) + _CLOCK_SKEW
                if not earliest <= now <= latest:
                    raise ValidationError(
                        f"must be between the current evaluation time ({format_datetime(earliest)}) and a day "
                        f"from now ({format_datetime(latest)})",
                        entity="argument", column="now", value=format_datetime(now),
                    )  # fmt: skip
            return engine.recompute(now=now)

        report = await ctx.service.mutate(
            run,
            audit=lambda done: [ctx.audit_action(key, "recompute", detail=f"users={done.users} now={done.computed_at}")],
        )  # fmt: skip
        return recompute_payload(report, engine.generation)
