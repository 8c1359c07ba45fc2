"""Root queries about users and their scores: node, user, users, statistics, histogram, model.

Users are named by the user id as stored (``user(id:)``); only ``node(id:)``, whose
argument is an ``ID``, takes a global id (see :mod:`credence.api.ids`).
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from credence.api.context import AFTER, BEFORE, LAST, Context, context_of, first_argument
from credence.api.ids import from_global_id, history_position
from credence.api.inputs import UserFilter, UserSort, user_query
from credence.api.service import users_page
from credence.api.types.history import ScoreChangeExplanation, score_change_from
from credence.api.types.model import Model, model_from
from credence.api.types.pages import page_info
from credence.api.types.stats import HistogramBin, ScoreStats, score_stats_from
from credence.api.types.users import Node, User, UserConnection, UserEdge, user_from, user_node, user_nodes
from credence.core.errors import ValidationError
from credence.core.scale import SCORE_RANGE
from credence.graph.model import check_user_id

__all__ = ["USERS_PAGE", "UsersQuery"]

#: Page size of ``users`` given neither ``first`` nor ``last``.
USERS_PAGE = 20


@strawberry.type
class UsersQuery:
    """Root fields for reading scores (the ``read`` permission)."""

    @strawberry.field(description="Any object by its opaque global id.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        """The user of a global id, answered from the engine's memory; None for no such user.

        Raises
        ------
        ValidationError
            If ``id`` is not a global id.
        """
        ctx = context_of(info)
        ctx.require("read", "node")
        summary = ctx.service.engine.summaries([from_global_id(str(id))])[0]
        return None if summary is None else user_from(summary)

    @strawberry.field(
        description="One user by its user id as stored (NOT_FOUND if unknown; a global id goes to node)."
    )
    async def user(self, info: strawberry.Info, id: str) -> User:
        """The user of a stored user id.

        Raises
        ------
        NotFoundError
            If there is no such user.
        """
        context_of(info).require("read", "user")
        return await user_node(info, check_user_id(id))

    @strawberry.field(
        description="Users as a keyset-paged connection (Relay: first/after forward, last/before backward)."
    )
    async def users(
        self,
        info: strawberry.Info,
        filter: UserFilter | None = None,
        sort: UserSort = UserSort.SCORE_DESC,
        first: Annotated[int | None, first_argument(USERS_PAGE)] = None,
        after: Annotated[str | None, AFTER] = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> UserConnection:
        """A keyset page of the users ``filter`` keeps, in ``sort`` order (ties by user id).

        The users strictly between ``after`` and ``before`` form the window; the page is
        its ``first`` users or its ``last`` ones (``first`` defaults to
        :data:`USERS_PAGE`), in ``sort`` order either way. The page is cut on the worker
        thread from a view of the engine's scores; its cursors stay valid across
        recomputes (see :func:`~credence.api.service.users_page`).

        Raises
        ------
        ValidationError
            If both ``first`` and ``last`` are given, a cursor is not one of a listing in
            this order, or a filter is invalid.
        LimitExceededError
            If ``first`` or ``last`` exceeds ``max_first``.
        """
        ctx = context_of(info)
        ctx.require("read", "users")
        size = ctx.page(first, last, USERS_PAGE)
        _check_filter(ctx, filter, "users")
        query = user_query(filter, sort)
        service = ctx.service
        sizes = {"last": size.size} if size.from_end else {"first": size.size}
        page = await service.run(lambda: users_page(service.engine.view(), query, after=after, before=before,
                                                    policy=service.policy, id_order=service.id_order(),
                                                    **sizes))  # fmt: skip
        nodes = await user_nodes(info, page.ids)
        return UserConnection(
            edges=[UserEdge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
            page_info=page_info(page.cursors, has_previous=page.has_previous, has_next=page.has_next),
            total_count=page.total,
            generation=page.generation,
        )

    @strawberry.field(
        description="Why a user's score moved between two stored snapshots (`from`/`to`: cursors of User.history; "
        "default: the latest snapshot against the one before it)."
    )
    async def score_change(
        self,
        info: strawberry.Info,
        user: str,
        from_: Annotated[str | None, strawberry.argument(name="from")] = None,
        to: str | None = None,
    ) -> ScoreChangeExplanation:
        """:meth:`credence.engine.ScoringEngine.explain_change` between two history positions (``read``).

        Raises
        ------
        NotFoundError
            If the user is unknown.
        ValidationError
            If a cursor is not a history cursor, names no snapshot of the user, or
            ``from`` is later than ``to``.
        """
        ctx = context_of(info)
        ctx.require("read", "scoreChange")
        user = check_user_id(user)
        before = None if from_ is None else history_position(from_, "from")
        after = None if to is None else history_position(to, "to")
        explanation = await ctx.service.run(
            ctx.service.engine.explain_change, user, before=before, after=after
        )
        evidence = ctx.allows("evidence")
        if evidence:
            ctx.audit_read("read:scoreChange", user)
        return score_change_from(explanation, evidence=evidence)

    @strawberry.field(description="Summary statistics of the scores (optionally filtered).")
    async def score_stats(self, info: strawberry.Info, filter: UserFilter | None = None) -> ScoreStats:
        """Count, moments, percentiles and band counts of the scores ``filter`` keeps, from memory."""
        ctx = context_of(info)
        ctx.require("read", "scoreStats")
        _check_filter(ctx, filter, "scoreStats")
        stats = await ctx.service.run(ctx.service.stats, user_query(filter))
        return score_stats_from(stats)

    @strawberry.field(description="Counts of scores in equal bins over [350, 950].")
    async def score_histogram(
        self, info: strawberry.Info, bins: int = 20, filter: UserFilter | None = None
    ) -> list[HistogramBin]:
        """Counts of the scores ``filter`` keeps in ``bins`` equal bins over [350, 950].

        Raises
        ------
        ValidationError
            If ``bins`` is outside 1..600 (one bin per point of the scale at most).
        """
        ctx = context_of(info)
        ctx.require("read", "scoreHistogram")
        if not 1 <= bins <= SCORE_RANGE:  # at most one bin per point of the scale
            raise ValidationError(f"must be between 1 and {SCORE_RANGE}", entity="argument", column="bins",
                                  value=bins)  # fmt: skip
        _check_filter(ctx, filter, "scoreHistogram")
        result = await ctx.service.run(ctx.service.histogram, user_query(filter), bins)
        return [HistogramBin(**b) for b in result]

    @strawberry.field(description="The scoring model in force.")
    def model(self, info: strawberry.Info) -> Model:
        """The policy in force and which scores are in memory (their evaluation time and version)."""
        ctx = context_of(info)
        ctx.require("read", "model")
        engine = ctx.service.engine
        return model_from(ctx.service.policy, engine.computed_at, engine.generation)


def _check_filter(ctx: Context, filter: UserFilter | None, field: str) -> None:
    """A filter on quarantine tells who is quarantined: evidence (analyst, admin), and audited."""
    if filter is not None and filter.quarantined is not None:
        ctx.require("evidence", f"{field}(filter: {{quarantined}})")
        ctx.audit_read(f"read:{field}.filter.quarantined", None, f"quarantined={filter.quarantined}")
