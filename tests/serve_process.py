"""`credence serve` as a separate process, for soak, kill -9 and outage tests (loopback only).

The server runs exactly as a user runs it (``python -m credence.cli serve``), so a test
can kill it with SIGKILL mid-write and start it again on the same store. Clients are
plain httpx clients speaking GraphQL over HTTP.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CLI = [sys.executable, "-m", "credence.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def issue_key(env: Mapping[str, str], name: str, role: str) -> str:
    done = subprocess.run([*CLI, "api-key", "new", name, "--role", role], env=dict(env), capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.strip()


@dataclass
class ServerProcess:
    """One ``credence serve`` process on a free loopback port; restartable on the same port."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/graphql"

    def start(self, timeout: float = 240.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port), *self.args], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"credence serve exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).json().get("status") == "ok":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"credence serve did not come up in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.2)

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no flush, no cleanup (what a crash or the OOM killer does)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def post(client: httpx.Client, url: str, key: str, query: str, **variables: Any) -> tuple[str, Any]:
    """("ok", data), (error code, first error) or ("HTTP <status>", body) of one GraphQL request."""
    response = client.post(url, json={"query": query, "variables": variables},
                           headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    if response.status_code != 200:
        return f"HTTP {response.status_code}", response.text[:500]
    body = response.json()
    if body.get("errors"):
        error = body["errors"][0]
        return str(error.get("extensions", {}).get("code", "NO_CODE")), error
    return "ok", body["data"]


def scored_store(tmp: Path, *, users: int, seed: int) -> tuple[Path, Any, dict[str, str]]:
    """A SQLite store in ``tmp`` holding a scored population, that population, and the env of a server over it."""
    from credence.engine import ScoringEngine
    from credence.graph.sqlite import SQLiteStore
    from credence.seeds.synthetic import generate_population

    population = generate_population(n_users=users, seed=seed)
    db = tmp / "credence.db"
    with SQLiteStore(db) as store:
        store.load(population.dataset())
        ScoringEngine(store, now=population.now).recompute()
    env = {**os.environ, "CREDENCE_HOME": str(tmp), "CREDENCE_API_KEYS": str(tmp / "keys.toml")}
    return db, population, env


def recompute_gaps(store: Any, latest: Any) -> tuple[float, float, float]:
    """The oracle after a soak or a kill: how far the stored latest snapshots are from a full recompute.

    The recompute runs at the recorded evaluation time and prior (an engine of its own,
    nothing written). Returns the largest gap of the four individual components (exact
    functions of the stored events), that of the network component, and the bound the
    latter is held to: twice the solver's tolerance, plus the drift a snapshot may trail
    memory by (:data:`~credence.engine.events.SNAPSHOT_DRIFT_POINTS` through the network
    component's weight). ``latest`` is ``store.latest_scores()`` indexed by user.
    """
    import numpy as np

    from credence.core.scale import SCORE_RANGE
    from credence.engine import ScoringEngine
    from credence.engine.events import SNAPSHOT_DRIFT_POINTS
    from credence.graph.model import COMPONENTS

    record = store.latest_recompute()
    assert record is not None, "the store holds no recompute record"
    fresh = ScoringEngine(store)
    fresh.recompute(write=False, now=record.computed_at, prior=record.prior)
    recomputed = fresh.scores().set_index("user")
    stored = latest.loc[recomputed.index, list(COMPONENTS)].to_numpy()
    again = recomputed[list(COMPONENTS)].to_numpy()
    weight = float(fresh.policy.weight_vector()[-1])
    bound = 2 * fresh.policy.diffusion.tol + SNAPSHOT_DRIFT_POINTS / (SCORE_RANGE * weight)
    return (
        float(np.abs(stored[:, :4] - again[:, :4]).max()),
        float(np.abs(stored[:, 4] - again[:, 4]).max()),
        bound,
    )
