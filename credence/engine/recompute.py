"""The full recompute: store -> arrays -> factors -> diffusion -> scores -> store.

Two quantities are fixed here, at each full recompute, and kept by the incremental
updates (:mod:`credence.engine.events`) until the next one; both are visible in the numbers:

* **The evaluation time** ``now``: events dated later count as at ``now``. Time
  decay therefore advances at recomputes only, and an event changes a score only by
  what the event itself says: an on-time repayment never lowers the score.
* **The neutral prior** ``mu`` (the participants' mean shared base); otherwise every
  event would move every user's network component.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from credence.core.types import FloatArray, IntArray, ObjectArray
from credence.engine.disputes import suspended_records
from credence.engine.model import ScoringModel
from credence.engine.notices import adverse_notices
from credence.engine.results import RecomputeReport
from credence.engine.state import EngineState, repayment_arrays, spending_arrays, user_arrays
from credence.graph.model import epoch_now
from credence.graph.store import GraphStore
from credence.scoring.factors import CapacityReference
from credence.scoring.policy import COMPONENT_NAMES
from credence.scoring.push import DiffusionState
from credence.scoring.ratings import rating_evidence, signed_ratings

__all__ = ["StageFn", "recompute", "warm_start"]

#: ``progress(stage, done, total)``, called at the start and the end of each stage.
StageFn = Callable[[str, int, int], None]


def recompute(
    model: ScoringModel,
    store: GraphStore,
    previous: EngineState | None,
    *,
    now: int,
    prior: float | None,
    write: bool,
    progress: StageFn | None,
    publish: Callable[[EngineState], None],
) -> RecomputeReport:
    """Score everyone in ``store`` at time ``now``.

    Parameters
    ----------
    model : ScoringModel
        The weights and factor constants.
    store : GraphStore
        Where the users, links and events are read and the score snapshots written.
    previous : EngineState or None
        The state before, whose diffusion warm-starts this one (None: a cold start).
    now : int
        Evaluation time, epoch seconds.
    prior : float or None
        The neutral prior; None for the participants' mean base (0.5 without participants).
    write : bool
        Append a score snapshot of every user to the store.
    progress : StageFn or None
        Told of the stages: export, factors, diffusion, scores, write.
    publish : callable
        Receives the new state once it is complete and (with ``write``) stored.

    Returns
    -------
    RecomputeReport
        Counts, every score and the seconds of each stage.
    """

    def step(stage: str, done: int, total: int = 1) -> None:
        if progress is not None:
            progress(stage, done, total)

    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    step("export", 0)
    graph = store.export_graph()
    users_frame = graph.users
    suspended = suspended_records(model.policy.disputes, store.disputes())
    repayments = suspended.frame_without("repayments", store.repayments())
    spending = suspended.frame_without("spending", store.spending())
    step("export", 1)
    seconds["export"] = time.perf_counter() - clock

    clock = time.perf_counter()
    step("factors", 0)
    ids: ObjectArray = np.asarray(graph.ids, dtype=object)
    users = user_arrays(users_frame)
    reference = CapacityReference.from_users(users)
    # Trade ratings (docs/factors.md): a global fixed point like the diffusion, fixed until
    # the next recompute. None when the graph holds none, so such graphs score as before.
    # Links under an open dispute count neither as friendship nor as ratings.
    adjacency = without_links(graph.adjacency, graph.index_of, suspended.links)
    rating_matrix = signed_ratings(adjacency, graph.distrust, model.policy.ratings)
    ratings = rating_evidence(rating_matrix, model.policy.ratings) if rating_matrix.nnz else None
    parts = model.individual(
        users,
        repayment_arrays(repayments, graph.index_of(repayments["user"].to_numpy(dtype=object))),
        spending_arrays(spending, graph.index_of(spending["user"].to_numpy(dtype=object))),
        now=now,
        reference=reference,
        ratings=ratings,
    )
    step("factors", 1)
    seconds["factors"] = time.perf_counter() - clock

    clock = time.perf_counter()
    step("diffusion", 0)
    consent = users_frame["consent_network"].to_numpy(dtype=bool, copy=True)
    quarantined = np.array(graph.quarantined, dtype=bool, copy=True)
    participating = consent & ~quarantined
    before = None if previous is None else previous_rows(previous, ids)
    warm = warm_start(previous, ids, parts.base, rows=before)
    if prior is None:
        prior = float(parts.base[participating].mean()) if participating.any() else 0.5
    settings = model.policy.diffusion
    diffusion = DiffusionState(
        adjacency,
        parts.base,
        damping=settings.damping,
        tol=settings.tol,
        participating=participating,
        prior=prior,
        y=warm,
        validate=False,  # the store's export is canonical symmetric CSR
    )
    step("diffusion", 1)
    seconds["diffusion"] = time.perf_counter() - clock

    clock = time.perf_counter()
    components = np.empty((ids.size, len(COMPONENT_NAMES)))
    components[:, : parts.components.shape[1]] = parts.components
    components[:, -1] = model.network_component(diffusion)
    scores = model.scores(components)
    state = EngineState(
        ids=ids,
        positions={str(user): i for i, user in enumerate(ids.tolist())},
        users=users,
        consent=consent,
        quarantined=quarantined,
        sub_values=parts.sub_values,
        components=components,
        base=parts.base,
        scores=scores,
        diffusion=diffusion,
        reference=reference,
        computed_at=now,
        written=components.copy(),
        ratings=ratings,
        suspended=suspended,
    )
    seconds["scores"] = time.perf_counter() - clock

    clock = time.perf_counter()
    written = 0
    if write:
        step("write", 0)
        # The snapshots and the evaluation state they were made at commit together, so a
        # restart restores exactly this prior and time (see ScoringEngine.restore).
        with store.transaction():
            written = store.write_scores(
                state.score_frame(np.arange(ids.size), model.policy.version),
                model_weights=model.policy.weights,
            )
            store.record_recompute(now, float(diffusion.mu), model.policy.version)
            if previous is not None and before is not None:
                # Scores that fell past a benefit tier since the previous state owe a notice.
                rows = np.flatnonzero((before >= 0) & (before < previous.scores.size))
                store.record_notices(
                    adverse_notices(model, state, rows, previous.scores[before[rows]], at=epoch_now())
                )
        step("write", 1)
    # Published only once stored: a failed write leaves the engine as it was.
    publish(state)
    seconds["write"] = time.perf_counter() - clock
    return RecomputeReport(
        users=int(ids.size),
        links=int(graph.n_links),
        participants=int(participating.sum()),
        model_version=model.policy.version,
        computed_at=now,
        scores=scores.copy(),
        seconds=seconds,
        written=written,
        warm_start=warm is not None,
    )


def without_links(
    adjacency: sp.csr_matrix, index_of: Callable[[Any], IntArray], links: set[tuple[str, str]]
) -> sp.csr_matrix:
    """``adjacency`` without the suspended ``links`` (both directions); the same matrix when there are none."""
    if not links:
        return adjacency
    ends = index_of(np.array([end for link in sorted(links) for end in link], dtype=object))
    data = adjacency.data.copy()
    for a, b in zip(ends[0::2].tolist(), ends[1::2].tolist(), strict=True):
        for row, column in ((a, b), (b, a)):
            if row < 0 or column < 0:
                continue
            lo, hi = adjacency.indptr[row], adjacency.indptr[row + 1]
            hit = lo + int(np.searchsorted(adjacency.indices[lo:hi], column))  # canonical CSR: sorted columns
            if hit < hi and adjacency.indices[hit] == column:
                data[hit] = 0.0
    out = sp.csr_matrix((data, adjacency.indices.copy(), adjacency.indptr.copy()), shape=adjacency.shape)
    out.eliminate_zeros()
    return out


def previous_rows(previous: EngineState, ids: ObjectArray) -> IntArray:
    """Each of ``ids``' row in ``previous`` (-1 for a user it did not have)."""
    return np.array([previous.positions.get(str(user), -1) for user in ids.tolist()], dtype=np.int64)


def warm_start(
    previous: EngineState | None, ids: ObjectArray, base: FloatArray, *, rows: IntArray | None = None
) -> FloatArray | None:
    """The previous diffusion ``y`` aligned with the new ``ids`` (new users start at their base).

    None without a previous state. Any close start works: the diffusion repairs it by push.
    ``rows`` are the :func:`previous_rows` of ``ids``, when already known.
    """
    if previous is None:
        return None
    start = base.copy()
    rows = previous_rows(previous, ids) if rows is None else rows
    known = rows >= 0
    start[known] = previous.diffusion.y[rows[known]]
    return start
