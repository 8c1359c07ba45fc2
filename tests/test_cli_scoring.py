"""`credence score`, `explain`, `update` and `what-if`, end to end on SQLite and on a real Neo4j."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from credence.cli import main
from credence.graph.neo4j_store import Neo4jStore
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import PopulationConfig

NOW = PopulationConfig().now


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """The store options of one backend, with the seeded population loaded."""
    monkeypatch.setenv("CREDENCE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDENCE_NEO4J_URI", raising=False)
    monkeypatch.delenv("CREDENCE_DB", raising=False)
    if request.param == "sqlite":
        options = ["--db", str(tmp_path / "c.db")]
    else:
        uri = request.getfixturevalue("neo4j_uri")
        with Neo4jStore(uri) as neo:
            neo.clear(forget_erasures=True)
        options = ["--neo4j-uri", uri]
    runner = CliRunner()
    run(
        runner,
        "seed",
        str(tmp_path / "pop"),
        "--users",
        "500",
        "--sybils-per-region",
        "30",
        "--rings",
        "2",
        "--quiet",
    )
    run(runner, "load", str(tmp_path / "pop"), *options, "--quiet")
    yield options
    if request.param == "neo4j":
        with Neo4jStore(options[1]) as neo:
            neo.clear(forget_erasures=True)


def open_backend(options: list[str]) -> SQLiteStore | Neo4jStore:
    return SQLiteStore(options[1]) if options[0] == "--db" else Neo4jStore(options[1])


def test_score_explain_update_what_if(backend: list[str], tmp_path: Path) -> None:
    runner = CliRunner()
    now = ["--now", str(NOW)]
    summary = json.loads(run(runner, "score", *backend, *now, "--json"))
    assert summary["users"] == 500
    assert summary["written"] == 500
    assert sum(summary["bands"].values()) == 500
    with open_backend(backend) as store:
        latest = store.latest_scores().set_index("user")
    assert latest["score"].between(350, 950).all()

    explained = json.loads(run(runner, "explain", "u001", *backend, *now, "--json"))
    assert explained["score"] == latest.loc["u001", "score"]
    assert len(explained["reasons"]) <= 4
    assert round(350 + sum(c["points"] for c in explained["components"])) == explained["score"]
    text = run(runner, "explain", "u001", *backend, *now)
    assert "top reasons" in text and "contributors add up to" in text

    out = run(runner, "what-if", "--add-link", "u001", "u400", "5", *backend, *now)
    assert "nothing stored" in out
    removed = run(runner, "what-if", "--remove-user", "u001", *backend, *now)
    assert "nothing stored" in removed
    with open_backend(backend) as store:
        assert store.flags("u001") == []
    with open_backend(backend) as store:
        assert len(store.score_history("u001")) == 1
        assert "u400" not in set(store.neighbors("u001")["user"].astype(str))

    out = run(runner, "update", "link", "u001", "u400", "--weight", "5", *backend, *now)
    assert "users rescored" in out
    with open_backend(backend) as store:
        assert "u400" in set(store.neighbors("u001")["user"].astype(str))
        assert len(store.score_history("u001")) == 2

    events = tmp_path / "late.csv"
    pd.DataFrame(
        {
            "id": ["cli-1"],
            "user": ["u002"],
            "due": ["2025-12-01T00:00:00Z"],
            "paid": ["2025-12-20T00:00:00Z"],
            "amount": ["120"],
            "status": ["late"],
        }
    ).to_csv(events, index=False)
    run(runner, "update", "repayments", str(events), *backend, *now)
    with open_backend(backend) as store:
        assert len(store.repayments("u002").query("id == 'cli-1'")) == 1
        history = store.score_history("u002")
    assert len(history) >= 2  # the recompute, maybe the link update's drift, and this event
    assert history["score"].iloc[-1] <= history["score"].iloc[-2]  # a late payment never helps

    out = run(runner, "update", "flag", "u003", "--analyst", "ana", "--reason", "ring", *backend, *now)
    assert "flag u003" in out
    with open_backend(backend) as store:
        assert store.flags("u003")[0].active

    # A cluster at once: one bad id (u003 is already flagged) and nothing is written.
    out = run(
        runner,
        "update",
        "flag",
        "u004",
        "u003",
        "--analyst",
        "ana",
        "--reason",
        "ring",
        *backend,
        *now,
        code=6,
    )
    assert "u003" in out and "already flagged" in out
    with open_backend(backend) as store:
        assert store.flags("u004") == []
    out = run(
        runner, "update", "flag", "u004", "u005", "--analyst", "ana", "--reason", "ring", *backend, *now
    )
    assert "flag u004, u005" in out
    out = run(
        runner,
        "update",
        "flag",
        "u003",
        "u004",
        "u005",
        "--clear",
        "--analyst",
        "ana",
        "--reason",
        "ok",
        *backend,
        *now,
    )
    with open_backend(backend) as store:
        assert not any(f.active for u in ("u003", "u004", "u005") for f in store.flags(u))
        assert [(f.reason, f.clear_reason) for f in store.flags("u004")] == [("ring", "ok")]


def test_scoring_errors_are_clear(backend: list[str], tmp_path: Path) -> None:
    runner = CliRunner()
    run(runner, "score", *backend, "--quiet")
    out = run(runner, "explain", "nobody", *backend, code=4)
    assert "nobody" in out
    bad = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "id": ["x"],
            "user": ["u001"],
            "due": ["2025-12-01T00:00:00Z"],
            "paid": [""],
            "amount": ["-3"],
            "status": ["missed"],
        }
    ).to_csv(bad, index=False)
    with open_backend(backend) as store:
        before = len(store.repayments())
    out = run(runner, "update", "repayments", str(bad), *backend, code=3)
    assert "amount" in out
    with open_backend(backend) as store:
        assert len(store.repayments()) == before
    run(runner, "update", "unlink", "u001", "u001", *backend, code=3)
