"""Store benchmark: generate, load into SQLite and Neo4j, export both back to CSR.

Each phase runs in its own process so that its peak RSS is its own. Neo4j is loaded
twice, each time into an empty database of a fresh launcher server: by the
transactional Cypher load (``neo4j_load``) and by the offline bulk import through the
launcher (``neo4j_import``, :meth:`~credence.graph.neo4j_store.Neo4jStore.load_offline`:
its seconds include the CSV files, the server's stop and restart, the import tool, the
schema and the count checks). Every exported CSR is compared with SQLite's (they must
be identical). Usage::

    .venv/bin/python benchmarks/bench_store.py --users 1000000          # full run
    .venv/bin/python benchmarks/bench_store.py --users 100000 --skip-neo4j
    .venv/bin/python benchmarks/bench_store.py --users 1000000 --skip-neo4j-cypher  # import only

Targets from the foundation issue (2-core machine): SQLite load <= 60 s, CSR export
from SQLite <= 10 s, Neo4j load <= 5 min, export from Neo4j <= 60 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {
    "sqlite_load": 60.0,
    "sqlite_export": 10.0,
    "neo4j_load": 300.0,
    "neo4j_export": 60.0,
    "neo4j_import": 300.0,
    "neo4j_import_export": 60.0,
}
KINDS = ("users", "links", "repayments", "spending")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _digest(exported: Any) -> str:
    adj = exported.adjacency
    h = hashlib.sha256()
    for array in (adj.indptr.astype("int64"), adj.indices.astype("int64"), adj.data.astype("float64")):
        h.update(array.tobytes())
    h.update("\n".join(exported.ids.tolist()).encode())
    return h.hexdigest()[:16]


def _read_frames(work: Path) -> dict[str, Any]:
    import pandas as pd

    return {kind: pd.read_parquet(work / f"{kind}.parquet") for kind in KINDS}


def phase_generate(work: Path, users: int, seed: int) -> dict[str, Any]:
    """Draw a population and write its four frames to ``work`` as Parquet; seconds, peak RSS, row counts."""
    from credence.seeds.synthetic import generate_population

    started = time.perf_counter()
    population = generate_population(n_users=users, seed=seed)
    seconds = time.perf_counter() - started
    for kind in KINDS:
        getattr(population, kind).to_parquet(work / f"{kind}.parquet", index=False)
    return {
        "seconds": seconds,
        "peak_rss_mib": _peak_rss_mib(),
        **{kind: len(getattr(population, kind)) for kind in KINDS},
    }


def _validate(work: Path) -> tuple[Any, float]:
    from credence.graph.model import parse_dataset

    frames = _read_frames(work)
    started = time.perf_counter()
    dataset = parse_dataset(**frames)
    return dataset, time.perf_counter() - started


def phase_sqlite_load(work: Path) -> dict[str, Any]:
    """Validate the frames in ``work`` and load them into a fresh ``bench.db``.

    Returns the validation and load seconds (timed apart), the peak RSS and the size
    of the database file.
    """
    from credence.graph.sqlite import SQLiteStore

    dataset, validate_s = _validate(work)
    path = work / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with SQLiteStore(path) as store:
        started = time.perf_counter()
        store.load(dataset)
        seconds = time.perf_counter() - started
    return {
        "validate_seconds": validate_s,
        "seconds": seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "db_mib": path.stat().st_size / 2**20,
    }


def phase_sqlite_export(work: Path) -> dict[str, Any]:
    """Export ``bench.db`` to CSR; the seconds, peak RSS, links and a digest to compare with Neo4j's."""
    from credence.graph.sqlite import SQLiteStore

    with SQLiteStore(work / "bench.db") as store:
        started = time.perf_counter()
        exported = store.export_graph()
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "digest": _digest(exported),
        "links": exported.n_links,
    }


def phase_neo4j_load(work: Path, uri: str) -> dict[str, Any]:
    """Validate the frames in ``work``, load them into the emptied Neo4j at ``uri``; seconds, peak RSS."""
    from credence.graph.neo4j_store import Neo4jStore

    dataset, validate_s = _validate(work)
    with Neo4jStore(uri) as store:
        store.clear()
        started = time.perf_counter()
        store.load(dataset)
        seconds = time.perf_counter() - started
    return {"validate_seconds": validate_s, "seconds": seconds, "peak_rss_mib": _peak_rss_mib()}


def phase_neo4j_import(work: Path, state: Path, heap: str, off_heap: str) -> dict[str, Any]:
    """Validate the frames in ``work``, bulk-import them into the empty Neo4j that ``state`` names.

    The server restarts during the import; its new pid is written back to ``state``.
    Returns the validation and import seconds, each step's seconds and the peak RSS.
    """
    from credence.graph.neo4j_server import load_state, save_state
    from credence.graph.neo4j_store import Neo4jStore

    dataset, validate_s = _validate(work)
    server = load_state(state)
    assert server is not None
    with Neo4jStore(server.bolt_uri) as store:
        started = time.perf_counter()
        done = store.load_offline(
            dataset,
            server,
            on_restart=lambda proc: save_state(proc, state),
            import_heap=heap,
            import_off_heap=off_heap,
            workdir=work,
        )
        seconds = time.perf_counter() - started
    return {
        "validate_seconds": validate_s,
        "seconds": seconds,
        "steps": done.phases,
        "peak_rss_mib": _peak_rss_mib(),
        "import_tool_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def phase_neo4j_export(work: Path, uri: str) -> dict[str, Any]:
    """Export the Neo4j graph at ``uri`` to CSR; the seconds, peak RSS, links and the CSR's digest."""
    from credence.graph.neo4j_store import Neo4jStore

    with Neo4jStore(uri) as store:
        started = time.perf_counter()
        exported = store.export_graph()
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": _peak_rss_mib(),
        "digest": _digest(exported),
        "links": exported.n_links,
    }


