"""The versioned scoring policy: weights, bands, benefit tiers, diffusion parameters.

A policy is a small strict object parsed from TOML (``credence/scoring/policies/default.toml``).
``parse_policy`` is pure (a mapping in, a :class:`Policy` out);
``read_policy`` is its thin file wrapper.

Examples
--------
>>> policy = read_policy(DEFAULT_POLICY_PATH)
>>> policy.version, policy.weights["credit_history"]
('credence-2026.11-1', 0.35)
>>> policy.band_names(np.array([350, 599, 600, 720])).tolist()
['poor', 'fair', 'good', 'excellent']
>>> policy.benefits_for(655)
('credit_line', 'deposit_free_rental')
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from credence.core.checks import check_real
from credence.core.errors import ParameterError
from credence.core.scale import SCORE_MAX, SCORE_MIN, SCORE_RANGE
from credence.core.types import FloatArray, IntArray, ObjectArray
from credence.scoring.ratings import RatingParams
from credence.scoring.validation import check_damping, check_sharing, check_shrinkage

__all__ = [
    "BAND_NAMES",
    "COMPONENT_NAMES",
    "DEFAULT_POLICY_PATH",
    "TRADE_POLICY_PATH",
    "SCORE_MIN",
    "SCORE_MAX",
    "Band",
    "Benefit",
    "DiffusionParams",
    "DisputeRules",
    "Policy",
    "parse_policy",
    "read_policy",
    "assemble_scores",
]

#: The names a band may have, lowest first: the score's vocabulary (Sesame Credit's five
#: levels), shared by every policy so that clients can rely on it (the API's ``Band`` enum).
#: A policy chooses where each band starts, and may leave some out.
BAND_NAMES: tuple[str, ...] = ("poor", "fair", "good", "very good", "excellent")

COMPONENT_NAMES: tuple[str, ...] = (
    "credit_history",
    "fulfilment_capacity",
    "behaviour",
    "identity",
    "connections",
)
DEFAULT_POLICY_PATH = Path(__file__).resolve().parent / "policies" / "default.toml"
#: The default policy for a signed trade network: friend links read as positive ratings.
TRADE_POLICY_PATH = Path(__file__).resolve().parent / "policies" / "trade.toml"


@dataclass(frozen=True, kw_only=True)
class Band:
    """A named score band starting at ``min``."""

    name: str
    min: int


@dataclass(frozen=True, kw_only=True)
class Benefit:
    """A benefit tier granted from ``min`` upwards."""

    name: str
    min: int
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class DiffusionParams:
    """Parameters of the network component (see ``docs/design.md``).

    ``sharing`` is how a user's network counts in their score: ``"bonus_only"`` (it
    can raise the score, never lower it) or ``"symmetric"``.
    """

    damping: float = 0.5
    shrinkage: float = 2.0
    sharing: str = "bonus_only"
    tol: float = 1e-5

    def __post_init__(self) -> None:
        # The diffusion's own rules, so that a policy file cannot hold what diffuse() refuses;
        # the values are kept as written (an integer stays an integer).
        check_damping(self.damping, "diffusion.damping")
        check_shrinkage(self.shrinkage, "diffusion.shrinkage")
        check_sharing(self.sharing, "diffusion.sharing")
        check_real(self.tol, "diffusion.tol", lo=0.0, hi=1.0, lo_open=True, hi_open=True, finite=False)


@dataclass(frozen=True, kw_only=True)
class DisputeRules:
    """How disputed records count (see ``docs/rights.md``, "Disputes").

    ``adverse_counts_while_open``: whether an adverse record (a late, missed or
    defaulted repayment, a bill paid late, a link that lowers the person's score) still
    counts while its dispute is open; by default it does not. ``deadline_days``: how
    long the analysts have to resolve a dispute (the FCRA's 30 days by default).

    Examples
    --------
    >>> DisputeRules(deadline_days=0)
    Traceback (most recent call last):
    ...
    credence.core.errors.ParameterError: parameter 'disputes.deadline_days' = 0: must be an integer from 1 to 365
    """

    adverse_counts_while_open: bool = False
    deadline_days: int = 30

    def __post_init__(self) -> None:
        if not isinstance(self.adverse_counts_while_open, bool):
            raise ParameterError("disputes.adverse_counts_while_open", self.adverse_counts_while_open,
                                 "must be true or false")  # fmt: skip
        days = self.deadline_days
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise ParameterError("disputes.deadline_days", days, "must be an integer from 1 to 365")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Everything that turns components into a score, with its version."""

    version: str
    weights: Mapping[str, float]
    bands: tuple[Band, ...]
    benefits: tuple[Benefit, ...]
    diffusion: DiffusionParams
    #: How ratings received enter credit history (the optional ``[ratings]`` table;
    #: ``credence.scoring.ratings``). The default reads only distrust as ratings.
    ratings: RatingParams = field(default_factory=RatingParams)
    disputes: DisputeRules = DisputeRules()

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version.strip():
            raise ParameterError("version", self.version, "must be a non-empty string")
        if set(self.weights) != set(COMPONENT_NAMES):
            raise ParameterError(
                "weights", sorted(self.weights), f"must name exactly {list(COMPONENT_NAMES)}"
            )
        for name, weight in self.weights.items():
            check_real(weight, f"weights.{name}", lo=0.0)
        if not math.isclose(sum(self.weights.values()), 1.0, abs_tol=1e-9):
            raise ParameterError("weights", dict(self.weights), "must add up to 1")
        if not self.bands or self.bands[0].min != SCORE_MIN:
            raise ParameterError("bands", self.bands, f"the first band must start at {SCORE_MIN}")
        ranks = [BAND_NAMES.index(b.name) if b.name in BAND_NAMES else -1 for b in self.bands]
        if -1 in ranks:
            unknown = self.bands[ranks.index(-1)].name
            raise ParameterError(
                "bands", unknown, f"a band's name must be one of {', '.join(map(repr, BAND_NAMES))}"
            )
        if ranks != sorted(set(ranks)):
            raise ParameterError(
                "bands",
                [b.name for b in self.bands],
                f"bands must follow the order {', '.join(BAND_NAMES)}, each once",
            )
        starts = [band.min for band in self.bands]
        if starts != sorted(set(starts)) or starts[-1] > SCORE_MAX:
            raise ParameterError("bands", starts, f"band minimums must increase, up to {SCORE_MAX}")
        for benefit in self.benefits:
            if not SCORE_MIN <= benefit.min <= SCORE_MAX:
                raise ParameterError(
                    f"benefits.{benefit.name}.min", benefit.min, f"must be in [{SCORE_MIN}, {SCORE_MAX}]"
                )

    def weight_vector(self) -> FloatArray:
        """Weights in :data:`COMPONENT_NAMES` order."""
        return np.array([self.weights[name] for name in COMPONENT_NAMES], dtype=np.float64)

    def band_names(self, scores: IntArray) -> ObjectArray:
        """Band name (a ``str``) of each score."""
        starts = np.array([band.min for band in self.bands])
        names = np.array([band.name for band in self.bands], dtype=object)
        return np.asarray(names[np.searchsorted(starts, np.asarray(scores), side="right") - 1], dtype=object)

    def benefits_for(self, score: int) -> tuple[str, ...]:
        """Names of the benefits a score reaches, lowest tier first."""
        return tuple(b.name for b in sorted(self.benefits, key=lambda b: b.min) if score >= b.min)


def _require(table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ParameterError(f"{where}{key}", None, "is required")
    return table[key]


def parse_policy(data: Mapping[str, Any]) -> Policy:
    """Build a :class:`Policy` from a parsed TOML mapping, validating everything."""
    unknown = set(data) - {"version", "weights", "bands", "benefits", "diffusion", "ratings", "disputes"}
    if unknown:
        raise ParameterError(sorted(unknown)[0], None, "unknown policy key")
    bands = tuple(
        Band(name=str(_require(b, "name", "bands.")), min=int(_require(b, "min", "bands.")))
        for b in _require(data, "bands", "")
    )
    benefits = tuple(
        Benefit(
            name=str(_require(b, "name", "benefits.")),
            min=int(_require(b, "min", "benefits.")),
            description=str(b.get("description", "")),
        )
        for b in data.get("benefits", [])
    )
    diffusion = dict(data.get("diffusion", {}))
    if "policy" in diffusion:
        # Credence 0.1 called the sharing rule "policy"; old policy files still read.
        if "sharing" in diffusion:
            raise ParameterError("diffusion.policy", diffusion["policy"], "give diffusion.sharing only")
        diffusion["sharing"] = diffusion.pop("policy")
    unknown = set(diffusion) - {"damping", "shrinkage", "sharing", "tol"}
    if unknown:
        raise ParameterError(f"diffusion.{sorted(unknown)[0]}", None, "unknown diffusion key")
    ratings = dict(data.get("ratings", {}))
    known_ratings = {"links", "scale", "prior_good", "prior_bad", "evidence_half", "tol"}
    unknown = set(ratings) - known_ratings
    if unknown:
        raise ParameterError(f"ratings.{sorted(unknown)[0]}", None, "unknown ratings key")
    return Policy(
        version=_require(data, "version", ""),
        weights=dict(_require(data, "weights", "")),
        bands=bands,
        benefits=benefits,
        diffusion=DiffusionParams(**diffusion),
        ratings=RatingParams(**ratings),
        disputes=_dispute_rules(data.get("disputes", {})),
    )


def _dispute_rules(table: Any) -> DisputeRules:
    if not isinstance(table, Mapping):
        raise ParameterError("disputes", table, "must be a table")
    unknown = set(table) - {"adverse_counts_while_open", "deadline_days"}
    if unknown:
        raise ParameterError(f"disputes.{sorted(unknown)[0]}", None, "unknown disputes key")
    return DisputeRules(**table)


def read_policy(path: str | Path) -> Policy:
    """Read and validate a policy TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError("policy", str(path), f"cannot be read: {exc}") from exc
    return parse_policy(data)


def assemble_scores(components: FloatArray, weights: FloatArray) -> IntArray:
    """``round(350 + 600 * sum_k w_k c_k)`` per row, as int64 in [350, 950].

    Examples
    --------
    >>> assemble_scores(np.array([[1.0] * 5, [0.0] * 5, [0.5] * 5]), np.full(5, 0.2)).tolist()
    [950, 350, 650]
    """
    components = np.asarray(components, dtype=np.float64)
    if components.ndim != 2 or components.shape[1] != len(weights):
        raise ParameterError("components", components.shape, f"must be (n, {len(weights)})")
    if not np.all((components >= 0) & (components <= 1)):
        raise ParameterError("components", "out of range", "every component must be in [0, 1]")
    raw = SCORE_MIN + SCORE_RANGE * (components @ np.asarray(weights, dtype=np.float64))
    scores: IntArray = np.clip(np.rint(raw), SCORE_MIN, SCORE_MAX).astype(np.int64)
    return scores
