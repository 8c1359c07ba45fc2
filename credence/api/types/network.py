"""A user's place in the network: diffused value, prior, degree, and the evidence behind them.

The evidence fields (who raised a user's network value, whose value depends on the
user) are analyst reads and are audited. They name users, so these types return
``User`` objects; ``User`` also returns a ``Network``. To keep the import graph
acyclic, ``User`` is named here lazily (``strawberry.lazy``, the way strawberry
resolves types that refer to each other across modules) and the function that
builds a ``User`` from an id is handed in by whoever creates the ``Network``
(:data:`UserNode`; ``User.network`` passes its own module's builder).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import strawberry

from credence.analysis.investigate import default_impact
from credence.api.context import context_of
from credence.api.loaders import load_network
from credence.api.types.scores import ScoreChangeType, score_changes
from credence.core.errors import ValidationError
from credence.engine import NetworkSummary
from credence.graph.model import MAX_AMOUNT

if TYPE_CHECKING:
    from credence.api.types.users import User

__all__ = ["Contributor", "Contributors", "Influence", "Influenced", "Network", "UserNode"]

#: ``User``, which strawberry resolves when the schema is built. An alias rather than an
#: annotation: ``User`` is imported for type checkers only, so its name must stay quoted.
LazyUser = Annotated["User", strawberry.lazy("credence.api.types.users")]
#: Builds the ``User`` of a user id within a request (NOT_FOUND if there is none).
UserNode = Callable[[strawberry.Info, str], Awaitable["User"]]


@strawberry.type(description="A user who raised (positive) or lowered (negative) another's network value.")
class Contributor:
    """One entry of ``Network.contributors``, from the engine's :class:`~credence.engine.Contributor`.

    ``user_node`` (private to Python) is the builder the ``Network`` was given, so
    that ``user`` can resolve the contributor without importing the ``User`` module.
    """

    user_id: str
    contribution: float = strawberry.field(description="Share of (network value - prior).")
    direct: float
    onward: float
    base: float = strawberry.field(description="The contributor's shared base b_v.")
    points: float = strawberry.field(description="Score points this contribution is worth.")
    user_node: strawberry.Private[UserNode]

    @strawberry.field
    async def user(self, info: strawberry.Info) -> LazyUser:
        """The contributor as a ``User``, loaded in one batch with the request's other users."""
        return await self.user_node(info, self.user_id)


@strawberry.type(description="Contributors of one user: they add up to (value - prior) within `bound`.")
class Contributors:
    """The ``Network.contributors`` answer: the listed contributors and how the whole decomposition adds up.

    Built from the engine's :class:`~credence.engine.Explanation`: ``total`` sums every
    contributor (listed or not), ``bound`` is the error of the decomposition, and
    ``shrink`` and ``floored`` tell how the network value became the component.
    """

    items: list[Contributor]
    total: float = strawberry.field(description="Sum over all contributors, listed or not.")
    bound: float = strawberry.field(description="Max error of the decomposition.")
    shrink: float
    floored: bool = strawberry.field(description="True when the bonus-only floor applied.")


@strawberry.type(description="A user whose network value depends on another's base.")
class Influenced:
    """One entry of ``Network.influenced``: a user whose network value moves with this user's base."""

    user_id: str
    sensitivity: float = strawberry.field(description="d n_u / d b_v.")
    points_at_risk: float = strawberry.field(description="Points u would lose if v's base fell to 0.")
    user_node: strawberry.Private[UserNode]

    @strawberry.field
    async def user(self, info: strawberry.Info) -> LazyUser:
        """The influenced user as a ``User``, loaded in one batch with the request's other users."""
        return await self.user_node(info, self.user_id)


@strawberry.type
class Influence:
    """The ``Network.influenced`` answer, from the engine's :class:`~credence.engine.InfluenceReport`.

    ``items`` are the users most sensitive to this user's base ``base`` (largest
    first); every user not listed has a sensitivity of at most ``bound``. The user's id
    stays private: ``ifDefaulted`` needs it, clients already know it.
    """

    user_id: strawberry.Private[str]
    items: list[Influenced]
    base: float
    bound: float

    @strawberry.field(
        description="Exact score changes if this user defaulted on one repayment now (the user "
        "first, then largest drops; nothing is stored; analyst; audited). amount defaults to the "
        "user's median repayment."
    )
    async def if_defaulted(
        self, info: strawberry.Info, amount: float | None = None
    ) -> list[ScoreChangeType] | None:
        """Every score this user's default on one repayment would move, in memory (``evidence``; audited).

        The what-if is :func:`~credence.analysis.investigate.default_impact`, run on the
        worker thread; nothing is stored. ``amount`` defaults to the user's median repayment.

        Raises
        ------
        ValidationError
            If ``amount`` is given and is not a finite number in ``(0, MAX_AMOUNT]``.
        """
        ctx = context_of(info)
        ctx.require("evidence", "Influence.ifDefaulted")
        if amount is not None and not (math.isfinite(amount) and 0.0 < amount <= MAX_AMOUNT):
            raise ValidationError(f"must be > 0 and <= {MAX_AMOUNT:g}", entity="argument", column="amount",
                                  value=amount)  # fmt: skip
        changes = await ctx.service.run(default_impact, ctx.service.engine, self.user_id, amount=amount)
        ctx.audit_read("read:network.influenced.if_defaulted", self.user_id, f"amount={amount}")
        return score_changes(changes)


