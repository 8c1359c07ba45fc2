"""The scoring engine: the one place where a store and the numerics meet.

The numerics live in :mod:`credence.scoring` (arrays in, arrays out); the engine is the
edge where external ids become row indices and back. A :class:`ScoringEngine` holds,
for every user, the four individual components and their sub-factors, the shared
base, the diffusion state (:class:`credence.scoring.DiffusionState`) and the assembled
score (:class:`~credence.engine.state.EngineState`), so that:

* :meth:`~ScoringEngine.recompute` scores everyone (warm-started from the previous
  solution when there is one) and appends a score snapshot per user to the store
  (:mod:`credence.engine.recompute`, which says why the evaluation time and the
  neutral prior stay fixed between recomputes);
* the event methods (:meth:`~ScoringEngine.record_repayments`,
  :meth:`~ScoringEngine.add_link`, :meth:`~ScoringEngine.set_consent`, ...) write
  through the store first (a rejected write changes nothing, in the store or here),
  then repair the affected scores by local push and append snapshots for the users
  whose score or components moved (:mod:`credence.engine.events`);
* :meth:`~ScoringEngine.explain`, :meth:`~ScoringEngine.influence` and
  :meth:`~ScoringEngine.what_if` answer from memory without writing anything
  (:mod:`credence.engine.explain`).

The policy's weights are applied by :class:`~credence.engine.model.ScoringModel`,
which also says what a user shares with the network under ``bonus_only``.

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

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from credence.core.errors import ConflictError, NotFoundError, ParameterError, StoreError, ValidationError
from credence.engine import causes, disputes, events, explain
from credence.engine.disputes import DisputeOutcome
from credence.engine.follow import follow as follow_feed
from credence.engine.image import ImageKey, current_image, read_image, write_image
from credence.engine.model import ScoringModel
from credence.engine.recompute import StageFn
from credence.engine.recompute import recompute as recompute_all
from credence.engine.results import (
    ComponentPoints,
    Contributor,
    EngineView,
    Erasure,
    Explanation,
    InfluenceReport,
    NetworkSummary,
    Reason,
    RecomputeReport,
    ScoreChange,
    UserSummary,
    WhatIf,
)
from credence.engine.state import EngineState
from credence.engine.why import ScoreChangeExplanation, explain_score_change
from credence.graph.journal import ChangeDraft
from credence.graph.model import IDENTITY_LEVELS, Records, check_text, check_user_id, epoch_now
from credence.graph.store import DataVersion, GraphStore, Review
from credence.scoring.factors import FactorParams
from credence.scoring.policy import COMPONENT_NAMES, DEFAULT_POLICY_PATH, Policy, read_policy

__all__ = [
    "ComponentPoints",
    "Contributor",
    "DisputeOutcome",
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


def _check_now(now: Any) -> int:
    if isinstance(now, bool) or not isinstance(now, int | np.integer):
        raise ParameterError("now", now, "must be an integer (epoch seconds)")
    return int(now)


log = logging.getLogger("credence.engine")


#: Days a reviewer has to resolve a request for human review.
REVIEW_DAYS = 30


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
    image : Path, optional
        Where the engine's image lives (:mod:`credence.engine.image`):
        ``restore(from_image=True)`` starts from it when it is current, and
        :meth:`save_image` writes it. None: no image.

    Raises
    ------
    ParameterError
        On a ``now`` that is not an integer, or a policy whose individual weights are all 0.

    Notes
    -----
    One lock serialises changes and queries; a recompute replaces the state, never
    changes it in place. Each change to a score or link counts one :attr:`generation`,
    which also invalidates the cached :meth:`view`.
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        policy: Policy | None = None,
        now: int | None = None,
        params: FactorParams | None = None,
        contributors_threshold: float = 1e-3,
        image: Path | None = None,
    ) -> None:
        self.store = store
        self.image = None if image is None else Path(image)
        self.policy = policy if policy is not None else read_policy(DEFAULT_POLICY_PATH)
        self._now = None if now is None else _check_now(now)
        self.params = params if params is not None else FactorParams()
        self.contributors_threshold = float(contributors_threshold)
        self._model = ScoringModel.from_policy(self.policy, self.params)
        self._lock = threading.RLock()
        # Replaced whole by a recompute, so that lock-free readers (summaries) see either
        # the old state or the new one; a what-if rescores a copy of it.
        self._state: EngineState | None = None
        self._generation = 0
        self._view: EngineView | None = None
        # When a store write failed after memory had changed: memory is ahead of the store
        # until restore() rebuilds it; changes are refused meanwhile, reads may be stale.
        self._stale_since: float | None = None
        #: The store's data version the state is exactly of (None: unknown, e.g. another
        #: process wrote meanwhile); only such a state is written as the image.
        self._exact: DataVersion | None = None
        #: Engine units open (on the thread holding the lock): the outermost one commits.
        self._depth = 0
        #: The version of the image last read or written (so that an unchanged one is not written again).
        self._imaged: DataVersion | None = None
        digest = hashlib.sha256(repr((self.policy, self.params)).encode())
        self._digest = digest.hexdigest()[:32]

    # ---------------------------------------------------------------- state

    @property
    def ready(self) -> bool:
        """True once a recompute has run."""
        return self._state is not None

    @property
    def model_version(self) -> str:
        """Version of the policy the scores are made with."""
        return self.policy.version

    @property
    def generation(self) -> int:
        """Counts the changes to any score or link since the engine was made (0 before a recompute)."""
        return self._generation

    @property
    def computed_at(self) -> int | None:
        """Evaluation time of the current scores (None before a recompute)."""
        state = self._state
        return None if state is None else state.computed_at

    @property
    def stale_since(self) -> float | None:
        """Wall-clock time since which memory may hold a change the store did not commit, else None.

        Set when a store write or commit fails after the engine had already changed its
        state in memory; cleared by :meth:`restore` or :meth:`recompute`.
        """
        return self._stale_since

    def _require(self) -> EngineState:
        if self._state is None:
            raise NotFoundError("scores", "engine: run recompute() first")
        return self._state

    @contextmanager
    def unit(
        self, *, journal: ChangeDraft | Callable[[], ChangeDraft | None] | None = None
    ) -> Iterator[EngineState]:
        """Hold the engine and one store unit of work: every change inside commits together.

        The engine's changes (:meth:`record_repayments`, :meth:`add_link`, ...) each
        run in a unit of their own, their event, the score snapshots they produce and
        anything else written in the block committing as one transaction. Nested in
        this one they join it (as savepoints, where the store has them), so a server
        can group many clients' changes into one commit. A rejected change (bad input,
        unknown user, conflict) is refused before anything changed, in the store or in
        memory. When a write or the commit fails after memory changed, nothing is
        stored, the engine is marked stale (:attr:`stale_since`) and refuses changes
        until :meth:`restore` rebuilds it from the store.

        With ``journal`` the unit is one journaled change
        (:meth:`~credence.graph.store.StoreBase.change`): every snapshot it writes
        points to that entry, which is how :meth:`explain_change` names a step's cause. A
        callable ``journal`` is called inside the unit, so that what it reads from the
        store is read in the unit's transaction.

        Yields
        ------
        EngineState
            The state the changes apply to (for the engine's own use).
        """
        with self._lock:
            if self._stale_since is not None:
                raise StoreError(
                    "the scores are being rebuilt from the store after a failed write; nothing was changed",
                    retry_after=5,
                )
            state = self._require()
            revision = state.revision
            outermost = self._depth == 0
            self._depth += 1
            try:
                with self.store.transaction():
                    draft = journal() if callable(journal) else journal
                    journaled = nullcontext() if draft is None else self.store.change(
                        draft.kind, draft.people, actor=draft.actor, corrected=draft.corrected)  # fmt: skip
                    with journaled:
                        yield state
            except BaseException:
                # A change touches memory only after its own store write was accepted, so a
                # rejection leaves the revision as it was; anything after is ahead of the store.
                if state.revision != revision:
                    self._stale_since = time.time()
                    log.error("a change failed after memory changed; the engine is stale until restored")
                raise
            finally:
                self._depth -= 1
            if outermost:
                self._exact = self._next_version(self._exact, self.store.last_commit_version())

    @staticmethod
    def _next_version(known: DataVersion | None, committed: DataVersion | None) -> DataVersion | None:
        """The version memory is exactly of after one commit: ``committed``, if it was the only one since ``known``."""
        if known is None or committed is None or committed.store != known.store:
            return None
        return committed if committed.version == known.version + 1 else None

    def _changed(self) -> None:
        self._generation += 1
        self._view = None

    def _publish(self, state: EngineState) -> None:
        self._state = state
        self._changed()

    # ---------------------------------------------------------------- reads

    def view(
        self, *, adjacency: Literal["none", "all", "participating"] = "none", verified: Sequence[str] = ()
    ) -> EngineView:
        """A consistent read-only copy of every user's standing (see :class:`EngineView`).

        Parameters
        ----------
        adjacency : {"none", "all", "participating"}
            Add the friend graph (``"all"``), or only the links between users who
            take part in the network (``"participating"``).
        verified : sequence of str
            Identity levels whose verification flags to add.

        Returns
        -------
        EngineView
            The plain view is cached until the next change.

        Examples
        --------
        >>> from credence.graph.sqlite import SQLiteStore
        >>> from credence.seeds.synthetic import generate_population
        >>> population = generate_population(n_users=600, seed=1)
        >>> store = SQLiteStore(":memory:")
        >>> _ = store.load(population.dataset())
        >>> engine = ScoringEngine(store, now=population.now)
        >>> _ = engine.recompute(write=False)
        >>> view = engine.view(adjacency="all", verified=["id_verified"])
        >>> view.ids.size, view.graph().shape, view.verified["id_verified"].dtype
        (600, (600, 600), dtype('bool'))
        >>> engine.view() is engine.view()
        True
        """
        if adjacency not in ("none", "all", "participating"):
            raise ParameterError("adjacency", adjacency, "must be 'none', 'all' or 'participating'")
        unknown = [level for level in verified if level not in IDENTITY_LEVELS]
        if unknown:
            raise ParameterError("verified", unknown[0], f"must be among {', '.join(IDENTITY_LEVELS)}")
        with self._lock:
            state = self._require()
            if self._view is None:
                self._view = state.view(self._generation)
            view = self._view
            if adjacency != "none" or verified:
                view = replace(
                    view,
                    adjacency=(
                        state.diffusion.adjacency(participating_only=adjacency == "participating")
                        if adjacency != "none"
                        else None
                    ),
                    verified=state.verified(verified),
                )
            return view

    def memory(self) -> dict[str, int]:
        """Resident bytes of the engine's arrays: ``diffusion`` (the state) and ``per_user`` (the rest).

        User ids and the id -> row dictionary are not counted.
        """
        with self._lock:
            return self._require().nbytes()

    def summaries(self, user_ids: Sequence[str]) -> list[UserSummary | None]:
        """Summaries of some users (None for unknown ids), read without taking the engine lock.

        Cheap (no push, no store read), so that a server can answer from its event loop
        while a long recompute holds the lock; the recompute swaps its results in at the
        end, so readers see the old scores until then. A summary read while an
        incremental update is being applied may mix the values before and after it.

        Parameters
        ----------
        user_ids : sequence of str
            External user ids.

        Returns
        -------
        list of UserSummary or None
            One entry per id, in order.
        """
        state = self._state
        if state is None:
            raise NotFoundError("scores", "engine: run recompute() first")
        return explain.summaries(self._model, state, user_ids)

    def network(self, user_id: str) -> NetworkSummary:
        """Degree, diffused value, prior and participation of one user."""
        with self._lock:
            return explain.network(self._model, self._require(), user_id)

    def friends(self, user_id: str) -> list[tuple[str, float]]:
        """The user's links as (friend id, weight), by friend id, from the engine's graph."""
        with self._lock:
            return explain.friends(self._require(), user_id)

    def scores(self) -> pd.DataFrame:
        """Current score and components of every user (user, score, band, components...)."""
        with self._lock:
            return explain.score_table(self._model, self._require())

    def score_of(self, user_id: str) -> int:
        """The current score of one user (NotFoundError for an unknown id)."""
        with self._lock:
            state = self._require()
            return int(state.scores[state.row(user_id)])

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

        Parameters
        ----------
        write : bool
            Append a score snapshot per user to the store.
        progress : callable, optional
            ``progress(stage, done, total)`` for the stages export, factors, diffusion,
            scores, write.
        prior : float, optional
            Overrides the neutral prior (default: the participants' mean base), e.g. to
            compare with a previous run at equal prior.
        now : int, optional
            Sets the evaluation time of this and later recomputes (epoch seconds).

        Returns
        -------
        RecomputeReport
        """
        if now is not None:
            self._now = _check_now(now)
        with self._lock:
            before = self.store.data_version() if write and self._depth == 0 else None
            self._exact = None
            report = recompute_all(
                self._model,
                self.store,
                self._state,
                now=self._now if self._now is not None else epoch_now(),
                prior=prior,
                write=write,
                progress=progress,
                publish=self._publish,
            )
            self._stale_since = None
            if before is not None:
                self._exact = self._next_version(before, self.store.last_commit_version())
            return report

    def restore(self, *, progress: StageFn | None = None, from_image: bool = False) -> RecomputeReport | None:
        """Rebuild memory from the store exactly as it was stored; None if it holds no recompute of this model.

        The evaluation time and the neutral prior come from the newest recompute record
        (:meth:`~credence.graph.store.GraphStore.latest_recompute`), not re-derived; the
        diffusion is solved again from the stored users, links and events, and then every
        user's score and components are set to their stored latest snapshot, so that what
        is served equals what is stored (the solve agrees with them within the tolerance).
        Nothing is written to the store.

        With ``from_image`` (and an :attr:`image` directory) the state is memory-mapped
        from the image instead when the image is of the store's current data version
        (:mod:`credence.engine.image`): no store read but the version, no solve. When it
        is not, the store is restored from as above and the image written anew for the
        next start (:meth:`save_image`).
        """
        with self._lock:
            record = self.store.latest_recompute()
            if record is None or record.model_version != self.policy.version:
                return None
            recorded = self.store.model_weights().get(self.policy.version)
            if recorded is not None and recorded != {k: float(v) for k, v in self.policy.weights.items()}:
                raise ConflictError(
                    f"model version {self.policy.version!r} is recorded with other weights; "
                    "give the changed policy a new version"
                )
            before = self.store.data_version()
            if from_image and self.image is not None and self._depth == 0:
                clock = time.perf_counter()
                image = read_image(self.image, self._image_key(before))
                if image is not None and image.computed_at == record.computed_at:
                    self._now = record.computed_at
                    self._publish(image)
                    self._stale_since = None
                    self._exact = before
                    self._imaged = before
                    return RecomputeReport(
                        users=int(image.ids.size), links=image.diffusion.n_links,
                        participants=int((image.consent & ~image.quarantined).sum()),
                        model_version=self.policy.version, computed_at=image.computed_at,
                        scores=image.scores.copy(), seconds={"image": time.perf_counter() - clock},
                        written=0, warm_start=False,
                    )  # fmt: skip
            report = self.recompute(
                write=False, now=record.computed_at, prior=record.prior, progress=progress
            )
            state = self._require()
            latest = self.store.latest_scores()
            latest = latest[latest["model_version"].astype(str) == self.policy.version]
            if len(latest):
                rows = state.rows(latest["user"].astype(str).tolist())
                ordered = latest.set_index(latest["user"].astype(str)).loc[state.ids[rows].tolist()]
                state.scores[rows] = ordered["score"].to_numpy(dtype=np.int64)
                stored = ordered[list(COMPONENT_NAMES)].to_numpy(dtype=np.float64)
                state.components[rows] = stored
                state.written[rows] = stored
                self._changed()
            # Exact only if nothing was committed while the store was read (the reads are several).
            self._exact = before if self._depth == 0 and self.store.data_version() == before else None
            if from_image:
                self.save_image()
            return report

    def _image_key(self, version: DataVersion) -> ImageKey:
        return ImageKey(version=version, model=self.policy.version, digest=self._digest)

    def save_image(self) -> Path | None:
        """Write the engine's image (:mod:`credence.engine.image`) if memory is exactly the store's current data.

        That is the case after a :meth:`restore` or a written :meth:`recompute`, and after
        the engine's own changes, as long as nothing else changed the store meanwhile
        (its :meth:`~credence.graph.store.GraphStore.data_version` moved by exactly the
        engine's own commits) and no failed write left memory stale.

        Returns
        -------
        Path or None
            The image written; None when there is no :attr:`image` directory or memory
            is not known to be exactly the store's data (nothing is written then).
        """
        if self.image is None:
            return None
        with self._lock:
            state, exact = self._state, self._exact
            if state is None or exact is None or self._stale_since is not None:
                return None
            if self.store.data_version() != exact:
                self._exact = None
                return None
            if self._imaged == exact:
                return current_image(self.image)
            written = write_image(state, self.image, self._image_key(exact))
            self._imaged = exact
            return written

    def follow(self, feed: pd.DataFrame) -> list[ScoreChange]:
        """Take the score snapshots another engine committed to the store (a follower worker).

        See :mod:`credence.engine.follow`: scores and components become exactly the
        stored ones, reasons, consent and quarantine are re-derived from the store; the
        diffusion state is left as it is. Nothing is written.

        Parameters
        ----------
        feed : DataFrame
            Snapshots as :meth:`~credence.graph.store.GraphStore.snapshots_after` returns them.

        Returns
        -------
        list of ScoreChange
            The users whose score or components moved.
        """
        with self._lock:
            changes = follow_feed(self._model, self._require(), self.store, feed)
            self._exact = None  # the followed scores are exact, the diffusion is not: never an image
            if changes:
                self._changed()
            return changes

    # ---------------------------------------------------------------- incremental updates

    def record_repayments(self, frame: pd.DataFrame | Records) -> list[ScoreChange]:
        """Store repayment events, then update the payers' scores and their network's.

        Parameters
        ----------
        frame : DataFrame or Records
            Repayments in the store's repayments schema (id, user, due, paid, amount,
            status), validated by the store; or records already validated
            (:func:`~credence.graph.model.repayment_records`: the same checks, no frames).

        Returns
        -------
        list of ScoreChange
            The users whose score or components moved.
        """
        return self._record_events("repayments", frame, self.store.add_repayments)

    def record_spending(self, frame: pd.DataFrame | Records) -> list[ScoreChange]:
        """Store spending and bill events, then update the affected scores (as :meth:`record_repayments`).

        ``frame`` is a spending frame, or :func:`~credence.graph.model.spending_records`.
        """
        return self._record_events("spending", frame, self.store.add_spending)

    def upsert_users(self, frame: pd.DataFrame) -> list[ScoreChange]:
        """Create or update users, then score them (new users start without links)."""
        users = frame["id"].tolist() if "id" in frame.columns else []
        with self.unit(journal=causes.person_change("users", users)) as state:
            return events.upsert_users(self._model, state, self.store, frame, on_change=self._changed)

    def add_link(
        self, a: str, b: str, *, weight: float = 1.0, created: int | None = None
    ) -> list[ScoreChange]:
        """Create or re-weight a friend link, then update the scores it moves.

        ``created`` dates the link (default the evaluation time of the scores).
        """
        with self.unit(journal=causes.link_change("link_added", a, b)) as state:
            return events.add_link(
                self._model,
                state,
                self.store,
                a,
                b,
                weight=weight,
                created=created,
                on_change=self._changed,
            )

    def remove_link(self, a: str, b: str) -> list[ScoreChange]:
        """Remove a friend link (NotFoundError if there is none), then update the scores."""
        with self.unit(journal=causes.link_change("link_removed", a, b)) as state:
            return events.remove_link(self._model, state, self.store, a, b, on_change=self._changed)

    def set_consent(self, user_id: str, consent: bool, *, actor: str = "system") -> list[ScoreChange]:
        """Record consent to network scoring; without it a user neither gives nor receives.

        A change of consent is stored with ``actor`` and the time
        (:meth:`~credence.graph.store.GraphStore.consent_history`), in the transaction that
        stores the consent and the snapshots it produces.
        """
        kind = "consent_given" if consent else "consent_withdrawn"
        with self.unit(journal=causes.person_change(kind, [user_id], actor=actor)) as state:
            return events.set_consent(
                self._model, state, self.store, user_id, consent, actor=actor, on_change=self._changed
            )

    def flag_user(self, user_id: str, *, analyst: str, reason: str) -> list[ScoreChange]:
        """Quarantine a user (analyst flag): they stop taking part in anyone's network."""
        return self._flag(user_id, flagged=True, analyst=analyst, reason=reason)

    def unflag_user(self, user_id: str, *, analyst: str, reason: str) -> list[ScoreChange]:
        """Clear a user's active flag and restore their part in the network."""
        return self._flag(user_id, flagged=False, analyst=analyst, reason=reason)

    def _flag(self, user_id: str, *, flagged: bool, analyst: str, reason: str) -> list[ScoreChange]:
        journal = causes.person_change("flag" if flagged else "unflag", [user_id], actor=analyst)
        with self.unit(journal=journal) as state:
            return events.set_flag(
                self._model,
                state,
                self.store,
                user_id,
                flagged=flagged,
                analyst=analyst,
                reason=reason,
                on_change=self._changed,
            )

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
        journal = causes.person_change("unflag" if clear else "flag", keys, actor=analyst)
        with self.unit(journal=journal) as state:
            return events.set_flags(
                self._model,
                state,
                self.store,
                keys,
                flagged=not clear,
                analyst=analyst,
                reason=reason,
                on_change=self._changed,
            )

    # ---------------------------------------------------------------- explanations

    def explain(self, user_id: str, *, contributors: int = 10) -> Explanation:
        """Score, components, top-4 reasons and top network contributors of one user.

        Parameters
        ----------
        user_id : str
            An external user id.
        contributors : int
            How many of the largest network contributors to list.

        Returns
        -------
        Explanation
        """
        with self._lock:
            return explain.explain(
                self._model,
                self._require(),
                user_id,
                contributors=contributors,
                threshold=self.contributors_threshold,
            )

    def erase_user(self, user_id: str, *, actor: str) -> Erasure:
        """Erase a person: their neighbours rescored incrementally, then everything about them removed, in one unit.

        First the person leaves everyone's network (the diffusion repaired by push, the
        neighbours' new snapshots written); then the store erases them
        (:meth:`~credence.graph.store.StoreBase.erase_user`: records, links, snapshots, a
        tombstone, the audit log pseudonymised) and records the evaluation state again,
        so that follower workers rebuild; then memory is rebuilt from the store inside the
        same unit (:meth:`restore`, a full in-memory recompute at the stored prior and
        time). All of it commits together or not at all.

        Returns
        -------
        Erasure
            The person's pseudonym (their reference in the audit log) and the neighbours'
            score changes (the erased person is not listed).

        Raises
        ------
        NotFoundError
            If the user is unknown; nothing is written.
        """
        user_id = check_user_id(user_id)
        # The store's erasure renames the person in the journal, this entry too, to their pseudonym.
        with self.unit(journal=causes.person_change("erasure", [user_id], actor=actor)) as state:
            state.row(user_id)  # NotFoundError before anything changes
            changes = events.withdraw(self._model, state, self.store, user_id, on_change=self._changed)
            pseudonym = self.store.erase_user(user_id, actor=actor)
            record = self.store.latest_recompute()
            if record is not None:
                self.store.record_recompute(record.computed_at, record.prior, record.model_version)
            if self.restore() is None:
                self.recompute(write=False, now=state.computed_at)
        return Erasure(pseudonym=pseudonym, changes=tuple(c for c in changes if c.user != user_id))

    def request_review(self, user_id: str, *, tier: str, reason: str, requested_by: str) -> Review:
        """Record a person's request for human review of a benefit ``tier`` their score does not reach.

        The reviewer's deadline is :data:`REVIEW_DAYS` days on. Nothing about the score
        changes: the review is a record for an analyst to resolve.

        Raises
        ------
        NotFoundError
            If the user is unknown.
        ValidationError
            If ``tier`` is not a benefit tier of the policy, or the user's score reaches it
            (nothing was denied), or a text is empty.
        ConflictError
            If the user already has an open review of that tier.
        """
        user_id = check_user_id(user_id)
        tiers = {b.name: b.min for b in self.policy.benefits}
        if tier not in tiers:
            raise ValidationError(f"not a benefit tier; the tiers are {', '.join(sorted(tiers))}", entity="review",
                                  column="tier", value=tier)  # fmt: skip
        score = self.score_of(user_id)  # NotFoundError for an unknown user
        if score >= tiers[tier]:
            raise ValidationError(f"the score {score} reaches {tier} ({tiers[tier]}): nothing was denied",
                                  entity="review", column="tier", value=tier)  # fmt: skip
        at = epoch_now()
        return self.store.request_review(user_id, tier=tier, reason=reason, requested_by=requested_by,
                                         due=at + REVIEW_DAYS * 86_400, at=at)  # fmt: skip

    def resolve_review(self, review_id: int, *, outcome: str, resolution: str, analyst: str) -> Review:
        """Resolve an open human review (``upheld``: the automated outcome stands; ``overturned``: it does not)."""
        return self.store.resolve_review(review_id, outcome=outcome, resolution=resolution, analyst=analyst)

    def open_dispute(
        self, user_id: str, *, kind: str, record: str, reason: str, opened_by: str
    ) -> DisputeOutcome:
        """Record a person's dispute of one of their records, then apply the policy's rule to it.

        ``kind`` is one of :data:`~credence.graph.disputes.DISPUTE_KINDS`; ``record`` is the
        event id, the other user's id (a link) or the flag id. The record as it is now and
        whether it is adverse are stored with the dispute; the analysts' deadline is the
        policy's ``disputes.deadline_days`` on. An adverse event or link stops counting
        while the dispute is open unless the policy says otherwise
        (:mod:`credence.engine.disputes`); the dispute, the snapshots it produces and
        anything else in the unit commit together.

        Raises
        ------
        NotFoundError
            If the user is unknown, or the record is not theirs.
        ValidationError
            On a bad kind or an empty reason, or a flag that is no longer active.
        ConflictError
            If the record already has an open dispute.
        """
        user_id = check_user_id(user_id)
        journal = causes.person_change("dispute_opened", [user_id], actor=opened_by, record=record)
        with self.unit(journal=journal) as state:
            return disputes.open_dispute(self._model, state, self.store, user_id, kind=kind, record=record,
                                         reason=reason, opened_by=opened_by, on_change=self._changed)  # fmt: skip

    def resolve_dispute(
        self,
        dispute_id: int,
        *,
        outcome: str,
        resolution: str,
        analyst: str,
        correction: Records | None = None,
    ) -> DisputeOutcome:
        """Resolve an open dispute: ``upheld`` (removed, or replaced by ``correction``) or ``rejected`` (it counts).

        ``correction`` (upheld event disputes only) is the corrected event, with the
        disputed event's id and user (:func:`~credence.graph.model.repayment_records` or
        :func:`~credence.graph.model.spending_records`). An upheld link dispute removes the
        link; an upheld flag dispute clears the flag. The scores move incrementally, in the
        same unit as the resolution.

        Raises
        ------
        NotFoundError
            If there is no dispute ``dispute_id``.
        ConflictError
            If it was already resolved.
        ValidationError
            On a bad outcome, an empty reason, or a correction that does not fit the dispute.
        """
        journal = self._dispute_change(dispute_id, outcome, analyst, corrected=correction is not None)
        with self.unit(journal=journal) as state:
            return disputes.resolve_dispute(self._model, state, self.store, int(dispute_id), outcome=outcome,
                                            resolution=resolution, analyst=analyst, correction=correction,
                                            on_change=self._changed)  # fmt: skip

    def _record_events(
        self, kind: str, frame: pd.DataFrame | Records, add: Callable[[pd.DataFrame], object]
    ) -> list[ScoreChange]:
        """Record an event batch in a journaled unit; the owners its draft looked up serve the ownership check."""
        looked_up: list[dict[str, str]] = []

        def stored(ids: list[str]) -> Collection[str]:
            looked_up.append(self.store.event_owners(kind, ids))
            return looked_up[-1].keys()

        with self.unit(journal=lambda: causes.event_change(kind, frame, stored=stored)) as state:
            return events.record_events(self._model, state, self.store, frame, add=add, on_change=self._changed,
                                        owners=looked_up[-1] if looked_up else None)  # fmt: skip

    def _dispute_change(
        self, dispute_id: Any, outcome: Any, analyst: str, *, corrected: bool
    ) -> ChangeDraft | None:
        """The journal draft of a dispute's resolution (None when the resolution will be refused)."""
        try:
            dispute = self.store.dispute(int(dispute_id))
        except (NotFoundError, TypeError, ValueError):
            return None
        kind = {"upheld": "dispute_upheld", "rejected": "dispute_rejected"}.get(outcome)
        if kind is None:
            return None
        return causes.person_change(kind, [dispute.user], actor=analyst, record=dispute.record,
                                    corrected=corrected and kind == "dispute_upheld")  # fmt: skip

    def explain_change(
        self, user_id: str, *, before: int | None = None, after: int | None = None, since: int | None = None
    ) -> ScoreChangeExplanation:
        """Why ``user_id``'s score moved between two stored snapshots (:mod:`credence.engine.why`).

        Snapshots are named by position from the oldest (0). ``after`` defaults to the
        latest; ``before`` to the one before it, or, with ``since`` (epoch seconds), to the
        latest snapshot evaluated at or before ``since`` (the oldest if none is).

        Raises
        ------
        NotFoundError
            If the user is unknown.
        ValidationError
            If the user has no snapshot, or a position is out of range.
        """
        user_id = check_user_id(user_id)
        self.store.get_user(user_id)  # NotFoundError for an unknown user
        history = self.store.score_history(user_id)
        if history.empty:
            raise ValidationError("has no stored score yet", entity="user", column="history", value=user_id)
        last = len(history) - 1
        after = last if after is None else after
        if before is None:
            if since is not None:
                at_or_before = (history["computed_at"].to_numpy() <= since).nonzero()[0]
                before = int(at_or_before[-1]) if at_or_before.size else 0
            else:
                before = max(min(after, last) - 1, 0)
        causes = self.store.snapshot_changes(user_id)
        return explain_score_change(history, self.store.model_weights(), self.policy, user=user_id,
                                    before=before, after=after, causes=causes)  # fmt: skip

    def influence(self, user_id: str, *, first: int = 20, threshold: float = 1e-4) -> InfluenceReport:
        """Blast radius: whose network value depends on this user, and the points at stake.

        ``points`` is what each affected user would lose if this user's base fell to 0
        (linear in the drop, before the bonus-only floor and rounding). ``first`` caps
        the users listed; ``threshold`` is the backward push's precision.
        """
        with self._lock:
            return explain.influence(self._model, self._require(), user_id, first=first, threshold=threshold)

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

        Parameters
        ----------
        add_links : sequence of (str, str, float)
            Links to create or re-weight: (a, b, weight).
        remove_links : sequence of (str, str)
            Links to remove.
        remove_users : sequence of str
            Accounts to take out of the network.
        repayments, spending : DataFrame, optional
            Events to add, in the store's schemas.

        Returns
        -------
        WhatIf
            The users whose score or components would move.
        """
        with self._lock:
            return explain.what_if(
                self._model,
                self._require(),
                self.store,
                add_links=add_links,
                remove_links=remove_links,
                remove_users=remove_users,
                repayments=repayments,
                spending=spending,
            )
