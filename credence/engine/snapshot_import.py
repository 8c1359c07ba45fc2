"""Import scores computed elsewhere (``credence spark score``) into a store as a score snapshot.

``credence import-scores DIR`` (:func:`import_scores`) takes the Parquet folder the
Spark job wrote -- one row per user: ``id``, ``score``, the five components,
``model_version``, ``computed_at``, ``prior`` and the job's other columns -- and
appends it to a store exactly as the engine's own full recompute with ``write=True``
does: one snapshot per user with the policy's weights recorded under its version, and
the evaluation state (time, prior, version) in the same transaction. After the import
:meth:`ScoringEngine.restore <credence.engine.ScoringEngine.restore>` (what a serving
restart does) serves these scores, and ``credence why`` reads them as the latest snapshot.

Everything is checked before the store is touched, and a problem is one
:class:`~credence.core.errors.ValidationError` naming the Parquet file, the 1-based row
within it and the column: a file that is not Parquet, a missing or wrongly typed
column, an unknown column, a null, a score outside 350-950, a component outside
[0, 1], a duplicate id, more than one model version, evaluation time or prior, a model
version other than the policy's, a score that does not follow from its components
under the policy's weights, a user the store does not hold
(:class:`~credence.core.errors.UnknownReferenceError`). A full recompute of the same
model at the same evaluation time already recorded in the store (the newest evaluation
state: this import done before, or ``credence score`` at that time) is a
:class:`~credence.core.errors.ConflictError`; snapshots that incremental updates wrote
at that time are not. Nothing is written in any of these cases.

Only pyarrow and pandas are needed: the import runs where the store is, without Spark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credence.core.errors import ConflictError, InputError, UnknownReferenceError, ValidationError
from credence.engine.model import ScoringModel
from credence.graph.model import COMPONENTS, parse_scores, score_records
from credence.graph.store import GraphStore
from credence.scoring.policy import Policy

__all__ = [
    "SCORE_OUTPUT_COLUMNS",
    "ImportConfig",
    "ImportReport",
    "ScoreSnapshot",
    "import_scores",
    "read_score_snapshot",
]

#: The columns ``credence spark score`` writes, in order (the Spark job's output schema).
SCORE_OUTPUT_COLUMNS: tuple[str, ...] = (
    "id", "score", "band", *COMPONENTS, "network", "degree", "participating", "base", "model_version",
    "computed_at", "prior",
)  # fmt: skip

_STRING = "string"
_INTEGER = "integer"
_NUMBER = "number"
_BOOLEAN = "boolean"
#: Column -> kind; the columns an import needs. The other output columns are checked for type only.
_REQUIRED: dict[str, str] = {
    "id": _STRING,
    "score": _INTEGER,
    **{name: _NUMBER for name in COMPONENTS},
    "model_version": _STRING,
    "computed_at": _INTEGER,
    "prior": _NUMBER,
}
_OPTIONAL: dict[str, str] = {
    "band": _STRING,
    "network": _NUMBER,
    "degree": _NUMBER,
    "participating": _BOOLEAN,
    "base": _NUMBER,
}


def _kind_of(dtype: pa.DataType) -> str | None:
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return _STRING
    if pa.types.is_integer(dtype):
        return _INTEGER
    if pa.types.is_floating(dtype):
        return _NUMBER
    if pa.types.is_boolean(dtype):
        return _BOOLEAN
    return None


@dataclass(frozen=True, kw_only=True)
class ImportConfig:
    """How to import a score snapshot.

    Attributes
    ----------
    policy : Policy
        The model the scores were computed with: every row's ``model_version`` must be
        its version, every score must follow from its components under its weights, and
        its weights are recorded under that version.

    Examples
    --------
    >>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
    >>> ImportConfig(policy=read_policy(DEFAULT_POLICY_PATH)).policy.version
    'credence-2026.11-1'
    >>> ImportConfig(policy="default.toml")
    Traceback (most recent call last):
    ...
    TypeError: ImportConfig.policy must be a Policy, not str
    """

    policy: Policy

    def __post_init__(self) -> None:
        if not isinstance(self.policy, Policy):
            raise TypeError(f"ImportConfig.policy must be a Policy, not {type(self.policy).__name__}")


@dataclass(frozen=True)
class ScoreSnapshot:
    """A checked score snapshot read from Parquet (not yet checked against a store).

    Attributes
    ----------
    users : ndarray of object
        The user ids, in file order (parts sorted by name).
    scores : ndarray of int64
        Their scores.
    components : ndarray of float64, shape (m, 5)
        Their components, ``COMPONENTS`` order.
    model_version : str
        The one model version.
    computed_at : int
        The one evaluation time, epoch seconds.
    prior : float
        The one neutral prior.
    files : tuple of str
        The Parquet files read, in order.
    rows : ndarray of int64
        For each user, the 1-based row within its file.
    file_of : ndarray of int64
        For each user, the index of its file in ``files``.
    """

    users: np.ndarray
    scores: np.ndarray
    components: np.ndarray
    model_version: str
    computed_at: int
    prior: float
    files: tuple[str, ...]
    rows: np.ndarray
    file_of: np.ndarray

    def where(self, position: int) -> tuple[str, int]:
        """The file and 1-based row of the ``position``-th user."""
        return self.files[int(self.file_of[position])], int(self.rows[position])


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote.

    Attributes
    ----------
    written : int
        Snapshots appended (one per user of the import).
    model_version : str
        Their model.
    computed_at : int
        Their evaluation time.
    prior : float
        The prior recorded with them.
    not_covered : int
        Users the store holds that the import has no score for (they keep their older
        snapshots, if any).
    files : tuple of str
        The Parquet files read.
    seconds : float
        Wall time of the whole import.
    """

    written: int
    model_version: str
    computed_at: int
    prior: float
    not_covered: int
    files: tuple[str, ...]
    seconds: float


