"""The benchmark scripts run as a user runs them (a subprocess, from the checkout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_diffusion_benchmark_runs_the_peers_on_one_graph() -> None:
    done = bench("bench_diffusion.py", "--sizes", "2k", "--peers", "scipy,networkx", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    assert "credence solve" in done.stdout
    assert "scipy" in done.stdout and "networkx" in done.stdout


@pytest.mark.slow
@pytest.mark.neo4j
def test_diffusion_benchmark_runs_networkit_and_gds_on_the_uniform_restart_diffusion() -> None:
    """Both peers are held to the benchmark's accuracy check (it exits non-zero when one is off)."""
    done = bench("bench_diffusion.py", "--sizes", "2k", "--peers", "scipy,networkit,gds", "--repeats", "1")
    assert done.returncode == 0, done.stderr + done.stdout
    lines = {line.split("  ")[0]: line for line in done.stdout.splitlines()}
    for method in ("networkit pagerank [uniform restart]", "neo4j gds pagerank [uniform restart]",
                   "credence solve [uniform restart]"):  # fmt: skip
        assert method in lines, done.stdout
    assert "projected" in done.stdout


def test_diffusion_benchmark_refuses_an_unknown_peer() -> None:
    done = bench("bench_diffusion.py", "--sizes", "2k", "--peers", "julia")
    assert done.returncode == 2
    assert "unknown peers ['julia']" in done.stderr


@pytest.mark.slow
@pytest.mark.spark
def test_spark_benchmark_prints_the_ratios_the_shuffles_and_the_agreement(tmp_path: Path) -> None:
    done = bench(
        "bench_spark.py", "--sizes", "3k", "--check", "3k", "--repeats", "1", "--driver-memory", "1g",
        "--ui-port", "4058", "--work", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for words in ("engine recompute", "spark score", "spark pagerank", "graphx pagerank",
                  "shuffled per diffusion iteration", "shuffled per graphx pagerank iteration",
                  "partitioned by Louvain communities", "agreement with the engine"):  # fmt: skip
        assert words in done.stdout, done.stdout
    assert "FAILED" not in done.stdout


@pytest.mark.slow
@pytest.mark.browser
def test_console_benchmark_links_a_hub_with_the_cli_and_prints_the_browser_figures(tmp_path: Path) -> None:
    import os

    from tests.console_driver import CHROMEDRIVER, CHROMIUM

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI=true and Chromium is not installed", pytrace=False)
        pytest.skip("Chromium unavailable here")
    # the 1,500-user demo's best-linked user has 130 neighbours: the script links it to 4 more
    done = bench(
        "bench_console.py", "--users", "1500", "--hub-degree", "134", "--runs", "2", "--work", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "links added to it in a copy" in out and "with `credence update link`" in out, out
    assert "console first contentful paint: median" in out, out
    assert "ego view around" in out and "neighbours drawn" in out, out
    rerun = bench(
        "bench_console.py", "--users", "1500", "--hub-degree", "134", "--runs", "1", "--work", str(tmp_path)
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "credence update link` in" not in rerun.stdout  # the hub store is reused


def test_change_benchmark_prints_the_cost_of_each_kind(tmp_path: Path) -> None:
    from tests.serve_process import scored_store

    db, _, _ = scored_store(tmp_path, users=600, seed=2)
    done = bench("bench_changes.py", "--db", str(db), "--groups", "2")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {"repayment", "spending", "add_link", "consent"}, done.stdout
    for kind, words in rows.items():
        assert float(words[1]) > 0 and words[2:5] == ["ms", "per", "change"], kind
        # An event snapshots at least its user; a link or a consent flip may move nobody enough.
        assert float(words[5]) >= (1 if kind in ("repayment", "spending") else 0), kind


@pytest.mark.slow
def test_store_benchmark_loads_and_exports_sqlite_against_the_targets() -> None:
    done = bench("bench_store.py", "--users", "2000", "--skip-neo4j")
    assert done.returncode == 0, done.stderr[-3000:]
    table = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line[:1].isalpha()}
    assert "2,000 users, 20,000 links" in done.stdout, done.stdout
    for phase, target in (("sqlite_load", "60"), ("sqlite_export", "10")):
        seconds, printed_target, ratio = table[phase][1:4]
        assert printed_target == target and float(seconds) >= 0, done.stdout
        assert abs(float(ratio) - float(seconds) / float(target)) <= 0.01, done.stdout


@pytest.mark.slow
def test_cold_start_benchmark_times_both_starts_and_reads_each_workers_memory(tmp_path: Path) -> None:
    from credence.engine import ScoringEngine
    from credence.graph.sqlite import SQLiteStore
    from tests.serve_process import scored_store

    db, _, _ = scored_store(tmp_path, users=600, seed=4)
    with SQLiteStore(db) as store:  # the image `credence score` leaves beside the file
        engine = ScoringEngine(store, image=db.with_name(db.name + ".image"))
        assert engine.restore() is not None
        engine.save_image()
    done = bench("bench_cold_start.py", "--db", str(db), "--workers", "1,2", "--runs", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    starts = [line for line in done.stdout.splitlines() if "first answer" in line and " run 1:" in line]
    assert len(starts) == 4, done.stdout  # store and image, 1 and 2 workers
    for line in starts:
        seconds = float(line.split("first answer ")[1].split(" s")[0])
        assert 0 < seconds < 300, line
        assert "uss" in line and "pss" in line, line
    two = [line for line in starts if "workers=2" in line]
    assert all(line.count("pid ") >= 3 for line in two), two  # the parent and each worker
    assert "workers=1: the image starts" in done.stdout and "workers=2: the image starts" in done.stdout


def test_exposure_check_prints_auc_by_stratum_as_counted_by_hand(tmp_path: Path) -> None:
    """Twelve ratings split at the median time (6.5): users 1-4 before, user 2 rated -10 after.

    By hand: user 2 received the most ratings before T (3; users 3, 4, 1: 2, 1, 0) and is
    the one bad user, so "ratings received" read as credit ranks every good user below
    him (AUC 0). Mean rating received: 2, 3 and 4 all +5, user 1 none (0): good users
    beat him 0 + 0.5 + 0.5 times out of 3. Nobody is rated 3 times after T.
    """
    rows = ["1,2,5,1", "3,2,5,2", "4,2,5,3", "1,3,5,4", "2,4,5,5", "2,3,5,6",
            "5,2,-10,7", "5,2,-10,8", "5,3,2,9", "5,4,2,10", "5,1,1,11", "5,4,1,12"]  # fmt: skip
    source = tmp_path / "signed.csv"
    source.write_text("source,target,weight,timestamp\n" + "\n".join(rows) + "\n")
    done = bench("backtest_exposure.py", str(source))
    assert done.returncode == 0, done.stderr
    lines = {line.split("  ")[0]: line.split() for line in done.stdout.splitlines()}
    assert "4 users active before T, 1 bad" in done.stdout
    assert lines["users / bad"][-4:] == ["4/1", "4/1", "0/0", "0/0"]
    assert lines["received"][1:3] == ["0.000", "0.000"]
    assert lines["received"][3:] == ["nan", "nan"]
    assert lines["mean rating received"][-4:-2] == ["0.333", "0.333"]
