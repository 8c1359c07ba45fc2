"""The GraphQL schema: types, queries, mutations and the score subscription.

Resolvers are thin: they check the caller's role (:data:`PERMISSIONS`), hand store
and engine work to the service's worker thread, batch lookups through per-request
DataLoaders, and turn results into GraphQL types. Errors are Credence's own
exceptions; :class:`CredenceErrors` gives each its ``extensions.code`` and masks
anything else.

Who may do what (a role not listed gets FORBIDDEN; no key gets UNAUTHENTICATED)::

    permission  roles                 fields
    read        app, analyst, admin   user, users, node, scoreStats, scoreHistogram, model,
                                      User.score/band/components/reasons/history,
                                      User.network{value, prior, degree}, scoreChanged
    evidence    analyst, admin        Network.contributors, Network.influenced, User.friends,
                                      User.flags, influencePaths, suspiciousClusters, whatIf,
                                      sybilSuspects, communities, Influence.ifDefaulted
                                      (audited for the roles in ApiConfig.audit_roles)
    write       app, admin            upsertUser, addLink, removeLink, recordRepayment,
                                      recordSpending, setConsent
    flag        analyst, admin        flagUser, flagUsers, unflagUser
    admin       admin                 recompute, auditLog
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import logging
import math
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any

import pandas as pd
import strawberry
from graphql import DocumentNode, GraphQLError, parse
from strawberry.dataloader import DataLoader
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)

from credence import engine as eng
from credence.analysis.investigate import (
    THIN_HISTORY,
    SuspectCluster,
    find_dense_blocks,
    influence_path_report,
    rank_suspects,
)
from credence.api.config import ApiConfig, ApiKey
from credence.api.limits import RequestLimitsRule, check_first
from credence.api.service import (
    CredenceService,
    NumberRange,
    UserQuery,
    decode_cursor,
    encode_cursor,
    users_page,
)
from credence.core.errors import (
    AuthenticationError,
    CredenceError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from credence.graph.model import MAX_AMOUNT, check_text, check_user_id
from credence.graph.store import AuditDraft
from credence.scoring.policy import COMPONENT_NAMES

__all__ = ["PERMISSIONS", "Context", "CredenceErrors", "build_schema"]

log = logging.getLogger("credence.api")

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ("app", "analyst", "admin"),
    "evidence": ("analyst", "admin"),
    "write": ("app", "admin"),
    "flag": ("analyst", "admin"),
    "admin": ("admin",),
}

#: Codes that reach clients with their message; anything else is masked.
ALLOWED_CODES = frozenset({
    "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT", "FORBIDDEN", "UNAUTHENTICATED", "LIMIT_EXCEEDED",
    "STORE_UNAVAILABLE", "NOT_CONVERGED", "READ_ONLY", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED",
})  # fmt: skip


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    """Per-request state: the caller, the service, loaders and pending audit entries."""

    service: CredenceService
    config: ApiConfig
    key: ApiKey | None
    audit: list[AuditDraft] = field(default_factory=list)
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def require(self, permission: str, what: str) -> ApiKey:
        """The caller's key if its role has ``permission`` (else the matching error)."""
        if self.key is None:
            raise AuthenticationError("no valid API key: send 'Authorization: Bearer <key>'")
        allowed = PERMISSIONS[permission]
        if self.key.role not in allowed:
            raise PermissionDeniedError(what, role=self.key.role, allowed=allowed)
        return self.key

    def audit_read(self, action: str, subject: str | None, detail: str = "") -> None:
        key = self.key
        if key is not None and key.role in self.config.audit_roles:
            self.audit.append(AuditDraft(actor=key.name, role=key.role, action=action, subject=subject,
                                         detail=detail))  # fmt: skip

    def loader(self, name: str, batch: Any) -> DataLoader[Any, Any]:
        if name not in self.loaders:
            self.loaders[name] = DataLoader(load_fn=batch)
        return self.loaders[name]

    def first(self, first: int, where: str = "first") -> int:
        return check_first(first, self.config.limits, where)

    def writable(self) -> None:
        if self.config.read_only:
            raise ReadOnlyError()


class ReadOnlyError(CredenceError):
    """The server was started read-only (several workers); mutations are refused."""

    code = "READ_ONLY"

    def __init__(self) -> None:
        super().__init__("this server is read-only (started with several workers); send writes to a single-worker "
                         "server")  # fmt: skip


def _ctx(info: strawberry.Info) -> Context:
    return info.context


# --------------------------------------------------------------------------- ids


def to_global_id(user_id: str) -> str:
    """The opaque node id of a user.

    Examples
    --------
    >>> from_global_id(to_global_id("u0000042"))
    'u0000042'
    """
    return base64.urlsafe_b64encode(f"User:{user_id}".encode()).decode().rstrip("=")


