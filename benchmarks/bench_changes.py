"""What one change costs the writer, in process: time and snapshot rows per kind (not a timed test).

Opens a scored SQLite store (``benchmarks/bench_writes.py`` leaves one), restores the
engine from its image when the image is current (else from the store), and applies
``--groups`` groups of 8 changes of each kind, each change in a savepoint of its own and
each group in one unit of work, as the server's writer does: repayments, spending,
link additions and consent flips of random users, after one uncounted change of each
kind (the first calls compile the numba kernels). Prints per kind the milliseconds per
change and the snapshot rows per change (from the store's snapshot sequence). The
changes stay in the store; run it on a copy.

    cp /data/bench-100k.db /tmp/c.db && cp -r /data/bench-100k.db.image /tmp/c.db.image
    .venv/bin/python benchmarks/bench_changes.py --db /tmp/c.db
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from credence.engine import ScoringEngine
from credence.graph.model import repayment_records, spending_records
from credence.graph.sqlite import SQLiteStore

DAY = 86_400
KINDS = ("repayment", "spending", "add_link", "consent")


def change(engine: ScoringEngine, kind: str, ids: list[str], rng: random.Random, key: str) -> Any:
    """Apply one change of ``kind`` to random users (ids made unique by ``key``)."""
    now = engine.computed_at
    assert now is not None
    a, b = rng.sample(ids, 2)
    if kind == "repayment":
        return engine.record_repayments(repayment_records([{"id": key, "user": a, "due": now - 5 * DAY,
                                                            "paid": now - 5 * DAY, "amount": 100.0,
                                                            "status": "on_time"}]))  # fmt: skip
    if kind == "spending":
        return engine.record_spending(spending_records([{"id": key, "user": a, "at": now - 5 * DAY, "amount": 50.0,
                                                         "category": "purchase"}]))  # fmt: skip
    if kind == "add_link":
        return engine.add_link(a, b, weight=1.0)
    return engine.set_consent(a, rng.random() < 0.5)


def main() -> None:
    """Restore the engine of ``--db`` and print the cost of each kind of change."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True, help="A scored SQLite store (changed by the run).")
    parser.add_argument("--groups", type=int, default=40, help="Groups of 8 changes per kind.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    store = SQLiteStore(args.db)
    engine = ScoringEngine(store, image=Path(f"{args.db}.image"))
    started = time.perf_counter()
    if engine.restore(from_image=True) is None:
        raise SystemExit(f"{args.db} holds no scores: run credence score first")
    ids = store.get_all_users()["id"].astype(str).tolist()
    print(f"restored {len(ids):,} users in {time.perf_counter() - started:.2f} s")
    rng = random.Random(args.seed)
    stamp = f"{time.time_ns()}"
    with engine.unit():  # warm-up, not counted: the first calls compile the numba kernels
        for kind in KINDS:
            with store.savepoint():
                change(engine, kind, ids, rng, f"bench-{stamp}-{kind}-warm-up")
    for kind in KINDS:
        seq, count = store.latest_snapshot_seq(), 0
        started = time.perf_counter()
        for group in range(args.groups):
            with engine.unit():
                for i in range(8):
                    with store.savepoint():
                        change(engine, kind, ids, rng, f"bench-{stamp}-{kind}-{group}-{i}")
                    count += 1
        seconds = time.perf_counter() - started
        rows = store.latest_snapshot_seq() - seq
        print(
            f"{kind:<10} {seconds / count * 1e3:7.2f} ms per change  {rows / count:7.1f} snapshot rows per change"
        )
    store.close()


if __name__ == "__main__":
    main()