def _run_phase(name: str, work: Path, *extra: str) -> dict[str, Any]:
    out = work / f"{name}.json"
    command = [sys.executable, __file__, "--phase", name, "--work", str(work), "--out", str(out), *extra]
    print(f"-- {name} ...", flush=True)
    subprocess.run(command, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    print(f"   {json.dumps(result)}", flush=True)
    return result


def _java_peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    """Run every phase in a child process of its own and print the table against the targets.

    With ``--phase`` (how the children are started) run that one phase and write its
    result as JSON to ``--out``. Exits with an error if the two stores exported
    different graphs.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-neo4j", action="store_true")
    parser.add_argument("--neo4j-heap", default="8g")
    parser.add_argument("--neo4j-page-cache", default="4g")
    parser.add_argument(
        "--skip-neo4j-cypher", action="store_true", help="Neo4j: only the offline import, not the Cypher load"
    )
    parser.add_argument("--neo4j-import-heap", default="2g", help="the import tool's JVM heap")
    parser.add_argument("--neo4j-import-off-heap", default="4g", help="the import tool's off-heap budget")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        work: Path = args.work
        phases = {
            "generate": lambda: phase_generate(work, args.users, args.seed),
            "sqlite_load": lambda: phase_sqlite_load(work),
            "sqlite_export": lambda: phase_sqlite_export(work),
            "neo4j_load": lambda: phase_neo4j_load(work, args.uri),
            "neo4j_export": lambda: phase_neo4j_export(work, args.uri),
            "neo4j_import": lambda: phase_neo4j_import(
                work, args.state, args.neo4j_import_heap, args.neo4j_import_off_heap
            ),
            "neo4j_import_export": lambda: phase_neo4j_export(work, args.uri),
        }
        args.out.write_text(json.dumps(phases[args.phase]()))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="credence-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"credence store benchmark: {args.users:,} users, work dir {work}, {os.cpu_count()} cores")
    results: dict[str, dict[str, Any]] = {}
    results["generate"] = _run_phase("generate", work, "--users", str(args.users), "--seed", str(args.seed))
    results["sqlite_load"] = _run_phase("sqlite_load", work)
    results["sqlite_export"] = _run_phase("sqlite_export", work)
    if not args.skip_neo4j:
        from credence.graph.neo4j_server import load_state, save_state, start_neo4j, stop_neo4j

        if not args.skip_neo4j_cypher:
            started = time.perf_counter()
            proc = start_neo4j(home=work / "neo4j", heap=args.neo4j_heap, page_cache=args.neo4j_page_cache)
            print(f"-- neo4j started in {time.perf_counter() - started:.1f} s at {proc.bolt_uri}")
            try:
                results["neo4j_load"] = _run_phase("neo4j_load", work, "--uri", proc.bolt_uri)
                results["neo4j_export"] = _run_phase("neo4j_export", work, "--uri", proc.bolt_uri)
                results["neo4j_load"]["server_peak_rss_mib"] = _java_peak_rss_mib(proc.pid)
            finally:
                stop_neo4j(proc)
        # The offline import into the empty database of a second, fresh server.
        started = time.perf_counter()
        proc = start_neo4j(home=work / "neo4j-import", heap=args.neo4j_heap, page_cache=args.neo4j_page_cache)
        print(f"-- neo4j (for the offline import) started in {time.perf_counter() - started:.1f} s")
        state = work / "neo4j-import.json"
        save_state(proc, state)
        try:
            results["neo4j_import"] = _run_phase(
                "neo4j_import",
                work,
                "--state",
                str(state),
                "--neo4j-import-heap",
                args.neo4j_import_heap,
                "--neo4j-import-off-heap",
                args.neo4j_import_off_heap,
            )
            proc = load_state(state) or proc  # restarted by the import: a new pid
            results["neo4j_import_export"] = _run_phase("neo4j_import_export", work, "--uri", proc.bolt_uri)
        finally:
            stop_neo4j(load_state(state) or proc)
        for name in ("neo4j_export", "neo4j_import_export"):
            if name in results:
                same = results[name]["digest"] == results["sqlite_export"]["digest"]
                print(f"-- CSR from Neo4j ({name}) identical to CSR from SQLite: {same}")
                if not same:
                    sys.exit("the stores exported different graphs")

    gen = results["generate"]
    print(
        f"\n{gen['users']:,} users, {gen['links']:,} links, {gen['repayments']:,} repayments, "
        f"{gen['spending']:,} spending events"
    )
    print(f"{'phase':<20}{'seconds':>10}{'target':>10}{'ratio':>8}{'peak RSS MiB':>14}")
    for name, result in results.items():
        target = TARGETS.get(name)
        ratio = f"{result['seconds'] / target:.2f}" if target else ""
        shown_target = f"{target:.0f}" if target else ""
        print(
            f"{name:<20}{result['seconds']:>10.1f}{shown_target:>10}{ratio:>8}{result['peak_rss_mib']:>14.0f}"
        )
    for name in ("sqlite_load", "neo4j_load", "neo4j_import"):
        if name in results:
            print(f"{name}: validation before the load took {results[name]['validate_seconds']:.1f} s")
    if "neo4j_import" in results:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in results["neo4j_import"]["steps"].items())
        print(f"neo4j_import steps: {steps}")
        print(f"neo4j import tool peak RSS: {results['neo4j_import']['import_tool_peak_rss_mib']:.0f} MiB")
    if "neo4j_load" in results and results["neo4j_load"].get("server_peak_rss_mib"):
        print(f"neo4j server peak RSS: {results['neo4j_load']['server_peak_rss_mib']:.0f} MiB")
    (work / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
