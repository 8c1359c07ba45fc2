"""The Spark job agrees with the single-machine engine, on a real local Spark (no mocks).

A synthetic population of 3,000 users (some not consenting, a few flagged) is loaded
into SQLite and exported with ``credence export --format parquet``; the Spark job scores
the export (through the CLI and through :func:`credence.spark.score_export`) and every
user's score, components and network value are compared with
``ScoringEngine.recompute`` on the same store, read back from the Parquet output with
pandas. With ``CI=true`` the Spark tests must run: if PySpark is missing or Spark cannot
start, they fail instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from credence.cli.main import main
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.scoring.policy import COMPONENT_NAMES, DEFAULT_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population

# No warnings filter: the job silences pyspark's one warning about pandas >= 3 itself, around the
# calls that emit it (credence.spark.session.quiet_pandas_warning); anything else is an error.
pytestmark = pytest.mark.spark

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}  # as tests/conftest.py reads it
N_USERS = 3_000
SCORE_TOLERANCE = 1  # points
COMPONENT_TOLERANCE = 1e-4


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and Spark cannot run: {reason}", pytrace=False)
    pytest.skip(f"Spark unavailable here: {reason}")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One real local[2] session for the module (small: 4 shuffle partitions, no UI)."""
    if shutil.which("java") is None:
        _unavailable("no java on PATH (Spark needs Java 17)")
    try:
        from credence.spark import spark_session
    except ImportError as exc:
        _unavailable(f"pyspark is not installed ({exc})")
    try:
        context = spark_session("local[2]", app_name="credence-tests", shuffle_partitions=4)
        session = context.__enter__()
    except Exception as exc:  # any failure to start is reported the same way
        _unavailable(f"{type(exc).__name__}: {exc}")
        return
    try:
        yield session
    finally:
        context.__exit__(None, None, None)


@dataclass(frozen=True)
class Exported:
    folder: Path
    now: int
    engine: ScoringEngine
    expected: pd.DataFrame  # user -> score, components, network, degree, participating
    flagged: list[str]


def _expected(engine: ScoringEngine) -> pd.DataFrame:
    """The engine's scores, components and network value of every user, by user id."""
    frame = engine.scores().set_index("user")
    summaries = [engine.network(str(user)) for user in frame.index]
    frame["network"] = [s.value for s in summaries]
    frame["degree"] = [s.degree for s in summaries]
    frame["participating"] = [s.participating for s in summaries]
    return frame


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    """3,000 users in SQLite, a few flagged, exported to Parquet by the CLI; the engine's recompute."""
    root = tmp_path_factory.mktemp("spark-export")
    population = generate_population(n_users=N_USERS, seed=17)
    db = root / "credence.db"
    store = SQLiteStore(db)
    store.load(population.dataset())
    flagger = ScoringEngine(store, now=population.now)
    flagger.recompute(write=False)
    flagged = sorted(population.users["id"].astype(str))[10:13]
    flagger.flag_users(flagged, analyst="tests", reason="a quarantined user takes no part")
    folder = root / "export"
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(folder),
            "--format",
            "parquet",
            "--db",
            str(db),
            "--now",
            str(population.now),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    engine = ScoringEngine(store, now=population.now)
    engine.recompute(write=False)
    try:
        yield Exported(folder, population.now, engine, _expected(engine), flagged)
    finally:
        store.close()


def _compare(output: Path, expected: pd.DataFrame) -> dict[str, float]:
    """The largest differences between the job's Parquet output and the engine, per column."""
    got = pd.read_parquet(output)
    assert got["id"].is_unique
    assert set(got["id"].astype(str)) == set(expected.index.astype(str))
    got = got.set_index(got["id"].astype(str)).loc[expected.index.astype(str)]
    diffs = {"score": float(np.abs(got["score"].to_numpy() - expected["score"].to_numpy()).max())}
    for name in (*COMPONENT_NAMES, "network", "degree"):
        diffs[name] = float(np.abs(got[name].to_numpy() - expected[name].to_numpy(dtype=np.float64)).max())
    assert (got["participating"].to_numpy() == expected["participating"].to_numpy(dtype=bool)).all()
    assert (got["band"].astype(str).to_numpy() == expected["band"].astype(str).to_numpy()).mean() > 0.99
    return diffs


def _assert_agree(diffs: dict[str, float]) -> None:
    assert diffs["score"] <= SCORE_TOLERANCE, diffs
    for name in (*COMPONENT_NAMES, "network"):
        assert diffs[name] <= COMPONENT_TOLERANCE, (name, diffs)
    assert diffs["degree"] <= 1e-6 * 100, diffs  # float32 link strengths, as the engine keeps them


