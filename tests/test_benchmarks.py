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
