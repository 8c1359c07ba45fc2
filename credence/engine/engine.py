"""The scoring engine: store -> arrays -> factors -> diffusion -> scores -> store.

The numerics live in :mod:`credence.scoring` (arrays in, arrays out); this module is the edge
where external ids become row indices and back. A :class:`ScoringEngine` holds, for
every user, the four individual components and their sub-factors, the base ``b``, the
diffusion state (:class:`credence.scoring.DiffusionState`) and the assembled score, so that:

* :meth:`~ScoringEngine.recompute` scores everyone (warm-started from the previous
  solution when there is one) and appends a snapshot per user to the store;
* the event methods (:meth:`~ScoringEngine.record_repayments`,
  :meth:`~ScoringEngine.add_link`, :meth:`~ScoringEngine.set_consent`, ...) write
  through the store first (a rejected write changes nothing, in the store or here),
  then repair the affected scores by local push and append snapshots for the users
  whose score or components moved;
* :meth:`~ScoringEngine.explain`, :meth:`~ScoringEngine.influence` and
  :meth:`~ScoringEngine.what_if` answer from memory without writing anything.

Two deliberate choices, written down because they are visible in the numbers:

* **The evaluation time** ``now`` is fixed at each full recompute and kept by the
  incremental updates between them (events dated later count as at ``now``). Time
  decay therefore advances at recomputes only, and an event changes a score only by
  what the event itself says: an on-time repayment never lowers the score.
* **The neutral prior** ``mu`` (participants' mean base) is likewise fixed between
  recomputes; otherwise every event would move every user's network component.
* **What a user shares with the network.** Under the ``symmetric`` policy the
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
>>> from credence.graph.sqlite import SQLiteStore
>>> from credence.seeds.synthetic import generate_population
>>> population = generate_population(n_users=600, seed=1)
>>> store = SQLiteStore(":memory:")
>>> _ = store.load(population.dataset())
>>> engine = ScoringEngine(store, now=population.now)
>>> report = engine.recompute()
>>> report.users, bool(350 <= report.scores.min() <= report.scores.max() <= 950)
(600, True)
>>> explanation = engine.explain(str(population.users["id"].iloc[0]))
>>> len(explanation.reasons) <= 4
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from credence.core.errors import ConflictError, NotFoundError, ParameterError, ValidationError
from credence.graph.model import IDENTITY_LEVELS, SCORE_COLUMNS, check_text, check_user_id, epoch_now
from credence.graph.store import GraphStore
from credence.scoring.factors import (
    COMPONENTS as INDIVIDUAL_COMPONENTS,
)
from credence.scoring.factors import (
    SUB_FACTORS,
    CapacityReference,
    FactorParams,
    RepaymentArrays,
    SpendingArrays,
    UserArrays,
    adverse_reasons,
    compute_factors,
)
from credence.scoring.policy import (
    COMPONENT_NAMES,
    DEFAULT_POLICY_PATH,
    SCORE_MAX,
    SCORE_MIN,
    Policy,
    read_policy,
)
from credence.scoring.push import DiffusionState, component_value

__all__ = [
    "ComponentPoints",
    "Contributor",
    "Explanation",
    "InfluenceReport",
    "NetworkSummary",
    "Reason",
    "RecomputeReport",
    "EngineView",
    "ScoreChange",
    "ScoringEngine",
    "UserSummary",
    "WhatIf",
]

SCALE = SCORE_MAX - SCORE_MIN
NETWORK_REASON = ("NW_CONNECTIONS", "Few links to people with strong credit, or network credit not shared")
StageFn = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- results


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
    :meth:`ScoringEngine.view` is asked for them.
    """

    ids: np.ndarray  # object array of user ids
    scores: np.ndarray  # int64
    base: np.ndarray  # the base each user shares with the network
    degree: np.ndarray  # weighted degree in the friend graph
    consent: np.ndarray
    quarantined: np.ndarray
    participating: np.ndarray  # consent and not quarantined
    prior: float  # the neutral prior mu
    damping: float
    computed_at: int
    generation: int
    positions: Mapping[str, int] = field(repr=False)  # user id -> row (may list users added later)
    adjacency: sp.csr_matrix | None = field(default=None, repr=False)
    verified: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    def row(self, user_id: Any) -> int:
        """The row of ``user_id``; NotFoundError if the view does not hold that user."""
        key = check_user_id(user_id)
        position = self.positions.get(key)
        if position is None or position >= self.ids.size:
            raise NotFoundError("user", key)
        return position

    def graph(self) -> sp.csr_matrix:
        """The friend graph this view was taken with (``view(adjacency=...)``), as CSR."""
        if self.adjacency is None:
            raise ParameterError(
                "adjacency", None, "this view was taken without the graph: view(adjacency='all')"
            )
        return self.adjacency

    def rows(self, user_ids: Iterable[Any]) -> np.ndarray:
        """Distinct rows of some users, sorted (NotFoundError for any unknown id)."""
        return np.unique(np.array([self.row(user) for user in user_ids], dtype=np.int64))


@dataclass(frozen=True)
class ScoreChange:
    """A user whose score or components moved: before and after."""

    user: str
    before: int
    after: int