def test_the_cli_agrees_with_the_engine(spark: Any, exported: Exported, tmp_path: Path) -> None:
    out = tmp_path / "scores"
    result = CliRunner().invoke(
        main,
        ["spark", "score", "--input", str(exported.folder), "--output", str(out), "--master", "local[2]",
         "--policy", str(DEFAULT_POLICY_PATH), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"scored {N_USERS:,} users" in result.output
    assert f"at {exported.now} " in result.output  # the export's evaluation time, by default
    diffs = _compare(out, exported.expected)
    _assert_agree(diffs)
    print("CLI vs engine, largest differences:", diffs)


def test_the_function_agrees_with_the_engine_and_reports_the_run(
    spark: Any, exported: Exported, tmp_path: Path
) -> None:
    from credence.spark import score_export

    policy = read_policy(DEFAULT_POLICY_PATH)
    out = tmp_path / "scores"
    report = score_export(spark, exported.folder, out, policy=policy, now=exported.now)
    diffs = _compare(out, exported.expected)
    _assert_agree(diffs)
    print("score_export vs engine, largest differences:", diffs, "iterations", report.iterations)
    view = exported.engine.view()
    assert report.users == N_USERS
    assert report.participants == int(view.participating.sum()) == N_USERS - int((~view.participating).sum())
    assert abs(report.prior - view.prior) <= 1e-12
    assert report.residual <= policy.diffusion.tol * (1 - policy.diffusion.damping)
    got = pd.read_parquet(out)
    assert set(got.columns) >= {"id", "score", *COMPONENT_NAMES, "network", "model_version"}
    assert set(got["model_version"]) == {policy.version}
    assert set(got["computed_at"]) == {exported.now}
    flagged = got[got["id"].isin(exported.flagged)]
    assert len(flagged) == 3 and not flagged["participating"].any()
    assert np.allclose(flagged["connections"], report.prior)


def test_another_policy_file_is_applied_the_same_way(spark: Any, exported: Exported, tmp_path: Path) -> None:
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    text = text.replace('sharing = "bonus_only"', 'sharing = "symmetric"').replace(
        "damping = 0.5", "damping = 0.7"
    )
    text = text.replace('version = "credence-2026.11-1"', 'version = "spark-test-1"')
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text(text, encoding="utf-8")
    policy = read_policy(policy_path)
    assert policy.diffusion.sharing == "symmetric" and policy.diffusion.damping == 0.7
    engine = ScoringEngine(exported.engine.store, policy=policy, now=exported.now)
    engine.recompute(write=False)

    from credence.spark import score_export

    out = tmp_path / "scores"
    score_export(spark, exported.folder, out, policy=policy_path, now=exported.now)
    _assert_agree(_compare(out, _expected(engine)))
    assert set(pd.read_parquet(out)["model_version"]) == {"spark-test-1"}


# --------------------------------------------------------------------------- hostile input


def _copy_export(exported: Exported, tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(exported.folder, folder)
    return folder


def _run_cli(folder: Path, out: Path) -> Any:
    return CliRunner().invoke(
        main, ["spark", "score", "--input", str(folder), "--output", str(out), "--quiet"]
    )


def test_a_missing_table_is_named_and_nothing_is_written(
    spark: Any, exported: Exported, tmp_path: Path
) -> None:
    folder = _copy_export(exported, tmp_path)
    (folder / "links.parquet").unlink()
    out = tmp_path / "scores"
    result = _run_cli(folder, out)
    assert result.exit_code == 3, result.output
    assert "links.parquet" in result.output and "missing table" in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("table", "change", "expected"),
    [
        ("users", lambda t: t.set_column(1, "created", pa.array([str(v) for v in t["created"].to_pylist()])),
         ["users.parquet", "column 'created'", "has type string"]),
        ("repayments", lambda t: t.drop_columns(["status"]),
         ["repayments.parquet", "column 'status'", "missing required column"]),
        ("spending", lambda t: t.append_column("colour", pa.array(["red"] * t.num_rows)),
         ["spending.parquet", "column 'colour'", "unknown column"]),
        ("repayments", lambda t: t.set_column(t.schema.get_field_index("status"), "status",
                                              pa.array(["paid-ish", *t["status"].to_pylist()[1:]])),
         ["repayments.parquet", "column 'status'", "paid-ish"]),
        ("links", lambda t: t.set_column(0, "source", pa.array(["nobody", *t["source"].to_pylist()[1:]])),
         ["links.parquet", "column 'source'", "'nobody'", "users table does not have"]),
    ],
    ids=["wrong-type", "missing-column", "unknown-column", "bad-status", "unknown-user"],
)  # fmt: skip
def test_a_bad_column_is_named_and_nothing_is_written(
    spark: Any, exported: Exported, tmp_path: Path, table: str, change: Any, expected: list[str]
) -> None:
    folder = _copy_export(exported, tmp_path)
    path = folder / f"{table}.parquet"
    pq.write_table(change(pq.read_table(path)), path)
    out = tmp_path / "scores"
    result = _run_cli(folder, out)
    assert result.exit_code == 3, result.output
    for words in expected:
        assert words in result.output, result.output
    assert not out.exists()


def test_an_existing_output_is_not_overwritten_unless_asked(
    spark: Any, exported: Exported, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    result = _run_cli(exported.folder, out)
    assert result.exit_code == 3, result.output
    assert "already exists" in result.output
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"


# --------------------------------------------------------------------------- SybilRank trust


@dataclass(frozen=True)
class LocalTrust:
    ids: np.ndarray  # sorted user ids: the row order of the local walk
    result: Any  # credence.scoring.trust.TrustResult
    seeds: list[str]


def _local_trust(
    exported: Exported, seeds: list[str] | None, groups: int, max_seeds: int = 1_000
) -> LocalTrust:
    """The single-machine walk on the same users, rows laid out in id order (how Spark deals seed groups)."""
    from credence.scoring.trust import sybil_trust

    view = exported.engine.view(adjacency="all", verified=("face_verified",))
    ids = view.ids.astype(str)
    order = np.argsort(ids, kind="stable")
    graph = view.graph()[order][:, order]
    participating = view.participating[order]
    sorted_ids = ids[order]
    if seeds is None:  # the default draw: face-verified participants, sorted ids, default_rng(0)
        eligible = sorted_ids[view.verified["face_verified"][order] & participating]
        pick = np.random.default_rng(0).choice(eligible.size, min(max_seeds, eligible.size), replace=False)
        seeds = sorted(str(eligible[k]) for k in pick)
    rows = np.searchsorted(sorted_ids, seeds)
    result = sybil_trust(graph, rows, participating=participating, seed_groups=min(groups, len(seeds)))
    return LocalTrust(sorted_ids, result, seeds)


def test_spark_trust_agrees_with_the_local_walk(spark: Any, exported: Exported, tmp_path: Path) -> None:
    from credence.spark import TrustConfig, trust_export

    view = exported.engine.view(verified=("face_verified",))
    candidates = sorted(str(u) for u in view.ids[view.verified["face_verified"] & view.participating])
    seeds = candidates[::7][:60]
    local = _local_trust(exported, seeds, groups=5)
    out = tmp_path / "trust"
    report = trust_export(spark, exported.folder, out, TrustConfig(seeds=seeds, seed_groups=5), first=25)
    assert report.iterations == local.result.iterations == 12  # ceil(log2(2,862 participants))
    assert (report.seeds, report.seed_groups) == (len(seeds), 5)
    got = pd.read_parquet(out)
    got = got.set_index(got["id"].astype(str)).loc[local.ids]
    assert (got["participating"].to_numpy() == local.result.participating).all()
    assert got["seed"].sum() == len(seeds)
    diffs = {
        name: float(np.abs(got[name].to_numpy() - getattr(local.result, name)).max())
        for name in ("trust", "normalized", "degree")
    }
    print("spark trust vs sybil_trust, largest differences:", diffs)
    assert diffs["degree"] <= 1e-9, diffs
    assert diffs["trust"] <= 1e-12 and diffs["normalized"] <= 1e-12, diffs
    assert abs(got["trust"].sum() - 1.0) <= 1e-9
    # the same suspects, least trusted first (the local ranking reversed, among users with evidence)
    evidence = local.result.participating & (local.result.trust > 0) & (local.result.degree > 0)
    ranked = local.result.ranking[evidence[local.result.ranking]][::-1][:25]
    assert [s[0] for s in report.suspects] == [str(local.ids[v]) for v in ranked]
    assert report.no_evidence == int(local.result.participating.sum() - evidence.sum())


def test_the_trust_cli_draws_the_default_seeds_and_lists_the_suspects(
    spark: Any, exported: Exported, tmp_path: Path
) -> None:
    local = _local_trust(exported, None, groups=4, max_seeds=50)
    out = tmp_path / "trust"
    result = CliRunner().invoke(
        main,
        ["spark", "trust", "--input", str(exported.folder), "--output", str(out), "--max-seeds", "50",
         "--seed-groups", "4", "--first", "5", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "SybilRank from 50 seeds in 4 groups, 12 steps" in result.output
    got = pd.read_parquet(out)
    assert sorted(got.loc[got["seed"], "id"].astype(str)) == local.seeds
    evidence = local.result.participating & (local.result.trust > 0) & (local.result.degree > 0)
    ranked = local.result.ranking[evidence[local.result.ranking]][::-1][:5]
    listed = [line.split()[0] for line in result.output.splitlines()[2:]]
    assert listed == [str(local.ids[v]) for v in ranked]


def test_a_seed_that_does_not_take_part_is_refused(spark: Any, exported: Exported, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{exported.flagged[0]}\n", encoding="utf-8")
    out = tmp_path / "trust"
    result = CliRunner().invoke(
        main, ["spark", "trust", "--input", str(exported.folder), "--output", str(out), "--seeds", str(seeds)]
    )
    assert result.exit_code == 3, result.output
    assert exported.flagged[0] in result.output and "not a participant" in result.output
    assert not out.exists()


# --------------------------------------------------------------------------- import into a store


def test_the_spark_output_imports_into_sqlite_and_is_what_a_restart_serves(
    spark: Any, exported: Exported, tmp_path: Path
) -> None:
    from credence.spark import score_export

    out = tmp_path / "scores"
    report = score_export(spark, exported.folder, out, now=exported.now)
    db = tmp_path / "copy.db"
    with sqlite3.connect(exported.folder.parent / "credence.db") as source, sqlite3.connect(db) as copy:
        source.backup(copy)  # the loaded store, with its flags and no snapshot
    result = CliRunner().invoke(main, ["import-scores", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"imported {N_USERS:,} scores of {report.model_version} at {exported.now}" in result.output
    written = pd.read_parquet(out)
    written = written.set_index(written["id"].astype(str))
    with SQLiteStore(db) as store:
        latest = store.latest_scores().set_index("user")
        assert len(latest) == N_USERS
        expected = written.loc[latest.index.astype(str)]
        assert (latest["score"].to_numpy() == expected["score"].to_numpy()).all()
        for name in COMPONENT_NAMES:
            assert np.array_equal(latest[name].to_numpy(dtype=np.float64), expected[name].to_numpy())
        record = store.latest_recompute()
        assert record is not None and record.prior == report.prior
        engine = ScoringEngine(store)
        assert engine.restore() is not None
        for user in expected.index[:: N_USERS // 10]:
            assert engine.explain(str(user)).score == int(expected.loc[user, "score"])


def test_a_graph_aware_partitioning_gives_the_same_scores(
    spark: Any, exported: Exported, tmp_path: Path
) -> None:
    from credence.analysis.investigate import community_report
    from credence.spark import score_export

    report = community_report(exported.engine)
    key = tmp_path / "communities.csv"
    pd.DataFrame({"user": [str(u) for u in report.ids.tolist()], "community": report.labels}).to_csv(
        key, index=False
    )
    out = tmp_path / "scores"
    run = score_export(spark, exported.folder, out, now=exported.now, partition_by=key)
    _assert_agree(_compare(out, exported.expected))
    assert run.residual <= 1e-5 * 0.5


def test_a_bad_partition_key_is_named(spark: Any, exported: Exported, tmp_path: Path) -> None:
    key = tmp_path / "communities.csv"
    key.write_text("user,community\nu0001,7\nu0002,seven\n", encoding="utf-8")
    out = tmp_path / "scores"
    result = CliRunner().invoke(
        main,
        ["spark", "score", "--input", str(exported.folder), "--output", str(out), "--partition-by", str(key)],
    )
    assert result.exit_code == 3, result.output
    assert (
        "communities.csv" in result.output
        and "'seven'" in result.output
        and "column 'community'" in result.output
    )
    assert not out.exists()


def test_reliable_checkpoints_give_the_same_scores(spark: Any, exported: Exported, tmp_path: Path) -> None:
    from credence.spark import score_export

    out = tmp_path / "scores"
    folder = tmp_path / "checkpoints"
    report = score_export(spark, exported.folder, out, now=exported.now, checkpoint_dir=str(folder))
    _assert_agree(_compare(out, exported.expected))
    assert report.iterations <= 18  # ceil(log(tol (1 - a)) / log a) at a = 0.5, tol = 1e-5
    assert any(folder.rglob("*")), "the iterates were checkpointed to the folder"


# --------------------------------------------------------------------------- GraphX, the benchmark's peer


def _graphx_module() -> Any:
    """``benchmarks/graphx_pagerank.py``, the benchmark's wrapper of GraphX's PageRank."""
    import importlib.util
    import sys

    if "graphx_pagerank" in sys.modules:
        return sys.modules["graphx_pagerank"]
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "graphx_pagerank.py"
    spec = importlib.util.spec_from_file_location("graphx_pagerank", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def _directed_graph(n: int, edges: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random directed edges among ``n`` large 64-bit vertex ids, with sinks, sources, a self-loop and a repeat."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.int64(2) ** 62, size=n, replace=False).astype(np.int64)
    src = rng.integers(0, n - n // 10, size=edges)  # the last tenth send nothing: sinks
    dst = rng.integers(n // 20, n, size=edges)  # the first twentieth receive nothing
    src = np.concatenate([src, [src[0], n // 2]])
    dst = np.concatenate([dst, [dst[0], n // 2]])  # a repeated edge and a self-loop
    return ids[src], ids[dst]


def _pagerank_oracle(
    src: np.ndarray, dst: np.ndarray, iterations: int, reset: float, normalized: bool
) -> tuple[np.ndarray, np.ndarray]:
    """GraphX's static PageRank written out: PR = 1, then PR(v) = r + (1 - r) sum_{u->v} PR(u) / outdeg(u).

    The vertices are the ids in the edge list; with ``normalized`` the ranks are scaled to
    sum to the number of vertices at the end, as ``PageRank.run`` does in Spark 4.3.
    """
    ids, index = np.unique(np.concatenate([src, dst]), return_inverse=True)
    s, d = index[: src.size], index[src.size :]
    n = ids.size
    outdeg = np.bincount(s, minlength=n).astype(np.float64)
    ranks = np.ones(n)
    for _ in range(iterations):
        ranks = reset + (1.0 - reset) * np.bincount(d, weights=ranks[s] / outdeg[s], minlength=n)
    if normalized:
        ranks = ranks * (n / ranks.sum())
    return ids, ranks


@pytest.mark.parametrize("normalized", [True, False])
def test_graphx_pagerank_agrees_with_a_power_iteration_of_its_formula(
    spark: Any, tmp_path: Path, normalized: bool
) -> None:
    graphx = _graphx_module()
    src, dst = _directed_graph(n=400, edges=2_400, seed=5)
    edge_list = tmp_path / "edges.txt"
    lines = ["# src dst, one directed edge a line", *(f"{u} {v}" for u, v in zip(src, dst, strict=True))]
    edge_list.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reset = 1.0 - float(read_policy(DEFAULT_POLICY_PATH).diffusion.damping)
    iterations = 15
    run = graphx.graphx_pagerank(
        spark, edge_list, tmp_path / "ranks", iterations=iterations, reset_prob=reset,
        normalized=normalized, edge_partitions=3,
    )  # fmt: skip
    expected_ids, expected = _pagerank_oracle(src, dst, iterations, reset, normalized)
    assert (run.vertices, run.edges) == (expected_ids.size, src.size)
    ids, ranks = graphx.read_ranks(run.output)
    assert np.array_equal(ids, expected_ids)
    largest = float(np.abs(ranks - expected).max())
    print(f"GraphX PageRank vs the numpy oracle (normalized={normalized}): largest difference {largest:.2g}")
    assert largest <= 1e-9
    # the comparison can tell one iteration from the next, and the normalisation from none
    _, previous = _pagerank_oracle(src, dst, iterations - 1, reset, normalized)
    _, other = _pagerank_oracle(src, dst, iterations, reset, not normalized)
    assert float(np.abs(previous - expected).max()) > 1e-6
    assert float(np.abs(other - expected).max()) > 1e-3
    assert abs(ranks.sum() - ids.size) <= 1e-6 * ids.size if normalized else ranks.sum() < ids.size


def test_graphx_pagerank_refuses_bad_arguments(spark: Any, tmp_path: Path) -> None:
    graphx = _graphx_module()
    edge_list = tmp_path / "edges.txt"
    edge_list.write_text("1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="iterations"):
        graphx.graphx_pagerank(spark, edge_list, tmp_path / "a", iterations=0, reset_prob=0.5)
    with pytest.raises(ValueError, match="reset_prob"):
        graphx.graphx_pagerank(spark, edge_list, tmp_path / "b", iterations=3, reset_prob=1.5)
    (tmp_path / "c").mkdir()
    with pytest.raises(FileExistsError):
        graphx.graphx_pagerank(spark, edge_list, tmp_path / "c", iterations=3, reset_prob=0.5)
    with pytest.raises(ValueError, match="not an"):
        graphx.parse_rank_line("1 0.5")
