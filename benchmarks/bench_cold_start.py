"""Cold start of ``credence serve``: seconds to the first answered query, and memory per process.

Starts ``credence serve`` on a scored SQLite store, once restoring from the store
(``--no-image``: read everything, solve the diffusion again) and once from the engine's
image (:mod:`credence.engine.image`, memory-mapped), with 1 and with N workers, in the
same run. The clock runs from the process start to the first GraphQL ``user`` answer
whose score equals the stored one; then, once every worker is idle, each process's
resident memory is read from ``/proc/PID/smaps_rollup``: RSS, PSS (shared pages split
between the processes mapping them) and USS (private pages: what one more worker adds).
Usage::

    .venv/bin/python benchmarks/bench_cold_start.py --db /tmp/cold/s1m.db --workers 1,2 --runs 3

The store must have been scored (``credence score --db FILE`` also writes the image);
a missing or stale image is written by the first image run's own start.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from serving import CLI, Server, issue_key, process_tree, wait_quiet  # noqa: E402

QUERY = "query($id: String!) { user(id: $id) { score } }"


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS, USS and peak RSS of one process in MiB (Linux smaps_rollup and status)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    peak = next(
        line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmHWM:")
    )
    return {"rss": fields["Rss"], "pss": fields["Pss"],
            "uss": fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0),
            "peak": int(peak.split()[1]) / 1024}  # fmt: skip


def first_user(db: Path) -> tuple[str, int]:
    """A user and their stored latest score, read straight from the file."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        uid, user = conn.execute("SELECT uid, id FROM users ORDER BY uid LIMIT 1").fetchone()
        (score,) = conn.execute(
            "SELECT score FROM scores WHERE uid = ? ORDER BY sid DESC LIMIT 1", (uid,)
        ).fetchone()
    return str(user), int(score)


def one_start(db: Path, keys: Path, key: str, *, workers: int, image: bool, env: dict[str, str],
              log: Path) -> dict[str, Any]:  # fmt: skip
    """Start a server, time its first right answer, read its memory when quiet, stop it."""
    user, score = first_user(db)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    args = [*CLI, "serve", "--db", str(db), "--keys", str(keys), "--port", str(port), "--no-graphiql",
            "--workers", str(workers), *([] if image else ["--no-image"])]  # fmt: skip
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"credence serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                reply = httpx.post(url, json={"query": QUERY, "variables": {"id": user}},
                                   headers={"Authorization": f"Bearer {key}"}, timeout=5)  # fmt: skip
                if reply.status_code == 200 and reply.json()["data"]["user"]["score"] == score:
                    break
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                pass
            if time.perf_counter() - started > 900:
                raise SystemExit(f"no answer after 900 s; log {log}")
            time.sleep(0.05)
        first = time.perf_counter() - started

        wait_quiet(Server(proc, f"http://127.0.0.1:{port}", log), 600)  # every worker loaded
        usage = {}
        for pid in process_tree(proc.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "credence" in cmdline or "multiprocessing" in cmdline:
                usage[pid] = memory(pid)
        return {"first_answer_s": first, "memory": usage}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    """Run every configuration, print each start and the medians."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True, help="A scored SQLite store.")
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts.")
    parser.add_argument("--runs", type=int, default=3, help="Starts per configuration (median reported).")
    parser.add_argument(
        "--skip-store", action="store_true", help="Only the image starts (no --no-image runs)."
    )
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    work = Path(tempfile.mkdtemp(prefix="cold-start-"))
    keys = work / "keys.toml"
    key = issue_key(keys, env)
    counts = [int(w) for w in args.workers.split(",")]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    modes = ["image"] if args.skip_store else ["store", "image"]
    for workers in counts:
        for mode in modes:
            for run in range(args.runs):
                result = one_start(args.db, keys, key, workers=workers, image=mode == "image", env=env,
                                   log=work / f"serve-{mode}-{workers}-{run}.log")  # fmt: skip
                results.setdefault((mode, workers), []).append(result)
                mem = result["memory"]
                print(f"{mode:>5} workers={workers} run {run + 1}: first answer {result['first_answer_s']:.2f} s; "
                      + "; ".join(f"pid {p}: rss {m['rss']:.0f} pss {m['pss']:.0f} uss {m['uss']:.0f} peak {m['peak']:.0f} MiB"
                                  for p, m in mem.items()), flush=True)  # fmt: skip
    print()
    print(f"{'start':<8}{'workers':>8}{'first answer median (s)':>26}{'per worker USS median (MiB)':>30}"
          f"{'per worker PSS (MiB)':>22}{'per worker peak RSS (MiB)':>28}")  # fmt: skip
    medians: dict[tuple[str, int], float] = {}
    for (mode, workers), runs in results.items():
        medians[(mode, workers)] = statistics.median(r["first_answer_s"] for r in runs)
        # The workers are the processes beyond the parent (with 1 worker, the parent serves).
        per = [m for r in runs for m in (list(r["memory"].values())[1:] or list(r["memory"].values()))]
        print(
            f"{mode:<8}{workers:>8}{medians[(mode, workers)]:>26.2f}"
            f"{statistics.median(m['uss'] for m in per):>30.0f}{statistics.median(m['pss'] for m in per):>22.0f}"
            f"{statistics.median(m['peak'] for m in per):>28.0f}"
        )
    for workers in counts:
        if ("store", workers) in medians:
            ratio = medians[("store", workers)] / medians[("image", workers)]
            print(f"workers={workers}: the image starts {ratio:.1f}x faster than a restore from the store")
    print(f"load average {os.getloadavg()[0]:.2f}; logs in {work}")


if __name__ == "__main__":
    main()
