"""The scoring model in force: policy version, weights, bands, benefit tiers, diffusion."""

from __future__ import annotations

import strawberry

from credence.api.inputs import Band
from credence.api.scalars import EpochSeconds
from credence.scoring.policy import COMPONENT_NAMES, Policy

__all__ = ["BandDefinition", "BenefitTier", "DiffusionParameters", "Model", "WeightEntry", "model_from"]


@strawberry.type
class WeightEntry:
    """The policy weight of one score component (``Model.weights`` lists them in component order)."""

    name: str
    weight: float


@strawberry.type
class BandDefinition:
    """A score band of the policy: scores from ``min`` up to the next band's ``min`` get ``band``.

    ``name`` is the band's name as the policy writes it (for display), ``band`` the same as the enum.
    """

    name: str
    band: Band
    min: int


@strawberry.type
class BenefitTier:
    """A benefit tier of the policy, granted to scores from ``min`` upwards."""

    name: str
    min: int
    description: str


@strawberry.type
class DiffusionParameters:
    """The policy's parameters of the network component (:class:`~credence.scoring.policy.DiffusionParams`).

    ``damping`` is the walk's continuation probability, ``shrinkage`` the k of
    d / (d + k), ``policy`` whether the network may lower a score, ``tol`` the
    diffusion's precision.
    """

    damping: float
    shrinkage: float
    policy: str
    tol: float


@strawberry.type(description="The scoring model: policy version, weights, bands, benefit tiers, diffusion.")
class Model:
    """The scoring model in force, as :func:`model_from` serves it.

    ``version`` is the policy version; ``computed_at`` (the evaluation time) and
    ``generation`` (the version) say which scores are in memory.
    """

    version: str
    weights: list[WeightEntry]
    bands: list[BandDefinition]
    benefit_tiers: list[BenefitTier]
    diffusion: DiffusionParameters
    computed_at: EpochSeconds | None
    generation: int


def model_from(policy: Policy, computed_at: int | None, generation: int) -> Model:
    """The model of ``policy`` as served: weights in component order, and the scores' version.

    Parameters
    ----------
    policy
        The policy the engine scores with.
    computed_at
        Evaluation time of the scores in memory (None before the first recompute).
    generation
        Version of the scores in memory.
    """
    d = policy.diffusion
    return Model(
        version=policy.version,
        weights=[WeightEntry(name=n, weight=float(policy.weights[n])) for n in COMPONENT_NAMES],
        bands=[BandDefinition(name=b.name, band=Band(b.name), min=b.min) for b in policy.bands],
        benefit_tiers=[BenefitTier(name=b.name, min=b.min, description=b.description) for b in policy.benefits],
        diffusion=DiffusionParameters(damping=float(d.damping), shrinkage=float(d.shrinkage), policy=d.sharing,
                                      tol=float(d.tol)),
        computed_at=None if computed_at is None else EpochSeconds(computed_at), generation=generation,
    )  # fmt: skip
