"""Trade ratings as credit-history evidence (credence.scoring.ratings, the engine's blend and reasons)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from credence.core.errors import ParameterError
from credence.engine import ScoringEngine
from credence.engine.model import ScoringModel
from credence.graph.model import Dataset
from credence.graph.sqlite import SQLiteStore
from credence.scoring.factors import RepaymentArrays, SpendingArrays, UserArrays, compute_factors
from credence.scoring.policy import DEFAULT_POLICY_PATH, TRADE_POLICY_PATH, parse_policy, read_policy
from credence.scoring.ratings import RatingParams, blend, rating_evidence, signed_ratings
from credence.seeds.snap import parse_signed_edges


def test_one_uncontradicted_rating() -> None:
    # Rater 0 rates 1 at +1: nobody contradicts them, fairness 1; P = 1, N = 0.
    e = rating_evidence(sp.csr_matrix(([1.0], ([0], [1])), shape=(2, 2)), RatingParams())
    assert e.value[1] == pytest.approx((2 + 1) / (3 + 1))
    assert e.weight[1] == pytest.approx(1 / (1 + 5))
    assert e.weight[0] == 0.0 and e.distrust_received.tolist() == [0, 0]


def test_a_dissenter_loses_weight() -> None:
    # Raters 0, 1, 2 rate 3 at +1, rater 4 at -1. By hand: g = (3 f - f4) / 4 with
    # f = 1 - (1 - g) / 2 and f4 = 1 - (1 + g) / 2, so g = 1/4 + g/2: g = 1/2, f = 3/4, f4 = 1/4.
    R = sp.csr_matrix(([1.0, 1.0, 1.0, -1.0], ([0, 1, 2, 4], [3, 3, 3, 3])), shape=(5, 5))
    e = rating_evidence(R, RatingParams())
    assert e.fairness.tolist() == pytest.approx([0.75, 0.75, 0.75, 1.0, 0.25], abs=1e-7)
    assert (e.positive[3], e.negative[3]) == pytest.approx((2.25, 0.25), abs=1e-7)
    assert e.value[3] == pytest.approx(4.25 / 5.5, abs=1e-7)  # (2 + 2.25) / (3 + 2.5)
    assert e.weight[3] == pytest.approx(2.5 / 7.5, abs=1e-7)  # 2.5 / (2.5 + 5)
    assert e.shared_value[3] == pytest.approx(4.25 / 5.25, abs=1e-7)
    assert e.distrust_received[3] == 1


def test_signed_ratings_reads_links_only_when_asked() -> None:
    A = sp.csr_matrix(([15.0, 15.0, 4.0, 4.0], ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
    D = sp.csr_matrix(([2.0], ([2], [1])), shape=(3, 3))
    trade = signed_ratings(A, D, RatingParams(links="ratings")).toarray()
    assert trade.tolist() == [[0, 1.0, 0], [1.0, 0, 0.4], [0, -0.2, 0]]  # clipped; distrust replaces 2 -> 1
    assert signed_ratings(A, D, RatingParams()).toarray().tolist() == [[0, 0, 0], [0, 0, 0], [0, -0.2, 0]]
    with pytest.raises(ParameterError):
        signed_ratings(A, sp.csr_matrix((2, 2)), RatingParams())


def test_more_distrust_never_raises_the_value() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        dense = np.where(rng.random((12, 12)) < 0.3, rng.uniform(0.1, 1, (12, 12)), 0.0)
        np.fill_diagonal(dense, 0)
        base = rating_evidence(dense, RatingParams())
        worse = dense.copy()
        worse[np.diag_indices(12)] = 0
        i, j = rng.integers(0, 12, 2)
        if i == j or worse[i, j] != 0:
            continue
        worse[i, j] = -1.0  # one more, full-strength negative rating of j
        # Fairness moves everyone a little; j's positive mass can only shrink or stay about.
        after = rating_evidence(worse, RatingParams())
        assert after.value[j] <= base.value[j] + 1e-12 or after.positive[j] > base.positive[j]


def test_blend_without_evidence_is_the_identity() -> None:
    c = np.array([0.1, 0.5, 0.9])
    assert blend(c, np.array([1.0, 0.0, 0.3]), np.zeros(3)).tolist() == c.tolist()


def test_policy_ratings_table() -> None:
    assert read_policy(DEFAULT_POLICY_PATH).ratings == RatingParams()
    assert read_policy(TRADE_POLICY_PATH).ratings.links == "ratings"
    data = {
        "version": "v",
        "weights": {"credit_history": 0.35, "fulfilment_capacity": 0.25, "behaviour": 0.2,
                    "identity": 0.15, "connections": 0.05},
        "bands": [{"name": "poor", "min": 350}],
    }  # fmt: skip
    assert parse_policy(data).ratings == RatingParams()  # no [ratings] table: the defaults
    with pytest.raises(ParameterError, match=r"ratings\.scael"):
        parse_policy({**data, "ratings": {"scael": 5}})
    with pytest.raises(ParameterError, match=r"ratings\.links"):
        parse_policy({**data, "ratings": {"links": "friends"}})


NOW = 1_400_001_000
TABLE = pd.DataFrame(
    {
        "source": [1, 2, 3, 1, 4, 2, 5],
        "target": [2, 3, 2, 3, 3, 4, 1],
        "weight": [8, 9, 7, -6, -3, 5, 10],
        "timestamp": [1_400_000_000 + 10 * k for k in range(7)],
    }
)


def engine_of(policy_path: object) -> ScoringEngine:
    graph = parse_signed_edges(TABLE)
    store = SQLiteStore(":memory:")
    store.load(Dataset(users=graph.users, links=graph.links, distrust=graph.distrust))
    engine = ScoringEngine(store, policy=read_policy(policy_path), now=NOW)  # type: ignore[arg-type]
    engine.recompute(write=False)
    return engine


@pytest.mark.parametrize("path", [DEFAULT_POLICY_PATH, TRADE_POLICY_PATH])
def test_engine_blends_ratings_into_credit_history(path: object) -> None:
    engine = engine_of(path)
    model = ScoringModel.from_policy(engine.policy)
    graph = parse_signed_edges(TABLE)
    users = UserArrays.build(created=graph.users["created"].to_numpy())
    plain = compute_factors(users, RepaymentArrays.empty(), SpendingArrays.empty(), now=NOW)
    frame = engine.scores().set_index("user")
    for i, user in enumerate(graph.users["id"].tolist()):
        explanation = engine.explain(user)
        ratings = explanation.ratings
        assert ratings is not None
        expected = (1 - ratings.weight) * plain.components[i, 0] + ratings.weight * ratings.value
        assert frame.loc[user, "credit_history"] == pytest.approx(expected, abs=1e-12)
        # The reasons still add up to every point lost (all of them, not only the top 4).
        every = model.reasons(
            plain.sub_values[i], float(frame.loc[user, "connections"]), top=99,
            rating=(ratings.value, ratings.weight),
        )  # fmt: skip
        if user == "3":
            assert "CH_TRADE_RATINGS" in [r.code for r in every]
        lost = sum(600 * w * (1 - frame.loc[user, name]) for name, w in engine.policy.weights.items())
        assert sum(r.points for r in every) == pytest.approx(lost, abs=1e-9)
    distrusted = engine.explain("3")
    assert distrusted.ratings is not None and distrusted.ratings.distrust_received == 2
    assert distrusted.ratings.points == pytest.approx(
        600 * 0.35 * distrusted.ratings.weight * (1 - distrusted.ratings.value)
    )


def test_trade_policy_counts_positive_ratings() -> None:
    default, trade = engine_of(DEFAULT_POLICY_PATH), engine_of(TRADE_POLICY_PATH)
    # User 2 has only positive ratings: no evidence by default, some under the trade policy.
    assert default.explain("2").ratings.weight == 0.0  # type: ignore[union-attr]
    assert trade.explain("2").ratings.weight > 0.0  # type: ignore[union-attr]
    assert trade.score_of("2") > default.score_of("2")
    # User 3 is distrusted twice: it scores below user 2 under either policy.
    assert default.score_of("3") < default.score_of("2") and trade.score_of("3") < trade.score_of("2")


def test_population_without_ratings_has_no_evidence() -> None:
    store = SQLiteStore(":memory:")
    store.load(
        Dataset(
            users=parse_signed_edges(TABLE).users,
        )
    )
    engine = ScoringEngine(store, now=NOW)
    engine.recompute(write=False)
    assert engine.explain("1").ratings is None


def test_trade_ratings_over_graphql(tmp_path: object) -> None:
    from pathlib import Path

    from tests.api_server import live_api

    graph = parse_signed_edges(TABLE)
    store = SQLiteStore(Path(str(tmp_path)) / "signed.db")
    store.load(Dataset(users=graph.users, links=graph.links, distrust=graph.distrust))
    query = "query($u: String!) { user(id: $u) { score tradeRatings { positive negative distrustReceived points } } }"
    with live_api(store, NOW, Path(str(tmp_path))) as api:
        served = api.run("app", query, u="3")["user"]
        expected = api.engine.explain("3").ratings
    store.close()
    assert expected is not None
    # Distrusted twice, by hand from TABLE (weights -6 and -3); the reason's points as the engine states them.
    assert (
        served["tradeRatings"]["distrustReceived"]
        == 2
        == int((TABLE["target"].eq(3) & TABLE["weight"].lt(0)).sum())
    )
    assert (
        served["tradeRatings"]["points"] == pytest.approx(expected.points)
        and served["tradeRatings"]["points"] > 0
    )
    assert served["tradeRatings"]["negative"] > 0
