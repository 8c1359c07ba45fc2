"""The analyst's tools: flags, influence paths, suspicious clusters, SybilRank suspects, communities.

Each type mirrors a report of :mod:`credence.analysis.investigate`; the ``*_from``
functions turn a report into GraphQL objects (pure: no store, no engine).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import strawberry

from credence.analysis.investigate import (
    THIN_HISTORY,
    CommunityReport,
    PathReport,
    SuspectCluster,
    TrustReport,
    cluster_inflation,
)
from credence.api.context import context_of
from credence.api.scalars import EpochSeconds
from credence.api.types.scores import ScoreChangeType, score_changes
from credence.graph.store import Flag as StoredFlag

__all__ = [
    "ClusterInflation",
    "Communities",
    "CommunityType",
    "Flag",
    "InfluencePathType",
    "SuspiciousCluster",
    "SybilSuspect",
    "SybilSuspects",
    "clusters_from",
    "communities_from",
    "flags_from",
    "influence_paths_from",
    "sybil_suspects_from",
]


@strawberry.type(description="An analyst flag (active while not cleared).")
class Flag:
    """A stored analyst flag (:class:`credence.graph.store.Flag`) as served; :func:`flags_from` builds it."""

    analyst: str
    reason: str
    flagged_at: EpochSeconds
    cleared_at: EpochSeconds | None
    cleared_by: str | None
    clear_reason: str | None
    active: bool


def flags_from(flags: Iterable[StoredFlag]) -> list[Flag]:
    """A user's stored flags as GraphQL objects, in the store's order (oldest first)."""
    return [Flag(analyst=f.analyst, reason=f.reason, flagged_at=EpochSeconds(f.flagged_at),
                 cleared_at=None if f.cleared_at is None else EpochSeconds(f.cleared_at),
                 cleared_by=f.cleared_by, clear_reason=f.clear_reason, active=f.active) for f in flags]  # fmt: skip


@strawberry.type(
    description="One friend chain source -> ... -> target through which target's base reaches source's network value."
)
class InfluencePathType:
    """One chain of an influence-path report, as :func:`influence_paths_from` lists them (strongest first)."""

    user_ids: list[str] = strawberry.field(description="source, ..., target.")
    transitions: list[float] = strawberry.field(description="Walk probability w / d of each hop.")
    probability: float = strawberry.field(description="Product of damping x transition over the hops.")
    share: float = strawberry.field(
        description="The chain's fraction of all walk mass from source to target."
    )
    influence: float = strawberry.field(description="The chain's part of d n_source / d b_target.")


def influence_paths_from(report: PathReport) -> list[InfluencePathType]:
    """The chains of an influence-path report, strongest first."""
    return [
        InfluencePathType(
            user_ids=list(path.users),
            transitions=list(path.transitions),
            probability=path.probability,
            share=path.share,
            influence=path.influence,
        )
        for path in report.paths
    ]


@strawberry.type(
    description="The score points a group of accounts props up: what quarantining it would take away "
    "(computed in memory; nothing is stored)."
)
class ClusterInflation:
    """What quarantining a suspect cluster would take away: one in-memory what-if, never stored.

    Built by ``SuspiciousCluster.inflation`` from
    :func:`~credence.analysis.investigate.cluster_inflation`.
    """

    points: int = strawberry.field(description="Points all users would lose (members and outsiders).")
    member_points: int = strawberry.field(description="Points the members would lose.")
    outsider_points: int = strawberry.field(description="Points everyone else would lose.")
    users_raised: int = strawberry.field(description="Users whose score the group raises.")
    outsiders_raised: int = strawberry.field(description="Of them, users outside the group.")
    points_lowered: int = strawberry.field(description="Points users would gain (the group pulls them down).")
    top_outsiders: list[ScoreChangeType] = strawberry.field(description="Outsiders who would lose most.")


@strawberry.type(description="A dense, closed group of accounts (possible fraud ring or sybil region).")
class SuspiciousCluster:
    """One ranked cluster of :func:`~credence.analysis.investigate.rank_suspects`, with its evidence.

    Its inflation, a what-if per cluster, is a field of its own, computed only when asked for.
    """

    rank: int
    user_ids: list[str]
    size: int
    density: float
    relative_density: float = strawberry.field(description="How many times denser than the whole graph.")
    internal_links: int = strawberry.field(description="Links between two members.")
    attack_links: int = strawberry.field(description="Links from a member to a non-member.")
    outside_neighbours: int = strawberry.field(description="Distinct non-members linked to the group.")
    inside_share: float = strawberry.field(description="Share of the members' link weight that stays inside.")
    thin_fraction: float | None = strawberry.field(
        description=f"Share of members with fewer than {THIN_HISTORY} resolved repayments on record."
    )
    mean_base: float | None = strawberry.field(description="Mean base creditworthiness of the members.")
    suspicion: float = strawberry.field(
        description="relative density x inside share x (1 + thin) x (2 - mean base)."
    )

    @strawberry.field(description="The score inflation the group produced (one in-memory what-if; analyst).")
    async def inflation(self, info: strawberry.Info, top: int = 5) -> ClusterInflation | None:
        """The points the cluster props up, with the ``top`` outsiders who would lose most (``evidence``)."""
        ctx = context_of(info)
        ctx.require("evidence", "SuspiciousCluster.inflation")
        top = ctx.first(top, "top")
        found = await ctx.service.run(cluster_inflation, ctx.service.engine, self.user_ids, top=top)
        return ClusterInflation(
            points=found.points, member_points=found.member_points, outsider_points=found.outsider_points,
            users_raised=found.users_raised, outsiders_raised=found.outsiders_raised,
            points_lowered=found.points_lowered, top_outsiders=score_changes(found.top_outsiders),
        )  # fmt: skip


def clusters_from(found: Iterable[SuspectCluster]) -> list[SuspiciousCluster]:
    """Ranked suspect clusters as GraphQL objects (their inflation is a field, computed on demand)."""
    out = []
    for c in found:
        e = c.evidence
        out.append(SuspiciousCluster(
            rank=c.rank, user_ids=list(c.users), size=int(e.size), density=float(e.density),
            relative_density=float(e.relative_density), internal_links=int(e.internal_links),
            attack_links=int(e.attack_links), outside_neighbours=int(e.outside_neighbours),
            inside_share=float(e.inside_share),
            thin_fraction=None if e.thin_fraction is None else float(e.thin_fraction),
            mean_base=None if e.mean_base is None else float(e.mean_base), suspicion=float(e.suspicion),
        ))  # fmt: skip
    return out


@strawberry.type(description="A participant ranked low by SybilRank trust.")
class SybilSuspect:
    """One participant of a SybilRank report, with the trust per degree it is ranked by."""

    user_id: str
    trust_per_degree: float = strawberry.field(description="The ranking score (median over seed groups).")
    degree: float
    percentile: float = strawberry.field(
        description="Share of participants trusted less (0 = least trusted)."
    )


@strawberry.type(description="SybilRank from verified seed users: the least trusted participants.")
class SybilSuspects:
    """A SybilRank report (:func:`~credence.analysis.investigate.sybil_suspects`), least trusted first.

    ``seeds`` users in ``seed_groups`` disjoint groups started the walk, which took
    ``iterations`` steps; ``participants`` users take part in the network, of whom
    ``no_evidence`` (isolated or unreached by the walk) are not ranked.
    """

    seeds: int
    seed_groups: int
    iterations: int
    participants: int
    no_evidence: int = strawberry.field(
        description="Participants the walk says nothing about (isolated, or not reached): never listed as suspects."
    )
    suspects: list[SybilSuspect]


def sybil_suspects_from(report: TrustReport) -> SybilSuspects:
    """A SybilRank report as a GraphQL object, least trusted first."""
    return SybilSuspects(seeds=report.seeds, seed_groups=report.seed_groups, iterations=report.iterations,
                         participants=report.participants, no_evidence=report.no_evidence,
                         suspects=[SybilSuspect(user_id=u, trust_per_degree=t, degree=d, percentile=p)
                                   for u, t, d, p in report.suspects])  # fmt: skip


@strawberry.type(description="One community of the friend graph (Louvain).")
class CommunityType:
    """One Louvain community of a :class:`~credence.analysis.investigate.CommunityReport`, with its scores."""

    community: int = strawberry.field(description="Label; 0 is the largest community.")
    size: int
    internal_links: int
    density: float | None = strawberry.field(
        description="Share of member pairs linked (null for one member)."
    )
    conductance: float | None = strawberry.field(description="Share of the members' link weight leaving it.")
    mean_score: float
    min_score: int
    max_score: int
    user_ids: list[str] = strawberry.field(description="The first `members` member ids (by id).")


@strawberry.type(description="The community structure of the participants' graph.")
class Communities:
    """The Louvain communities of the participants' graph, largest first, with the partition's modularity.

    ``resolution`` is the Louvain resolution the partition was found with; ``count``
    counts every community, listed or not.
    """

    count: int
    modularity: float
    resolution: float
    largest: list[CommunityType]


def _number(value: float) -> float | None:
    # Density and conductance are NaN where undefined (one member, no links); GraphQL says null.
    return None if math.isnan(value) else float(value)


def communities_from(report: CommunityReport, first: int, members: int) -> Communities:
    """The ``first`` largest communities of ``report``, each with its ``members`` first member ids.

    Parameters
    ----------
    report
        The community report (communities labelled largest first).
    first
        How many communities to list.
    members
        How many member ids (sorted) to list per community.
    """
    stats = report.stats
    largest = [CommunityType(
        community=c, size=int(stats.size[c]), internal_links=int(stats.internal_links[c]),
        density=_number(stats.density[c]), conductance=_number(stats.conductance[c]),
        mean_score=float(report.mean_score[c]), min_score=int(report.min_score[c]),
        max_score=int(report.max_score[c]), user_ids=sorted(report.members(c))[:members],
    ) for c in range(min(first, report.count))]  # fmt: skip
    return Communities(
        count=report.count, modularity=report.modularity, resolution=report.resolution, largest=largest
    )