@dataclass(frozen=True)
class RecomputeReport:
    """Summary of a full recompute."""

    users: int
    links: int
    participants: int
    model_version: str
    computed_at: int
    scores: np.ndarray
    seconds: dict[str, float]
    written: int
    warm_start: bool

    def band_counts(self, policy: Policy) -> dict[str, int]:
        """Number of users per band, in band order."""
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
    """Scores with hypothetical changes applied (nothing is stored)."""

    changes: tuple[ScoreChange, ...]

    def score_of(self, user: str) -> int | None:
        for change in self.changes:
            if change.user == user:
                return change.after
        return None


@dataclass
class _Snapshot:
    """Per-user arrays aligned with ``ids``."""

    ids: np.ndarray
    positions: dict[str, int]
    users: UserArrays
    consent: np.ndarray
    quarantined: np.ndarray
    sub_values: np.ndarray
    components: np.ndarray  # (n, 5), columns in COMPONENT_NAMES order
    base: np.ndarray
    scores: np.ndarray
    state: DiffusionState
    reference: CapacityReference
    computed_at: int
    written: np.ndarray  # components as last written to the store


# --------------------------------------------------------------------------- frames -> arrays


def _user_arrays(frame: pd.DataFrame) -> UserArrays:
    # Copies: Arrow-backed frames hand out read-only views, and upserts assign into these arrays.
    columns: dict[str, Any] = {level: np.array(frame[level].to_numpy(dtype=bool), copy=True)
                               for level in IDENTITY_LEVELS}  # fmt: skip
    for name in ("declared_income", "verified_income", "verified_assets"):
        columns[name] = np.array(frame[name].to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    return UserArrays.build(created=np.array(frame["created"].to_numpy(dtype=np.int64), copy=True), **columns)


def _repayment_arrays(frame: pd.DataFrame, rows: np.ndarray) -> RepaymentArrays:
    if len(frame) == 0:
        return RepaymentArrays.empty()
    return RepaymentArrays.build(
        user=rows,
        due=frame["due"].to_numpy(dtype=np.int64),
        status=frame["status"].to_numpy(dtype=object).astype(str),
        amount=frame["amount"].to_numpy(dtype=np.float64),
        paid=frame["paid"].to_numpy(dtype=np.float64, na_value=np.nan),
    )


def _spending_arrays(frame: pd.DataFrame, rows: np.ndarray) -> SpendingArrays:
    if len(frame) == 0:
        return SpendingArrays.empty()
    is_bill = frame["category"].to_numpy(dtype=object) == "bill"
    on_time = frame["on_time"].to_numpy(dtype=np.float64, na_value=np.nan)
    return SpendingArrays.build(
        user=rows,
        at=frame["at"].to_numpy(dtype=np.int64),
        amount=frame["amount"].to_numpy(dtype=np.float64),
        is_bill=is_bill,
        on_time=np.where(is_bill, on_time, np.nan),
    )


# --------------------------------------------------------------------------- the engine


class ScoringEngine:
    """Scores every user of a store and keeps the scores current.

    Parameters
    ----------
    store : GraphStore
        Where users, links, events, flags and score snapshots live.
    policy : Policy, optional
        Weights, bands, benefits and diffusion parameters; default
        ``credence/scoring/policies/default.toml``.
    now : int, optional
        Evaluation time (epoch seconds) of the next recompute; default the wall clock
        at each recompute.
    params : FactorParams, optional
        Constants of the factor formulas.
    contributors_threshold : float
        How far an explanation's forward push goes (see
        :meth:`credence.scoring.DiffusionState.contributors`).

    Notes
    -----
    One lock serialises changes and queries; the arrays are replaced, never mutated
    in place, by :meth:`recompute`.
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        policy: Policy | None = None,
        now: int | None = None,
        params: FactorParams | None = None,
        contributors_threshold: float = 1e-3,
    ) -> None:
        self.store = store
        self.policy = policy if policy is not None else read_policy(DEFAULT_POLICY_PATH)
        if now is not None and (isinstance(now, bool) or not isinstance(now, int | np.integer)):
            raise ParameterError("now", now, "must be an integer (epoch seconds)")
        self._now = None if now is None else int(now)
        self.params = params if params is not None else FactorParams()
        self.contributors_threshold = float(contributors_threshold)
        self._weights = self.policy.weight_vector()
        individual = self._weights[: len(INDIVIDUAL_COMPONENTS)]
        if individual.sum() <= 0:
            raise ParameterError(
                "policy.weights", self.policy.weights, "individual weights must not all be 0"
            )
        self._base_weights = individual / individual.sum()
        self._component_weights = dict(zip(COMPONENT_NAMES, self._weights.tolist(), strict=True))
        self._lock = threading.RLock()
        self._snap: _Snapshot | None = None
        self._published: _Snapshot | None = None  # what lock-free readers see (never a what-if)
        self._generation = 0
        self._view: EngineView | None = None

    # ---------------------------------------------------------------- state

    @property
    def ready(self) -> bool:
        """True once a recompute has run."""
        return self._snap is not None

    def _require(self) -> _Snapshot:
        if self._snap is None:
            raise NotFoundError("scores", "engine: run recompute() first")
        return self._snap

    def _index(self, user_id: Any) -> int:
        snap = self._require()
        key = check_user_id(user_id)
        position = snap.positions.get(key)
        if position is None:
            raise NotFoundError("user", key)
        return position

    @property
    def model_version(self) -> str:
        return self.policy.version

    @property
    def generation(self) -> int:
        """Counts the changes to any score or link since the engine was made (0 before a recompute)."""
        return self._generation

    @property
    def computed_at(self) -> int | None:
        """Evaluation time of the current scores (None before a recompute)."""
        snap = self._snap
        return None if snap is None else snap.computed_at

    def _changed(self) -> None:
        self._generation += 1
        self._view = None

    def view(
        self, *, adjacency: Literal["none", "all", "participating"] = "none", verified: Sequence[str] = ()
    ) -> EngineView:
        """A consistent read-only copy of every user's standing (see :class:`EngineView`).

        The plain view is cached until the next change. ``adjacency="all"`` adds the
        friend graph, ``"participating"`` only the links between users who take part
        in the network; ``verified`` adds those identity levels' flags.
        """
        if adjacency not in ("none", "all", "participating"):
            raise ParameterError("adjacency", adjacency, "must be 'none', 'all' or 'participating'")
        unknown = [level for level in verified if level not in IDENTITY_LEVELS]
        if unknown:
            raise ParameterError("verified", unknown[0], f"must be among {', '.join(IDENTITY_LEVELS)}")
        with self._lock:
            snap = self._require()
            if self._view is None:
                state = snap.state
                self._view = EngineView(
                    ids=snap.ids.copy(),
                    scores=snap.scores.copy(),
                    base=np.array(snap.base, dtype=np.float64, copy=True),
                    degree=np.array(state.degree, copy=True),
                    consent=snap.consent.copy(),
                    quarantined=snap.quarantined.copy(),
                    participating=np.array(state.participating, dtype=bool, copy=True),
                    prior=float(state.mu),
                    damping=float(state.damping),
                    computed_at=snap.computed_at,
                    generation=self._generation,
                    positions=MappingProxyType(snap.positions),
                )
            view = self._view
            if adjacency != "none" or verified:
                view = replace(
                    view,
                    adjacency=(
                        snap.state.adjacency(participating_only=adjacency == "participating")
                        if adjacency != "none"
                        else None
                    ),
                    verified={
                        level: np.array(getattr(snap.users, level), dtype=bool, copy=True)
                        for level in verified
                    },
                )
            return view

    def memory(self) -> dict[str, int]:
        """Resident bytes of the engine's arrays: ``diffusion`` (the state) and ``per_user`` (the rest).

        User ids and the id -> row dictionary are not counted.
        """
        with self._lock:
            snap = self._require()
            arrays = [
                snap.sub_values, snap.components, snap.written, snap.base, snap.scores, snap.consent,
                snap.quarantined, *(getattr(snap.users, name) for name in _USER_FIELDS),
            ]  # fmt: skip
            return {"diffusion": int(snap.state.nbytes), "per_user": int(sum(a.nbytes for a in arrays))}

    def summaries(self, user_ids: Sequence[str]) -> list[UserSummary | None]:
        """Summaries of some users (None for unknown ids), read without taking the engine lock.

        Cheap (no push, no store read), so that a server can answer from its event loop
        while a long recompute holds the lock; the recompute swaps its results in at the
        end, so readers see the old scores until then. A summary read while an
        incremental update is being applied may mix the values before and after it.
        """
        snap = self._published
        if snap is None:
            raise NotFoundError("scores", "engine: run recompute() first")
        out: list[UserSummary | None] = []
        band_names = self.policy.band_names
        for user_id in user_ids:
            row = snap.positions.get(user_id) if isinstance(user_id, str) else None
            if row is None or row >= snap.scores.size:
                out.append(None)
                continue
            score = int(snap.scores[row])
            values = snap.components[row].copy()
            out.append(UserSummary(
                user=user_id, score=score, band=str(band_names(np.array([score]))[0]),
                benefits=self.policy.benefits_for(score), model_version=self.policy.version,
                computed_at=snap.computed_at,
                components=tuple(
                    ComponentPoints(name, float(values[k]), float(self._weights[k]),
                                    float(SCALE * self._weights[k] * values[k]))
                    for k, name in enumerate(COMPONENT_NAMES)
                ),
                reasons=self._reasons_of(snap, row),
                consent=bool(snap.consent[row]), quarantined=bool(snap.quarantined[row]),
            ))  # fmt: skip
        return out

    def network(self, user_id: str) -> NetworkSummary:
        """Degree, diffused value, prior and participation of one user."""
        with self._lock:
            snap = self._require()
            row = self._index(user_id)
            state = snap.state
            degree = float(state.degree[row])
            k = self.policy.diffusion.shrinkage
            return NetworkSummary(
                user=str(snap.ids[row]),
                degree=degree,
                value=float(state.py[row]) if degree > 0 else float(state.mu),
                prior=float(state.mu),
                shrink=degree / (degree + k) if degree > 0 else 0.0,
                component=float(snap.components[row, -1]),
                participating=bool(state.mask[row] > 0.0),
            )

    def friends(self, user_id: str) -> list[tuple[str, float]]:
        """The user's links as (friend id, weight), by friend id, from the engine's graph."""
        with self._lock:
            snap = self._require()
            row = self._index(user_id)
            columns, weights = snap.state.neighbors(row)
            pairs = [
                (str(snap.ids[c]), float(w)) for c, w in zip(columns.tolist(), weights.tolist(), strict=True)
            ]
            return sorted(pairs)

    def scores(self) -> pd.DataFrame:
        """Current score and components of every user (user, score, band, components...)."""
        with self._lock:
            snap = self._require()
            frame = pd.DataFrame({"user": pd.array(snap.ids, dtype="string"), "score": snap.scores})
            frame["band"] = self.policy.band_names(snap.scores)
            for k, name in enumerate(COMPONENT_NAMES):
                frame[name] = snap.components[:, k]
            return frame

    def score_of(self, user_id: str) -> int:
        with self._lock:
            return int(self._require().scores[self._index(user_id)])

    # ---------------------------------------------------------------- full recompute

    def recompute(
        self,
        *,
        write: bool = True,
        progress: StageFn | None = None,
        prior: float | None = None,
        now: int | None = None,
    ) -> RecomputeReport:
        """Score everyone from the store; warm-start the diffusion from the previous run.

        Stages reported to ``progress(stage, done, total)``: export, factors,
        diffusion, scores, write. ``prior`` overrides the neutral prior (default: the
        participants' mean base), e.g. to compare with a previous run at equal prior.
        ``now`` sets the evaluation time of this and later recomputes (epoch seconds).
        """
        if now is not None:
            if isinstance(now, bool) or not isinstance(now, int | np.integer):
                raise ParameterError("now", now, "must be an integer (epoch seconds)")
            self._now = int(now)

        def step(stage: str, done: int, total: int = 1) -> None:
            if progress is not None:
                progress(stage, done, total)

        seconds: dict[str, float] = {}
        clock = time.perf_counter()
        with self._lock:
            now = self._now if self._now is not None else epoch_now()
            step("export", 0)
            snapshot = self.store.export_graph()
            users_frame = snapshot.users
            repayments = self.store.repayments()
            spending = self.store.spending()
            step("export", 1)
            seconds["export"] = time.perf_counter() - clock

            clock = time.perf_counter()
            step("factors", 0)
            ids = np.asarray(snapshot.ids, dtype=object)
            users = _user_arrays(users_frame)
            reference = CapacityReference.from_users(users)
            factors = compute_factors(
                users,
                _repayment_arrays(repayments, snapshot.index_of(repayments["user"].to_numpy(dtype=object))),
                _spending_arrays(spending, snapshot.index_of(spending["user"].to_numpy(dtype=object))),
                now=now,
                params=self.params,
                reference=reference,
            )
            base = self._shared_base(
                factors.components,
                users,
                repayments,
                spending,
                lambda frame: snapshot.index_of(frame["user"].to_numpy(dtype=object)),
                now,
                reference,
            )
            step("factors", 1)
            seconds["factors"] = time.perf_counter() - clock

            clock = time.perf_counter()
            step("diffusion", 0)
            consent = users_frame["consent_network"].to_numpy(dtype=bool, copy=True)
            quarantined = np.array(snapshot.quarantined, dtype=bool, copy=True)
            participating = consent & ~quarantined
            warm = self._warm_start(ids, base)
            diffusion = self.policy.diffusion
            if prior is None:
                prior = float(base[participating].mean()) if participating.any() else 0.5
            state = DiffusionState(
                snapshot.adjacency,
                base,
                damping=diffusion.damping,
                tol=diffusion.tol,
                participating=participating,
                prior=prior,
                y=warm,
                validate=False,
            )
            step("diffusion", 1)
            seconds["diffusion"] = time.perf_counter() - clock

            clock = time.perf_counter()
            components = np.empty((ids.size, len(COMPONENT_NAMES)))
            components[:, : len(INDIVIDUAL_COMPONENTS)] = factors.components
            components[:, -1] = self._network_value(state, None)
            scores = self._assemble(components)
            positions = {str(user): i for i, user in enumerate(ids.tolist())}
            self._snap = _Snapshot(
                ids=ids,
                positions=positions,
                users=users,
                consent=consent,
                quarantined=quarantined,
                sub_values=factors.sub_values,
                components=components,
                base=base,
                scores=scores,
                state=state,
                reference=reference,
                computed_at=now,
                written=components.copy(),
            )
            self._published = self._snap
            self._changed()
            seconds["scores"] = time.perf_counter() - clock

            clock = time.perf_counter()
            written = 0
            if write:
                step("write", 0)
                written = self.store.write_scores(self._score_frame(np.arange(ids.size)))
                step("write", 1)
            seconds["write"] = time.perf_counter() - clock
            return RecomputeReport(
                users=int(ids.size),
                links=int(snapshot.n_links),
                participants=int(participating.sum()),
                model_version=self.policy.version,
                computed_at=now,
                scores=scores.copy(),
                seconds=seconds,
                written=written,
                warm_start=warm is not None,
            )

    def _warm_start(self, ids: np.ndarray, base: np.ndarray) -> np.ndarray | None:
        """Previous ``y`` aligned with the new ids (new users start at their base)."""
        old = self._snap
        if old is None:
            return None
        start = base.copy()
        previous = np.array([old.positions.get(str(user), -1) for user in ids.tolist()], dtype=np.int64)
        known = previous >= 0
        start[known] = old.state.y[previous[known]]
        return start

    def _network_value(self, state: DiffusionState, rows: np.ndarray | None) -> np.ndarray:
        diffusion = self.policy.diffusion
        if rows is None:
            return component_value(
                state.network(),
                state.degree,
                mu=state.mu,
                shrinkage=diffusion.shrinkage,
                policy=diffusion.policy,
            )
        n = np.where(state.degree[rows] > 0.0, state.py[rows], state.mu)
        return component_value(
            n, state.degree[rows], mu=state.mu, shrinkage=diffusion.shrinkage, policy=diffusion.policy
        )

    def _assemble(self, components: np.ndarray) -> np.ndarray:
        raw = SCORE_MIN + SCALE * (components @ self._weights)
        return np.clip(np.rint(raw), SCORE_MIN, SCORE_MAX).astype(np.int64)

    def _score_frame(self, rows: np.ndarray) -> pd.DataFrame:
        snap = self._require()
        frame = pd.DataFrame(
            {
                "user": pd.array(snap.ids[rows], dtype="string"),
                "model_version": pd.array([self.policy.version] * rows.size, dtype="string"),
                "computed_at": np.full(rows.size, snap.computed_at, dtype=np.int64),
                "score": snap.scores[rows],
            }
        )
        for k, name in enumerate(COMPONENT_NAMES):
            frame[name] = snap.components[rows, k]
        return frame[list(SCORE_COLUMNS)]

    # ---------------------------------------------------------------- incremental updates

    def _shared_base(
        self,
        components: np.ndarray,
        users: UserArrays,
        repayments: pd.DataFrame,
        spending: pd.DataFrame,
        rows_of: Callable[[pd.DataFrame], np.ndarray],
        now: int,
        reference: CapacityReference,
    ) -> np.ndarray:
        """The base each user shares with the network (see "bonus_only" in the module docstring)."""
        if self.policy.diffusion.policy != "bonus_only":
            return np.clip(components @ self._base_weights, 0.0, 1.0)
        good_repayments = repayments[repayments["status"].isin(["on_time", "pending"]).to_numpy(dtype=bool)]
        bad_bill = (spending["category"] == "bill") & ~spending["on_time"].fillna(True).astype(bool)
        good_spending = spending[~bad_bill.to_numpy(dtype=bool)]
        shared = compute_factors(
            users,
            _repayment_arrays(good_repayments, rows_of(good_repayments)),
            _spending_arrays(good_spending, rows_of(good_spending)),
            now=now,
            params=self.params,
            reference=reference,
        )
        return np.clip(shared.components @ self._base_weights, 0.0, 1.0)

    def _individual(
        self,
        rows: np.ndarray,
        users: UserArrays | None = None,
        extra_repayments: pd.DataFrame | None = None,
        extra_spending: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sub-values, components and shared base of some users from their stored events (plus extras)."""
        snap = self._require()
        ids = snap.ids[rows].tolist()
        local = {user: i for i, user in enumerate(ids)}
        rep_frames = [self.store.repayments(user) for user in ids]
        spend_frames = [self.store.spending(user) for user in ids]
        if extra_repayments is not None:
            rep_frames.append(extra_repayments)
        if extra_spending is not None:
            spend_frames.append(extra_spending)
        repayments = pd.concat(rep_frames, ignore_index=True) if rep_frames else pd.DataFrame()
        spending = pd.concat(spend_frames, ignore_index=True) if spend_frames else pd.DataFrame()
        if users is None:
            users = _take_users(snap.users, rows)

        def rows_of(frame: pd.DataFrame) -> np.ndarray:
            return np.array([local[str(u)] for u in frame["user"].tolist()], dtype=np.int64)

        result = compute_factors(
            users,
            _repayment_arrays(repayments, rows_of(repayments)),
            _spending_arrays(spending, rows_of(spending)),
            now=snap.computed_at,
            params=self.params,
            reference=snap.reference,
        )
        shared = self._shared_base(
            result.components, users, repayments, spending, rows_of, snap.computed_at, snap.reference
        )
        return result.sub_values, result.components, shared

    def _apply(
        self,
        rows: np.ndarray,
        sub_values: np.ndarray,
        individual: np.ndarray,
        changed: Iterable[np.ndarray],
        *,
        write: bool = True,
    ) -> list[ScoreChange]:
        """Store new individual parts of ``rows``, rescore every touched user, write snapshots."""
        snap = self._require()
        touched = np.unique(np.concatenate([rows, *[np.asarray(c, dtype=np.int64) for c in changed]]))
        if rows.size:
            snap.sub_values[rows] = sub_values
            snap.components[rows, : len(INDIVIDUAL_COMPONENTS)] = individual
        if touched.size == 0:
            return []
        if write:
            self._changed()
        before = snap.scores[touched].copy()
        snap.components[touched, -1] = self._network_value(snap.state, touched)
        snap.scores[touched] = self._assemble(snap.components[touched])
        # A snapshot is written when the score moved, or a component drifted from its last
        # written value by more than the diffusion's tolerance (solver noise is not news).
        drift = np.abs(snap.components[touched] - snap.written[touched]).max(axis=1)
        moved = (
            (drift > self.policy.diffusion.tol) | (before != snap.scores[touched]) | np.isin(touched, rows)
        )
        out = touched[moved]
        if write and out.size:
            self.store.write_scores(self._score_frame(out))
            snap.written[out] = snap.components[out]
        return [
            ScoreChange(str(snap.ids[i]), int(b), int(a))
            for i, b, a in zip(out.tolist(), before[moved].tolist(), snap.scores[out].tolist(), strict=True)
        ]

    def _rebase(self, rows: np.ndarray, **extras: Any) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        snap = self._require()
        sub_values, individual, shared = self._individual(rows, **extras)
        changed = []
        for i, row in enumerate(rows.tolist()):
            if shared[i] != snap.base[row]:
                snap.base[row] = shared[i]
                changed.append(snap.state.set_base(row, float(shared[i])))
        return sub_values, individual, changed

    def _rows_of(self, user_ids: Iterable[Any]) -> np.ndarray:
        return np.unique(np.array([self._index(u) for u in user_ids], dtype=np.int64))

    def record_repayments(self, frame: pd.DataFrame) -> list[ScoreChange]:
        """Store repayment events, then update the payers' scores and their network's."""
        with self._lock:
            self._require()
            self.store.add_repayments(frame)
            rows = self._rows_of(frame["user"].astype(str).str.strip())
            sub, individual, changed = self._rebase(rows)
            return self._apply(rows, sub, individual, changed)

    def record_spending(self, frame: pd.DataFrame) -> list[ScoreChange]:
        """Store spending and bill events, then update the affected scores."""
        with self._lock:
            self._require()
            self.store.add_spending(frame)
            rows = self._rows_of(frame["user"].astype(str).str.strip())
            sub, individual, changed = self._rebase(rows)
            return self._apply(rows, sub, individual, changed)

    def upsert_users(self, frame: pd.DataFrame) -> list[ScoreChange]:
        """Create or update users, then score them (new users start without links)."""
        with self._lock:
            snap = self._require()
            self.store.upsert_users(frame)
            ids = [check_user_id(u) for u in frame["id"].tolist()]
            stored = self.store.get_users(ids)
            new = [u for u in dict.fromkeys(ids) if u not in snap.positions]
            if new:
                fresh = stored.set_index("id").loc[new].reset_index()
                added = snap.state.add_users(np.full(len(new), snap.state.mu), np.zeros(len(new), dtype=bool))
                snap.ids = np.concatenate([snap.ids, np.array(new, dtype=object)])
                for user, row in zip(new, added.tolist(), strict=True):
                    snap.positions[user] = row
                snap.users = _concat_users(snap.users, _user_arrays(fresh))
                snap.consent = np.concatenate([snap.consent, np.zeros(len(new), dtype=bool)])
                snap.quarantined = np.concatenate([snap.quarantined, np.zeros(len(new), dtype=bool)])
                width = len(SUB_FACTORS)
                snap.sub_values = np.vstack([snap.sub_values, np.zeros((len(new), width))])
                snap.components = np.vstack([snap.components, np.zeros((len(new), len(COMPONENT_NAMES)))])
                snap.written = np.vstack([snap.written, np.full((len(new), len(COMPONENT_NAMES)), np.nan)])
                snap.base = np.concatenate([snap.base, np.full(len(new), snap.state.mu)])
                snap.scores = np.concatenate([snap.scores, np.full(len(new), SCORE_MIN, dtype=np.int64)])
            rows = self._rows_of(ids)
            aligned = stored.set_index("id").loc[snap.ids[rows].tolist()].reset_index()
            users = _user_arrays(aligned)
            _assign_users(snap.users, rows, users)
            sub, individual, changed = self._rebase(rows, users=users)
            consent = aligned["consent_network"].to_numpy(dtype=bool)
            for row, flag in zip(rows.tolist(), consent.tolist(), strict=True):
                snap.consent[row] = flag
                desired = bool(flag and not snap.quarantined[row])
                if (snap.state.mask[row] > 0.0) != desired:
                    changed.append(snap.state.set_participating(row, desired))
            return self._apply(rows, sub, individual, changed)

    def add_link(
        self, a: str, b: str, *, weight: float = 1.0, created: int | None = None
    ) -> list[ScoreChange]:
        """Create or re-weight a friend link, then update the scores it moves."""
        with self._lock:
            snap = self._require()
            frame = pd.DataFrame(
                {
                    "source": [a],
                    "target": [b],
                    "weight": [weight],
                    "created": [snap.computed_at if created is None else created],
                }
            )
            self.store.upsert_links(frame)
            u, v = self._index(a), self._index(b)
            changed = snap.state.set_link(u, v, float(weight))
            return self._apply(
                np.zeros(0, np.int64),
                np.zeros((0, len(SUB_FACTORS))),
                np.zeros((0, len(INDIVIDUAL_COMPONENTS))),
                [changed],
            )

    def remove_link(self, a: str, b: str) -> list[ScoreChange]:
        """Remove a friend link (NotFoundError if there is none), then update the scores."""
        with self._lock:
            snap = self._require()
            u, v = self._index(a), self._index(b)
            if u == v:
                raise ValidationError(
                    "a link joins two different users", entity="link", column="target", value=b
                )
            if not self.store.remove_link(a, b):
                raise NotFoundError("link", f"{a} - {b}")
            changed = snap.state.set_link(u, v, 0.0)
            return self._apply(
                np.zeros(0, np.int64),
                np.zeros((0, len(SUB_FACTORS))),
                np.zeros((0, len(INDIVIDUAL_COMPONENTS))),
                [changed],
            )

    def _participation(self, row: int) -> list[ScoreChange]:
        snap = self._require()
        changed = snap.state.set_participating(row, bool(snap.consent[row] and not snap.quarantined[row]))
        return self._apply(
            np.zeros(0, np.int64),
            np.zeros((0, len(SUB_FACTORS))),
            np.zeros((0, len(INDIVIDUAL_COMPONENTS))),
            [changed, np.array([row])],
        )

    def set_consent(self, user_id: str, consent: bool) -> list[ScoreChange]:
        """Record consent to network scoring; without it a user neither gives nor receives."""
        with self._lock:
            snap = self._require()
            self.store.set_consent(user_id, consent)
            row = self._index(user_id)
            snap.consent[row] = bool(consent)
            return self._participation(row)

    def flag_user(self, user_id: str, *, analyst: str, reason: str) -> list[ScoreChange]:
        """Quarantine a user (analyst flag): they stop taking part in anyone's network."""
        with self._lock:
            snap = self._require()
            self.store.flag_user(user_id, analyst=analyst, reason=reason)
            row = self._index(user_id)
            snap.quarantined[row] = True
            return self._participation(row)

    def unflag_user(self, user_id: str, *, analyst: str, reason: str) -> list[ScoreChange]:
        """Clear a user's active flag and restore their part in the network."""
        with self._lock:
            snap = self._require()
            self.store.unflag_user(user_id, analyst=analyst, reason=reason)
            row = self._index(user_id)
            snap.quarantined[row] = False
            return self._participation(row)

    def flag_users(
        self, user_ids: Sequence[str], *, analyst: str, reason: str, clear: bool = False
    ) -> list[ScoreChange]:
        """Quarantine a group of users (or, with ``clear``, lift their flags) in one go.

        Every id is checked first (known, and not already flagged / flagged when
        clearing), so a bad id changes nothing; then each user is flagged as
        :meth:`flag_user` does (one audited store flag each, incremental rescoring).
        The changes are merged: one per user, from the first ``before`` to the last
        ``after``.
        """
        keys = list(dict.fromkeys(check_user_id(user) for user in user_ids))
        check_text("flag", "reason", reason)
        with self._lock:
            snap = self._require()
            rows = [self._index(user) for user in keys]
            wrong = [
                user for user, row in zip(keys, rows, strict=True) if bool(snap.quarantined[row]) != clear
            ]
            if wrong:
                raise ConflictError(f"user {wrong[0]!r} is {'not' if clear else 'already'} flagged")
            action = self.unflag_user if clear else self.flag_user
            merged: dict[str, ScoreChange] = {}
            for user in keys:
                for change in action(user, analyst=analyst, reason=reason):
                    first = merged.get(change.user)
                    merged[change.user] = change if first is None else ScoreChange(change.user, first.before,
                                                                                   change.after)  # fmt: skip
            return list(merged.values())

    # ---------------------------------------------------------------- explanations

    def explain(self, user_id: str, *, contributors: int = 10) -> Explanation:
        """Score, components, top-4 reasons and top network contributors of one user."""
        with self._lock:
            snap = self._require()
            row = self._index(user_id)
            score = int(snap.scores[row])
            components = tuple(
                ComponentPoints(
                    name,
                    float(snap.components[row, k]),
                    float(self._weights[k]),
                    float(SCALE * self._weights[k] * snap.components[row, k]),
                )
                for k, name in enumerate(COMPONENT_NAMES)
            )
            state = snap.state
            diffusion = self.policy.diffusion
            degree = float(state.degree[row])
            result = state.contributors(row, threshold=self.contributors_threshold, first=contributors)
            network = float(result.n)
            shrink = degree / (degree + diffusion.shrinkage) if degree > 0 else 0.0
            shrunk = state.mu + shrink * (network - state.mu)
            floored = diffusion.policy == "bonus_only" and shrunk < state.mu
            top = result.indices
            people = tuple(
                Contributor(
                    user=str(snap.ids[v]),
                    contribution=float(result.contributions[i]),
                    direct=float(result.direct[i]),
                    onward=float(result.onward[i]),
                    base=float(snap.base[v]),
                    points=float(
                        SCALE * self._weights[-1] * (0.0 if floored else shrink) * result.contributions[i]
                    ),
                )
                for i, v in enumerate(top.tolist())
            )
            return Explanation(
                user=str(snap.ids[row]),
                score=score,
                band=str(self.policy.band_names(np.array([score]))[0]),
                benefits=tuple(self.policy.benefits_for(score)),
                model_version=self.policy.version,
                computed_at=snap.computed_at,
                components=components,
                reasons=self._reasons(row),
                participating=bool(state.participating[row]),
                degree=degree,
                network_value=network,
                prior=state.mu,
                shrink=shrink,
                floored=floored,
                contributors=people,
                contributors_total=result.total,
                network_bound=result.bound,
            )

    def _reasons(self, row: int, top: int = 4) -> tuple[Reason, ...]:
        return self._reasons_of(self._require(), row, top)

    def _reasons_of(self, snap: _Snapshot, row: int, top: int = 4) -> tuple[Reason, ...]:
        found = adverse_reasons(snap.sub_values[row : row + 1], self._component_weights, top=top, scale=SCALE)
        reasons = [Reason(code, text, points) for code, text, points in found.explain(0)]
        network_loss = SCALE * self._weights[-1] * (1.0 - snap.components[row, -1])
        if network_loss > 0:
            reasons.append(Reason(NETWORK_REASON[0], NETWORK_REASON[1], float(network_loss)))
        reasons.sort(key=lambda r: -r.points)
        return tuple(reasons[:top])

    def influence(self, user_id: str, *, first: int = 20, threshold: float = 1e-4) -> InfluenceReport:
        """Blast radius: whose network value depends on this user, and the points at stake.

        ``points`` is what each affected user would lose if this user's base fell to 0
        (linear in the drop, before the bonus-only floor and rounding).
        """
        with self._lock:
            snap = self._require()
            row = self._index(user_id)
            result = snap.state.influence(row, threshold=threshold)
            k = self.policy.diffusion.shrinkage
            base = float(snap.base[row])
            affected = []
            for u, weight in zip(
                result.indices[:first].tolist(), result.weights[:first].tolist(), strict=True
            ):
                d = float(snap.state.degree[u])
                points = SCALE * self._weights[-1] * d / (d + k) * weight * base
                affected.append((str(snap.ids[u]), float(weight), float(points)))
            return InfluenceReport(str(snap.ids[row]), base, tuple(affected), result.bound)

    def what_if(
        self,
        *,
        add_links: Sequence[tuple[str, str, float]] = (),
        remove_links: Sequence[tuple[str, str]] = (),
        remove_users: Sequence[str] = (),
        repayments: pd.DataFrame | None = None,
        spending: pd.DataFrame | None = None,
    ) -> WhatIf:
        """Scores after hypothetical links, events and account removals; nothing is stored.

        A removed account stops taking part in anyone's network (as if quarantined), so the
        changes show the score inflation it produced. Events are validated as a load would
        validate them (unknown users, bad values). The engine is restored afterwards.
        """
        from credence.graph.model import parse_repayments, parse_spending

        with self._lock:
            snap = self._require()
            state = snap.state
            links = [(self._index(a), self._index(b), float(w)) for a, b, w in add_links]
            links += [(self._index(a), self._index(b), 0.0) for a, b in remove_links]
            removed = self._rows_of(remove_users) if len(remove_users) else np.zeros(0, dtype=np.int64)
            rep = parse_repayments(repayments, source="what-if") if repayments is not None else None
            spend = parse_spending(spending, source="what-if") if spending is not None else None
            event_users = set()
            for frame in (rep, spend):
                if frame is not None:
                    event_users |= {str(u) for u in frame["user"].tolist()}
            rows = self._rows_of(sorted(event_users))
            # Work on copies of the per-user arrays, so that lock-free readers (summaries())
            # never see hypothetical scores; the shared diffusion state is undone below.
            self._snap = replace(
                snap,
                components=snap.components.copy(),
                scores=snap.scores.copy(),
                sub_values=snap.sub_values.copy(),
                base=snap.base.copy(),
            )
            undo: list[tuple[int, int, float]] = []
            silenced: list[int] = []
            try:
                changed: list[np.ndarray] = []
                for u, v, w in links:
                    undo.append((u, v, state.link_weight(u, v)))
                    changed.append(state.set_link(u, v, w))
                for row in removed.tolist():
                    if state.mask[row] > 0.0:
                        silenced.append(row)
                        changed.append(state.set_participating(row, False))
                sub = np.zeros((0, len(SUB_FACTORS)))
                individual = np.zeros((0, len(INDIVIDUAL_COMPONENTS)))
                if rows.size:
                    sub, individual, more = self._rebase(rows, extra_repayments=rep, extra_spending=spend)
                    changed += more
                changes = self._apply(rows, sub, individual, changed, write=False)
            finally:
                for row in reversed(silenced):
                    state.set_participating(row, True)
                for u, v, w in reversed(undo):
                    state.set_link(u, v, w)
                for row in rows.tolist():
                    state.set_base(row, float(snap.base[row]))
                self._snap = snap
            return WhatIf(tuple(changes))


def _take_users(users: UserArrays, rows: np.ndarray) -> UserArrays:
    return UserArrays(**{name: getattr(users, name)[rows] for name in _USER_FIELDS})


def _concat_users(first: UserArrays, second: UserArrays) -> UserArrays:
    return UserArrays(
        **{name: np.concatenate([getattr(first, name), getattr(second, name)]) for name in _USER_FIELDS}
    )


def _assign_users(target: UserArrays, rows: np.ndarray, source: UserArrays) -> None:
    for name in _USER_FIELDS:
        getattr(target, name)[rows] = getattr(source, name)


_USER_FIELDS = UserArrays.FIELDS
