"""The command line, end to end on a real SQLite file (click's runner, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from credence.cli import main
from credence.graph.graph_npz import read_graph_npz
from credence.graph.sqlite import SQLiteStore


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CREDENCE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CREDENCE_NEO4J_URI", raising=False)
    monkeypatch.delenv("CREDENCE_DB", raising=False)
    return CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize(
    "command", [[], ["seed"], ["load"], ["export"], ["stats"], ["demo"], ["neo4j"], ["neo4j", "start"]]
)
def test_help(runner: CliRunner, command: list[str]) -> None:
    assert "Usage:" in run(runner, *command, "--help")


def test_seed_load_stats_export_round_trip(runner: CliRunner, tmp_path: Path) -> None:
    data, db = tmp_path / "pop", tmp_path / "a.db"
    out = run(
        runner, "seed", str(data), "--users", "800", "--sybils-per-region", "50", "--rings", "2", "--quiet"
    )
    assert "wrote 800 users" in out
    assert {p.name for p in data.iterdir()} == {
        "users.csv",
        "links.csv",
        "repayments.csv",
        "spending.csv",
        "labels.csv",
    }
    assert "loaded 800 users" in run(runner, "load", str(data), "--db", str(db), "--quiet")
    with SQLiteStore(db) as store:
        first = store.get_all_users()["id"].tolist()[:4]
        store.upsert_distrust(
            pd.DataFrame(
                {"rater": first[:3], "rated": first[1:], "weight": [1.0, 5.0, 10.0], "created": [0, 1, 2]}
            )
        )
    stats = json.loads(run(runner, "stats", "--db", str(db), "--graph", "--json"))
    assert stats["users"] == 800
    assert stats["links"] > 800 * 5
    assert stats["max_degree"] > stats["mean_degree"]

    run(runner, "export", str(tmp_path / "npz"), "--format", "npz", "--db", str(db), "--quiet")
    snap = read_graph_npz(tmp_path / "npz")
    assert snap.n_users == 800
    assert snap.n_links == stats["links"]
    assert stats["distrust"] == snap.n_distrust == 3
    order = snap.index_of(first)
    assert snap.distrust[order[2], order[3]] == 10.0

    # csv or parquet export -> load into a second store -> the same graph, events and scores.
    for fmt in ("csv", "parquet"):
        out = run(runner, "export", str(tmp_path / fmt), "--format", fmt, "--db", str(db), "--quiet")
        assert f"scores.{fmt}" in out
        run(runner, "load", str(tmp_path / fmt), "--db", str(tmp_path / f"{fmt}.db"), "--quiet")
        with SQLiteStore(db) as a, SQLiteStore(tmp_path / f"{fmt}.db") as b:
            assert a.stats() == b.stats()
            sa, sb = a.export_graph(), b.export_graph()
            order = sb.index_of(sa.ids)
            assert np.allclose(sa.adjacency.toarray(), sb.adjacency.toarray()[np.ix_(order, order)])
            assert a.repayments().equals(b.repayments())
            assert a.spending().equals(b.spending())
            assert a.get_all_users().equals(b.get_all_users())
            assert a.distrust().equals(b.distrust())
            assert len(b.distrust()) == 3
    run(runner, "export", str(tmp_path / "raw"), "--no-scores", "--db", str(db), "--quiet")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [
        "distrust.parquet",
        "links.parquet",
        "repayments.parquet",
        "spending.parquet",
        "users.parquet",
    ]


def test_bad_file_exit_code_and_nothing_written(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    good = tmp_path / "good"
    good.mkdir()
    (good / "users.csv").write_text("id,created\nann,2024-01-01\nbob,2024-01-02\n")
    run(runner, "load", str(good), "--db", str(db), "--quiet")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "users.csv").write_text("id,created\ncy,2024-01-01\n")
    (bad / "links.csv").write_text("source,target,weight\nann,cy,1\nbob,bob,2\n")
    result = runner.invoke(main, ["load", str(bad), "--db", str(db), "--quiet"])
    assert result.exit_code == 3
    assert "links.csv, link row 2, column 'target'" in result.output
    assert "cannot link to themselves" in result.output
    with SQLiteStore(db) as store:
        assert store.stats().users == 2  # cy was not written either
        assert store.stats().links == 0


def test_missing_folder_contents(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(main, ["load", str(tmp_path / "empty"), "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 3
    assert "no dataset files" in result.output


def test_load_signed_trust_graph(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "signed.csv"
    path.write_text(
        "source,target,weight,timestamp\n1,2,5,1400000000\n2,1,3,1400000100\n2,3,-4,1400000200\n"
        "1,2,-6,1400000300\n"
    )
    db = tmp_path / "e.db"
    out = run(runner, "load", str(path), "--format", "signed", "--db", str(db), "--quiet")
    assert "2 distrust" in out
    with SQLiteStore(db) as store:
        assert store.stats().users == 3
        # 1 -> 2 was positive, then negative: the link keeps the positive ratings, distrust the latest
        assert store.neighbors("1")[["user", "weight"]].to_dict("records") == [{"user": "2", "weight": 4.0}]
        assert store.distrust().to_dict("list") == {
            "rater": ["1", "2"],
            "rated": ["2", "3"],
            "weight": [6.0, 4.0],
            "created": [1400000300, 1400000200],
        }
        assert store.neighbors("3").empty  # 3 has only a negative rating: no link, but its distrust
    stats = json.loads(run(runner, "stats", "--db", str(db), "--json"))
    assert stats["distrust"] == 2
    assert "distrust" in run(runner, "stats", "--db", str(db))


BITCOIN_ALPHA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bitcoin-alpha.csv"


def test_load_signed_bitcoin_alpha_keeps_every_distrust(runner: CliRunner, tmp_path: Path) -> None:
    if not BITCOIN_ALPHA.exists():
        pytest.skip(f"{BITCOIN_ALPHA} is not on this machine (see shared/data/README.md)")
    # The oracle, from the CSV with pandas alone: the latest rating of each ordered pair
    # (the later row at equal times); the pairs where it is negative.
    ratings = pd.read_csv(BITCOIN_ALPHA)
    latest = ratings.sort_values("timestamp", kind="stable").groupby(["source", "target"]).tail(1)
    negative = latest[latest["weight"] < 0]
    expected = {
        (str(s), str(t)): float(-w)
        for s, t, w in negative[["source", "target", "weight"]].itertuples(index=False)
    }
    both = pd.concat(
        [ratings[["source", "weight"]].set_axis(["user", "weight"], axis=1),
         ratings[["target", "weight"]].set_axis(["user", "weight"], axis=1)]
    )  # fmt: skip
    only_negative = {str(u) for u, w in both.groupby("user")["weight"].max().items() if w < 0}
    assert len(expected) > 1_000 and len(only_negative) > 50  # the file is the one we think it is

    db = tmp_path / "alpha.db"
    out = run(runner, "load", str(BITCOIN_ALPHA), "--format", "signed", "--db", str(db), "--quiet")
    assert f"{len(expected):,} distrust" in out
    stats = json.loads(run(runner, "stats", "--db", str(db), "--json"))
    assert stats["distrust"] == len(expected)
    with SQLiteStore(db) as store:
        stored = store.distrust()
        assert len(stored) == len(expected)
        assert (
            dict(zip(zip(stored["rater"], stored["rated"], strict=True), stored["weight"], strict=True))
            == expected
        )
        # users with only negative ratings: no friend, but their distrust is there
        for user in sorted(only_negative):
            assert store.neighbors(user).empty
            assert len(store.distrust(user)) == sum(user in pair for pair in expected)
        assert only_negative <= set(stored["rater"]) | set(stored["rated"])
    run(runner, "export", str(tmp_path / "npz"), "--format", "npz", "--db", str(db), "--quiet")
    snap = read_graph_npz(tmp_path / "npz")
    assert snap.n_distrust == len(expected)
    assert float(snap.distrust.sum()) == pytest.approx(sum(expected.values()))


def test_neo4j_status_when_not_running(runner: CliRunner) -> None:
    assert "not running" in run(runner, "neo4j", "status", code=1)


def test_demo(runner: CliRunner, tmp_path: Path) -> None:
    out = run(runner, "demo", "--users", "600", "--db", str(tmp_path / "demo.db"), "--quiet")
    assert "demo population loaded" in out
    with SQLiteStore(tmp_path / "demo.db") as store:
        assert store.stats().users == 600


@pytest.mark.neo4j
def test_load_and_stats_on_neo4j(runner: CliRunner, tmp_path: Path, neo4j_uri: str) -> None:
    from credence.graph.neo4j_store import Neo4jStore

    with Neo4jStore(neo4j_uri) as store:
        store.clear(forget_erasures=True)
    data = tmp_path / "pop"
    run(runner, "seed", str(data), "--users", "500", "--sybils-per-region", "30", "--rings", "2", "--quiet")
    run(runner, "load", str(data), "--neo4j-uri", neo4j_uri, "--quiet")
    stats = json.loads(run(runner, "stats", "--neo4j-uri", neo4j_uri, "--json"))
    assert stats["store"] == f"neo4j:{neo4j_uri}"
    assert stats["users"] == 500
    # The same files into SQLite give the same graph.
    run(runner, "load", str(data), "--db", str(tmp_path / "same.db"), "--quiet")
    with Neo4jStore(neo4j_uri) as neo, SQLiteStore(tmp_path / "same.db") as lite:
        a, b = neo.export_graph(), lite.export_graph()
        assert a.ids.tolist() == b.ids.tolist()
        assert (a.adjacency != b.adjacency).nnz == 0
        neo.clear(forget_erasures=True)


@pytest.mark.neo4j
@pytest.mark.slow
def test_neo4j_start_status_stop(runner: CliRunner) -> None:
    out = run(runner, "neo4j", "start", "--heap", "1g")
    assert "Neo4j running at bolt://127.0.0.1:" in out
    try:
        assert "running: bolt://" in run(runner, "neo4j", "status")
        assert "already running" in run(runner, "neo4j", "start")
    finally:
        assert "stopped" in run(runner, "neo4j", "stop")
    assert "not running" in run(runner, "neo4j", "status", code=1)


def test_seed_attack_model_moves_only_the_attack_links(runner: CliRunner, tmp_path: Path) -> None:
    import pandas as pd

    common = [
        "--users",
        "600",
        "--sybils-per-region",
        "40",
        "--attack-links",
        "12",
        "--rings",
        "1",
        "--quiet",
    ]
    run(runner, "seed", str(tmp_path / "random"), *common)
    run(runner, "seed", str(tmp_path / "hubs"), *common, "--attack-model", "hubs")
    for name in ("users.csv", "labels.csv"):
        assert (tmp_path / "random" / name).read_text() == (tmp_path / "hubs" / name).read_text()
    labels = pd.read_csv(tmp_path / "hubs" / "labels.csv", dtype={"user": str}).set_index("user")
    sybils = set(labels.index[labels["is_sybil"]])

    def attack_targets(folder: str) -> tuple[set[tuple[str, str]], pd.Series]:
        links = pd.read_csv(tmp_path / folder / "links.csv", dtype={"source": str, "target": str})
        degree = pd.concat([links["source"], links["target"]]).value_counts()
        crossing = links[links["source"].isin(sybils) != links["target"].isin(sybils)]
        honest_end = crossing["source"].where(~crossing["source"].isin(sybils), crossing["target"])
        return set(zip(links["source"], links["target"], strict=True)), degree[honest_end.to_numpy()]

    random_links, random_targets = attack_targets("random")
    hub_links, hub_targets = attack_targets("hubs")
    assert len(random_targets) == len(hub_targets) == 12
    assert hub_targets.mean() > random_targets.mean()
    assert len(random_links ^ hub_links) <= 2 * 12  # only attack links differ
    bad = runner.invoke(main, ["seed", str(tmp_path / "x"), "--attack-model", "sideways"])
    assert bad.exit_code == 2


def test_subject_export_writes_everything_about_one_person_owner_only(
    runner: CliRunner, tmp_path: Path
) -> None:
    data, db = tmp_path / "pop", tmp_path / "s.db"
    run(runner, "seed", str(data), "--users", "800", "--sybils-per-region", "50", "--rings", "2", "--quiet")
    run(runner, "load", str(data), "--db", str(db), "--quiet")
    with SQLiteStore(db) as store:
        frame = store.get_all_users()
        user = next(
            str(u) for u in frame.loc[frame["consent_network"], "id"] if len(store.neighbors(str(u))) > 1
        )
    run(runner, "update", "consent", user, "no", "--db", str(db))
    out = tmp_path / f"{user}.json"
    assert f"records about {user}" in run(runner, "subject-export", user, "--db", str(db), "--out", str(out))
    assert out.stat().st_mode & 0o777 == 0o600
    export = json.loads(out.read_text())
    with SQLiteStore(db) as store:
        assert len(export["links"]) == len(store.neighbors(user))
        assert len(export["repayments"]) == len(store.repayments(user))
        assert len(export["score_history"]) == len(store.score_history(user))
    assert [(c["consent"], c["actor"]) for c in export["consent_history"]] == [(False, "cli")]
    printed = json.loads(run(runner, "subject-export", user, "--db", str(db)))
    assert {k: v for k, v in printed.items() if k != "exported_at"} == {
        k: v for k, v in export.items() if k != "exported_at"
    }
    missing = runner.invoke(
        main, ["subject-export", "nobody", "--db", str(db), "--out", str(tmp_path / "n.json")]
    )
    assert missing.exit_code != 0 and "nobody" in missing.output
    assert not (tmp_path / "n.json").exists()