def _parts(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise InputError(f"{folder}: no such file or folder (expected a `credence spark score` output)")
    parts = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix == ".parquet" and not p.name.startswith((".", "_"))
    )
    if not parts:
        raise InputError(f"{folder}: holds no .parquet files (expected a `credence spark score` output)")
    return parts


def _read_part(path: Path) -> pa.Table:
    source = str(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"cannot be read as Parquet: {first}", entity="score", source=source) from None
    known = {**_REQUIRED, **_OPTIONAL}
    present = {field.name: field.type for field in table.schema}
    for column in _REQUIRED:
        if column not in present:
            raise ValidationError(
                f"missing required column {column!r}; a `credence spark score` output has {list(SCORE_OUTPUT_COLUMNS)}",
                entity="score",
                column=column,
                source=source,
            )
    for column, dtype in present.items():
        if column not in known:
            raise ValidationError(
                f"unknown column {column!r}; expected some of {list(SCORE_OUTPUT_COLUMNS)}",
                entity="score",
                column=column,
                source=source,
            )
        if _kind_of(dtype) != known[column]:
            raise ValidationError(
                f"has type {dtype}; it must be {'an' if known[column] == _INTEGER else 'a'} {known[column]}",
                entity="score",
                column=column,
                source=source,
            )
    return table


def _one_value(
    values: np.ndarray, column: str, files: list[str], file_of: np.ndarray, rows: np.ndarray, what: str
) -> None:
    """Raise at the first row whose value differs from the first row's."""
    if values.size == 0:
        return
    differs = values != values[0]
    if differs.any():
        at = int(np.argmax(differs))
        value = values[at].item() if isinstance(values[at], np.generic) else values[at]
        raise ValidationError(
            f"differs from the first row's {values[0]!r}; one snapshot has one {what}",
            entity="score",
            row=int(rows[at]),
            column=column,
            value=value,
            source=files[int(file_of[at])],
        )


def read_score_snapshot(path: str | Path, config: ImportConfig) -> ScoreSnapshot:
    """Read and check a ``credence spark score`` output (no store involved).

    Parameters
    ----------
    path : str or Path
        The output folder (Spark's part files; ``_SUCCESS`` and hidden files are
        ignored) or a single Parquet file.
    config : ImportConfig
        The policy the scores must follow.

    Returns
    -------
    ScoreSnapshot

    Raises
    ------
    InputError
        No such folder, or no Parquet files in it.
    ValidationError
        The first problem (see the module docstring), naming file, row and column.
    """
    policy = config.policy
    model = ScoringModel.from_policy(policy)
    files: list[str] = []
    frames: list[pd.DataFrame] = []
    file_of: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    priors: list[np.ndarray] = []
    for k, part in enumerate(_parts(Path(path))):
        table = _read_part(part)
        source = str(part)
        raw = table.select(list(_REQUIRED)).to_pandas()
        # the snapshot checks of the data model (nulls, score range and integrality, component range)
        frame = parse_scores(
            raw.rename(columns={"id": "user"})[
                ["user", "model_version", "computed_at", "score", *COMPONENTS]
            ],
            source=source,
        )
        prior = raw["prior"].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(prior) | (prior < 0.0) | (prior > 1.0)
        if bad.any():
            at = int(np.argmax(bad))
            raise ValidationError("must be a number in [0, 1]", entity="score", row=at + 1, column="prior",
                                  value=float(prior[at]), source=source)  # fmt: skip
        files.append(source)
        frames.append(frame)
        file_of.append(np.full(len(frame), k, dtype=np.int64))
        rows.append(np.arange(1, len(frame) + 1, dtype=np.int64))
        priors.append(prior)
    frame = pd.concat(frames, ignore_index=True)
    where_file = np.concatenate(file_of)
    where_row = np.concatenate(rows)
    prior_all = np.concatenate(priors)
    if len(frame) == 0:
        raise ValidationError("no rows: an import needs at least one score", entity="score", source=files[0])
    users = frame["user"].to_numpy(dtype=object)
    duplicated = pd.Series(users).duplicated().to_numpy()
    if duplicated.any():
        at = int(np.argmax(duplicated))
        raise ValidationError("duplicate user id", entity="score", row=int(where_row[at]), column="id",
                              value=str(users[at]), source=files[int(where_file[at])])  # fmt: skip
    versions = frame["model_version"].astype(str).to_numpy(dtype=object)
    _one_value(versions, "model_version", files, where_file, where_row, "model version")
    if versions[0] != policy.version:
        raise ValidationError(
            f"the scores are of model {versions[0]!r}, the policy is {policy.version!r}; "
            "pass the policy they were computed with (--policy)",
            entity="score",
            row=int(where_row[0]),
            column="model_version",
            value=str(versions[0]),
            source=files[int(where_file[0])],
        )
    times = frame["computed_at"].to_numpy(dtype=np.int64)
    _one_value(times, "computed_at", files, where_file, where_row, "evaluation time")
    _one_value(prior_all, "prior", files, where_file, where_row, "prior")
    components = frame[list(COMPONENTS)].to_numpy(dtype=np.float64)
    scores = frame["score"].to_numpy(dtype=np.int64)
    expected = model.scores(components)
    wrong = expected != scores
    if wrong.any():
        at = int(np.argmax(wrong))
        raise ValidationError(
            f"does not follow from the components under {policy.version!r}'s weights "
            f"(they give {int(expected[at])})",
            entity="score",
            row=int(where_row[at]),
            column="score",
            value=int(scores[at]),
            source=files[int(where_file[at])],
        )
    return ScoreSnapshot(
        users=users,
        scores=scores,
        components=components,
        model_version=str(versions[0]),
        computed_at=int(times[0]),
        prior=float(prior_all[0]),
        files=tuple(files),
        rows=where_row,
        file_of=where_file,
    )