@strawberry.type(description="A user's place in the network: diffused value, prior, degree and evidence.")
class Network:
    """A user's ``Network``: the engine's network summary and, on demand, the evidence behind it.

    The scalar fields read the engine's :class:`~credence.engine.NetworkSummary` through
    the request's loader, one batch for every ``Network`` of the request, and need only
    the ``read`` permission. The evidence fields run the engine and are audited.
    """

    user_id: strawberry.Private[str]
    user_node: strawberry.Private[UserNode]

    async def _summary(self, info: strawberry.Info) -> NetworkSummary:
        return await load_network(context_of(info), self.user_id)

    @strawberry.field(description="Diffused network value n_u (before shrinkage); the prior when isolated.")
    async def value(self, info: strawberry.Info) -> float:
        """The diffused network value n_u, before shrinkage (the prior for an isolated user)."""
        return (await self._summary(info)).value

    @strawberry.field(description="The neutral prior mu.")
    async def prior(self, info: strawberry.Info) -> float:
        """The neutral prior mu, the value the shrinkage pulls a thinly connected user towards."""
        return (await self._summary(info)).prior

    @strawberry.field(description="Weighted degree among participating users.")
    async def degree(self, info: strawberry.Info) -> float:
        """The user's weighted degree d, counting participating neighbours only."""
        return (await self._summary(info)).degree

    @strawberry.field(description="Shrinkage factor d / (d + k).")
    async def shrink(self, info: strawberry.Info) -> float:
        """The shrinkage factor d / (d + k): the weight of the network value against the prior."""
        return (await self._summary(info)).shrink

    @strawberry.field(description="The connections component after shrinkage and policy.")
    async def component(self, info: strawberry.Info) -> float:
        """The connections component of the score: the network value after shrinkage and the policy."""
        return (await self._summary(info)).component

    @strawberry.field(
        description="Consenting and not quarantined (analyst; audited: with consentNetwork it tells quarantine)."
    )
    async def participating(self, info: strawberry.Info) -> bool | None:
        """Whether the user takes part in the network: consenting and not quarantined (``evidence``; audited)."""
        ctx = context_of(info)
        ctx.require("evidence", "Network.participating")
        ctx.audit_read("read:network.participating", self.user_id)
        return (await self._summary(info)).participating

    @strawberry.field(description="Who raised or lowered this user's network value (analyst; audited).")
    async def contributors(self, info: strawberry.Info, first: int = 10) -> Contributors | None:
        """The largest ``first`` contributors, from the engine's explanation (``evidence``; audited)."""
        ctx = context_of(info)
        ctx.require("evidence", "Network.contributors")
        first = ctx.first(first)
        explanation = await ctx.service.run(ctx.service.engine.explain, self.user_id, contributors=first)
        ctx.audit_read("read:network.contributors", self.user_id, f"first={first}")
        return Contributors(
            items=[Contributor(user_id=c.user, contribution=c.contribution, direct=c.direct, onward=c.onward,
                               base=c.base, points=c.points, user_node=self.user_node)
                   for c in explanation.contributors],
            total=explanation.contributors_total, bound=explanation.network_bound,
            shrink=explanation.shrink, floored=explanation.floored,
        )  # fmt: skip

    @strawberry.field(description="Whose network value moves if this user's base changes (analyst; audited).")
    async def influenced(self, info: strawberry.Info, first: int = 10) -> Influence | None:
        """The ``first`` users whose network value leans most on this user's base (``evidence``; audited)."""
        ctx = context_of(info)
        ctx.require("evidence", "Network.influenced")
        first = ctx.first(first)
        report = await ctx.service.run(ctx.service.engine.influence, self.user_id, first=first)
        ctx.audit_read("read:network.influenced", self.user_id, f"first={first}")
        return Influence(
            user_id=self.user_id,
            items=[Influenced(user_id=u, sensitivity=s, points_at_risk=p, user_node=self.user_node)
                   for u, s, p in report.affected],
            base=report.base,
            bound=report.bound,
        )  # fmt: skip
