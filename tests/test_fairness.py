"""Fairness maths by hand, then one end-to-end report on a generated population; plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from credence.analysis.fairness import (
    NO_NETWORK,
    align_groups,
    fairness_report,
    homophily,
    impact_ratios,
    neutral_scores,
    selection_rates,
    tier_impacts,
)
from credence.core.errors import ParameterError
from credence.engine import ScoringEngine
from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population


def test_disparate_impact_known_answer() -> None:
    # Group A: 10 users, scores make 6 reach 600 and 3 reach 700.
    # Group B: 5 users, 2 reach 600 and 1 reaches 700. C: 4 users, 4 reach 600, 0 reach 700.
    a = [720, 710, 705, 650, 640, 600, 599, 500, 400, 350]
    b = [760, 610, 590, 450, 350]
    c = [690, 650, 620, 600]
    scores = np.array(a + b + c)
    groups = ["A"] * 10 + ["B"] * 5 + ["C"] * 4
    impacts = tier_impacts(scores, groups, {"line": 600, "visa": 700})
    line, visa = impacts
    # rates at 600: A 6/10, B 2/5, C 4/4 -> ratios 0.6, 0.4, 1.0
    assert line.groups == ("A", "B", "C")
    assert line.counts == (10, 5, 4)
    assert line.rates == pytest.approx((0.6, 0.4, 1.0))
    assert line.ratios == pytest.approx((0.6, 0.4, 1.0))
    assert line.min_ratio == pytest.approx(0.4)
    assert line.gap == pytest.approx(0.6)
    assert not line.passes
    # rates at 700: A 3/10, B 1/5, C 0 -> most favoured A: ratios 1, 2/3, 0
    assert visa.rates == pytest.approx((0.3, 0.2, 0.0))
    assert visa.ratios == pytest.approx((1.0, 2 / 3, 0.0))
    assert visa.rate_of("B") == pytest.approx(0.2)


def test_passing_the_four_fifths_rule() -> None:
    # A 5/10 = 0.5, B 4/10 = 0.4: ratio 0.8 exactly passes.
    selected = [1] * 5 + [0] * 5 + [1] * 4 + [0] * 6
    labels, rates, counts = selection_rates(selected, ["A"] * 10 + ["B"] * 10)
    assert labels.tolist() == ["A", "B"] and counts.tolist() == [10, 10]
    assert impact_ratios(rates).tolist() == pytest.approx([1.0, 0.8])
    (impact,) = tier_impacts(np.array(selected) * 700, ["A"] * 10 + ["B"] * 10, [("t", 600)])
    assert impact.passes


def test_missing_groups_are_left_out_and_nobody_selected_is_nan() -> None:
    labels, rates, counts = selection_rates([True, False, True], ["A", None, float("nan")])
    assert labels.tolist() == ["A"] and rates.tolist() == [1.0] and counts.tolist() == [1]
    (impact,) = tier_impacts([400, 400], ["A", "B"], {"t": 600})
    assert all(math.isnan(r) for r in impact.ratios)
    assert math.isnan(impact.min_ratio) and impact.passes
    with pytest.raises(ParameterError):
        selection_rates([True], ["A", "B"])


def test_homophily_known_answer() -> None:
    # a-b weight 2 (A-A), c-d weight 1 (B-B), b-c weight 1 (A-B); e has no group.
    dense = np.zeros((5, 5))
    for u, v, w in [(0, 1, 2.0), (2, 3, 1.0), (1, 2, 1.0), (3, 4, 5.0)]:
        dense[u, v] = dense[v, u] = w
    h = homophily(sp.csr_matrix(dense), ["A", "A", "B", "B", None])
    assert h.links == 3
    assert h.within == pytest.approx(3 / 4)
    assert h.expected == pytest.approx((5 / 8) ** 2 + (3 / 8) ** 2)
    assert h.assortativity == pytest.approx((0.75 - 34 / 64) / (1 - 34 / 64))


def test_homophily_matches_networkx_assortativity_on_unit_weights() -> None:
    nx = pytest.importorskip("networkx")
    graph = nx.gnm_random_graph(60, 200, seed=4)
    rng = np.random.default_rng(4)
    groups = rng.choice(["A", "B", "C"], size=60)
    nx.set_node_attributes(graph, dict(enumerate(groups.tolist())), "g")
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=range(60), weight=None, format="csr")
    h = homophily(adjacency, groups)
    assert h.assortativity == pytest.approx(nx.attribute_assortativity_coefficient(graph, "g"))


def test_neutral_scores_replace_the_network_component() -> None:
    components = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    weights = np.array([0.5, 0.3, 0.2])
    # 350 + 600 * (0.5 + 0.3 + 0.2 * 0.25) = 860; 350 + 600 * 0.05 = 380
    assert neutral_scores(components, weights, 0.25).tolist() == [860, 380]
    with pytest.raises(ParameterError):
        neutral_scores(components, weights, 1.5)


def test_align_groups_inputs() -> None:
    import pandas as pd

    ids = ["u1", "u2", "u3"]
    assert align_groups(ids, pd.Series({"u3": "B", "u1": "A"})).tolist() == ["A", None, "B"]
    assert align_groups(ids, pd.DataFrame({"id": ["u2"], "g": ["X"]}), column="g").tolist() == [
        None,
        "X",
        None,
    ]
    with pytest.raises(ParameterError):
        align_groups(ids, ["A", "B", "C"])
    with pytest.raises(ParameterError):
        align_groups(ids, pd.DataFrame({"user": ["u1", "u1"], "group": ["A", "B"]}))


@pytest.fixture(scope="module")
def population_engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    population = generate_population(n_users=800, seed=5)
    path = tmp_path_factory.mktemp("fair") / "credence.db"
    store = SQLiteStore(path)
    store.load(population.dataset())
    engine = ScoringEngine(store, now=population.now)
    engine.recompute(write=False)
    yield population, store, engine, path
    store.close()


def test_fairness_report_end_to_end(population_engine: Any) -> None:
    population, _, engine, _ = population_engine
    report = fairness_report(engine, population.labels)
    assert report.groups == ("A", "B")
    assert sum(report.group_sizes) == 800 and report.unassigned == 0
    assert report.scenarios == ("bonus_only", "symmetric", NO_NETWORK)
    assert report.tiers == ("credit_line", "deposit_free_rental", "fast_track_visa_documents")
    labels = population.labels.set_index("user")["group"]
    scores = engine.scores()
    groups = labels.loc[scores["user"].astype(str)].to_numpy(dtype=object)
    for tier, minimum in (("credit_line", 600), ("fast_track_visa_documents", 700)):
        impact = report.impact("bonus_only", tier)
        for g in ("A", "B"):
            chosen = scores["score"].to_numpy()[groups == g] >= minimum
            assert impact.rate_of(g) == pytest.approx(chosen.mean())
        assert report.network_gap("bonus_only", tier) == pytest.approx(
            impact.gap - report.impact(NO_NETWORK, tier).gap
        )
    # the generator plants group-correlated communities: the graph is homophilous
    assert report.homophily.within > report.homophily.expected
    assert 0 < report.homophily.assortativity <= 1
    text = report.text()
    assert "credit_line" in text and "80% rule" in text and "assortativity" in text
    frame = report.frame()
    assert len(frame) == 3 * 3 * 2
    assert set(report.as_dict()) >= {"groups", "homophily", "tiers"}


def test_fairness_report_rejects_bad_input(population_engine: Any) -> None:
    population, _, engine, _ = population_engine
    with pytest.raises(ParameterError):
        fairness_report(engine, population.labels, sharing=("nope",))
    one_group = population.labels.assign(group="A")
    with pytest.raises(ParameterError):
        fairness_report(engine, one_group)


def test_plots_write_non_empty_pngs(population_engine: Any, tmp_path: Path) -> None:
    from credence.analysis.plots import plot_ego_network, plot_network_vs_degree, plot_score_distribution

    _, _, engine, _ = population_engine
    user = str(engine.scores().sort_values("connections")["user"].iloc[-1])
    paths = [
        plot_score_distribution(engine, tmp_path / "scores.png"),
        plot_network_vs_degree(engine, tmp_path / "deep" / "network.png"),
        plot_ego_network(engine, user, tmp_path / "ego.png", contributors=5),
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2_000
    with pytest.raises(ParameterError):
        plot_score_distribution(engine, tmp_path / "scores.svg")


def test_commands_run_on_a_sqlite_store(population_engine: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from credence.cli.commands_ds import fairness, plot
    from credence.cli.main import export

    population, _, _, db = population_engine
    labels = tmp_path / "labels.csv"
    population.labels.to_csv(labels, index=False)
    now = str(population.now)
    runner = CliRunner()
    result = runner.invoke(
        fairness,
        [
            "--groups",
            str(labels),
            "--db",
            str(db),
            "--now",
            now,
            "--sharing",
            "bonus_only",
            "--out",
            str(tmp_path / "fair.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no_network" in result.output and (tmp_path / "fair.csv").exists()
    result = runner.invoke(plot, ["network", str(tmp_path / "n.png"), "--db", str(db), "--now", now])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "n.png").stat().st_size > 0
    result = runner.invoke(plot, ["ego", str(tmp_path / "e.png"), "--db", str(db)])
    assert result.exit_code == 2  # --user missing
    result = runner.invoke(
        export, [str(tmp_path / "tables"), "--format", "csv", "--db", str(db), "--now", now, "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [
        "distrust.csv",
        "links.csv",
        "repayments.csv",
        "scores.csv",
        "spending.csv",
        "users.csv",
    ]
