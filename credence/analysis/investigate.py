"""Investigations for fraud analysts, shared by the CLI and the GraphQL API.

* :func:`suspicious_clusters`: dense, closed groups of accounts (Fraudar-style
  peeling, :func:`credence.scoring.fraud.dense_subgraphs`) ranked by suspicion
  (:func:`credence.scoring.fraud.rank_clusters`) with their evidence: members, density,
  thin histories (repayment records from the store), attack links, and the
  score inflation they produced (:func:`cluster_inflation`).
* :func:`cluster_inflation`: the points a group of accounts props up, measured
  by taking the group out of everyone's network in memory (the engine's
  ``what_if(remove_users=...)``: exactly what quarantining it would change, with
  nothing stored).
* :func:`default_impact`: the blast radius of one account defaulting: its own
  and everyone else's exact score change after one hypothetical defaulted
  repayment.
* :func:`community_report`: the community structure of the current graph
  (Louvain, :func:`credence.scoring.communities.louvain`) with each community's size,
  density, conductance and scores.
* :func:`influence_path_report`: the strongest friend chains through which one
  user's base reaches another's network value
  (:func:`credence.scoring.paths.influence_paths`, with user ids and the totals).
* :func:`sybil_suspects`: SybilRank trust (:func:`credence.scoring.trust.sybil_trust`)
  from verified seed users on the current graph, least trusted first.

``credence rings``, ``credence influence``, ``credence paths``, ``credence trust``, ``credence
communities`` and the GraphQL fields ``suspiciousClusters``, ``influencePaths``, ``Influence.ifDefaulted``,
``sybilSuspects`` and ``communities`` all
call these, so the CLI and the API report the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credence.core.checks import check_int
from credence.core.errors import ParameterError
from credence.engine import ScoreChange, ScoringEngine
from credence.scoring.fraud import ClusterEvidence, dense_subgraphs, rank_clusters
from credence.scoring.paths import influence_paths

__all__ = [
    "INFLATION_THRESHOLD",
    "SEED_LEVEL",
    "THIN_HISTORY",
    "TRADE_SEED_MIN_LINKS",
    "BlockSearch",
    "CommunityReport",
    "Inflation",
    "SuspectCluster",
    "TrustReport",
    "cluster_inflation",
    "community_report",
    "default_impact",
    "PathReport",
    "UserPath",
    "find_dense_blocks",
    "influence_path_report",
    "rank_suspects",
    "suspicious_clusters",
    "sybil_suspects",
]

#: Members with fewer resolved repayments than this on record have a thin history.
THIN_HISTORY = 3

#: The identity check that makes a participant eligible as a trust seed by default (the
#: strongest one the synthetic sybils never pass: a face match).
SEED_LEVEL = "face_verified"

#: The fallback seed rule of :func:`sybil_suspects` on a graph without verification data
#: (a trade network): long-standing participants with good received ratings. Eligible are
#: participants created no later than the median creation time of the participants (the
#: older half), whom nobody distrusts, with at least this many friend links (positive
#: ratings on a signed graph). Why: an account that has traded long, with several
#: counterparties and no negative verdict, is costly for an attacker to create or capture.
TRADE_SEED_MIN_LINKS = 3

#: Unrounded points below which a score drop is not counted as inflation. The diffusion's
#: error is at most 600 * w_connections * tol = 3e-4 points with the default policy
#: (``diffusion.tol``), so 0.01 points is real, not solver noise; yet far below the half
#: point that rounding hides, which a ring spread thin over many users can stay under.
INFLATION_THRESHOLD = 0.01

#: Days before the evaluation time at which a simulated default fell due.
DEFAULT_DUE_DAYS = 30

_DAY = 86_400


@dataclass(frozen=True)
class Inflation:
    """The score points a group of accounts props up (what removing it from the network changes).

    Attributes
    ----------
    points : int
        Points all users would lose: the sum of every score drop.
    member_points, outsider_points : int
        The part of ``points`` lost by the group's members and by everyone else.
    users_raised : int
        Users whose score the group raises (whose score would drop).
    outsiders_raised : int
        Those outside the group.
    points_lowered : int
        Points users would *gain* (the group pulls their score down; under the
        ``bonus_only`` policy only through members' shared neighbours).
    top_outsiders : tuple of ScoreChange
        The outsiders who lose most, largest drop first.
    raw_points, raw_member_points, raw_outsider_points : float
        The same losses in unrounded points (``350 + 600 * sum_k w_k c_k`` before
        rounding), counting only drops of more than :data:`INFLATION_THRESHOLD`.
    raw_users_raised : int
        Users with such a drop (rounded scores can hide them).
    """

    points: int
    member_points: int
    outsider_points: int
    users_raised: int
    outsiders_raised: int
    points_lowered: int
    top_outsiders: tuple[ScoreChange, ...]
    raw_points: float = 0.0
    raw_member_points: float = 0.0
    raw_outsider_points: float = 0.0
    raw_users_raised: int = 0


@dataclass(frozen=True)
class SuspectCluster:
    """One suspicious group: its rank, user ids, evidence and (if asked) inflation."""

    rank: int
    users: tuple[str, ...]
    evidence: ClusterEvidence
    inflation: Inflation | None
    #: ``(community label, members in it)``, largest first, when communities were given.
    communities: tuple[tuple[int, int], ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json``)."""
        e = self.evidence
        out: dict[str, Any] = {
            "rank": self.rank, "users": list(self.users), "size": e.size, "density": e.density,
            "relative_density": e.relative_density, "internal_links": e.internal_links,
            "attack_links": e.attack_links, "outside_neighbours": e.outside_neighbours,
            "inside_share": e.inside_share, "thin_fraction": e.thin_fraction, "mean_base": e.mean_base,
            "suspicion": e.suspicion, "distrusted_fraction": e.distrusted_fraction,
        }  # fmt: skip
        if self.communities is not None:
            out["communities"] = [{"community": c, "members": m} for c, m in self.communities]
        if self.inflation is not None:
            i = self.inflation
            out["inflation"] = {
                "points": i.points, "member_points": i.member_points, "outsider_points": i.outsider_points,
                "users_raised": i.users_raised, "outsiders_raised": i.outsiders_raised,
                "points_lowered": i.points_lowered,
                "raw_points": i.raw_points, "raw_member_points": i.raw_member_points,
                "raw_outsider_points": i.raw_outsider_points, "raw_users_raised": i.raw_users_raised,
                "raw_threshold": INFLATION_THRESHOLD,
                "top_outsiders": [{"user": c.user, "before": c.before, "after": c.after} for c in i.top_outsiders],
            }  # fmt: skip
        return out


def cluster_inflation(engine: ScoringEngine, users: Sequence[str], *, top: int = 5) -> Inflation:
    """The score inflation a group of accounts produced: what quarantining it would take away.

    The group is taken out of everyone's network in memory (nothing is stored) and
    every score change is split between members and outsiders.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine.
    users : sequence of str
        The group's user ids (unknown ids raise :class:`~credence.core.errors.NotFoundError`).
    top : int
        How many of the outsiders who lose most to list.

    Returns
    -------
    Inflation

    Examples
    --------
    A closed triangle of heavy links between verified, well-paid users, and one
    unverified outsider ``d`` linked to ``a``:

    >>> import pandas as pd
    >>> from credence.graph.sqlite import SQLiteStore
    >>> store = SQLiteStore(":memory:")
    >>> good = [True, True, True, False]
    >>> _ = store.upsert_users(pd.DataFrame({"id": list("abcd"), "created": 0, "id_verified": good,
    ...     "face_verified": good, "verified_income": [9e3, 9e3, 9e3, None]}))
    >>> _ = store.upsert_links(pd.DataFrame({"source": list("abca"), "target": list("bcad"),
    ...                                      "weight": [5.0, 5.0, 5.0, 1.0]}))
    >>> engine = ScoringEngine(store, now=10 * 365 * 86_400)
    >>> _ = engine.recompute(write=False)
    >>> found = cluster_inflation(engine, ["a", "b", "c"])
    >>> found.points, found.member_points, found.outsider_points, found.users_raised
    (3, 3, 0, 3)
    """
    top = check_int(top, "top", 0)
    members = {str(u) for u in users}
    result = engine.what_if(remove_users=sorted(members))
    drops = [c for c in result.changes if c.after < c.before]
    outsiders = sorted(
        (c for c in drops if c.user not in members), key=lambda c: (c.after - c.before, c.user)
    )
    member_points = sum(c.before - c.after for c in drops if c.user in members)
    outsider_points = sum(c.before - c.after for c in outsiders)
    raw_drops = {user: -delta for user, delta in result.raw.items() if -delta > INFLATION_THRESHOLD}
    raw_members = math.fsum(v for u, v in raw_drops.items() if u in members)
    raw_outsiders = math.fsum(v for u, v in raw_drops.items() if u not in members)
    return Inflation(
        points=member_points + outsider_points,
        member_points=member_points,
        outsider_points=outsider_points,
        users_raised=len(drops),
        outsiders_raised=len(outsiders),
        points_lowered=sum(c.after - c.before for c in result.changes if c.after > c.before),
        top_outsiders=tuple(outsiders[:top]),
        raw_points=raw_members + raw_outsiders,
        raw_member_points=raw_members,
        raw_outsider_points=raw_outsiders,
        raw_users_raised=len(raw_drops),
    )


def _repayment_records(engine: ScoringEngine, rows: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Resolved repayments on record for ``rows`` (0 elsewhere), read from the store per user."""
    history = np.zeros(n)
    for row in rows.tolist():
        frame = engine.store.repayments(str(ids[row]))
        history[row] = float((frame["status"].astype(str) != "pending").sum()) if len(frame) else 0.0
    return history


def suspicious_clusters(
    engine: ScoringEngine,
    *,
    k: int = 10,
    inflation: bool = True,
    top: int = 5,
    thin_history: int = THIN_HISTORY,
    communities: np.ndarray | None = None,
) -> list[SuspectCluster]:
    """The ``k`` most suspicious dense groups of the current graph, with their evidence.

    Blocks are found among participants (flagged and non-consenting users take no
    part) on the engine's current friend graph, members removed after each block;
    they are ranked by :func:`credence.scoring.fraud.rank_clusters` suspicion with the
    members' base creditworthiness and repayment records (thin below
    ``thin_history``). With ``inflation`` each cluster also gets
    :func:`cluster_inflation` (one in-memory what-if per cluster).

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine (its store is read for the members' repayment records).
    k : int
        How many blocks to look for (>= 1); at most ``k`` clusters are returned.
    inflation : bool
        Also measure the score inflation of each cluster.
    top : int
        Outsiders listed per cluster in :attr:`Inflation.top_outsiders`.
    thin_history : int
        Fewer resolved repayments than this is a thin history.
    communities : ndarray of int, optional
        A community label per user (engine row order, e.g.
        :attr:`CommunityReport.labels`): each cluster then lists the communities its
        members belong to.

    Returns
    -------
    list of SuspectCluster
        Most suspect first.
    """
    search = find_dense_blocks(engine, k=k)
    return rank_suspects(engine, search, inflation=inflation, top=top, thin_history=thin_history,
                         communities=communities)  # fmt: skip


@dataclass(frozen=True)
class BlockSearch:
    """Dense blocks found on a copy of the engine's graph (:func:`find_dense_blocks`)."""

    k: int
    ids: np.ndarray
    adjacency: Any
    base: np.ndarray
    blocks: tuple[Any, ...]


def find_dense_blocks(engine: ScoringEngine, *, k: int = 10) -> BlockSearch:
    """The peeling part of :func:`suspicious_clusters`: pure computation on a copy of the graph.

    The engine's graph is copied under its lock; the peeling runs without it and reads
    no store, so a server can run it on a thread of its own.
    """
    k = check_int(k, "k", 1)
    view = engine.view(adjacency="all")
    blocks = dense_subgraphs(view.graph(), k=k, participating=view.participating)
    return BlockSearch(k=k, ids=view.ids, adjacency=view.graph(), base=view.base, blocks=tuple(blocks))


def _distrust_matrix(engine: ScoringEngine, ids: np.ndarray) -> Any:
    """The store's distrust on the rows of ``ids`` (None when there is none)."""
    import scipy.sparse as sp

    frame = engine.store.distrust()
    if frame.empty:
        return None
    index = {str(user): i for i, user in enumerate(ids.tolist())}
    rater = np.array([index.get(str(u), -1) for u in frame["rater"].tolist()], dtype=np.int64)
    rated = np.array([index.get(str(u), -1) for u in frame["rated"].tolist()], dtype=np.int64)
    known = (rater >= 0) & (rated >= 0)
    weight = frame["weight"].to_numpy(dtype=np.float64)[known]
    return sp.csr_matrix((weight, (rater[known], rated[known])), shape=(ids.size, ids.size))


def rank_suspects(
    engine: ScoringEngine,
    search: BlockSearch,
    *,
    inflation: bool = True,
    top: int = 5,
    thin_history: int = THIN_HISTORY,
    communities: np.ndarray | None = None,
) -> list[SuspectCluster]:
    """The ranking part of :func:`suspicious_clusters`, on the blocks :func:`find_dense_blocks` found.

    It reads the members' repayment records from the store, ranks the clusters by
    their evidence, and adds each one's inflation (one what-if per cluster) and,
    given ``communities``, the communities its members belong to.
    """
    top = check_int(top, "top", 0)
    thin_history = check_int(thin_history, "thin_history", 0)
    ids, blocks = search.ids, list(search.blocks)
    if communities is not None and np.shape(communities) != (ids.size,):
        raise ParameterError("communities", np.shape(communities), "must hold one label per user")
    members = np.unique(np.concatenate([b.members for b in blocks])) if blocks else np.zeros(0, np.int64)
    history = _repayment_records(engine, members, ids, ids.size)
    ranked = rank_clusters(search.adjacency, blocks, base=search.base, history_length=history,
                           thin_history=float(thin_history), distrust=_distrust_matrix(engine, ids))  # fmt: skip
    out = []
    for rank, evidence in enumerate(ranked[: search.k], 1):
        users = tuple(str(ids[x]) for x in evidence.members.tolist())
        found = cluster_inflation(engine, users, top=top) if inflation else None
        where = None
        if communities is not None:
            labels, counts = np.unique(np.asarray(communities)[evidence.members], return_counts=True)
            order = np.lexsort((labels, -counts))
            where = tuple((int(labels[i]), int(counts[i])) for i in order)
        out.append(
            SuspectCluster(rank=rank, users=users, evidence=evidence, inflation=found, communities=where)
        )
    return out


def default_impact(engine: ScoringEngine, user: str, *, amount: float | None = None) -> list[ScoreChange]:
    """Exact score changes if ``user`` defaulted on one repayment now (nothing is stored).

    The simulated repayment of ``amount`` (default: the median of the user's
    recorded repayments, 1,000 without any) fell due :data:`DEFAULT_DUE_DAYS` days
    before the evaluation time and was defaulted. The user's own score drops
    through the factors; everyone whose network value leans on the user drops with
    them (the engine's incremental push).

    Returns
    -------
    list of ScoreChange
        Every user whose score moved, the user first, then by largest drop.
    """
    key = str(user)
    engine.view().row(key)  # NotFoundError before any work
    if amount is None:
        recorded = engine.store.repayments(key)
        amount = float(recorded["amount"].median()) if len(recorded) else 1_000.0
    now = engine.computed_at
    assert now is not None  # _index() raised if nothing was computed
    due = now - DEFAULT_DUE_DAYS * _DAY
    event = pd.DataFrame({"id": [f"what-if-default-{key}"], "user": [key], "due": [due],
                          "paid": pd.array([None], dtype="Int64"), "amount": [float(amount)],
                          "status": ["defaulted"]})  # fmt: skip
    changes = [c for c in engine.what_if(repayments=event).changes if c.after != c.before]
    return sorted(changes, key=lambda c: (c.user != key, c.after - c.before, c.user))


@dataclass(frozen=True)
class TrustReport:
    """Least trusted participants under SybilRank, with the walk's settings.

    Attributes
    ----------
    suspects : tuple of (user, trust per degree, degree, percentile)
        Least trusted first; ``percentile`` is the share of participants trusted less
        (0 for the least trusted).
    seeds : int
        Seed users the walk started from.
    seed_groups : int
        Disjoint seed groups walked separately (ranking by the median over groups).
    iterations : int
        Steps of the walk.
    participants : int
        Users taking part in the network.
    no_evidence : int
        Participants the walk says nothing about, so never listed as suspects: isolated
        ones (no links among participants) and ones the walk did not reach (no trust).
        The percentiles rank the others.
    """

    suspects: tuple[tuple[str, float, float, float], ...]
    seeds: int
    seed_groups: int
    iterations: int
    participants: int
    no_evidence: int = 0
    #: How the seeds were chosen: ``"given"``, the identity check (e.g. ``"face_verified"``),
    #: or ``"long_standing_rated"`` (:data:`TRADE_SEED_MIN_LINKS`).
    seed_rule: str = "given"


def sybil_suspects(
    engine: ScoringEngine,
    *,
    first: int = 20,
    seeds: Sequence[str] | None = None,
    max_seeds: int = 1_000,
    seed_groups: int = 10,
    level: str = SEED_LEVEL,
    random_state: int = 0,
) -> TrustReport:
    """SybilRank on the current graph: the ``first`` least trusted participants.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine.
    first : int
        How many suspects to list.
    seeds : sequence of str, optional
        Seed user ids. By default up to ``max_seeds`` participants who passed the
        ``level`` identity check, drawn with ``random_state`` (keep the seed set
        secret: an attacker who links to the seeds defeats the ranking). When no
        participant passed it (a graph without verification data), the eligible are the
        long-standing participants with good received ratings (:data:`TRADE_SEED_MIN_LINKS`).
    max_seeds : int
        Most default seeds drawn.
    seed_groups : int
        Disjoint seed groups (median over groups; see :func:`credence.scoring.trust.sybil_trust`);
        lowered to the number of seeds when there are fewer.
    level : str
        The identity check of default seeds (one of ``credence.graph.model.IDENTITY_LEVELS``).
    random_state : int
        Seed of the default seed draw.

    Returns
    -------
    TrustReport
    """
    from credence.graph.model import IDENTITY_LEVELS
    from credence.scoring.trust import sybil_trust

    first = check_int(first, "first", 0)
    max_seeds = check_int(max_seeds, "max_seeds", 1)
    seed_groups = check_int(seed_groups, "seed_groups", 1)
    random_state = check_int(random_state, "random_state", 0)
    if level not in IDENTITY_LEVELS:
        raise ParameterError("level", level, f"must be one of {', '.join(IDENTITY_LEVELS)}")
    view = engine.view(adjacency="all", verified=(level,))
    ids, participating = view.ids, view.participating
    rule = "given"
    if seeds is None:
        rule = level
        eligible = np.flatnonzero(view.verified[level] & participating)
        if eligible.size == 0:
            rule = "long_standing_rated"
            eligible = np.flatnonzero(_long_standing_rated(engine, view) & participating)
        if eligible.size == 0:
            raise ParameterError(
                "seeds",
                None,
                f"no participant passed {level} or the long-standing rule: give seeds explicitly",
            )
        rng = np.random.default_rng(random_state)
        chosen = np.sort(rng.choice(eligible, min(max_seeds, eligible.size), replace=False))
    else:
        chosen = view.rows(seeds)
        silent = chosen[~participating[chosen]]
        if silent.size:
            raise ParameterError("seeds", str(ids[silent[0]]), "is not taking part in the network (no consent "
                                 "or quarantined); seeds must")  # fmt: skip
    result = sybil_trust(
        view.graph(), chosen, participating=participating, seed_groups=min(seed_groups, chosen.size)
    )  # chosen holds distinct rows
    n_part = int(participating.sum())
    # An isolated or unreached participant has trust 0 for want of evidence, not because a
    # walk found them cut off: low trust per degree is a signal only where the walk went.
    evidence = result.participating & (result.trust > 0.0) & (result.degree > 0.0)
    ranked = result.ranking[evidence[result.ranking]]  # most trusted first
    n_ranked = int(ranked.size)
    order = ranked[::-1][:first]
    suspects = tuple(
        (str(ids[v]), float(result.normalized[v]), float(result.degree[v]), rank / max(n_ranked, 1))
        for rank, v in enumerate(order.tolist())
    )
    return TrustReport(suspects=suspects, seeds=int(result.seeds.size), seed_groups=result.seed_groups,
                       iterations=result.iterations, participants=n_part, no_evidence=n_part - n_ranked,
                       seed_rule=rule)  # fmt: skip


def _long_standing_rated(engine: ScoringEngine, view: Any) -> np.ndarray:
    """Participants eligible under the fallback seed rule (:data:`TRADE_SEED_MIN_LINKS`), by view row."""
    graph = engine.store.export_graph()
    rows = view.rows(graph.ids.tolist())
    n = len(view.ids)
    created = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    created[rows] = graph.users["created"].to_numpy(dtype=np.int64)
    distrusted = np.zeros(n, dtype=bool)
    distrusted[rows] = np.diff(graph.distrust.tocsc().indptr) > 0
    links = np.diff(view.graph().indptr)
    participating = np.asarray(view.participating, dtype=bool)
    if not participating.any():
        return np.zeros(n, dtype=bool)
    oldest_half = created <= np.median(created[participating])
    return np.asarray(oldest_half & ~distrusted & (links >= TRADE_SEED_MIN_LINKS), dtype=bool)


@dataclass(frozen=True)
class CommunityReport:
    """The community structure of the participants' graph.

    Attributes
    ----------
    ids : ndarray of object
        User ids in engine row order.
    labels : ndarray of int64
        Community of each user (``0`` the largest), -1 for non-participants.
    stats : credence.scoring.communities.CommunityStats
        Size, internal links and weight, cut weight, volume, conductance and density
        per community (entry ``i`` is community ``i``).
    mean_score, min_score, max_score : ndarray of float64
        The members' scores per community.
    modularity : float
        Modularity of the labelling (at ``resolution``).
    resolution : float
        The resolution used.
    """

    ids: np.ndarray
    labels: np.ndarray
    stats: Any
    mean_score: np.ndarray
    min_score: np.ndarray
    max_score: np.ndarray
    modularity: float
    resolution: float

    @property
    def count(self) -> int:
        """Number of communities."""
        return int(self.stats.label.size)

    def members(self, community: int) -> list[str]:
        """User ids of one community."""
        return [str(u) for u in self.ids[self.labels == community].tolist()]

    def frame(self) -> pd.DataFrame:
        """One row per community, as a frame.

        Its columns: ``community, size, internal_links, density, conductance,
        cut_weight, mean_score, min_score, max_score``.
        """
        s = self.stats
        return pd.DataFrame({
            "community": s.label, "size": s.size, "internal_links": s.internal_links, "density": s.density,
            "conductance": s.conductance, "cut_weight": s.cut_weight, "mean_score": self.mean_score,
            "min_score": self.min_score, "max_score": self.max_score,
        })  # fmt: skip


def community_report(engine: ScoringEngine, *, resolution: float = 1.0, seed: int = 0) -> CommunityReport:
    """Louvain communities of the participants' current graph, with per-community scores.

    Parameters
    ----------
    engine : ScoringEngine
        A recomputed engine.
    resolution : float
        Modularity resolution (> 0; above 1 gives more, smaller communities).
    seed : int
        Seed of Louvain's node order.

    Returns
    -------
    CommunityReport

    Examples
    --------
    >>> import pandas as pd
    >>> from credence.graph.sqlite import SQLiteStore
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": list("abcdefg"), "created": 0}))
    >>> _ = store.upsert_links(pd.DataFrame({"source": list("abcefgc"), "target": list("bcaged" "e"),
    ...                                      "weight": 1.0}))
    >>> engine = ScoringEngine(store, now=10 * 365 * 86_400)
    >>> _ = engine.recompute(write=False)
    >>> report = community_report(engine)
    >>> report.count, sorted(map(sorted, (report.members(0), report.members(1))))
    (2, [['a', 'b', 'c'], ['d', 'e', 'f', 'g']])
    """
    from credence.scoring.communities import community_table, louvain, modularity

    view = engine.view(adjacency="participating")
    ids, adjacency, participating = view.ids, view.graph(), view.participating
    scores = view.scores.astype(np.float64)
    labels = louvain(adjacency, resolution=resolution, participating=participating, seed=seed)
    stats = community_table(adjacency, labels)
    inside = labels >= 0
    count = int(stats.label.size)  # labels are 0..count-1, so entry c of stats is community c
    mean = np.bincount(labels[inside], weights=scores[inside], minlength=count) / np.maximum(stats.size, 1)
    low = np.full(count, np.inf)
    high = np.full(count, -np.inf)
    np.minimum.at(low, labels[inside], scores[inside])
    np.maximum.at(high, labels[inside], scores[inside])
    return CommunityReport(ids=ids, labels=labels, stats=stats, mean_score=mean, min_score=low, max_score=high,
                           modularity=float(modularity(adjacency, labels, resolution=resolution)),
                           resolution=float(resolution))  # fmt: skip


@dataclass(frozen=True)
class UserPath:
    """One friend chain ``source -> ... -> target`` (see :class:`credence.scoring.paths.InfluencePath`)."""

    users: tuple[str, ...]
    transitions: tuple[float, ...]
    probability: float
    share: float
    influence: float


@dataclass(frozen=True)
class PathReport:
    """How ``target``'s base reaches ``source``'s network value, chain by chain.

    ``influence`` is ``d n_source / d b_target`` over all walks, ``walk_mass`` the walk
    mass behind it, ``contribution`` the target's part of ``n_source - prior``;
    ``silent`` names whichever of the two does not take part in the network (then
    there are no paths).
    """

    source: str
    target: str
    damping: float
    silent: str | None
    walk_mass: float
    influence: float
    target_base: float
    prior: float
    paths: tuple[UserPath, ...]

    @property
    def participating(self) -> bool:
        """Whether both users take part in the network."""
        return self.silent is None

    @property
    def contribution(self) -> float:
        """The target's part of ``n_source - prior``: ``influence * (b_target - prior)``."""
        return self.influence * (self.target_base - self.prior)

    @property
    def covered_share(self) -> float:
        """The listed chains' part of all walk mass from source to target."""
        return sum(path.share for path in self.paths)


def influence_path_report(
    engine: ScoringEngine, source: str, target: str, *, k: int = 5, max_hops: int = 6
) -> PathReport:
    """The ``k`` strongest friend chains from ``source`` to ``target``, with user ids and totals.

    Examples
    --------
    >>> import pandas as pd
    >>> from credence.graph.sqlite import SQLiteStore
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": list("abc"), "created": 0}))
    >>> _ = store.upsert_links(pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "weight": 1.0}))
    >>> engine = ScoringEngine(store, now=86_400)
    >>> _ = engine.recompute(write=False)
    >>> report = influence_path_report(engine, "a", "c", k=2)
    >>> [path.users for path in report.paths], round(report.covered_share, 6)  # walks may bounce: a b a b c
    ([('a', 'b', 'c')], 0.75)
    """
    view = engine.view(adjacency="all")
    s, t = view.row(source), view.row(target)
    found = influence_paths(
        view.graph(), s, t, damping=view.damping, k=k, max_hops=max_hops, participating=view.participating
    )
    silent = next((str(view.ids[row]) for row in (s, t) if not view.participating[row]), None)
    total = found[0].total if found else 0.0
    ids = view.ids
    return PathReport(
        source=str(ids[s]),
        target=str(ids[t]),
        damping=view.damping,
        silent=silent,
        walk_mass=total,
        influence=(1.0 - view.damping) / view.damping * total,
        target_base=float(view.base[t]),
        prior=view.prior,
        paths=tuple(
            UserPath(
                users=tuple(str(ids[x]) for x in path.nodes),
                transitions=tuple(float(x) for x in path.transitions),
                probability=float(path.probability),
                share=float(path.share),
                influence=float(path.influence),
            )
            for path in found
        ),
    )
