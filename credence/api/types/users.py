"""The ``Node`` interface, ``User`` and the connections of users and of a user's friends.

A ``User`` is built from the engine's in-memory score summary (:func:`user_from`);
its evidence fields (network, history, friends, flags) are resolved on demand, each
batched per request through :mod:`credence.api.loaders`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from functools import partial
from typing import Annotated, TypeVar

import strawberry
from strawberry.scalars import JSON

from credence.api.context import AFTER, BEFORE, LAST, context_of, first_argument
from credence.api.ids import encode_cursor, friends_position, to_global_id
from credence.api.inputs import Band
from credence.api.loaders import load_friends, load_history, load_model_weights, load_summaries, load_summary
from credence.api.scalars import EpochSeconds
from credence.api.types.consent import AdverseActionNotice, ConsentChange, consent_changes_from, notices_from
from credence.api.types.disputes import DisputeType, dispute_from
from credence.api.types.fraud import Flag, flags_from
from credence.api.types.history import ScoreSnapshotConnection, history_page
from credence.api.types.network import Network
from credence.api.types.pages import PageInfo, page_info
from credence.api.types.scores import Component, Reason
from credence.core.errors import NotFoundError
from credence.engine import UserSummary
from credence.graph.disputes import Dispute as StoredDispute
from credence.graph.model import epoch_now
from credence.graph.store import GraphStore
from credence.graph.subject import generate_subject_export

T = TypeVar("T")

__all__ = [
    "FRIENDS_PAGE",
    "HISTORY_PAGE",
    "FriendConnection",
    "FriendEdge",
    "Node",
    "User",
    "UserConnection",
    "UserEdge",
    "user_from",
    "user_node",
    "user_nodes",
]

#: Page size of ``User.history`` given neither ``first`` nor ``last``.
HISTORY_PAGE = 10
#: Page size of ``User.friends`` given neither ``first`` nor ``last``.
FRIENDS_PAGE = 20


@strawberry.type
class FriendEdge:
    """One friend in ``User.friends``: the link's weight and the friend, whose id is in the cursor."""

    cursor: str
    weight: float
    node: User


@strawberry.type
class FriendConnection:
    """A page of a user's friends, ordered by friend id.

    The cursors are keysets (the last friend's id), so a link added between two pages
    shifts nothing; ``total_count`` counts every friend.
    """

    edges: list[FriendEdge]
    page_info: PageInfo
    total_count: int


@strawberry.interface(description="An object with an opaque global id.")
class Node:
    """The Relay ``Node`` interface: ``node(id:)`` resolves its global ids, all of which are users'."""

    id: strawberry.ID


