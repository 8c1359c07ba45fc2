"""Reading and checking a Parquet export (``credence export DIR --format parquet``) in Spark.

Every problem is found before anything is computed or written, and reported as one
:class:`~credence.core.errors.ValidationError` naming the file, the column and, where
there is one, the offending value: a missing table, a missing, unknown or wrongly typed
column, a null where a value is required, a duplicate user id, a status or category
outside the data model's, a link weight out of range, an event or link naming a user
the users table does not have.

The tables and columns are the data model's (``docs/data-model.md``,
:data:`credence.graph.model.USER_COLUMNS` and its siblings). A table is a Parquet file
``<name>.parquet`` or a folder of that name holding Parquet parts (as Spark writes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from credence.core.errors import InputError, ValidationError
from credence.graph.model import (
    LINK_COLUMNS,
    MAX_LINK_WEIGHT,
    MIN_LINK_WEIGHT,
    REPAYMENT_COLUMNS,
    REPAYMENT_STATUSES,
    SPENDING_CATEGORIES,
    SPENDING_COLUMNS,
    USER_COLUMNS,
)

__all__ = ["REQUIRED_TABLES", "ExportTables", "read_export"]

#: The tables the job needs; ``scores`` is read too when present (evaluation time, flags).
REQUIRED_TABLES: tuple[str, ...] = ("users", "links", "repayments", "spending")

_INTEGER = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_NUMBER = (*_INTEGER, T.FloatType, T.DoubleType)
_KINDS: dict[str, tuple[type[T.DataType], ...]] = {
    "string": (T.StringType,),
    "integer": _INTEGER,
    "number": _NUMBER,
    "boolean": (T.BooleanType,),
}
# Columns that may hold nulls; every other column of a table must not.
_NULLABLE = {
    "users": {"declared_income", "verified_income", "verified_assets"},
    "repayments": {"paid"},
    "spending": {"on_time"},
    "links": set(),
}
_ENTITY = {"users": "user", "links": "link", "repayments": "repayment", "spending": "spending"}


def _kind(dtype: Any) -> str:
    """The kind of a data-model column dtype: string, integer, number or boolean."""
    name = str(dtype).lower()
    if "string" in name or name == "object":
        return "string"
    if "bool" in name:
        return "boolean"
    if "int" in name:
        return "integer"
    return "number"


_SCHEMAS: dict[str, dict[str, str]] = {
    table: {column: _kind(dtype) for column, dtype in columns.items()}
    for table, columns in (
        ("users", USER_COLUMNS),
        ("links", LINK_COLUMNS),
        ("repayments", REPAYMENT_COLUMNS),
        ("spending", SPENDING_COLUMNS),
    )
}


@dataclass(frozen=True)
class ExportTables:
    """The checked tables of an export, as Spark DataFrames.

    Attributes
    ----------
    users, links, repayments, spending : DataFrame
        The data model's tables, columns as exported.
    quarantined : DataFrame
        One column ``id``: the users flagged at export time (from ``scores``; empty
        when the export has no scores table).
    recorded_now : int or None
        The evaluation time the export's scores were computed at (``scores.computed_at``),
        None without a scores table.
    sources : Mapping[str, str]
        The path each table was read from.
    """

    users: DataFrame
    links: DataFrame
    repayments: DataFrame
    spending: DataFrame
    quarantined: DataFrame
    recorded_now: int | None
    sources: Mapping[str, str]


def _locate(folder: Path, table: str) -> Path | None:
    path = folder / f"{table}.parquet"
    return path if path.exists() else None


def _read(spark: SparkSession, path: Path, entity: str) -> DataFrame:
    try:
        return spark.read.parquet(str(path))
    except AnalysisException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(
            f"cannot be read as Parquet: {first}", entity=entity, source=str(path)
        ) from None


def _check_schema(frame: DataFrame, table: str, source: str) -> None:
    entity = _ENTITY[table]
    expected = _SCHEMAS[table]
    present = {field.name: field.dataType for field in frame.schema.fields}
    for column in expected:
        if column not in present:
            raise ValidationError(
                f"missing required column {column!r}; expected {list(expected)}",
                entity=entity,
                column=column,
                source=source,
            )
    for column, dtype in present.items():
        if column not in expected:
            raise ValidationError(
                f"unknown column {column!r}; expected some of {list(expected)}",
                entity=entity,
                column=column,
                source=source,
            )
        kind = expected[column]
        if not isinstance(dtype, _KINDS[kind]):
            raise ValidationError(
                f"has type {dtype.simpleString()}; it must be {'a' if kind != 'integer' else 'an'} {kind}",
                entity=entity,
                column=column,
                source=source,
            )


def _first_bad(frame: DataFrame, bad: Column, column: str, problem: str, entity: str, source: str) -> None:
    """Raise for the first row where ``bad`` holds (one small Spark job)."""
    rows = frame.filter(bad).select(F.col(column).cast("string").alias("value")).limit(1).collect()
    if rows:
        raise ValidationError(problem, entity=entity, column=column, value=rows[0]["value"], source=source)


def _check_nulls(frame: DataFrame, table: str, source: str) -> None:
    required = [c for c in _SCHEMAS[table] if c not in _NULLABLE[table]]
    counts = frame.agg(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in required]).first()
    for column in required:
        if counts is not None and (counts[column] or 0) > 0:
            raise ValidationError(
                f"{counts[column]} null value(s); a value is required",
                entity=_ENTITY[table],
                column=column,
                source=source,
            )


def _check_values(tables: Mapping[str, DataFrame], sources: Mapping[str, str]) -> None:
    users, links = tables["users"], tables["links"]
    repayments, spending = tables["repayments"], tables["spending"]
    duplicate = users.groupBy("id").count().filter(F.col("count") > 1)
    _first_bad(duplicate, F.lit(True), "id", "duplicate user id", "user", sources["users"])
    _first_bad(
        repayments,
        ~F.col("status").isin(*REPAYMENT_STATUSES),
        "status",
        f"must be one of {', '.join(REPAYMENT_STATUSES)}",
        "repayment",
        sources["repayments"],
    )
    _first_bad(
        spending,
        ~F.col("category").isin(*SPENDING_CATEGORIES),
        "category",
        f"must be one of {', '.join(SPENDING_CATEGORIES)}",
        "spending",
        sources["spending"],
    )
    _first_bad(
        spending,
        (F.col("category") == "bill") & F.col("on_time").isNull(),
        "on_time",
        "a bill needs on_time (true or false)",
        "spending",
        sources["spending"],
    )
    for name, frame in (("repayments", repayments), ("spending", spending)):
        _first_bad(
            frame,
            F.isnan("amount") | (F.col("amount") <= 0),
            "amount",
            "must be finite and > 0",
            _ENTITY[name],
            sources[name],
        )
    _first_bad(
        links,
        F.isnan("weight") | (F.col("weight") < MIN_LINK_WEIGHT) | (F.col("weight") > MAX_LINK_WEIGHT),
        "weight",
        f"must be in [{MIN_LINK_WEIGHT:g}, {MAX_LINK_WEIGHT:g}]",
        "link",
        sources["links"],
    )
    _first_bad(
        links, F.col("source") == F.col("target"), "target", "a user cannot link to themselves", "link",
        sources["links"],
    )  # fmt: skip
    pair = F.concat_ws("\u0000", F.least("source", "target"), F.greatest("source", "target"))
    duplicate_links = links.groupBy(pair.alias("pair")).count().filter(F.col("count") > 1)
    _first_bad(duplicate_links, F.lit(True), "pair", "duplicate link", "link", sources["links"])
    ids = users.select(F.col("id").alias("_known"))
    for name, frame, column in (
        ("links", links, "source"),
        ("links", links, "target"),
        ("repayments", repayments, "user"),
        ("spending", spending, "user"),
    ):
        unknown = frame.join(ids, frame[column] == ids["_known"], "left_anti")
        _first_bad(unknown, F.lit(True), column, "names a user the users table does not have", _ENTITY[name],
                   sources[name])  # fmt: skip


def _scores_extras(spark: SparkSession, folder: Path) -> tuple[DataFrame, int | None, str | None]:
    """The flagged users and the evaluation time recorded in ``scores`` (if the export has it)."""
    empty = spark.createDataFrame([], "id string")
    path = _locate(folder, "scores")
    if path is None:
        return empty, None, None
    source = str(path)
    frame = _read(spark, path, "score")
    present = {field.name: field.dataType for field in frame.schema.fields}
    for column, kind in (("user", "string"), ("computed_at", "integer"), ("quarantined", "boolean")):
        if column not in present:
            raise ValidationError(f"missing required column {column!r}", entity="score", column=column,
                                  source=source)  # fmt: skip
        if not isinstance(present[column], _KINDS[kind]):
            raise ValidationError(
                f"has type {present[column].simpleString()}; it must be {kind}",
                entity="score",
                column=column,
                source=source,
            )
    times = frame.agg(F.min("computed_at").alias("lo"), F.max("computed_at").alias("hi")).first()
    lo, hi = (None, None) if times is None else (times["lo"], times["hi"])
    if lo != hi:
        raise ValidationError(
            f"scores computed at different times ({lo} .. {hi}); one export has one evaluation time",
            entity="score",
            column="computed_at",
            source=source,
        )
    flagged = frame.filter(F.col("quarantined")).select(F.col("user").alias("id"))
    return flagged, None if hi is None else int(hi), source


def read_export(spark: SparkSession, folder: str | Path) -> ExportTables:
    """Read and check the Parquet export in ``folder``.

    Parameters
    ----------
    spark : SparkSession
        The session to read with.
    folder : str or Path
        What ``credence export FOLDER --format parquet`` wrote: ``users``, ``links``,
        ``repayments`` and ``spending`` (required) and ``scores`` (optional), each
        ``<name>.parquet``, a file or a folder of Parquet parts.

    Returns
    -------
    ExportTables

    Raises
    ------
    InputError
        When ``folder`` is not a folder.
    ValidationError
        On the first problem found (see the module docstring), naming file and column.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (expected a `credence export --format parquet` folder)")
    tables: dict[str, DataFrame] = {}
    sources: dict[str, str] = {}
    for table in REQUIRED_TABLES:
        path = _locate(root, table)
        if path is None:
            raise ValidationError(
                f"missing table: {table}.parquet not found (an export has {', '.join(REQUIRED_TABLES)})",
                entity=_ENTITY[table],
                source=str(root / f"{table}.parquet"),
            )
        sources[table] = str(path)
        tables[table] = _read(spark, path, _ENTITY[table])
        _check_schema(tables[table], table, sources[table])
    for table in REQUIRED_TABLES:
        _check_nulls(tables[table], table, sources[table])
    _check_values(tables, sources)
    quarantined, recorded_now, scores_source = _scores_extras(spark, root)
    if scores_source is not None:
        sources["scores"] = scores_source
    return ExportTables(
        users=tables["users"],
        links=tables["links"],
        repayments=tables["repayments"],
        spending=tables["spending"],
        quarantined=quarantined,
        recorded_now=recorded_now,
        sources=sources,
    )
