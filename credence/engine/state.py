"""The engine's per-user arrays (:class:`EngineState`), and the frames -> arrays helpers.

A store hands out pandas frames keyed by external ids; the numerics in
:mod:`credence.scoring` take arrays keyed by row. This module is where one becomes
the other: :func:`user_arrays`, :func:`repayment_arrays` and :func:`spending_arrays`
convert frames, and :class:`EngineState` keeps every user's standing by row.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"user": ["b", "a"], "at": [5, 9], "amount": [20.0, 7.5],
...                       "category": ["bill", "purchase"], "on_time": [False, None]})
>>> spending = spending_arrays(frame, np.array([1, 0]))
>>> spending.user.tolist(), spending.is_bill.tolist(), spending.on_time.tolist()
([1, 0], [True, False], [0.0, nan])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from credence.core.arrays import unique_sorted
from credence.core.errors import NotFoundError
from credence.core.scale import SCORE_MIN
from credence.core.types import BoolArray, FloatArray, IntArray, ObjectArray
from credence.engine.results import EngineView
from credence.graph.model import IDENTITY_LEVELS, SCORE_COLUMNS, Records, check_user_id, score_records
from credence.scoring.factors import (
    SUB_FACTORS,
    CapacityReference,
    RepaymentArrays,
    SpendingArrays,
    UserArrays,
)
from credence.scoring.policy import COMPONENT_NAMES
from credence.scoring.push import DiffusionState
from credence.scoring.ratings import RatingEvidence

__all__ = [
    "EngineState",
    "Suspended",
    "link_key",
    "assign_users",
    "concat_users",
    "repayment_arrays",
    "spending_arrays",
    "take_users",
    "user_arrays",
]


def link_key(a: str, b: str) -> tuple[str, str]:
    """A link's key whichever end names it."""
    return (a, b) if a <= b else (b, a)


