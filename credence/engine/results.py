"""What the engine answers: frozen results, and :class:`EngineView`, its one read-only view.

Every result is a copy: holding one never keeps the engine's arrays alive, and
later changes to the engine do not alter it.

Examples
--------
>>> change = ScoreChange("u1", before=612, after=618)
>>> WhatIf((change,)).score_of("u1"), WhatIf((change,)).score_of("u2") is None
(618, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.arrays import unique_sorted
from credence.core.errors import NotFoundError, ParameterError
from credence.core.types import BoolArray, FloatArray, IntArray, ObjectArray
from credence.graph.model import check_user_id
from credence.scoring.policy import Policy

__all__ = [
    "ComponentPoints",
    "Contributor",
    "Erasure",
    "EngineView",
    "Explanation",
    "InfluenceReport",
    "NetworkSummary",
    "Reason",
    "TradeRatings",
    "RecomputeReport",
    "ScoreChange",
    "UserSummary",
    "WhatIf",
]


@dataclass(frozen=True)
class ComponentPoints:
    """One score component: value in [0, 1], policy weight, and points ``600 * w * value``."""

    name: str
    value: float
    weight: float
    points: float


@dataclass(frozen=True)
class Reason:
    """An adverse-action reason: code, plain text and the points it costs."""

    code: str
    text: str
    points: float


@dataclass(frozen=True)
class TradeRatings:
    """The trade ratings a user received, as they enter credit history (``docs/factors.md``).

    ``positive`` and ``negative`` are the reliability-weighted rating mass received
    (each rating times its rater's fairness); ``distrust_received`` counts the negative
    ratings (distrust) behind ``negative``; ``value`` and ``weight`` are the blend into
    credit history; ``points`` what the ratings cost (the ``CH_TRADE_RATINGS`` reason).
    """

    positive: float
    negative: float
    distrust_received: int
    value: float
    weight: float
    points: float


@dataclass(frozen=True)
class Contributor:
    """A user who raised (positive) or lowered (negative) another's network value."""

    user: str
    contribution: float
    direct: float
    onward: float
    base: float
    points: float


@dataclass(frozen=True)
class Explanation:
    """Everything behind one user's score.

    ``components`` add up to ``score - 350`` up to rounding; ``reasons`` are the top
    point losses; ``contributors`` (largest first) add up to ``network_value - prior``
    within ``network_bound``; ``shrink`` and ``floored`` show the shrinkage and the
    bonus-only floor applied after the diffusion, so that
    ``component = max(prior + shrink * (network_value - prior), prior)`` (no max under
    the symmetric policy).
    """

    user: str
    score: int
    band: str
    benefits: tuple[str, ...]
    model_version: str
    computed_at: int
    components: tuple[ComponentPoints, ...]
    reasons: tuple[Reason, ...]
    participating: bool
    degree: float
    network_value: float
    prior: float
    shrink: float
    floored: bool
    contributors: tuple[Contributor, ...]
    contributors_total: float
    network_bound: float
    #: The ratings and distrust the user received (None when the graph holds no ratings).
    ratings: TradeRatings | None = None


@dataclass(frozen=True)
class UserSummary:
    """What a client app sees of one user: the score, its parts and the reasons.

    ``components`` add up to ``score - 350`` up to rounding.
    """

    user: str
    score: int
    band: str
    benefits: tuple[str, ...]
    model_version: str
    computed_at: int
    components: tuple[ComponentPoints, ...]
    reasons: tuple[Reason, ...]
    consent: bool
    quarantined: bool


@dataclass(frozen=True)
class NetworkSummary:
    """A user's place in the network: degree, diffused value ``n_u``, prior, participation."""

    user: str
    degree: float
    value: float
    prior: float
    shrink: float
    component: float
    participating: bool


@dataclass(frozen=True, kw_only=True)
class EngineView:
    """A read-only, consistent copy of every user's standing, taken under the engine lock.

    What listings, statistics, analyses and the CLI read of the engine: they never
    touch its private state. The arrays are aligned with ``ids`` (row ``i`` is user
    ``ids[i]``) and are copies: later changes to the engine do not alter them. Rows
    never move between full recomputes (new users are appended), so a row found in
    one view names the same user in later views until the next recompute.

    ``adjacency`` (the symmetric friend graph, as a CSR matrix) and ``verified``
    (identity verification flags by level) are filled only when
    :meth:`ScoringEngine.view <credence.engine.ScoringEngine.view>` is asked for them.

    Examples
    --------
    >>> view = EngineView(
    ...     ids=np.array(["a", "b"], dtype=object), scores=np.array([600, 700]),
    ...     base=np.array([0.4, 0.6]), degree=np.array([1.0, 1.0]),
    ...     consent=np.ones(2, dtype=bool), quarantined=np.zeros(2, dtype=bool),
    ...     participating=np.ones(2, dtype=bool), prior=0.5, damping=0.5,
    ...     computed_at=0, generation=1, positions={"a": 0, "b": 1},
    ... )
    >>> view.row("b"), view.rows(["b", "a", "b"]).tolist()
    (1, [0, 1])
    """

    ids: ObjectArray  # user ids
    scores: IntArray
    base: FloatArray  # the base each user shares with the network
    degree: FloatArray  # weighted degree in the friend graph
    consent: BoolArray
    quarantined: BoolArray
    participating: BoolArray  # consent and not quarantined
    prior: float  # the neutral prior mu
    damping: float
    computed_at: int
    generation: int
    positions: Mapping[str, int] = field(repr=False)  # user id -> row (may list users added later)
    adjacency: sp.csr_matrix | None = field(default=None, repr=False)
    verified: Mapping[str, BoolArray] = field(default_factory=dict, repr=False)

    def row(self, user_id: Any) -> int:
        """The row of one user.

        Parameters
        ----------
        user_id : str
            An external user id (surrounding blanks are ignored).

        Returns
        -------
        int
            The row of ``user_id`` in this view's arrays.

        Raises
        ------
        NotFoundError
            If the view does not hold that user (added after the view was taken, or unknown).
        """
        key = check_user_id(user_id)
        position = self.positions.get(key)
        # ``positions`` is shared with the engine, which appends users after this view was taken.
        if position is None or position >= self.ids.size:
            raise NotFoundError("user", key)
        return position

    def graph(self) -> sp.csr_matrix:
        """The friend graph this view was taken with (``view(adjacency=...)``), as CSR.

        Raises
        ------
        ParameterError
            If the view was taken without the graph.
        """
        if self.adjacency is None:
            raise ParameterError(
                "adjacency", None, "this view was taken without the graph: view(adjacency='all')"
            )
        return self.adjacency

    def rows(self, user_ids: Iterable[Any]) -> IntArray:
        """Distinct rows of some users, sorted (NotFoundError for any unknown id)."""
        return unique_sorted([self.row(user) for user in user_ids])


@dataclass(frozen=True)
class ScoreChange:
    """A user whose score or components moved: before and after.

    The engine reports a user when any component moved (the snapshot it writes keeps
    the components exact); :attr:`moved` says whether the score itself did, which is
    all the API's ``changes`` and subscribers hear of.

    Examples
    --------
    >>> ScoreChange("u1", 640, 640).moved, ScoreChange("u1", 640, 652).moved
    (False, True)
    """

    user: str
    before: int
    after: int

    @property
    def moved(self) -> bool:
        """Whether the score changed (not only a component)."""
        return self.before != self.after


@dataclass(frozen=True)
class RecomputeReport:
    """Summary of a full recompute: counts, evaluation time, every score and the stage timings.

    ``seconds`` holds the wall time of each stage (export, factors, diffusion, scores,
    write); ``written`` the score snapshots appended to the store (0 without ``write``);
    ``warm_start`` whether the diffusion started from the previous solution.
    """

    users: int
    links: int
    participants: int
    model_version: str
    computed_at: int
    scores: IntArray
    seconds: dict[str, float]
    written: int
    warm_start: bool

    def band_counts(self, policy: Policy) -> dict[str, int]:
        """Number of users per band, in band order.

        Examples
        --------
        >>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
        >>> report = RecomputeReport(users=3, links=0, participants=3, model_version="v",
        ...                          computed_at=0, scores=np.array([400, 610, 650]),
        ...                          seconds={}, written=0, warm_start=False)
        >>> report.band_counts(read_policy(DEFAULT_POLICY_PATH))
        {'poor': 1, 'fair': 0, 'good': 1, 'very good': 1, 'excellent': 0}
        """
        names = policy.band_names(self.scores)
        return {band.name: int(np.count_nonzero(names == band.name)) for band in policy.bands}


@dataclass(frozen=True)
class InfluenceReport:
    """Whose scores depend on one user, and how much they move if that user's base drops to 0."""

    user: str
    base: float
    affected: tuple[tuple[str, float, float], ...]  # (user, d n_u / d b_v, points lost at b_v -> 0)
    bound: float


@dataclass(frozen=True)
class WhatIf:
    """Scores with hypothetical changes applied (nothing is stored).

    ``raw`` is each changed user's unrounded score change in points (``after - before``
    of ``350 + 600 * sum_k w_k c_k``), for every user in ``changes``: a change too small
    to move the rounded score still shows there.
    """

    changes: tuple[ScoreChange, ...]
    raw: Mapping[str, float] = field(default_factory=dict)

    def score_of(self, user: str) -> int | None:
        """The hypothetical score of ``user``; None when it would not change."""
        for change in self.changes:
            if change.user == user:
                return change.after
        return None


@dataclass(frozen=True)
class Erasure:
    """What erasing a person did: their pseudonym in the audit log, and their neighbours' score changes."""

    pseudonym: str
    changes: tuple[ScoreChange, ...]