def import_scores(store: GraphStore, path: str | Path, config: ImportConfig) -> ImportReport:
    """Append a ``credence spark score`` output to ``store`` as one score snapshot, all or nothing.

    The rows are checked (:func:`read_score_snapshot`), then every id against the store;
    then, in one transaction, the snapshots are written with the policy's weights
    recorded under its version and the evaluation state (time, prior, version) is
    recorded, as the engine's full recompute writes them.

    Parameters
    ----------
    store : GraphStore
        Any store (SQLite, Neo4j).
    path : str or Path
        The Spark output folder, or one Parquet file.
    config : ImportConfig
        The policy the scores were computed with.

    Returns
    -------
    ImportReport

    Raises
    ------
    InputError
        No such folder or no Parquet files.
    ValidationError
        A bad row (file, row and column named).
    UnknownReferenceError
        An id the store does not hold (file, row named).
    ConflictError
        The store's newest evaluation state is a full recompute of this model at this
        evaluation time, or the model version is recorded there with other weights.

    Examples
    --------
    >>> import tempfile
    >>> from credence.graph.sqlite import SQLiteStore
    >>> from credence.scoring.policy import DEFAULT_POLICY_PATH, read_policy
    >>> policy = read_policy(DEFAULT_POLICY_PATH)
    >>> store = SQLiteStore(":memory:")
    >>> _ = store.upsert_users(pd.DataFrame({"id": ["ann"], "created": [0]}))
    >>> values = {name: [0.5] for name in COMPONENTS}
    >>> frame = pd.DataFrame({"id": ["ann"], "score": [650], **values,
    ...                       "model_version": [policy.version], "computed_at": [86_400], "prior": [0.5]})
    >>> folder = Path(tempfile.mkdtemp())
    >>> frame.to_parquet(folder / "part-0.parquet")
    >>> import_scores(store, folder, ImportConfig(policy=policy)).written
    1
    >>> store.latest_scores()["score"].tolist(), store.latest_recompute().prior
    ([650], 0.5)
    >>> store.close()
    """
    started = time.perf_counter()
    snapshot = read_score_snapshot(path, config)
    policy = config.policy
    known = np.asarray(store.has_users(snapshot.users), dtype=bool)
    if not known.all():
        at = int(np.argmin(known))
        source, row = snapshot.where(at)
        raise UnknownReferenceError(
            "no such user in the store", entity="score", row=row, column="id", value=str(snapshot.users[at]),
            source=source,
        )  # fmt: skip
    recorded = store.latest_recompute()
    if recorded is not None and (recorded.computed_at, recorded.model_version) == (
        snapshot.computed_at,
        snapshot.model_version,
    ):
        raise ConflictError(
            f"the store already holds a full recompute of {snapshot.model_version!r} evaluated at "
            f"{snapshot.computed_at} (imported, or by `credence score`); this import would repeat it"
        )
    records = score_records(
        snapshot.users.tolist(),
        snapshot.model_version,
        snapshot.computed_at,
        snapshot.scores,
        snapshot.components,
        source=snapshot.files[0],
    )
    with store.transaction():
        written = store.write_score_records(records, model_weights=policy.weights)
        store.record_recompute(snapshot.computed_at, snapshot.prior, snapshot.model_version)
    n_users = store.stats().users
    return ImportReport(
        written=int(written),
        model_version=snapshot.model_version,
        computed_at=snapshot.computed_at,
        prior=snapshot.prior,
        not_covered=max(int(n_users) - int(written), 0),
        files=snapshot.files,
        seconds=time.perf_counter() - started,
    )