@dataclass
class Suspended:
    """The records that do not count because of a dispute: event ids by kind, and links (sorted pairs)."""

    repayments: set[str] = field(default_factory=set)
    spending: set[str] = field(default_factory=set)
    links: set[tuple[str, str]] = field(default_factory=set)

    def events(self, kind: str) -> set[str]:
        """The suspended ids of ``kind`` ("repayments" or "spending")."""
        return self.repayments if kind == "repayments" else self.spending

    def without(self, records: Records) -> Records:
        """``records`` (events of one kind) less the suspended ones."""
        ids = self.events(records.kind)
        if not ids:
            return records
        position = records.columns.index("id")
        return Records(records.kind, tuple(row for row in records.rows if str(row[position]) not in ids))

    def frame_without(self, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
        """An events frame of ``kind`` less the suspended events."""
        ids = self.events(kind)
        if not ids or frame.empty:
            return frame
        return frame[~frame["id"].astype(str).isin(ids).to_numpy(dtype=bool)].reset_index(drop=True)


@dataclass
class EngineState:
    """Every user's standing, as arrays aligned with ``ids`` (row ``i`` is user ``ids[i]``).

    Built by a full recompute; the incremental updates then change it in place and
    append new users at the end, so rows never move until the next recompute.

    Attributes
    ----------
    ids : ndarray of object
        External user ids.
    positions : dict of str to int
        User id -> row.
    users : UserArrays
        The attributes the factors read (creation time, identity flags, incomes).
    consent, quarantined : ndarray of bool
        Consent to network scoring; an active analyst flag.
    sub_values : ndarray of float64, shape (n, len(SUB_FACTORS))
        Sub-factor values, the source of the adverse-action reasons.
    components : ndarray of float64, shape (n, 5)
        Components in ``COMPONENT_NAMES`` order: the four individual ones, then connections.
    base : ndarray of float64
        The base each user shares with the network (see
        :meth:`ScoringModel.individual <credence.engine.model.ScoringModel.individual>`).
    scores : ndarray of int64
        Assembled scores.
    diffusion : DiffusionState
        The network: links, participation and the diffusion of ``base``.
    reference : CapacityReference
        The population incomes and assets are ranked against (fixed at the recompute).
    computed_at : int
        Evaluation time (epoch seconds), fixed at the recompute.
    written : ndarray of float64, shape (n, 5)
        Components as last written to the store (NaN before the first write).
    ratings : RatingEvidence or None
        Trade-rating evidence fixed at the recompute (None: the graph holds no ratings);
        a user added since has none (:meth:`RatingEvidence.take`).
    suspended : Suspended
        The records that do not count because of a dispute (:mod:`credence.engine.disputes`).
    revision : int
        Counts the changes made to this state in place (:meth:`touch`): an update whose
        store write fails after the count moved has left memory ahead of the store.
    """

    ids: ObjectArray
    positions: dict[str, int]
    users: UserArrays
    consent: BoolArray
    quarantined: BoolArray
    sub_values: FloatArray
    components: FloatArray
    base: FloatArray
    scores: IntArray
    diffusion: DiffusionState
    reference: CapacityReference
    computed_at: int
    written: FloatArray
    revision: int = 0
    ratings: RatingEvidence | None = None
    suspended: Suspended = field(default_factory=Suspended)

    def rating_of(self, row: int) -> tuple[float, float] | None:
        """``(value, weight)`` of row ``row``'s trade-rating evidence, None without any."""
        if self.ratings is None or row >= len(self.ratings) or self.ratings.weight[row] <= 0:
            return None
        return float(self.ratings.value[row]), float(self.ratings.weight[row])

    def touch(self) -> None:
        """Note that an update is about to change this state in place (see ``revision``)."""
        self.revision += 1

    def row(self, user_id: Any) -> int:
        """The row of one user; NotFoundError if the engine does not know them."""
        key = check_user_id(user_id)
        position = self.positions.get(key)
        if position is None:
            raise NotFoundError("user", key)
        return position

    def rows(self, user_ids: Iterable[Any]) -> IntArray:
        """Distinct rows of some users, sorted (NotFoundError for any unknown id)."""
        return unique_sorted([self.row(user) for user in user_ids])

    def nbytes(self) -> dict[str, int]:
        """Resident bytes: ``diffusion`` (the network state) and ``per_user`` (the other arrays).

        User ids and the id -> row dictionary are not counted.
        """
        users = [getattr(self.users, name) for name in UserArrays.FIELDS]
        arrays = [self.sub_values, self.components, self.written, self.base, self.scores, *users]
        arrays += [self.consent, self.quarantined]
        return {"diffusion": int(self.diffusion.nbytes), "per_user": int(sum(a.nbytes for a in arrays))}

    def view(self, generation: int) -> EngineView:
        """A copy of every user's standing, without the graph or the identity flags."""
        diffusion = self.diffusion
        return EngineView(
            ids=self.ids.copy(),
            scores=self.scores.copy(),
            base=np.array(self.base, dtype=np.float64, copy=True),
            degree=np.array(diffusion.degree, copy=True),
            consent=self.consent.copy(),
            quarantined=self.quarantined.copy(),
            participating=np.array(diffusion.participating, dtype=bool, copy=True),
            prior=float(diffusion.mu),
            damping=float(diffusion.damping),
            computed_at=self.computed_at,
            generation=generation,
            positions=MappingProxyType(self.positions),
        )

    def verified(self, levels: Iterable[str]) -> dict[str, BoolArray]:
        """Copies of some identity-verification flags, by level."""
        return {level: np.array(getattr(self.users, level), dtype=bool, copy=True) for level in levels}

    def score_frame(self, rows: IntArray, model_version: str) -> pd.DataFrame:
        """Score snapshots of some rows, in the store's score frame schema."""
        frame = pd.DataFrame(
            {
                "user": pd.array(self.ids[rows], dtype="string"),
                "model_version": pd.array([model_version] * rows.size, dtype="string"),
                "computed_at": np.full(rows.size, self.computed_at, dtype=np.int64),
                "score": self.scores[rows],
            }
        )
        for k, name in enumerate(COMPONENT_NAMES):
            frame[name] = self.components[rows, k]
        return frame[list(SCORE_COLUMNS)]

    def score_records(self, rows: IntArray, model_version: str) -> Records:
        """Score snapshots of some rows as validated records (:func:`~credence.graph.model.score_records`)."""
        return score_records(
            self.ids[rows].tolist(),
            model_version,
            int(self.computed_at),
            self.scores[rows],
            self.components[rows],
        )

    def append_users(self, ids: Sequence[str], users: UserArrays) -> None:
        """Add new users at the end: no links, not participating, nothing scored yet.

        Their base starts at the prior and their score at 350; the caller rescores them.
        """
        count = len(ids)
        added = self.diffusion.add_users(np.full(count, self.diffusion.mu), np.zeros(count, dtype=bool))
        # Lock-free readers check a row against ``scores.size``, so ``positions`` may grow first.
        self.ids = np.concatenate([self.ids, np.array(ids, dtype=object)])
        for user, row in zip(ids, added.tolist(), strict=True):
            self.positions[user] = row
        self.users = concat_users(self.users, users)
        self.consent = np.concatenate([self.consent, np.zeros(count, dtype=bool)])
        self.quarantined = np.concatenate([self.quarantined, np.zeros(count, dtype=bool)])
        self.sub_values = np.vstack([self.sub_values, np.zeros((count, len(SUB_FACTORS)))])
        self.components = np.vstack([self.components, np.zeros((count, len(COMPONENT_NAMES)))])
        self.written = np.vstack([self.written, np.full((count, len(COMPONENT_NAMES)), np.nan)])
        self.base = np.concatenate([self.base, np.full(count, self.diffusion.mu)])
        self.scores = np.concatenate([self.scores, np.full(count, SCORE_MIN, dtype=np.int64)])

    def hypothetical(self) -> EngineState:
        """A copy with its own scores, components, sub-values and base, for a what-if.

        Everything else (the diffusion state included) is shared: the what-if undoes its
        changes to the network itself.
        """
        return replace(
            self,
            components=self.components.copy(),
            scores=self.scores.copy(),
            sub_values=self.sub_values.copy(),
            base=self.base.copy(),
        )


# --------------------------------------------------------------------------- frames -> arrays


def user_arrays(frame: pd.DataFrame) -> UserArrays:
    """Users (the store's users frame schema) as :class:`UserArrays`, in frame order."""
    # Copies: Arrow-backed frames hand out read-only views, and upserts assign into these arrays.
    columns: dict[str, Any] = {
        level: np.array(frame[level].to_numpy(dtype=bool), copy=True) for level in IDENTITY_LEVELS
    }
    for name in UserArrays.AMOUNT_FIELDS:
        columns[name] = np.array(frame[name].to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    return UserArrays.build(created=np.array(frame["created"].to_numpy(dtype=np.int64), copy=True), **columns)


def _column(events: pd.DataFrame | Records, name: str, dtype: Any) -> npt.NDArray[Any]:
    """One column of a frame or of records as an array (missing values NaN in float columns)."""
    if isinstance(events, Records):
        values = events.column(name)
        if np.dtype(dtype).kind == "f":
            return np.array([np.nan if v is None else v for v in values], dtype=dtype)
        return np.array(values, dtype=dtype)
    if np.dtype(dtype).kind == "f":
        return events[name].to_numpy(dtype=dtype, na_value=np.nan)
    return events[name].to_numpy(dtype=dtype)


def repayment_arrays(events: pd.DataFrame | Records, rows: IntArray) -> RepaymentArrays:
    """Repayment events (a frame or records) as :class:`RepaymentArrays`; ``rows`` is each event's user row."""
    if len(events) == 0:
        return RepaymentArrays.empty()
    return RepaymentArrays.build(
        user=rows,
        due=_column(events, "due", np.int64),
        status=_column(events, "status", object).astype(str),
        amount=_column(events, "amount", np.float64),
        paid=_column(events, "paid", np.float64),
    )


def spending_arrays(events: pd.DataFrame | Records, rows: IntArray) -> SpendingArrays:
    """Spending and bill events (a frame or records) as :class:`SpendingArrays`; ``rows`` as above."""
    if len(events) == 0:
        return SpendingArrays.empty()
    is_bill = _column(events, "category", object) == "bill"
    on_time = _column(events, "on_time", np.float64)
    return SpendingArrays.build(
        user=rows,
        at=_column(events, "at", np.int64),
        amount=_column(events, "amount", np.float64),
        is_bill=is_bill,
        on_time=np.where(is_bill, on_time, np.nan),
    )


def take_users(users: UserArrays, rows: IntArray) -> UserArrays:
    """Some rows of ``users``, in ``rows`` order."""
    return UserArrays(**{name: getattr(users, name)[rows] for name in UserArrays.FIELDS})


def concat_users(first: UserArrays, second: UserArrays) -> UserArrays:
    """``first`` followed by ``second``."""
    return UserArrays(
        **{name: np.concatenate([getattr(first, name), getattr(second, name)]) for name in UserArrays.FIELDS}
    )


def assign_users(target: UserArrays, rows: IntArray, source: UserArrays) -> None:
    """Overwrite some rows of ``target`` with ``source`` in place (the arrays are shared)."""
    for name in UserArrays.FIELDS:
        getattr(target, name)[rows] = getattr(source, name)