def from_global_id(node_id: str) -> str:
    try:
        raw = base64.urlsafe_b64decode((node_id + "=" * (-len(node_id) % 4)).encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("not a node id", entity="node", column="id", value=node_id) from None
    kind, _, key = raw.partition(":")
    if kind != "User" or not key:
        raise ValidationError("not a node id", entity="node", column="id", value=node_id)
    return key


def _user_key(value: str) -> str:
    """A user id given either as the external id or as the opaque node id."""
    if isinstance(value, str) and not value.startswith("u") and len(value) >= 8:
        try:
            return from_global_id(value)
        except ValidationError:
            pass
    return check_user_id(value)


# --------------------------------------------------------------------------- loaders


async def _summaries(ctx: Context, keys: list[str]) -> list[eng.UserSummary | None]:
    return ctx.service.engine.summaries(keys)


async def _networks(ctx: Context, keys: list[str]) -> list[eng.NetworkSummary | Exception]:
    def work() -> list[eng.NetworkSummary | Exception]:
        out: list[eng.NetworkSummary | Exception] = []
        for key in keys:
            try:
                out.append(ctx.service.engine.network(key))
            except CredenceError as error:
                out.append(error)
        return out

    return await ctx.service.run(work)


async def _histories(ctx: Context, keys: list[str]) -> list[pd.DataFrame | Exception]:
    def work() -> list[pd.DataFrame | Exception]:
        out: list[pd.DataFrame | Exception] = []
        for key in keys:
            try:
                out.append(ctx.service.store.score_history(key))
            except CredenceError as error:
                out.append(error)
        return out

    return await ctx.service.run(work)


async def _friends(ctx: Context, keys: list[str]) -> list[list[tuple[str, float]] | Exception]:
    def work() -> list[list[tuple[str, float]] | Exception]:
        out: list[list[tuple[str, float]] | Exception] = []
        for key in keys:
            try:
                out.append(ctx.service.engine.friends(key))
            except CredenceError as error:
                out.append(error)
        return out

    return await ctx.service.run(work)


async def _summary(info: strawberry.Info, user_id: str) -> eng.UserSummary:
    ctx = _ctx(info)
    found = await ctx.loader("summary", partial(_summaries, ctx)).load(user_id)
    if found is None:
        raise NotFoundError("user", user_id)
    return found


# --------------------------------------------------------------------------- output types


@strawberry.type(
    description="One part of a score: value in [0, 1], policy weight, points = 600 x weight x value."
)
class Component:
    name: str
    value: float
    weight: float
    points: float


@strawberry.type(description="An adverse-action reason: what cost points, in plain words.")
class Reason:
    code: str
    text: str
    points: float = strawberry.field(description="Points this reason costs.")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A user who raised (positive) or lowered (negative) another's network value.")
class Contributor:
    user_id: str
    contribution: float = strawberry.field(description="Share of (network value - prior).")
    direct: float
    onward: float
    base: float = strawberry.field(description="The contributor's shared base b_v.")
    points: float = strawberry.field(description="Score points this contribution is worth.")

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User:
        return await _user_node(info, self.user_id)


@strawberry.type(description="Contributors of one user: they add up to (value - prior) within `bound`.")
class Contributors:
    items: list[Contributor]
    total: float = strawberry.field(description="Sum over all contributors, listed or not.")
    bound: float = strawberry.field(description="Max error of the decomposition.")
    shrink: float
    floored: bool = strawberry.field(description="True when the bonus-only floor applied.")


@strawberry.type(description="A user whose network value depends on another's base.")
class Influenced:
    user_id: str
    sensitivity: float = strawberry.field(description="d n_u / d b_v.")
    points_at_risk: float = strawberry.field(description="Points u would lose if v's base fell to 0.")

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User:
        return await _user_node(info, self.user_id)


@strawberry.type
class Influence:
    user_id: strawberry.Private[str]
    items: list[Influenced]
    base: float
    bound: float

    @strawberry.field(
        description="Exact score changes if this user defaulted on one repayment now (the user "
        "first, then largest drops; nothing is stored; analyst; audited). amount defaults to the "
        "user's median repayment."
    )
    async def if_defaulted(self, info: strawberry.Info, amount: float | None = None) -> list[ScoreChangeType]:
        from credence.analysis.investigate import default_impact

        ctx = _ctx(info)
        ctx.require("evidence", "Influence.ifDefaulted")
        if amount is not None and not (math.isfinite(amount) and 0.0 < amount <= MAX_AMOUNT):
            raise ValidationError(f"must be > 0 and <= {MAX_AMOUNT:g}", entity="argument", column="amount",
                                  value=amount)  # fmt: skip
        changes = await ctx.service.run(default_impact, ctx.service.engine, self.user_id, amount=amount)
        ctx.audit_read("read:network.influenced.if_defaulted", self.user_id, f"amount={amount}")
        return _changes(changes)


@strawberry.type(description="A user's place in the network: diffused value, prior, degree and evidence.")
class Network:
    user_id: strawberry.Private[str]

    async def _summary(self, info: strawberry.Info) -> eng.NetworkSummary:
        ctx = _ctx(info)
        found = await ctx.loader("network", partial(_networks, ctx)).load(self.user_id)
        return found

    @strawberry.field(description="Diffused network value n_u (before shrinkage); the prior when isolated.")
    async def value(self, info: strawberry.Info) -> float:
        return (await self._summary(info)).value

    @strawberry.field(description="The neutral prior mu.")
    async def prior(self, info: strawberry.Info) -> float:
        return (await self._summary(info)).prior

    @strawberry.field(description="Weighted degree among participating users.")
    async def degree(self, info: strawberry.Info) -> float:
        return (await self._summary(info)).degree

    @strawberry.field(description="Shrinkage factor d / (d + k).")
    async def shrink(self, info: strawberry.Info) -> float:
        return (await self._summary(info)).shrink

    @strawberry.field(description="The connections component after shrinkage and policy.")
    async def component(self, info: strawberry.Info) -> float:
        return (await self._summary(info)).component

    @strawberry.field(description="Consenting and not quarantined.")
    async def participating(self, info: strawberry.Info) -> bool:
        return (await self._summary(info)).participating

    @strawberry.field(description="Who raised or lowered this user's network value (analyst; audited).")
    async def contributors(self, info: strawberry.Info, first: int = 10) -> Contributors:
        ctx = _ctx(info)
        ctx.require("evidence", "Network.contributors")
        first = ctx.first(first)
        explanation = await ctx.service.run(ctx.service.engine.explain, self.user_id, contributors=first)
        ctx.audit_read("read:network.contributors", self.user_id, f"first={first}")
        return Contributors(
            items=[Contributor(user_id=c.user, contribution=c.contribution, direct=c.direct, onward=c.onward,
                               base=c.base, points=c.points) for c in explanation.contributors],
            total=explanation.contributors_total, bound=explanation.network_bound,
            shrink=explanation.shrink, floored=explanation.floored,
        )  # fmt: skip

    @strawberry.field(description="Whose network value moves if this user's base changes (analyst; audited).")
    async def influenced(self, info: strawberry.Info, first: int = 10) -> Influence:
        ctx = _ctx(info)
        ctx.require("evidence", "Network.influenced")
        first = ctx.first(first)
        report = await ctx.service.run(ctx.service.engine.influence, self.user_id, first=first)
        ctx.audit_read("read:network.influenced", self.user_id, f"first={first}")
        return Influence(
            user_id=self.user_id,
            items=[Influenced(user_id=u, sensitivity=s, points_at_risk=p) for u, s, p in report.affected],
            base=report.base,
            bound=report.bound,
        )


@strawberry.type(description="A stored score snapshot.")
class ScoreSnapshot:
    model_version: str
    computed_at: int
    score: int
    components: list[Component]


@strawberry.type
class ScoreSnapshotEdge:
    cursor: str
    node: ScoreSnapshot


@strawberry.type
class ScoreSnapshotConnection:
    edges: list[ScoreSnapshotEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class FriendEdge:
    cursor: str
    weight: float
    node: User


@strawberry.type
class FriendConnection:
    edges: list[FriendEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="An analyst flag (active while not cleared).")
class Flag:
    analyst: str
    reason: str
    flagged_at: int
    cleared_at: int | None
    cleared_by: str | None
    clear_reason: str | None
    active: bool


@strawberry.interface(description="An object with an opaque global id.")
class Node:
    id: strawberry.ID


@strawberry.type(description="A person with a Credence score.")
class User(Node):
    user_id: str = strawberry.field(description="The external user id.")
    score: int
    band: str
    benefits: list[str]
    model_version: str
    computed_at: int = strawberry.field(description="Evaluation time of the score, epoch seconds.")
    components: list[Component]
    reasons: list[Reason] = strawberry.field(description="Top adverse-action reasons (at most 4).")
    consent_network: bool

    @strawberry.field(description="Network component and its evidence.")
    def network(self) -> Network:
        return Network(user_id=self.user_id)

    @strawberry.field(description="Active analyst quarantine (analyst).")
    def quarantined(self, info: strawberry.Info) -> bool:
        _ctx(info).require("evidence", "User.quarantined")
        summary = _ctx(info).service.engine.summaries([self.user_id])[0]
        return bool(summary is not None and summary.quarantined)

    @strawberry.field(description="Score history, newest first.")
    async def history(
        self, info: strawberry.Info, first: int = 10, after: str | None = None
    ) -> ScoreSnapshotConnection:
        ctx = _ctx(info)
        ctx.require("read", "User.history")
        first = ctx.first(first)
        frame = await ctx.loader("history", partial(_histories, ctx)).load(self.user_id)
        rows = list(range(len(frame) - 1, -1, -1))  # newest first; the store orders by time, then sequence
        start = 0
        if after is not None:
            position = decode_cursor(after, "history").get("p")
            if not isinstance(position, int) or isinstance(position, bool) or position < 0:
                raise ValidationError("malformed cursor", entity="cursor", column="after", value=after)
            start = len(frame) - position  # cursors count from the oldest, so new snapshots do not shift them
        chosen = rows[start : start + first]
        edges = []
        for i in chosen:
            row = frame.iloc[i]
            components = [
                Component(name=name, value=float(row[name]), weight=float(ctx.service.policy.weights[name]),
                          points=600.0 * float(ctx.service.policy.weights[name]) * float(row[name]))
                for name in COMPONENT_NAMES
            ]  # fmt: skip
            node = ScoreSnapshot(model_version=str(row["model_version"]), computed_at=int(row["computed_at"]),
                                 score=int(row["score"]), components=components)  # fmt: skip
            edges.append(ScoreSnapshotEdge(cursor=encode_cursor("history", {"p": i}), node=node))
        has_next = start + first < len(rows)
        return ScoreSnapshotConnection(edges=edges, page_info=PageInfo(has_next_page=has_next,
                                       end_cursor=edges[-1].cursor if edges else None), total_count=len(frame))  # fmt: skip

    @strawberry.field(description="Linked users by id (analyst; audited).")
    async def friends(
        self, info: strawberry.Info, first: int = 20, after: str | None = None
    ) -> FriendConnection:
        ctx = _ctx(info)
        ctx.require("evidence", "User.friends")
        first = ctx.first(first)
        pairs = await ctx.loader("friends", partial(_friends, ctx)).load(self.user_id)
        start = 0
        if after is not None:
            last = decode_cursor(after, "friends").get("k")
            if not isinstance(last, str):
                raise ValidationError("malformed cursor", entity="cursor", column="after", value=after)
            start = next((i for i, (friend, _) in enumerate(pairs) if friend > last), len(pairs))
        chosen = pairs[start : start + first]
        ctx.audit_read("read:friends", self.user_id, f"first={first}")
        nodes = await _user_nodes(info, [friend for friend, _ in chosen])
        edges = [FriendEdge(cursor=encode_cursor("friends", {"k": friend}), weight=weight, node=node)
                 for (friend, weight), node in zip(chosen, nodes, strict=True)]  # fmt: skip
        return FriendConnection(edges=edges, page_info=PageInfo(has_next_page=start + first < len(pairs),
                                end_cursor=edges[-1].cursor if edges else None), total_count=len(pairs))  # fmt: skip

    @strawberry.field(description="Analyst flags, oldest first (analyst; audited).")
    async def flags(self, info: strawberry.Info) -> list[Flag]:
        ctx = _ctx(info)
        ctx.require("evidence", "User.flags")
        flags = await ctx.service.run(ctx.service.store.flags, self.user_id)
        ctx.audit_read("read:flags", self.user_id)
        return [Flag(analyst=f.analyst, reason=f.reason, flagged_at=f.flagged_at, cleared_at=f.cleared_at,
                     cleared_by=f.cleared_by, clear_reason=f.clear_reason, active=f.active) for f in flags]  # fmt: skip


def _user_from(summary: eng.UserSummary) -> User:
    return User(
        id=strawberry.ID(to_global_id(summary.user)), user_id=summary.user, score=summary.score, band=summary.band,
        benefits=list(summary.benefits), model_version=summary.model_version, computed_at=summary.computed_at,
        components=[Component(name=c.name, value=c.value, weight=c.weight, points=c.points)
                    for c in summary.components],
        reasons=[Reason(code=r.code, text=r.text, points=r.points) for r in summary.reasons],
        consent_network=summary.consent,
    )  # fmt: skip


async def _user_node(info: strawberry.Info, user_id: str) -> User:
    return _user_from(await _summary(info, user_id))


async def _user_nodes(info: strawberry.Info, user_ids: list[str]) -> list[User]:
    ctx = _ctx(info)
    found = await ctx.loader("summary", partial(_summaries, ctx)).load_many(user_ids)
    out = []
    for user_id, summary in zip(user_ids, found, strict=True):
        if summary is None:
            raise NotFoundError("user", user_id)
        out.append(_user_from(summary))
    return out


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type(description="A keyset page of users; cursors stay valid across recomputes.")
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Users matching the filter.")
    generation: int = strawberry.field(description="Version of the scores the page was read from.")


@strawberry.type
class Percentile:
    level: int
    value: float


@strawberry.type
class BandCount:
    name: str
    min: int
    count: int


@strawberry.type
class ScoreStats:
    count: int
    mean: float | None
    stddev: float | None
    min: int | None
    max: int | None
    median: float | None
    percentiles: list[Percentile]
    bands: list[BandCount]


@strawberry.type
class HistogramBin:
    lower: float
    upper: float
    count: int


@strawberry.type
class WeightEntry:
    name: str
    weight: float


@strawberry.type
class BandDefinition:
    name: str
    min: int


@strawberry.type
class BenefitTier:
    name: str
    min: int
    description: str


@strawberry.type
class DiffusionParameters:
    damping: float
    shrinkage: float
    policy: str
    tol: float


@strawberry.type(description="The scoring model: policy version, weights, bands, benefit tiers, diffusion.")
class Model:
    version: str
    weights: list[WeightEntry]
    bands: list[BandDefinition]
    benefit_tiers: list[BenefitTier]
    diffusion: DiffusionParameters
    computed_at: int | None
    generation: int


@strawberry.type
class AuditEntryType:
    id: int
    at: int
    actor: str
    role: str
    action: str
    subject: str | None
    detail: str


@strawberry.type
class AuditPage:
    entries: list[AuditEntryType]
    end_cursor: str | None
    has_next_page: bool


# --------------------------------------------------------------------------- inputs


@strawberry.input(description="Numeric filter with explicit operators; every given bound must hold.")
class IntFilter:
    eq: int | None = None
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None
    in_: list[int] | None = strawberry.field(default=None, name="in")


@strawberry.input
class FloatFilter:
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@strawberry.input
class StringFilter:
    eq: str | None = None
    in_: list[str] | None = strawberry.field(default=None, name="in")


@strawberry.input
class UserFilter:
    score: IntFilter | None = None
    degree: FloatFilter | None = None
    band: StringFilter | None = None
    consent: bool | None = None
    quarantined: bool | None = None


@strawberry.enum
class UserSort(Enum):
    SCORE_DESC = "SCORE_DESC"
    SCORE_ASC = "SCORE_ASC"
    USER_ID_ASC = "USER_ID_ASC"


def _number_range(value: IntFilter | FloatFilter | None) -> NumberRange | None:
    if value is None:
        return None
    any_of = getattr(value, "in_", None)
    for name in ("eq", "gt", "gte", "lt", "lte"):
        bound = getattr(value, name, None)
        if bound is not None and not math.isfinite(float(bound)):
            raise ValidationError("must be finite", entity="filter", column=name, value=bound)
    return NumberRange(eq=getattr(value, "eq", None), gt=value.gt, gte=value.gte, lt=value.lt, lte=value.lte,
                       any_of=None if any_of is None else tuple(float(v) for v in any_of))  # fmt: skip


def _user_query(filter: UserFilter | None, sort: UserSort = UserSort.SCORE_DESC) -> UserQuery:
    if filter is None:
        return UserQuery(sort=sort.value)
    bands: tuple[str, ...] | None = None
    if filter.band is not None:
        chosen = list(filter.band.in_ or [])
        if filter.band.eq is not None:
            chosen.append(filter.band.eq)
        bands = tuple(chosen)
    return UserQuery(score=_number_range(filter.score), degree=_number_range(filter.degree), bands=bands,
                     consent=filter.consent, quarantined=filter.quarantined, sort=sort.value)  # fmt: skip


@strawberry.input(description="A user to create or update (missing optional fields keep their defaults).")
class UserInput:
    id: str
    created: int
    phone_verified: bool = False
    id_verified: bool = False
    face_verified: bool = False
    education_verified: bool = False
    employer_verified: bool = False
    declared_income: float | None = None
    verified_income: float | None = None
    verified_assets: float | None = None
    consent_network: bool = True


@strawberry.input(
    description="A loan instalment: due/paid times in epoch seconds; status pending|on_time|late|missed|defaulted."
)
class RepaymentInput:
    id: str
    user: str
    due: int
    amount: float
    status: str
    paid: int | None = None


@strawberry.input(description="A purchase or a bill payment (bills say whether they were paid on time).")
class SpendingInput:
    id: str
    user: str
    at: int
    amount: float
    category: str
    on_time: bool | None = None


@strawberry.type(description="A user whose score moved because of a change.")
class ScoreChangeType:
    user_id: str
    before: int
    after: int


@strawberry.type
class ChangePayload:
    changes: list[ScoreChangeType] = strawberry.field(description="Every score the change moved.")
    users: list[User] = strawberry.field(description="The users the change was about, as they are now.")


@strawberry.type
class RecomputePayload:
    users: int
    links: int
    participants: int
    model_version: str
    computed_at: int
    written: int
    seconds: float
    generation: int


@strawberry.type(description="A score change pushed to subscribers.")
class ScoreChangedEvent:
    user_id: str
    before: int
    after: int


@strawberry.type(
    description="One friend chain source -> ... -> target through which target's base reaches source's network value."
)
class InfluencePathType:
    user_ids: list[str] = strawberry.field(description="source, ..., target.")
    transitions: list[float] = strawberry.field(description="Walk probability w / d of each hop.")
    probability: float = strawberry.field(description="Product of damping x transition over the hops.")
    share: float = strawberry.field(
        description="The chain's fraction of all walk mass from source to target."
    )
    influence: float = strawberry.field(description="The chain's part of d n_source / d b_target.")


@strawberry.type(
    description="The score points a group of accounts props up: what quarantining it would take away "
    "(computed in memory; nothing is stored)."
)
class ClusterInflation:
    points: int = strawberry.field(description="Points all users would lose (members and outsiders).")
    member_points: int = strawberry.field(description="Points the members would lose.")
    outsider_points: int = strawberry.field(description="Points everyone else would lose.")
    users_raised: int = strawberry.field(description="Users whose score the group raises.")
    outsiders_raised: int = strawberry.field(description="Of them, users outside the group.")
    points_lowered: int = strawberry.field(description="Points users would gain (the group pulls them down).")
    top_outsiders: list[ScoreChangeType] = strawberry.field(description="Outsiders who would lose most.")


@strawberry.type(description="A dense, closed group of accounts (possible fraud ring or sybil region).")
class SuspiciousCluster:
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
    async def inflation(self, info: strawberry.Info, top: int = 5) -> ClusterInflation:
        from credence.analysis.investigate import cluster_inflation

        ctx = _ctx(info)
        ctx.require("evidence", "SuspiciousCluster.inflation")
        top = ctx.first(top, "top")
        found = await ctx.service.run(cluster_inflation, ctx.service.engine, self.user_ids, top=top)
        return ClusterInflation(
            points=found.points, member_points=found.member_points, outsider_points=found.outsider_points,
            users_raised=found.users_raised, outsiders_raised=found.outsiders_raised,
            points_lowered=found.points_lowered, top_outsiders=_changes(list(found.top_outsiders)),
        )  # fmt: skip


@strawberry.type(description="A participant ranked low by SybilRank trust.")
class SybilSuspect:
    user_id: str
    trust_per_degree: float = strawberry.field(description="The ranking score (median over seed groups).")
    degree: float
    percentile: float = strawberry.field(
        description="Share of participants trusted less (0 = least trusted)."
    )


@strawberry.type(description="SybilRank from verified seed users: the least trusted participants.")
class SybilSuspects:
    seeds: int
    seed_groups: int
    iterations: int
    participants: int
    suspects: list[SybilSuspect]


@strawberry.type(description="One community of the friend graph (Louvain).")
class CommunityType:
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
    count: int
    modularity: float
    resolution: float
    largest: list[CommunityType]


MAX_FLAG_USERS = 100
MAX_HOPS = 10


def _influence_paths(
    engine: eng.ScoringEngine, source: str, target: str, k: int, max_hops: int
) -> list[InfluencePathType]:
    report = influence_path_report(engine, source, target, k=k, max_hops=max_hops)
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


def _cluster_types(found: list[SuspectCluster]) -> list[SuspiciousCluster]:
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


# --------------------------------------------------------------------------- queries


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its opaque global id.")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        _ctx(info).require("read", "node")
        summary = (await _summaries(_ctx(info), [from_global_id(str(id))]))[0]
        return None if summary is None else _user_from(summary)

    @strawberry.field(description="One user by external id or global id (NOT_FOUND if unknown).")
    async def user(self, info: strawberry.Info, id: str) -> User:
        _ctx(info).require("read", "user")
        return await _user_node(info, _user_key(id))

    @strawberry.field(description="Users as a keyset-paged connection.")
    async def users(
        self,
        info: strawberry.Info,
        filter: UserFilter | None = None,
        sort: UserSort = UserSort.SCORE_DESC,
        first: int = 20,
        after: str | None = None,
    ) -> UserConnection:
        ctx = _ctx(info)
        ctx.require("read", "users")
        first = ctx.first(first)
        query = _user_query(filter, sort)
        service = ctx.service
        page = await service.run(lambda: users_page(service.engine.view(), query, first=first, after=after,
                                                    policy=service.policy, id_order=service.id_order()))  # fmt: skip
        nodes = await _user_nodes(info, page.ids)
        return UserConnection(
            edges=[UserEdge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
            total_count=page.total,
            generation=page.generation,
        )

    @strawberry.field(description="Summary statistics of the scores (optionally filtered).")
    async def score_stats(self, info: strawberry.Info, filter: UserFilter | None = None) -> ScoreStats:
        ctx = _ctx(info)
        ctx.require("read", "scoreStats")
        service = ctx.service
        query = _user_query(filter)
        stats = await service.run(service.stats, query)
        return ScoreStats(
            count=stats["count"],
            mean=stats["mean"],
            stddev=stats["stddev"],
            min=stats["min"],
            max=stats["max"],
            median=stats["median"],
            percentiles=[Percentile(**p) for p in stats["percentiles"]],
            bands=[BandCount(**b) for b in stats["bands"]],
        )

    @strawberry.field(description="Counts of scores in equal bins over [350, 950].")
    async def score_histogram(
        self, info: strawberry.Info, bins: int = 20, filter: UserFilter | None = None
    ) -> list[HistogramBin]:
        ctx = _ctx(info)
        ctx.require("read", "scoreHistogram")
        if not 1 <= bins <= 600:
            raise ValidationError("must be between 1 and 600", entity="argument", column="bins", value=bins)
        result = await ctx.service.run(ctx.service.histogram, _user_query(filter), bins)
        return [HistogramBin(**b) for b in result]

    @strawberry.field(description="The scoring model in force.")
    def model(self, info: strawberry.Info) -> Model:
        ctx = _ctx(info)
        ctx.require("read", "model")
        policy = ctx.service.policy
        d = policy.diffusion
        return Model(
            version=policy.version,
            weights=[WeightEntry(name=n, weight=float(policy.weights[n])) for n in COMPONENT_NAMES],
            bands=[BandDefinition(name=b.name, min=b.min) for b in policy.bands],
            benefit_tiers=[BenefitTier(name=b.name, min=b.min, description=b.description) for b in policy.benefits],
            diffusion=DiffusionParameters(damping=float(d.damping), shrinkage=float(d.shrinkage), policy=d.policy,
                                          tol=float(d.tol)),
            computed_at=ctx.service.engine.computed_at, generation=ctx.service.engine.generation,
        )  # fmt: skip

    @strawberry.field(description="The k strongest friend chains from source to target (analyst; audited).")
    async def influence_paths(
        self, info: strawberry.Info, source: str, target: str, k: int = 5, max_hops: int = 6
    ) -> list[InfluencePathType]:
        ctx = _ctx(info)
        ctx.require("evidence", "influencePaths")
        k = ctx.first(k, "k")
        if k < 1:
            raise ValidationError("must be >= 1", entity="argument", column="k", value=k)
        if not 1 <= max_hops <= MAX_HOPS:
            raise ValidationError(f"must be between 1 and {MAX_HOPS}", entity="argument", column="maxHops",
                                  value=max_hops)  # fmt: skip
        source, target = _user_key(source), _user_key(target)
        found = await ctx.service.run(_influence_paths, ctx.service.engine, source, target, k, max_hops)
        ctx.audit_read("read:influence_paths", source, f"target={target} k={k} max_hops={max_hops}")
        return found

    @strawberry.field(description="The most suspicious dense groups of the current graph (analyst; audited).")
    async def suspicious_clusters(self, info: strawberry.Info, first: int = 10) -> list[SuspiciousCluster]:
        ctx = _ctx(info)
        ctx.require("evidence", "suspiciousClusters")
        first = ctx.first(first)
        found: list[SuspiciousCluster] = []
        if first:
            engine = ctx.service.engine
            search = await ctx.service.analyze(find_dense_blocks, engine, k=first)
            found = _cluster_types(await ctx.service.run(rank_suspects, engine, search, inflation=False))
        ctx.audit_read("read:suspicious_clusters", None, f"first={first} found={len(found)}")
        return found

    @strawberry.field(
        description="The least trusted participants by SybilRank from a random draw of up to 1,000 "
        "face-verified participants (seed draw fixed by randomState; analyst; audited)."
    )
    async def sybil_suspects(
        self, info: strawberry.Info, first: int = 20, seed_groups: int = 10, random_state: int = 0
    ) -> SybilSuspects:
        from credence.analysis.investigate import sybil_suspects

        ctx = _ctx(info)
        ctx.require("evidence", "sybilSuspects")
        first = ctx.first(first)
        report = await ctx.service.analyze(partial(sybil_suspects, ctx.service.engine, first=first,
                                                   seed_groups=seed_groups, random_state=random_state))  # fmt: skip
        ctx.audit_read("read:sybil_suspects", None, f"first={first} seed_groups={seed_groups} "
                       f"random_state={random_state}")  # fmt: skip
        return SybilSuspects(seeds=report.seeds, seed_groups=report.seed_groups, iterations=report.iterations,
                             participants=report.participants,
                             suspects=[SybilSuspect(user_id=u, trust_per_degree=t, degree=d, percentile=p)
                                       for u, t, d, p in report.suspects])  # fmt: skip

    @strawberry.field(
        description="Louvain communities of the participants' graph, largest first (analyst; audited)."
    )
    async def communities(
        self, info: strawberry.Info, first: int = 10, resolution: float = 1.0, members: int = 10
    ) -> Communities:
        from credence.analysis.investigate import community_report

        ctx = _ctx(info)
        ctx.require("evidence", "communities")
        first = ctx.first(first)
        members = ctx.first(members, "members")
        report = await ctx.service.analyze(
            partial(community_report, ctx.service.engine, resolution=resolution)
        )
        ctx.audit_read("read:communities", None, f"first={first} resolution={resolution}")

        def number(value: float) -> float | None:
            return None if math.isnan(value) else float(value)

        stats = report.stats
        largest = [CommunityType(
            community=c, size=int(stats.size[c]), internal_links=int(stats.internal_links[c]),
            density=number(stats.density[c]), conductance=number(stats.conductance[c]),
            mean_score=float(report.mean_score[c]), min_score=int(report.min_score[c]),
            max_score=int(report.max_score[c]), user_ids=sorted(report.members(c))[:members],
        ) for c in range(min(first, report.count))]  # fmt: skip
        return Communities(
            count=report.count, modularity=report.modularity, resolution=report.resolution, largest=largest
        )

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
        ctx = _ctx(info)
        ctx.require("evidence", "whatIf")
        pairs: list[tuple[str, str]] = []
        for link in remove_links or []:
            if len(link) != 2:
                raise ValidationError("each link must be a pair [a, b]", entity="argument", column="removeLinks",
                                      value=link)  # fmt: skip
            pairs.append((_user_key(link[0]), _user_key(link[1])))
        if len(pairs) > MAX_FLAG_USERS:
            raise LimitExceededError("removeLinks", len(pairs), MAX_FLAG_USERS)
        accounts = [_user_key(user) for user in remove_users or []]
        if len(accounts) > MAX_FLAG_USERS:
            raise LimitExceededError("removeUsers", len(accounts), MAX_FLAG_USERS)
        result = await ctx.service.run(partial(ctx.service.engine.what_if, remove_links=pairs,
                                               remove_users=accounts))  # fmt: skip
        for a, b in pairs:
            ctx.audit_read("read:what_if", a, f"remove_link={a},{b}")
        for user in accounts:
            ctx.audit_read("read:what_if", user, "remove_user")
        if not pairs and not accounts:
            ctx.audit_read("read:what_if", None, "no changes")
        return _changes(list(result.changes))

    @strawberry.field(description="The audit log of analysts' reads and flags (admin), oldest first.")
    async def audit_log(
        self,
        info: strawberry.Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
    ) -> AuditPage:
        ctx = _ctx(info)
        ctx.require("admin", "auditLog")
        first = ctx.first(first)
        start = None
        if after is not None:
            start = decode_cursor(after, "audit").get("id")
            if not isinstance(start, int) or isinstance(start, bool):
                raise ValidationError("malformed cursor", entity="cursor", column="after", value=after)
        rows = await ctx.service.run(ctx.service.store.audit_log, first=first + 1, after=start, actor=actor,
                                     subject=subject)  # fmt: skip
        entries = [AuditEntryType(id=e.id, at=e.at, actor=e.actor, role=e.role, action=e.action, subject=e.subject,
                                  detail=e.detail) for e in rows[:first]]  # fmt: skip
        return AuditPage(entries=entries, has_next_page=len(rows) > first,
                         end_cursor=encode_cursor("audit", {"id": entries[-1].id}) if entries else None)  # fmt: skip


# --------------------------------------------------------------------------- mutations


def _changes(changes: list[eng.ScoreChange]) -> list[ScoreChangeType]:
    return [ScoreChangeType(user_id=c.user, before=c.before, after=c.after) for c in changes]


async def _payload(info: strawberry.Info, changes: list[eng.ScoreChange], users: list[str]) -> ChangePayload:
    return ChangePayload(changes=_changes(changes), users=await _user_nodes(info, list(dict.fromkeys(users))))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create or update a user (app, admin).")
    async def upsert_user(self, info: strawberry.Info, input: UserInput) -> ChangePayload:
        ctx = _ctx(info)
        ctx.require("write", "upsertUser")
        ctx.writable()
        frame = _frame(
            [
                {
                    k: getattr(input, k)
                    for k in (
                        "id",
                        "created",
                        "phone_verified",
                        "id_verified",
                        "face_verified",
                        "education_verified",
                        "employer_verified",
                        "declared_income",
                        "verified_income",
                        "verified_assets",
                        "consent_network",
                    )
                }
            ]
        )
        frame[["declared_income", "verified_income", "verified_assets"]] = frame[
            ["declared_income", "verified_income", "verified_assets"]
        ].astype("float64")
        changes = await ctx.service.mutate(ctx.service.engine.upsert_users, frame)
        return await _payload(info, changes, [check_user_id(input.id)])

    @strawberry.mutation(description="Create or re-weight a link between two users (app, admin).")
    async def add_link(self, info: strawberry.Info, a: str, b: str, weight: float = 1.0) -> ChangePayload:
        ctx = _ctx(info)
        ctx.require("write", "addLink")
        ctx.writable()
        a, b = _user_key(a), _user_key(b)
        changes = await ctx.service.mutate(ctx.service.engine.add_link, a, b, weight=weight)
        return await _payload(info, changes, [a, b])

    @strawberry.mutation(description="Remove the link between two users (app, admin; NOT_FOUND if none).")
    async def remove_link(self, info: strawberry.Info, a: str, b: str) -> ChangePayload:
        ctx = _ctx(info)
        ctx.require("write", "removeLink")
        ctx.writable()
        a, b = _user_key(a), _user_key(b)
        changes = await ctx.service.mutate(ctx.service.engine.remove_link, a, b)
        return await _payload(info, changes, [a, b])

    @strawberry.mutation(description="Record a repayment event (app, admin).")
    async def record_repayment(self, info: strawberry.Info, input: RepaymentInput) -> ChangePayload:
        ctx = _ctx(info)
        ctx.require("write", "recordRepayment")
        ctx.writable()
        frame = _frame([{"id": input.id, "user": input.user, "due": input.due, "paid": input.paid,
                         "amount": input.amount, "status": input.status}])  # fmt: skip
        frame["paid"] = frame["paid"].astype("Int64")
        changes = await ctx.service.mutate(ctx.service.engine.record_repayments, frame)
        return await _payload(info, changes, [check_user_id(input.user)])

    @strawberry.mutation(description="Record a purchase or bill payment (app, admin).")
    async def record_spending(self, info: strawberry.Info, input: SpendingInput) -> ChangePayload:
        ctx = _ctx(info)
        ctx.require("write", "recordSpending")
        ctx.writable()
        frame = _frame([{"id": input.id, "user": input.user, "at": input.at, "amount": input.amount,
                         "category": input.category, "on_time": input.on_time}])  # fmt: skip
        frame["on_time"] = frame["on_time"].astype("boolean")
        changes = await ctx.service.mutate(ctx.service.engine.record_spending, frame)
        return await _payload(info, changes, [check_user_id(input.user)])

    @strawberry.mutation(description="Give or withdraw consent to network scoring (app, admin).")
    async def set_consent(self, info: strawberry.Info, user: str, consent: bool) -> ChangePayload:
        ctx = _ctx(info)
        ctx.require("write", "setConsent")
        ctx.writable()
        user = _user_key(user)
        changes = await ctx.service.mutate(ctx.service.engine.set_consent, user, consent)
        return await _payload(info, changes, [user])

    @strawberry.mutation(description="Quarantine a user (analyst, admin; audited with the reason).")
    async def flag_user(self, info: strawberry.Info, user: str, reason: str) -> ChangePayload:
        ctx = _ctx(info)
        key = ctx.require("flag", "flagUser")
        ctx.writable()
        user = _user_key(user)
        changes = await ctx.service.mutate(
            ctx.service.engine.flag_user, user, analyst=key.name, reason=reason
        )
        ctx.audit.append(
            AuditDraft(actor=key.name, role=key.role, action="flag", subject=user, detail=reason)
        )
        return await _payload(info, changes, [user])

    @strawberry.mutation(
        description=(
            "Quarantine several users, e.g. a suspicious cluster (analyst, admin; audited per user with the reason; "
            "at most 100). Every id is checked before anything is written; each flag is then its own store "
            "transaction, so a crash part-way may leave a prefix of the list flagged."
        )
    )
    async def flag_users(self, info: strawberry.Info, users: list[str], reason: str) -> ChangePayload:
        ctx = _ctx(info)
        key = ctx.require("flag", "flagUsers")
        ctx.writable()
        if len(users) > MAX_FLAG_USERS:
            raise LimitExceededError("users", len(users), MAX_FLAG_USERS)
        keys = list(dict.fromkeys(_user_key(user) for user in users))
        check_text("flag", "reason", reason)
        changes = await ctx.service.mutate(
            ctx.service.engine.flag_users, keys, analyst=key.name, reason=reason
        )
        for user in keys:
            ctx.audit.append(
                AuditDraft(actor=key.name, role=key.role, action="flag", subject=user, detail=reason)
            )
        return await _payload(info, changes, keys)

    @strawberry.mutation(description="Clear a user's quarantine (analyst, admin; audited with the reason).")
    async def unflag_user(self, info: strawberry.Info, user: str, reason: str) -> ChangePayload:
        ctx = _ctx(info)
        key = ctx.require("flag", "unflagUser")
        ctx.writable()
        user = _user_key(user)
        changes = await ctx.service.mutate(
            ctx.service.engine.unflag_user, user, analyst=key.name, reason=reason
        )
        ctx.audit.append(
            AuditDraft(actor=key.name, role=key.role, action="unflag", subject=user, detail=reason)
        )
        return await _payload(info, changes, [user])

    @strawberry.mutation(description="Full recompute of every score, warm-started (admin).")
    async def recompute(self, info: strawberry.Info, now: int | None = None) -> RecomputePayload:
        ctx = _ctx(info)
        key = ctx.require("admin", "recompute")
        ctx.writable()
        engine = ctx.service.engine
        report = await ctx.service.run(engine.recompute, now=now)
        ctx.audit.append(AuditDraft(actor=key.name, role=key.role, action="recompute",
                                    detail=f"users={report.users} now={report.computed_at}"))  # fmt: skip
        return RecomputePayload(
            users=report.users, links=report.links, participants=report.participants,
            model_version=report.model_version, computed_at=report.computed_at, written=report.written,
            seconds=float(sum(report.seconds.values())), generation=engine.generation,
        )  # fmt: skip


# --------------------------------------------------------------------------- subscription


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Score changes of one user (or of everyone when userId is null).")
    async def score_changed(
        self, info: strawberry.Info, user_id: str | None = None
    ) -> AsyncGenerator[ScoreChangedEvent, None]:
        ctx = _ctx(info)
        ctx.require("read", "scoreChanged")
        key = None if user_id is None else _user_key(user_id)
        if key is not None and ctx.service.engine.summaries([key])[0] is None:
            raise NotFoundError("user", key)
        token, queue = ctx.service.broker.subscribe(key)
        try:
            while True:
                change = await queue.get()
                yield ScoreChangedEvent(user_id=change.user, before=change.before, after=change.after)
        finally:
            ctx.service.broker.unsubscribe(token)


# --------------------------------------------------------------------------- errors and audit


def _code_of(error: GraphQLError) -> str | None:
    original = error.original_error
    if isinstance(original, CredenceError):
        return original.code
    if isinstance(original, GraphQLError):
        return _code_of(original)
    return None


class CredenceErrors(SchemaExtension):
    """Gives every error its ``extensions.code``, masks unexpected ones, writes the audit log.

    The audit entries a request gathered are written in one transaction before its
    response leaves; if that write fails the response carries no data, only the error,
    so no evidence is ever served unaudited.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        context = self.execution_context.context
        if result is None:
            return
        if isinstance(context, Context) and context.audit:
            try:
                context.service.store.record_audit(context.audit)
                context.audit.clear()
            except Exception as error:  # audit failure: withhold the data
                log.exception("audit write failed")
                result.data = None
                result.errors = [*(result.errors or []),
                                 GraphQLError("the audit log could not be written; no data returned",
                                              original_error=error if isinstance(error, CredenceError) else None,
                                              extensions={"code": "STORE_UNAVAILABLE"})]  # fmt: skip
        if result.errors:
            result.errors = [self._present(error) for error in result.errors]

    @staticmethod
    def _present(error: GraphQLError) -> GraphQLError:
        extensions = dict(error.extensions or {})
        code = extensions.get("code") or _code_of(error)
        message = error.message
        original = error.original_error
        if code is None and original is None:
            # Parse and validation errors come without an original error.
            if message.startswith("Syntax Error") or "Parsing aborted" in message:
                code = (
                    "LIMIT_EXCEEDED"
                    if "tokens" in message and "Parsing aborted" in message
                    else ("GRAPHQL_PARSE_FAILED")
                )
            else:
                code = "GRAPHQL_VALIDATION_FAILED"
        if code not in ALLOWED_CODES or code is None:
            log.error("internal error masked: %r", original or error, exc_info=original)
            return GraphQLError("internal server error", error.nodes, error.source, error.positions, error.path,
                                extensions={"code": "INTERNAL_SERVER_ERROR"})  # fmt: skip
        extensions["code"] = code
        if isinstance(original, CredenceError):
            extensions = {**original.extensions, **extensions}
        return GraphQLError(
            message, error.nodes, error.source, error.positions, error.path, extensions=extensions
        )


@functools.lru_cache(maxsize=1_024)
def _parse_cached(query: str, max_tokens: int | None) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class CachedParser(SchemaExtension):
    """Parse each distinct document once (parsing was a quarter of a typical request's CPU).

    Only successful parses are cached and reused; a document that fails to parse is left
    to strawberry, which parses it again and reports the error the usual way (with its
    code), which strawberry's own ParserCache would not.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parse_cached(
                    context.query, context.parse_options.get("max_tokens")
                )
        yield


def build_schema(config: ApiConfig) -> strawberry.Schema:
    """The schema with the request limits of ``config`` (extensions passed as factories)."""
    limits = config.limits
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, types=[User],
        extensions=[
            partial(MaxTokensLimiter, max_token_count=limits.max_tokens),
            CachedParser,
            # Clients repeat the same documents: validate each once (the limits rule depends on
            # the document only; page sizes from variables are checked at run time).
            partial(ValidationCache, maxsize=1_024),
            partial(AddValidationRules, [RequestLimitsRule(limits)]),
            CredenceErrors,
        ],
    )  # fmt: skip
