"""Bulk SQLite reads through ADBC, run in a child process.

ADBC's SQLite driver links its own copy of the SQLite library. Two copies in one
process break SQLite's POSIX locking (closing a file in one copy drops the locks the
other holds), which shows up as ``disk I/O error`` or stale reads on the store's own
connection. So the Arrow-native read runs in a short-lived child process that writes
each result as an Arrow IPC file; the parent maps the files back without copying rows.

Run as ``python -m credence.graph.adbc_export DB OUT_DIR SQL [SQL ...]``: writes
``OUT_DIR/0.arrow``, ``OUT_DIR/1.arrow``, ... one per query.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

from credence.core.errors import StoreError

__all__ = ["read_arrow"]


def read_arrow(path: str, queries: list[str]) -> list[pa.Table]:
    """Run read-only ``queries`` against the SQLite file ``path`` in a child process."""
    with tempfile.TemporaryDirectory(prefix="credence-export-") as folder:
        done = subprocess.run(
            [sys.executable, "-m", "credence.graph.adbc_export", path, folder, *queries],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StoreError(f"{path}: bulk read failed: {done.stderr.strip().splitlines()[-1:]}")
        tables = []
        for k in range(len(queries)):
            with pa.memory_map(str(Path(folder) / f"{k}.arrow")) as source:
                tables.append(pa.ipc.open_file(source).read_all())
        return tables


def _main(argv: list[str]) -> None:
    import adbc_driver_sqlite.dbapi as adbc

    path, folder, *queries = argv
    with adbc.connect(path) as conn, conn.cursor() as cursor:
        for k, sql in enumerate(queries):
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
            with (
                pa.OSFile(str(Path(folder) / f"{k}.arrow"), "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)


if __name__ == "__main__":
    _main(sys.argv[1:])
