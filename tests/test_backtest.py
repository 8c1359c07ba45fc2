"""The out-of-time backtest (credence.analysis.backtest, `credence backtest`).

Every expectation is computed another way: AUC by counting every good-bad pair, KS by
scanning thresholds, PageRank by a dense linear solve, outcomes by pandas on the raw file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from credence.analysis.backtest import (
    BacktestConfig,
    backtest_dataset,
    backtest_signed,
    bad_rate_by_group,
    deciles,
    ks_statistic,
    pagerank,
    roc_auc,
)
from credence.cli import main
from credence.core.errors import InputError, ParameterError
from credence.graph.io import write_dataset
from credence.scoring.policy import DEFAULT_POLICY_PATH, TRADE_POLICY_PATH, read_policy
from credence.seeds.synthetic import generate_population

BITCOIN_ALPHA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bitcoin-alpha.csv"


def pairwise_auc(signal: np.ndarray, bad: np.ndarray) -> float:
    """P(good > bad) + P(tie) / 2 by looking at every good-bad pair."""
    good, worse = signal[~bad], signal[bad]
    wins = (good[:, None] > worse[None, :]).sum() + 0.5 * (good[:, None] == worse[None, :]).sum()
    return float(wins / (good.size * worse.size))


def test_auc_hand_computed() -> None:
    # good 3, 5, 6 and bad 1, 5: pairs (3,1) (5,1) (6,1) (6,5) won, (5,5) tied, (3,5) lost.
    assert roc_auc(np.array([3, 5, 6, 1, 5]), np.array([0, 0, 0, 1, 1], dtype=bool)) == 4.5 / 6
    assert roc_auc([2.0, 1.0], np.array([True, False])) == 0.0
    assert np.isnan(roc_auc([1.0, 2.0], np.array([False, False])))


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_ks_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 12, 300).astype(float)  # many ties
    y = rng.random(300) < 0.2 + 0.03 * x
    assert roc_auc(x, y) == pytest.approx(pairwise_auc(x, y), abs=1e-12)
    ks = max(abs((x[y] <= t).mean() - (x[~y] <= t).mean()) for t in np.unique(x))
    assert ks_statistic(x, y) == pytest.approx(ks, abs=1e-12)


def test_measure_inputs_are_checked() -> None:
    with pytest.raises(ParameterError):
        roc_auc([1.0, 2.0], np.array([1, 0]))
    with pytest.raises(ParameterError):
        roc_auc([1.0, np.nan], np.array([True, False]))
    with pytest.raises(ParameterError):
        BacktestConfig(at=1.5)  # type: ignore[arg-type]


def test_pagerank_matches_linear_solve() -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((30, 30)) < 0.1) * rng.random((30, 30))
    np.fill_diagonal(dense, 0.0)
    dense[5] = 0.0  # a dangling node
    out = dense.sum(axis=1)
    d = 0.85
    # r = d * (P^T r + dangling share) + (1 - d) / n, with r summing to 1: a linear system.
    p = np.divide(dense, out[:, None], out=np.zeros_like(dense), where=out[:, None] > 0)
    m = d * p.T + d * np.outer(np.ones(30), out == 0) / 30
    expected = np.linalg.solve(np.eye(30) - m, np.full(30, (1 - d) / 30))
    assert pagerank(sp.csr_matrix(dense)) == pytest.approx(expected, abs=1e-8)


def test_deciles_and_groups() -> None:
    assert deciles(np.arange(20)).tolist() == [v for v in range(1, 11) for _ in range(2)]
    assert len(set(deciles(np.ones(7)).tolist())) == 1  # ties share a decile
    rows = bad_rate_by_group(["x", "x", "y"], np.array([True, True, False]), ["x", "y", "z"])
    assert [(r["users"], r["bad"], r["bad_rate"]) for r in rows] == [(2, 2, 1.0), (1, 0, 0.0), (0, 0, None)]


@pytest.fixture(scope="module")
def population_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("population")
    write_dataset(generate_population(n_users=2_000, seed=7).dataset(), folder)
    return folder


def test_backtest_on_a_synthetic_population(population_folder: Path) -> None:
    result = backtest_dataset(population_folder, read_policy(DEFAULT_POLICY_PATH))
    # The outcome, by pandas on the files: defaulted repayments due at or after T.
    repayments = pd.read_csv(population_folder / "repayments.csv")
    users = pd.read_csv(population_folder / "users.csv")
    due = pd.to_datetime(repayments["due"]).dt.as_unit("s").astype("int64")
    created = pd.to_datetime(users["created"]).dt.as_unit("s").astype("int64")
    assert result.at == int(np.quantile(due, 0.5))
    population = set(users["id"][created < result.at])
    bad_users = (
        set(repayments["user"][(due >= result.at) & (repayments["status"] == "defaulted")]) & population
    )
    assert set(result.users.tolist()) == population
    assert set(result.users[result.bad].tolist()) == bad_users
    score = result.signals["score"]
    auc = pairwise_auc(score, result.bad)
    assert auc > 0.65  # the score ranks future defaulters low, well above chance
    report = result.to_dict()
    assert report["auc"]["score"] == pytest.approx(auc, abs=1e-6)
    assert {"score", "score_without_network", "degree", "pagerank", "goodness"} <= set(report["auc"])
    assert report["users"] == len(population) and report["bad"] == len(bad_users)
    bands = [row for row in report["bands"] if row["users"] >= 30]
    assert bands[0]["bad_rate"] > bands[-1]["bad_rate"]  # poor bands default more than good ones
    assert sum(row["users"] for row in report["deciles"]) == report["users"]


def test_backtest_cli_writes_json_and_plot(population_folder: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "bt.json", tmp_path / "bt.png"
    result = CliRunner().invoke(
        main, ["backtest", str(population_folder), "--split", "0.6", "--json", str(out), "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["kind"] == "dataset" and report["auc"]["score"] > 0.6
    assert png.read_bytes()[:4] == b"\x89PNG"
    both = CliRunner().invoke(main, ["backtest", str(population_folder), "--at", "5", "--split", "0.5"])
    assert both.exit_code != 0


def test_backtest_signed_small_file(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(
        "source,target,weight,timestamp\n"
        "1,2,8,100\n2,1,7,110\n3,2,9,120\n1,3,-6,130\n4,3,-3,140\n"  # before T = 200
        "2,3,-8,200\n1,2,5,210\n5,1,-2,220\n"  # after: 3 goes bad (-8); 5 is new
    )
    result = backtest_signed(path, read_policy(TRADE_POLICY_PATH), BacktestConfig(at=200))
    assert sorted(result.users.tolist()) == ["1", "2", "3", "4"]
    assert result.users[result.bad].tolist() == ["3"]
    assert sorted(result.users[result.exposed].tolist()) == ["1", "2", "3"]
    assert result.signals["degree"][result.users.tolist().index("3")] == 3
    with pytest.raises(InputError):
        backtest_signed(path, read_policy(TRADE_POLICY_PATH), BacktestConfig(at=50))


def test_backtest_bitcoin_alpha() -> None:
    if not BITCOIN_ALPHA.exists():
        pytest.skip(f"{BITCOIN_ALPHA} is not on this machine (see shared/data/README.md)")
    ratings = pd.read_csv(BITCOIN_ALPHA)
    at = int(ratings["timestamp"].median())
    before, after = ratings[ratings["timestamp"] < at], ratings[ratings["timestamp"] >= at]
    active = set(before["source"].astype(str)) | set(before["target"].astype(str))
    bad = set(after["target"][after["weight"] <= -5].astype(str)) & active

    result = backtest_signed(BITCOIN_ALPHA, read_policy(TRADE_POLICY_PATH))
    report = result.to_dict()
    assert report["at"] == at and report["users"] == len(active) and report["bad"] == len(bad)
    for name, signal in result.signals.items():
        assert report["auc"][name] == pytest.approx(pairwise_auc(signal, result.bad), abs=1e-6)
    # Not the targets (docs/backtest.md reports them honestly): the figures are sane.
    assert 0.0 < report["auc"]["score"] < 1.0


def test_trust_signal_is_what_credence_trust_ranks(tmp_path: Path) -> None:
    """The backtest's ``trust`` equals ``credence trust`` run on a store of the ratings before T."""
    rng = np.random.default_rng(7)
    rows = []
    for t in range(400):
        a, b = rng.choice(40, size=2, replace=False)
        rows.append((int(a), int(b), int(rng.choice([8, 6, 3, 1, -2, -7])), 1_000 + 10 * t))
    rows += [(50, 51, -8, 1_005), (52, 3, -9, 1_015)]  # 50, 51 and 52 hold only distrust: no evidence
    frame = pd.DataFrame(rows, columns=["source", "target", "weight", "timestamp"])
    at = 1_000 + 10 * 250
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    early = tmp_path / "early.csv"
    frame[frame["timestamp"] < at].to_csv(early, index=False)

    result = backtest_signed(path, read_policy(DEFAULT_POLICY_PATH), BacktestConfig(at=at))
    db = tmp_path / "early.db"
    runner = CliRunner()
    loaded = runner.invoke(main, ["load", str(early), "--format", "signed", "--db", str(db), "--quiet"])
    assert loaded.exit_code == 0, loaded.output
    ranked = runner.invoke(main, ["trust", "--json", "--first", "1000", "--db", str(db), "--now", str(at)])
    assert ranked.exit_code == 0, ranked.output
    report = json.loads(ranked.output)
    expected = {s["user"]: s["trust_per_degree"] for s in report["suspects"]}
    assert report["seed_rule"] == "long_standing_rated" and 0 < len(expected) < result.users.size

    signal = dict(zip(result.users.tolist(), result.signals["trust"].tolist(), strict=True))
    median = float(np.median(list(expected.values())))
    for user, value in signal.items():
        assert value == pytest.approx(expected.get(user, median), rel=1e-9, abs=1e-15), user
    facts = result.to_dict()["trust"]
    assert facts["ranked"] == len(expected) and facts["no_evidence"] == result.users.size - len(expected)
    assert facts["seeds"] == report["seeds"]
