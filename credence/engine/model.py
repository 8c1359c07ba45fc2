"""The scoring model: a policy's weights applied to events, components and the diffusion.

A :class:`ScoringModel` is built once per engine from a :class:`~credence.scoring.policy.Policy`
and the factor constants. It turns events into the four individual components and the
base a user shares with the network (:meth:`~ScoringModel.individual`), the diffusion
into the network component (:meth:`~ScoringModel.network_component`), and components
into scores, component points and adverse-action reasons. The score formula itself is
:func:`credence.scoring.policy.assemble_scores`, and points on the scale are
:func:`credence.core.scale.points`: this module only feeds them the policy's weights.

**What a user shares with the network.** Under the ``symmetric`` policy the
diffusion spreads each user's base ``b`` as the design says. Under ``bonus_only``
it spreads the *shared base*: the same four components computed without the
user's adverse events (late, missed and defaulted repayments, bills paid late).
The design's ``max(c_u, mu)`` alone only keeps a network from pulling a score below
the prior; a friend's default would still pull a network bonus down. With the
shared base a default changes the defaulter's own score and nobody else's, which
is what "nobody is punished for whom they know" promises; on-time repayments
still raise the payer's friends.

Examples
--------
>>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
>>> model = ScoringModel.from_policy(read_policy(DEFAULT_POLICY_PATH))
>>> model.scores(np.array([[1.0] * 5, [0.5] * 5])).tolist()
[950, 650]
>>> [(part.name, part.points) for part in model.component_points(np.full(5, 0.5))][:2]
[('credit_history', 105.0), ('fulfilment_capacity', 75.0)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from credence.core.errors import ParameterError
from credence.core.scale import SCORE_RANGE, points
from credence.core.types import BoolArray, FloatArray, IntArray
from credence.engine.results import ComponentPoints, Reason
from credence.scoring.factors import (
    COMPONENTS as INDIVIDUAL_COMPONENTS,
)
from credence.scoring.factors import (
    REPAYMENT_STATUSES,
    SUB_FACTORS,
    CapacityReference,
    FactorParams,
    RepaymentArrays,
    SpendingArrays,
    UserArrays,
    adverse_reasons,
    compute_factors,
)
from credence.scoring.policy import COMPONENT_NAMES, Policy, assemble_scores
from credence.scoring.push import DiffusionState, component_value
from credence.scoring.ratings import RATING_REASON, RatingEvidence, blend

__all__ = ["NETWORK_REASON", "Individual", "ScoringModel"]

#: The adverse-action reason for the points the network component leaves on the table.
NETWORK_REASON = ("NW_CONNECTIONS", "Few links to people with strong credit, or network credit not shared")

# The component that trade ratings are evidence for (docs/factors.md, "Trade ratings").
_RATED = INDIVIDUAL_COMPONENTS.index("credit_history")
_RATED_CODES = frozenset(sf.code for sf in SUB_FACTORS if sf.component == "credit_history")

# Repayment statuses that say nothing bad about the payer (kept in the shared base).
_GOOD_STATUSES = np.array([REPAYMENT_STATUSES.index("pending"), REPAYMENT_STATUSES.index("on_time")])

_Events = TypeVar("_Events", RepaymentArrays, SpendingArrays)


@dataclass(frozen=True)
class Individual:
    """The individual parts of some users' scores, rows in the order they were asked for.

    Attributes
    ----------
    sub_values : ndarray of float64, shape (m, len(SUB_FACTORS))
        Sub-factor values.
    components : ndarray of float64, shape (m, 4)
        The four individual components.
    base : ndarray of float64, shape (m,)
        The base each user shares with the network, in [0, 1].
    """

    sub_values: FloatArray
    components: FloatArray
    base: FloatArray


@dataclass(frozen=True, eq=False)
class ScoringModel:
    """A policy's weights, ready to turn components into scores, points and reasons.

    Build it with :meth:`from_policy`.

    Attributes
    ----------
    policy : Policy
        Weights, bands, benefits and diffusion parameters.
    params : FactorParams
        Constants of the factor formulas.
    weights : ndarray of float64, shape (5,)
        Component weights in ``COMPONENT_NAMES`` order (read-only).
    base_weights : ndarray of float64, shape (4,)
        The individual weights rescaled to add up to 1: the base is their mix (read-only).
    component_weights : Mapping[str, float]
        The weights by component name, as :func:`~credence.scoring.factors.adverse_reasons` takes them.
    """

    policy: Policy
    params: FactorParams
    weights: FloatArray
    base_weights: FloatArray
    component_weights: Mapping[str, float]

    @classmethod
    def from_policy(cls, policy: Policy, params: FactorParams | None = None) -> ScoringModel:
        """The model of ``policy`` (and factor constants ``params``, default :class:`FactorParams`).

        Raises
        ------
        ParameterError
            If every individual component weighs 0 (the base would be undefined).
        """
        weights = policy.weight_vector()
        individual = weights[: len(INDIVIDUAL_COMPONENTS)]
        if individual.sum() <= 0:
            raise ParameterError("policy.weights", policy.weights, "individual weights must not all be 0")
        base_weights = individual / individual.sum()
        for array in (weights, base_weights):
            array.flags.writeable = False
        return cls(
            policy=policy,
            params=params if params is not None else FactorParams(),
            weights=weights,
            base_weights=base_weights,
            component_weights=MappingProxyType(dict(zip(COMPONENT_NAMES, weights.tolist(), strict=True))),
        )

    # ---------------------------------------------------------------- events -> components

    def individual(
        self,
        users: UserArrays,
        repayments: RepaymentArrays,
        spending: SpendingArrays,
        *,
        now: int,
        reference: CapacityReference,
        ratings: RatingEvidence | None = None,
    ) -> Individual:
        """Sub-values, the four individual components and the shared base of ``users``.

        Parameters
        ----------
        users : UserArrays
            The users; events name them by row.
        repayments : RepaymentArrays
            Their repayment events.
        spending : SpendingArrays
            Their spending and bill events.
        now : int
            Evaluation time, epoch seconds.
        reference : CapacityReference
            The population incomes and assets are ranked against.
        ratings : RatingEvidence, optional
            The users' trade-rating evidence (aligned with ``users``), blended into
            ``credit_history`` (:func:`credence.scoring.ratings.blend`); None: no ratings.

        Returns
        -------
        Individual
            Under ``bonus_only`` the base is computed without the adverse events (see the
            module docstring; negative ratings included); under ``symmetric`` it is the
            mix of the components.
        """
        factors = compute_factors(
            users, repayments, spending, now=now, params=self.params, reference=reference
        )
        components = factors.components
        shared = components
        bonus_only = self.policy.diffusion.sharing == "bonus_only"
        if bonus_only:
            good = np.isin(repayments.status, _GOOD_STATUSES)
            late_bill = spending.is_bill & (spending.on_time == 0.0)
            # Nothing to leave out: the same inputs give the same factors, so skip the second pass.
            if not good.all() or late_bill.any():
                shared = compute_factors(
                    users, _subset(repayments, good), _subset(spending, ~late_bill),
                    now=now, params=self.params, reference=reference,
                ).components  # fmt: skip
        if ratings is not None and len(ratings) != len(users):
            raise ParameterError("ratings", len(ratings), f"must hold one row per user ({len(users)})")
        if ratings is not None and ratings.weight.any():
            components = components.copy()
            components[:, _RATED] = blend(components[:, _RATED], ratings.value, ratings.weight)
            if bonus_only:
                shared = shared.copy()
                shared[:, _RATED] = blend(shared[:, _RATED], ratings.shared_value, ratings.shared_weight)
            else:
                shared = components
        base: FloatArray = np.clip(shared @ self.base_weights, 0.0, 1.0)
        return Individual(sub_values=factors.sub_values, components=components, base=base)

    # ---------------------------------------------------------------- the network component

    def shrink(self, degree: float) -> float:
        """How much of the diffused value a user of weighted ``degree`` keeps: ``d / (d + k)``."""
        return degree / (degree + self.policy.diffusion.shrinkage) if degree > 0 else 0.0

    def network_component(self, diffusion: DiffusionState, rows: IntArray | None = None) -> FloatArray:
        """The connections component of ``rows`` (default everyone): shrinkage, then the policy.

        Users without links among participants get the prior.
        """
        where = slice(None) if rows is None else rows
        degree = diffusion.degree[where]
        settings = self.policy.diffusion
        return component_value(
            np.where(degree > 0.0, diffusion.py[where], diffusion.mu),
            degree,
            mu=diffusion.mu,
            shrinkage=settings.shrinkage,
            sharing=settings.sharing,
        )

    # ---------------------------------------------------------------- components -> scores

    def scores(self, components: FloatArray) -> IntArray:
        """Scores of rows of components (``(m, 5)``, ``COMPONENT_NAMES`` order)."""
        return assemble_scores(components, self.weights)

    def component_points(self, values: FloatArray) -> tuple[ComponentPoints, ...]:
        """One user's five components with their weights and points (they add up to score - 350)."""
        worth = points(self.weights, values)
        return tuple(
            ComponentPoints(name, float(values[k]), float(self.weights[k]), float(worth[k]))
            for k, name in enumerate(COMPONENT_NAMES)
        )

    def network_points(self, value: float) -> float:
        """Points on the scale of ``value`` of the connections component."""
        return points(float(self.weights[-1]), value)

    def reasons(
        self,
        sub_values: FloatArray,
        connections: float,
        *,
        top: int = 4,
        rating: tuple[float, float] | None = None,
    ) -> tuple[Reason, ...]:
        """The ``top`` largest point losses of one user, largest first.

        Parameters
        ----------
        sub_values : ndarray of float64, shape (len(SUB_FACTORS),)
            The user's sub-factor values.
        connections : float
            The user's connections component: what it falls short of 1 is the network reason.
        top : int
            How many reasons at most.
        rating : (value, weight), optional
            The user's trade-rating value and its weight in credit history: the other
            credit-history reasons keep ``1 - weight`` of their points and
            ``CH_TRADE_RATINGS`` costs ``600 * w * weight * (1 - value)``.

        Examples
        --------
        >>> from credence.scoring.factors import SUB_FACTORS
        >>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
        >>> model = ScoringModel.from_policy(read_policy(DEFAULT_POLICY_PATH))
        >>> [(r.code, r.points) for r in model.reasons(np.ones(len(SUB_FACTORS)), 0.5)]
        [('NW_CONNECTIONS', 15.0)]
        >>> [(r.code, round(r.points, 6)) for r in model.reasons(np.ones(len(SUB_FACTORS)), 1.0,
        ...                                                       rating=(0.5, 0.4))]
        [('CH_TRADE_RATINGS', 42.0)]
        """
        value, weight = (1.0, 0.0) if rating is None else (float(rating[0]), float(rating[1]))
        everything = len(sub_values) if weight > 0 else top
        found = adverse_reasons(
            sub_values[np.newaxis, :], self.component_weights, top=everything, scale=SCORE_RANGE
        )
        rated = INDIVIDUAL_COMPONENTS[_RATED]
        reasons = [
            Reason(code, text, lost * (1.0 - weight) if code in _RATED_CODES else lost)
            for code, text, lost in found.explain(0)
        ]
        rating_loss = SCORE_RANGE * float(self.component_weights[rated]) * weight * (1.0 - value)
        if rating_loss > 0:
            reasons.append(Reason(RATING_REASON[0], RATING_REASON[1], rating_loss))
        network_loss = self.network_points(1.0 - connections)
        if network_loss > 0:
            reasons.append(Reason(NETWORK_REASON[0], NETWORK_REASON[1], network_loss))
        reasons.sort(key=lambda reason: -reason.points)
        return tuple(reasons[:top])


def _subset(events: _Events, keep: BoolArray) -> _Events:
    """The events where ``keep`` is True (validated again, as any events are)."""
    return replace(events, **{f.name: getattr(events, f.name)[keep] for f in fields(events)})