@strawberry.type(description="A person with a Credence score.")
class User(Node):
    """A user's score as served: the engine's score summary, built by :func:`user_from`.

    The scalar fields come with the summary; the evidence fields (``network``,
    ``quarantined``, ``history``, ``friends``, ``flags``) are resolved only when asked
    for, each loaded in one batch per request through :mod:`credence.api.loaders`.
    """

    user_id: str = strawberry.field(description="The external user id.")
    score: int
    band: Band
    benefits: list[str]
    model_version: str
    computed_at: EpochSeconds = strawberry.field(description="Evaluation time of the score.")
    components: list[Component]
    reasons: list[Reason] = strawberry.field(description="Top adverse-action reasons (at most 4).")
    consent_network: bool

    @strawberry.field(description="Network component and its evidence.")
    def network(self) -> Network:
        """The user's ``Network``; its fields load what they need, naming users with :func:`user_node`."""
        return Network(user_id=self.user_id, user_node=user_node)

    @strawberry.field(
        description="The trade ratings the person received, as they enter credit history (the CH_TRADE_RATINGS "
        "reason; docs/factors.md): reliability-weighted positive and negative mass and how many distrusted them; "
        "null when the graph holds no ratings. Aggregates only: no rater is named."
    )
    async def trade_ratings(self, info: strawberry.Info) -> TradeRatingsType | None:
        """The engine's :class:`~credence.engine.results.TradeRatings` of the user (``read``)."""
        ctx = context_of(info)
        explanation = await ctx.service.run(ctx.service.engine.explain, self.user_id, contributors=1)
        rated = explanation.ratings
        if rated is None:
            return None
        return TradeRatingsType(positive=rated.positive, negative=rated.negative,
                                distrust_received=rated.distrust_received, value=rated.value, weight=rated.weight,
                                points=rated.points)  # fmt: skip

    @strawberry.field(description="Active analyst quarantine (analyst; audited).")
    def quarantined(self, info: strawberry.Info) -> bool | None:
        """Whether the user has an active analyst flag, from the engine's memory (``evidence``)."""
        ctx = context_of(info)
        ctx.require("evidence", "User.quarantined")
        ctx.audit_read("read:quarantined", self.user_id)
        summary = ctx.service.engine.summaries([self.user_id])[0]
        return bool(summary is not None and summary.quarantined)

    @strawberry.field(
        description="Score history, newest first (Relay: first/after forward, last/before backward)."
    )
    async def history(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, first_argument(HISTORY_PAGE)] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> ScoreSnapshotConnection:
        """A page of the user's stored score snapshots, newest first (``read``; see :func:`history_page`).

        Raises
        ------
        ValidationError
            If both ``first`` and ``last`` are given, or a cursor is not a history cursor.
        LimitExceededError
            If ``first`` or ``last`` exceeds ``max_first``.
        """
        ctx = context_of(info)
        ctx.require("read", "User.history")
        size = ctx.page(first, last, HISTORY_PAGE)
        frame = await load_history(ctx, self.user_id)
        recorded = await load_model_weights(ctx)
        return history_page(frame, recorded, ctx.service.policy, size, after, before)

    @strawberry.field(
        description="Linked users by id (analyst; audited; Relay: first/after forward, last/before backward)."
    )
    async def friends(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, first_argument(FRIENDS_PAGE)] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> FriendConnection | None:
        """A keyset page of the user's friends by id, with each link's weight (``evidence``; audited).

        The friends with ids strictly between the ids in ``after`` and ``before`` form the
        window; the page is its ``first`` or its ``last`` friends, by id either way. The
        page info is exact: every friend is at hand.

        Raises
        ------
        ValidationError
            If both ``first`` and ``last`` are given, or a cursor is not a friends cursor.
        LimitExceededError
            If ``first`` or ``last`` exceeds ``max_first``.
        """
        ctx = context_of(info)
        ctx.require("evidence", "User.friends")
        size = ctx.page(first, last, FRIENDS_PAGE)
        low_id = None if after is None else friends_position(after, "after")
        high_id = None if before is None else friends_position(before, "before")
        pairs = await load_friends(ctx, self.user_id)
        # Keysets: the friend ids in the cursors, so a link added meanwhile shifts nothing.
        friends = [friend for friend, _ in pairs]  # sorted by id
        low = 0 if low_id is None else bisect.bisect_right(friends, low_id)
        high = len(friends) if high_id is None else bisect.bisect_left(friends, high_id)
        start, stop = size.cut(low, high)
        chosen = pairs[start:stop]
        ctx.audit_read("read:friends", self.user_id, f"{'last' if size.from_end else 'first'}={size.size}")
        nodes = await user_nodes(info, [friend for friend, _ in chosen])
        edges = [FriendEdge(cursor=encode_cursor("friends", {"k": friend}), weight=weight, node=node)
                 for (friend, weight), node in zip(chosen, nodes, strict=True)]  # fmt: skip
        info_: PageInfo = page_info(
            [e.cursor for e in edges], has_previous=start > 0, has_next=stop < len(pairs)
        )
        return FriendConnection(edges=edges, page_info=info_, total_count=len(pairs))

    @strawberry.field(
        description="Every change of the user's consent to network scoring, oldest first; before the first, "
        "the consent was the opposite of it (app, admin; audited for audited roles)."
    )
    async def consent_history(self, info: strawberry.Info) -> list[ConsentChange] | None:
        """The user's consent changes with time and actor, read from the store (``subject``)."""
        store = context_of(info).service.store
        return consent_changes_from(await _own_records(info, "User.consentHistory", "read:consent",
                                                       store.consent_history, self.user_id))  # fmt: skip

    @strawberry.field(
        description="Adverse-action notices, oldest first: each time a change took the score below a benefit tier "
        "(app, admin; audited for audited roles)."
    )
    async def notices(self, info: strawberry.Info) -> list[AdverseActionNotice] | None:
        """The user's stored adverse-action notices (``subject``)."""
        store = context_of(info).service.store
        return notices_from(
            await _own_records(info, "User.notices", "read:notices", store.notices, self.user_id)
        )

    @strawberry.field(
        description="The person's disputes of their records, oldest first, open and resolved (app, admin; audited "
        "for audited roles)."
    )
    async def disputes(self, info: strawberry.Info) -> list[DisputeType] | None:
        """The user's stored disputes (``subject``)."""
        store = context_of(info).service.store
        found = await _own_records(
            info, "User.disputes", "read:disputes", partial(_disputes_of, store), self.user_id
        )
        now = epoch_now()
        return [dispute_from(d, now) for d in found]

    @strawberry.field(
        description="Whether one of the person's records is under an open dispute (their score then leaves out an "
        "adverse disputed record, as the policy says; app, admin)."
    )
    async def under_dispute(self, info: strawberry.Info) -> bool | None:
        """True while the user has an open dispute (``subject``)."""
        ctx = context_of(info)
        ctx.require("subject", "User.underDispute")
        store = ctx.service.store
        return bool(
            await ctx.service.run(partial(store.disputes, user=self.user_id, open_only=True, limit=1))
        )

    @strawberry.field(
        description="Everything the store holds about this person as one JSON document: the user record, links, "
        "repayments, spending, consent history, flags, score history and the audit entries about them (a subject "
        "access export; app, admin; audited for audited roles)."
    )
    async def subject_export(self, info: strawberry.Info) -> JSON | None:
        """:func:`credence.graph.subject.generate_subject_export` of this user (``subject``)."""
        store = context_of(info).service.store
        return JSON(await _own_records(info, "User.subjectExport", "read:subject-export",
                                       partial(generate_subject_export, store), self.user_id))  # fmt: skip

    @strawberry.field(description="Analyst flags, oldest first (analyst; audited).")
    async def flags(self, info: strawberry.Info) -> list[Flag] | None:
        """The user's analyst flags, oldest first, read from the store (``evidence``; audited)."""
        ctx = context_of(info)
        ctx.require("evidence", "User.flags")
        flags = await ctx.service.run(ctx.service.store.flags, self.user_id)
        ctx.audit_read("read:flags", self.user_id)
        return flags_from(flags)


