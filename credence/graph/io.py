"""Files in and out: thin ``read_*``/``write_*`` wrappers around the ``parse_*`` functions.

A dataset on disk is a folder with ``users.csv``, ``links.csv``,
``repayments.csv``, ``spending.csv`` and ``distrust.csv`` (any may be absent), columns as in
``docs/data-model.md``. Reading uses Arrow's multi-threaded CSV reader with every
column as text, so that :mod:`credence.graph.model` alone decides what is valid and
names the file and row of the first problem.

Examples
--------
>>> import tempfile, pandas as pd
>>> from credence.graph.model import parse_dataset
>>> folder = tempfile.mkdtemp()
>>> ds = parse_dataset(users=pd.DataFrame({"id": ["a", "b"], "created": [0, 86400]}),
...                    links=pd.DataFrame({"source": ["a"], "target": ["b"], "created": [86400]}),
...                    distrust=pd.DataFrame({"rater": ["b"], "rated": ["a"], "weight": [4],
...                                           "created": [86400]}))
>>> sorted(p.name for p in write_dataset(ds, folder))
['distrust.csv', 'links.csv', 'users.csv']
>>> from pathlib import Path
>>> print(Path(folder, "links.csv").read_text().strip())
"source","target","weight","created"
"a","b",1,1970-01-02 00:00:00Z
>>> read_dataset(folder).counts()
{'users': 2, 'links': 1, 'repayments': 0, 'spending': 0, 'distrust': 1}
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from credence.core.errors import InputError
from credence.graph.model import (
    DISTRUST_COLUMNS,
    LINK_COLUMNS,
    REPAYMENT_COLUMNS,
    SPENDING_COLUMNS,
    USER_COLUMNS,
    Dataset,
    parse_dataset,
)

__all__ = [
    "KIND_COLUMNS",
    "TIME_COLUMNS",
    "read_dataset",
    "read_parquet_table",
    "read_table",
    "write_dataset",
    "write_table",
]

#: Dataset kinds, in load order, with their frame schemas.
KIND_COLUMNS: dict[str, dict[str, Any]] = {
    "users": USER_COLUMNS,
    "links": LINK_COLUMNS,
    "repayments": REPAYMENT_COLUMNS,
    "spending": SPENDING_COLUMNS,
    "distrust": DISTRUST_COLUMNS,
}
#: Columns holding epoch seconds, written as ISO 8601 in files.
TIME_COLUMNS = frozenset({"created", "due", "paid", "at", "computed_at", "flagged_at"})


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with every column as text (empty fields become missing).

    Raises
    ------
    InputError
        If the file is missing, empty, or not parseable as CSV.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if not header:
        raise InputError(f"{path}: empty file, expected a header line")
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from exc
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)


def read_parquet_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet file (column types as stored; :mod:`credence.graph.model` validates them).

    Raises
    ------
    InputError
        If the file is missing or not Parquet.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read Parquet: {exc}") from exc
    return table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get
    )


def read_dataset(folder: str | Path, *, now: int | None = None) -> Dataset:
    """Read and validate a dataset folder.

    Parameters
    ----------
    folder : str or Path
        Holds some of ``users.csv``, ``links.csv``, ``repayments.csv``, ``spending.csv``,
        ``distrust.csv`` (or the same names in ``.parquet``, e.g. from ``credence export``; CSV wins if both).
    now : int, optional
        The current time (epoch seconds) for "not in the future" checks.

    Raises
    ------
    InputError
        If the folder holds none of the files.
    ValidationError
        Naming the file, row, column and value of the first invalid field.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    frames: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for kind in KIND_COLUMNS:
        path, parquet = folder / f"{kind}.csv", folder / f"{kind}.parquet"
        if path.exists():
            frames[kind] = read_table(path)
            sources[kind] = str(path)
        elif parquet.exists():
            frames[kind] = read_parquet_table(parquet)
            sources[kind] = str(parquet)
    if not frames:
        raise InputError(
            f"{folder}: no dataset files; expected some of "
            + ", ".join(f"{k}.csv (or .parquet)" for k in KIND_COLUMNS)
        )
    return parse_dataset(**frames, sources=sources, now=now)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if name in TIME_COLUMNS:
            seconds = series.to_numpy(dtype=np.float64, na_value=np.nan)
            present = ~np.isnan(seconds)
            array = pa.array(np.where(present, seconds, 0).astype(np.int64), mask=~present, type=pa.int64())
            columns[name] = array.cast(pa.timestamp("s", tz="UTC"))
        else:
            columns[name] = pa.Array.from_pandas(series)
    return pa.table(columns)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV (times as RFC 3339 / ISO 8601 UTC like ``2024-01-02 00:00:00Z``, missing values as empty fields)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _to_arrow(frame)
    options = pacsv.WriteOptions(quoting_style="needed")
    pacsv.write_csv(table, path, write_options=options)
    return path


def write_dataset(dataset: Dataset, folder: str | Path) -> list[Path]:
    """Write the non-empty kinds of a dataset as CSV files; returns the paths."""
    folder = Path(folder)
    written = []
    for kind in KIND_COLUMNS:
        frame = getattr(dataset, kind)
        if len(frame):
            written.append(write_table(frame, folder / f"{kind}.csv"))
    return written
