"""Root queries of the analyst's tools: influence paths, suspicious clusters, SybilRank, communities, what-if.

All need the ``evidence`` permission and every call is audited. The long graph
analyses (peeling, Louvain, SybilRank) run on the service's analysis thread, on a
snapshot of the graph, so they never hold up writes; what touches the store or the
engine lock runs on the worker thread. Users are named by their stored ids.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import strawberry

from credence.analysis.investigate import (
    community_report,
    find_dense_blocks,
    influence_path_report,
    rank_suspects,
    sybil_suspects,
)
from credence.api.context import AFTER, BEFORE, LAST, context_of, first_argument
from credence.api.ids import dispute_position
from credence.api.inputs import MAX_LISTED_USERS
from credence.api.limits import PageSize
from credence.api.types.consent import HumanReview, review_from
from credence.api.types.disputes import DisputePage, dispute_page
from credence.api.types.fraud import (
    Communities,
    InfluencePathType,
    SuspiciousCluster,
    SybilSuspects,
    clusters_from,
    communities_from,
    influence_paths_from,
    sybil_suspects_from,
)
from credence.api.types.scores import ScoreChangeType, score_changes
from credence.core.errors import LimitExceededError, ValidationError
from credence.graph.model import check_user_id, epoch_now
from credence.graph.store import GraphStore

__all__ = ["MAX_HOPS", "AnalystQuery"]

#: Page size of ``disputes`` without ``first``.
DISPUTE_PAGE = 50
#: Longest friend chain ``influencePaths`` searches (the search grows with the hops).
MAX_HOPS = 10


@strawberry.type
class AnalystQuery:
    """Root fields of the fraud and investigation tools (the ``evidence`` permission; audited)."""

    @strawberry.field(
        description="Disputes, oldest first (the analysts' queue: open ones only unless openOnly is false), each "
        "with its deadline and whether it is overdue (analyst, admin; audited). Keyset pages both ways: "
        "first/after, or last/before."
    )
    async def disputes(
        self,
        info: strawberry.Info,
        first: Annotated[int | None, first_argument(DISPUTE_PAGE)] = None,
        after: Annotated[str | None, AFTER] = None,
        open_only: bool = True,
        user: str | None = None,
        last: Annotated[int | None, LAST] = None,
        before: Annotated[str | None, BEFORE] = None,
    ) -> DisputePage:
        """A page of the dispute queue from the store (``evidence``; audited); see :func:`read_dispute_page`."""
        ctx = context_of(info)
        ctx.require("evidence", "disputes")
        size = ctx.page(first, last, DISPUTE_PAGE)
        low = None if after is None else dispute_position(after, "after")
        high = None if before is None else dispute_position(before, "before")
        subject = None if user is None else check_user_id(user)
        page = await ctx.service.run(
            read_dispute_page, ctx.service.store, size, low, high, subject, open_only
        )
        ctx.audit_read("read:disputes", subject, f"open_only={open_only} count={len(page.edges)}")
        return page

    @strawberry.field(
        description="Requests for human review, oldest first (the analysts' queue; open ones only unless openOnly is "
        "false; analyst, admin; audited)."
    )
    async def reviews(
        self, info: strawberry.Info, open_only: bool = True, user: str | None = None
    ) -> list[HumanReview]:
        """The review queue from the store (``evidence``; audited)."""
        ctx = context_of(info)
        ctx.require("evidence", "reviews")
        subject = None if user is None else check_user_id(user)
        found = await ctx.service.run(ctx.service.store.reviews, user=subject, open_only=open_only)
        ctx.audit_read("read:reviews", subject, f"open_only={open_only} count={len(found)}")
        return [review_from(review) for review in found]

    @strawberry.field(description="The k strongest friend chains from source to target (analyst; audited).")
    async def influence_paths(
        self, info: strawberry.Info, source: str, target: str, k: int = 5, max_hops: int = 6
    ) -> list[InfluencePathType]:
        """The ``k`` strongest friend chains from ``source`` to ``target``, on the worker thread.

        Raises
        ------
        ValidationError
            If ``k`` < 1, ``max_hops`` is outside ``1..MAX_HOPS`` or an id is invalid.
        NotFoundError
            If either user is unknown.
        """
        ctx = context_of(info)
        ctx.require("evidence", "influencePaths")
        k = ctx.first(k, "k")
        if k < 1:
            raise ValidationError("must be >= 1", entity="argument", column="k", value=k)
        if not 1 <= max_hops <= MAX_HOPS:
            raise ValidationError(f"must be between 1 and {MAX_HOPS}", entity="argument", column="maxHops",
                                  value=max_hops)  # fmt: skip
        source, target = check_user_id(source), check_user_id(target)
        report = await ctx.service.run(influence_path_report, ctx.service.engine, source, target, k=k,
                                       max_hops=max_hops)  # fmt: skip
        ctx.audit_read("read:influence_paths", source, f"target={target} k={k} max_hops={max_hops}")
        return influence_paths_from(report)

    @strawberry.field(description="The most suspicious dense groups of the current graph (analyst; audited).")
    async def suspicious_clusters(self, info: strawberry.Info, first: int = 10) -> list[SuspiciousCluster]:
        """The ``first`` most suspect dense groups, ranked without their inflation (a field of each).

        The peeling runs on the analysis thread on a copy of the graph; the ranking reads
        the members' records on the worker thread. ``first = 0`` returns nothing at once.
        """
        ctx = context_of(info)
        ctx.require("evidence", "suspiciousClusters")
        first = ctx.first(first)
        found: list[SuspiciousCluster] = []
        if first:
            engine = ctx.service.engine
            # Peeling is pure graph work (analysis thread); ranking reads members' records (worker thread).
            search = await ctx.service.analyze(find_dense_blocks, engine, k=first)
            found = clusters_from(await ctx.service.run(rank_suspects, engine, search, inflation=False))
        ctx.audit_read("read:suspicious_clusters", None, f"first={first} found={len(found)}")
        return found

    @strawberry.field(
        description="The least trusted participants by SybilRank from a random draw of up to 1,000 "
        "face-verified participants (seed draw fixed by randomState; analyst; audited)."
    )
    async def sybil_suspects(
        self, info: strawberry.Info, first: int = 20, seed_groups: int = 10, random_state: int = 0
    ) -> SybilSuspects:
        """The ``first`` least trusted participants by SybilRank, run on the analysis thread.

        The seeds are a draw of face-verified participants fixed by ``random_state``,
        split into ``seed_groups`` disjoint groups (users are ranked by the median).
        """
        ctx = context_of(info)
        ctx.require("evidence", "sybilSuspects")
        first = ctx.first(first)
        report = await ctx.service.analyze(partial(sybil_suspects, ctx.service.engine, first=first,
                                                   seed_groups=seed_groups, random_state=random_state))  # fmt: skip
        ctx.audit_read("read:sybil_suspects", None, f"first={first} seed_groups={seed_groups} "
                       f"random_state={random_state}")  # fmt: skip
        return sybil_suspects_from(report)

    @strawberry.field(
        description="Louvain communities of the participants' graph, largest first (analyst; audited)."
    )
    async def communities(
        self, info: strawberry.Info, first: int = 10, resolution: float = 1.0, members: int = 10
    ) -> Communities:
        """The ``first`` largest Louvain communities at ``resolution``, each with ``members`` member ids.

        Louvain runs on the analysis thread, on a copy of the graph.
        """
        ctx = context_of(info)
        ctx.require("evidence", "communities")
        first = ctx.first(first)
        members = ctx.first(members, "members")
        report = await ctx.service.analyze(
            partial(community_report, ctx.service.engine, resolution=resolution)
        )
        ctx.audit_read("read:communities", None, f"first={first} resolution={resolution}")
        return communities_from(report, first, members)

    @strawberry.field(
        description="Score changes if the given links or accounts were removed (an account removed "
        "takes no part in anyone's network, as if quarantined); nothing is stored (analyst; audited)."
    )
    async def what_if(
        self,
        info: strawberry.Info,
        remove_links: list[list[str]] | None = None,
        remove_users: list[str] | None = None,
    ) -> list[ScoreChangeType]:
        """Every score that would move without the given links and accounts, computed in memory.

        Each removed link and account is audited under its user; a call that removes
        nothing still leaves one entry.

        Raises
        ------
        ValidationError
            If a link is not a pair of ids, or an id is invalid.
        LimitExceededError
            If more than :data:`~credence.api.inputs.MAX_LISTED_USERS` links or accounts are named.
        """
        ctx = context_of(info)
        ctx.require("evidence", "whatIf")
        pairs: list[tuple[str, str]] = []
        for link in remove_links or []:
            if len(link) != 2:
                raise ValidationError("each link must be a pair [a, b]", entity="argument", column="removeLinks",
                                      value=link)  # fmt: skip
            pairs.append((check_user_id(link[0]), check_user_id(link[1])))
        if len(pairs) > MAX_LISTED_USERS:
            raise LimitExceededError("removeLinks", len(pairs), MAX_LISTED_USERS)
        accounts = [check_user_id(user) for user in remove_users or []]
        if len(accounts) > MAX_LISTED_USERS:
            raise LimitExceededError("removeUsers", len(accounts), MAX_LISTED_USERS)
        result = await ctx.service.run(partial(ctx.service.engine.what_if, remove_links=pairs,
                                               remove_users=accounts))  # fmt: skip
        for a, b in pairs:
            ctx.audit_read("read:what_if", a, f"remove_link={a},{b}")
        for user in accounts:
            ctx.audit_read("read:what_if", user, "remove_user")
        if not pairs and not accounts:
            ctx.audit_read("read:what_if", None, "no changes")
        return score_changes(result.changes)


def read_dispute_page(
    store: GraphStore,
    size: PageSize,
    after: int | None,
    before: int | None,
    user: str | None,
    open_only: bool,
) -> DisputePage:
    """The disputes with ``after < id < before`` that match the filters: the window's oldest or newest ``size``.

    See :meth:`~credence.api.limits.PageSize.keyset`.
    """
    found, earlier, later = size.keyset(
        lambda low, high, limit, newest: store.disputes(user=user, open_only=open_only, after=low, before=high,
                                                        limit=limit, newest=newest),
        after,
        before,
    )  # fmt: skip
    return dispute_page(found, has_previous=earlier, has_next=later, now=epoch_now())