def _disputes_of(store: GraphStore, user_id: str) -> list[StoredDispute]:
    return store.disputes(user=user_id)


@strawberry.type(name="TradeRatings", description="Trade ratings received, as they enter credit history.")
class TradeRatingsType:
    """:class:`credence.engine.results.TradeRatings` as served."""

    positive: float = strawberry.field(
        description="Positive rating mass received, each times its rater's fairness."
    )
    negative: float = strawberry.field(
        description="Negative rating mass received, each times its rater's fairness."
    )
    distrust_received: int = strawberry.field(
        description="How many negative ratings (distrust) the person received."
    )
    value: float = strawberry.field(description="The ratings' value in [0, 1], blended into credit history.")
    weight: float = strawberry.field(
        description="The blend's weight: how much the ratings count in credit history."
    )
    points: float = strawberry.field(
        description="Score points the ratings cost (the CH_TRADE_RATINGS reason)."
    )


async def _own_records(
    info: strawberry.Info, field: str, action: str, read: Callable[[str], T], user_id: str
) -> T:
    """``read(user_id)`` on the worker thread for a caller with the ``subject`` permission, audited as ``action``."""
    ctx = context_of(info)
    ctx.require("subject", field)
    found = await ctx.service.run(read, user_id)
    ctx.audit_read(action, user_id)
    return found


@strawberry.type
class UserEdge:
    """One user of a ``users`` page, with the cursor that resumes the listing after them."""

    cursor: str
    node: User


@strawberry.type(description="A keyset page of users; cursors stay valid across recomputes.")
class UserConnection:
    """A keyset page of ``users``, as :func:`~credence.api.service.users_page` found it.

    ``generation`` tells which version of the scores the page was read from; cursors
    stay valid across versions.
    """

    edges: list[UserEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Users matching the filter.")
    generation: int = strawberry.field(description="Version of the scores the page was read from.")


def user_from(summary: UserSummary) -> User:
    """The ``User`` of an engine score summary (its global id from :func:`~credence.api.ids.to_global_id`)."""
    return User(
        id=strawberry.ID(to_global_id(summary.user)), user_id=summary.user, score=summary.score, band=Band(summary.band),
        benefits=list(summary.benefits), model_version=summary.model_version, computed_at=EpochSeconds(summary.computed_at),
        components=[Component(name=c.name, value=c.value, weight=c.weight, points=c.points)
                    for c in summary.components],
        reasons=[Reason(code=r.code, text=r.text, points=r.points) for r in summary.reasons],
        consent_network=summary.consent,
    )  # fmt: skip


async def user_node(info: strawberry.Info, user_id: str) -> User:
    """The ``User`` with the stored id ``user_id``, batched with the request's other users.

    Raises
    ------
    NotFoundError
        If there is no such user.
    """
    return user_from(await load_summary(context_of(info), user_id))


async def user_nodes(info: strawberry.Info, user_ids: list[str]) -> list[User]:
    """The ``User`` of each stored id, in order, in one batch.

    Raises
    ------
    NotFoundError
        Naming the first id that is not a user.
    """
    found = await load_summaries(context_of(info), user_ids)
    out = []
    for user_id, summary in zip(user_ids, found, strict=True):
        if summary is None:
            raise NotFoundError("user", user_id)
        out.append(user_from(summary))
    return out
