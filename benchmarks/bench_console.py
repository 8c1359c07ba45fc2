"""The analyst console's speed on the demo (not a timed test): first paint, and the ego view around a hub.

What issue 16 asks: "first paint under 1 s on the 10k demo, an ego view around a
500-neighbour hub under 1 s". The script

1. runs ``credence demo --users N --seed S --db WORK/demo.db --quiet`` (generate, load,
   score), unless WORK already holds that file;
2. finds the demo's largest degree in the store; when it is below ``--hub-degree``
   (the 10k demo's largest is 428), it copies the store to ``WORK/hub.db`` and links
   that user to the first users by id it is not linked to, one ``credence update
   link A B --now T`` each (the product's own write path, a local push per link; ``T``
   the demo's evaluation time), until it has ``--hub-degree`` neighbours;
3. issues an analyst key with ``credence api-key new``, starts ``credence serve`` on
   127.0.0.1 as a process of its own, and drives Debian's headless Chromium (selenium)
   the way ``tests/test_console_browser.py`` does, with the same functions
   (``tests/console_driver.py``): ``--runs`` fresh loads of ``/console``, each giving
   its first contentful paint (the Performance API's entry); then, signed in,
   ``--runs`` ego views of the hub, each timed by the console itself (from the
   requests going out to the graph drawn and painted, ``window.credenceConsole.timings``),
   after opening another user so that each view is drawn afresh.

It prints the medians and ranges. The degree is checked over the API (``friends {
totalCount }``) before anything is timed.

    .venv/bin/python benchmarks/bench_console.py                       # the 10k demo, 7 runs
    .venv/bin/python benchmarks/bench_console.py --work /tmp/cbench    # keep (and reuse) the stores

Adding 72 links takes about 4 s each (a CLI process per link) the first time; with
``--work`` the hub store is reused.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serving import CLI, issue_key, serve

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from credence.graph.sqlite import SQLiteStore  # noqa: E402
from tests.console_driver import ego_view_ms, first_paint_ms, sign_in, start_chromium, wait  # noqa: E402


def degrees(db: Path) -> tuple[list[tuple[str, int]], int]:
    """Users by degree, largest first, and the evaluation time of the stored scores."""
    with SQLiteStore(db) as store:
        links = store.links()
        record = store.latest_recompute()
    if record is None:
        raise SystemExit(f"{db} holds no scores: run credence score first")
    counts: dict[str, int] = {}
    for column in ("source", "target"):
        for user in links[column].astype(str):
            counts[user] = counts.get(user, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0])), record.computed_at


def make_hub(demo: Path, hub_db: Path, target: int, env: dict[str, str]) -> tuple[str, int, int]:
    """The hub (the demo's best-linked user), its degree in the demo, and the links added to reach ``target``."""
    ranked, now = degrees(demo)
    hub, degree = ranked[0]
    if degree >= target:
        return hub, degree, 0
    if hub_db.exists():
        held = dict(degrees(hub_db)[0]).get(hub, 0)
        if held >= target:
            return hub, degree, held - degree
    shutil.copyfile(demo, hub_db)
    with SQLiteStore(hub_db) as store:
        linked = set(store.neighbors(hub)["user"].astype(str))
        everyone = store.get_all_users()["id"].astype(str).tolist()
    others = [user for user in everyone if user != hub and user not in linked][: target - degree]
    started = time.perf_counter()
    for i, other in enumerate(others):
        subprocess.run([*CLI, "update", "link", hub, other, "--weight", str(1.0 + i % 3), "--now", str(now),
                        "--db", str(hub_db)], env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"added {len(others)} links to {hub} with `credence update link` in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    return hub, degree, len(others)


def spread(values: list[float]) -> str:
    """Median and range of ``values``, ms."""
    return f"median {statistics.median(values):.0f} ms, range {min(values):.0f}-{max(values):.0f} ms over {len(values)}"


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hub-degree", type=int, default=500, help="neighbours the hub must have (default 500)"
    )
    parser.add_argument("--runs", type=int, default=7, help="page loads and ego views timed (default 7)")
    parser.add_argument(
        "--work", type=Path, help="folder of the stores, kept and reused (default: a temporary one)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="credence-bench-console-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        demo = work / f"demo-{args.users}-{args.seed}.db"
        if not demo.exists():
            started = time.perf_counter()
            subprocess.run([*CLI, "demo", "--users", str(args.users), "--seed", str(args.seed), "--db", str(demo),
                            "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            print(f"credence demo --users {args.users} --seed {args.seed}: {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
        hub_db = work / f"hub-{args.users}-{args.seed}-{args.hub_degree}.db"
        hub, degree, added = make_hub(demo, hub_db, args.hub_degree, env)
        served = hub_db if added else demo
        print(f"largest degree in the demo: {hub} with {degree} neighbours"
              f"{f'; {added} links added to it in a copy ({served.name})' if added else ''}", flush=True)  # fmt: skip
        keys = work / "console-keys.toml"
        keys.unlink(missing_ok=True)
        secret = issue_key(keys, env, role="analyst")
        with serve(
            ["--db", str(served)], keys, workers=1, env=env, log=work / "serve.log", timeout=300
        ) as server:
            answer = httpx.post(server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=60, json={
                "query": "query($u: String!) { user(id: $u) { friends(first: 1) { totalCount } } }",
                "variables": {"u": hub}}).json()  # fmt: skip
            served_degree = int(answer["data"]["user"]["friends"]["totalCount"])
            if served_degree < args.hub_degree:
                raise SystemExit(
                    f"the served hub {hub} has {served_degree} neighbours, fewer than {args.hub_degree}"
                )
            url = f"{server.base}/console"
            load = os.getloadavg()
            driver = start_chromium()
            try:
                first_paint_ms(driver, url)  # warm-up: the browser's own start
                paints = [first_paint_ms(driver, url) for _ in range(args.runs)]
                sign_in(driver, url, secret)
                wait(driver, lambda d: d.find_element("css selector", "#search-id"), "the signed-in console")
                other = next(user for user, _ in degrees(served)[0][1:])
                ego_view_ms(driver, hub, other)  # warm-up: the server's first evidence query
                views = [ego_view_ms(driver, hub, other) for _ in range(args.runs)]
                drawn = driver.find_element("css selector", "#ego-more").text
            finally:
                driver.quit()
    nodes = int(views[-1]["nodes"])
    print(f"machine: {os.cpu_count()} cores; load average {load[0]:.1f} before the timed runs, "
          f"{os.getloadavg()[0]:.1f} after (Chromium, the server and this script share the cores)")  # fmt: skip
    print(f"console first contentful paint: {spread(paints)}")
    print(f"ego view around {hub} ({served_degree} neighbours; {nodes} nodes drawn): "
          f"{spread([v['ms'] for v in views])}")  # fmt: skip
    print(
        f"  of which until both answers arrived (user card, evidence): {spread([v['answered_ms'] for v in views])}"
    )
    print(f"  on screen: {drawn}")


if __name__ == "__main__":
    main()
