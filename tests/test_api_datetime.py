"""The DateTime scalar and the Band enum, through a live uvicorn server and httpx, on SQLite and Neo4j.

Every timestamp the API takes or gives is ISO-8601 text in UTC (``DateTime``), with no
32-bit limit; every band is a ``Band`` enum value. The expectations are computed here
with ``calendar``/``time`` and the policy file's text, not with the API's own helpers.
"""

from __future__ import annotations

import calendar
import itertools
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from credence.scoring.policy import DEFAULT_POLICY_PATH
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, epoch, iso, live_population

POPULATION = generate_population(n_users=600, seed=21)
IDS = POPULATION.users["id"].astype(str).tolist()
NOW = int(POPULATION.now)
DAY = 86_400
REPAY = "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { users { userId score } } }"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_population(request, tmp_path_factory.mktemp(f"datetime-{request.param}"), POPULATION.dataset(),
                         POPULATION.now) as server:  # fmt: skip
        yield server


def _post(api: LiveApi, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(api.url, json={"query": query, "variables": variables}, timeout=60,
                          headers={"Authorization": f"Bearer {api.secrets['admin']}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _counts(api: LiveApi) -> tuple[int, ...]:
    stats = api.store.stats()
    return (stats.users, stats.links, stats.repayments, stats.spending, stats.score_snapshots)


def test_a_time_past_2038_with_an_offset_is_stored_as_the_instant_it_names(api: LiveApi) -> None:
    user = IDS[3]
    # 2040-01-01 08:00 at +08:00 is 2040-01-01 00:00 UTC: past the 32-bit limit of Int.
    body = _post(api, REPAY, i={"id": "dt-2040", "user": user, "due": "2040-01-01T08:00:00+08:00",
                                "amount": 120.0, "status": "pending"})  # fmt: skip
    assert "errors" not in body, body
    stored = api.store.repayments(user).set_index("id").loc["dt-2040"]
    expected = calendar.timegm((2040, 1, 1, 0, 0, 0, 0, 0, 0))
    assert expected > 2**31 and int(stored["due"]) == expected


def test_every_served_timestamp_is_utc_iso_text(api: LiveApi) -> None:
    user = IDS[5]
    flagged = _post(api, 'mutation($u: String!) { flagUser(user: $u, reason: "datetime test") { users { userId } } }',
                    u=user)  # fmt: skip
    assert "errors" not in flagged, flagged
    data = _post(api, """query($u: String!) {
        user(id: $u) { computedAt history(first: 2) { edges { node { computedAt } } } flags { flaggedAt clearedAt } }
        model { computedAt }
        auditLog(first: 100, subject: $u) { entries { at action } } }""", u=user)  # fmt: skip
    assert "errors" not in data, data
    data = data["data"]
    stamps = [data["user"]["computedAt"], data["model"]["computedAt"], data["user"]["flags"][-1]["flaggedAt"]]
    stamps += [edge["node"]["computedAt"] for edge in data["user"]["history"]["edges"]]
    stamps += [entry["at"] for entry in data["auditLog"]["entries"]]
    for stamp in stamps:
        assert isinstance(stamp, str) and stamp.endswith("Z") and len(stamp) == 20, stamp
    assert epoch(data["user"]["computedAt"]) == api.engine.computed_at
    assert data["user"]["flags"][-1]["clearedAt"] is None
    flag = api.store.flags(user)[-1]
    assert epoch(data["user"]["flags"][-1]["flaggedAt"]) == flag.flagged_at
    assert abs(epoch(data["auditLog"]["entries"][-1]["at"]) - time.time()) < 600
    _post(api, 'mutation($u: String!) { unflagUser(user: $u, reason: "datetime test done") { users { userId } } }',
          u=user)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (1_767_139_200, "ISO-8601 text"),  # epoch seconds as a number: the old Int form
        ("2026-01-01", "a date alone"),
        ("2026-01-01T00:00:00", "UTC offset"),
        ("2026-01-01T00:00:00.250Z", "whole seconds"),
        ("2026-02-30T00:00:00Z", "not an ISO-8601"),
        ("next tuesday" * 20_000, "characters)"),  # a long value is clipped, not echoed
        (True, "ISO-8601 text"),
        (9_007_199_254_740_993, "ISO-8601 text"),
    ],
)
def test_a_malformed_datetime_variable_is_bad_input_and_writes_nothing(
    api: LiveApi, value: Any, says: str
) -> None:
    before = _counts(api)
    body = _post(
        api, REPAY, i={"id": "dt-bad", "user": IDS[7], "due": value, "amount": 10.0, "status": "pending"}
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "DateTime" in error["message"] and "due" in error["message"] and says in error["message"], error
    assert len(error["message"]) < 600
    assert _counts(api) == before


def test_a_malformed_datetime_literal_is_a_validation_error(api: LiveApi) -> None:
    before = _counts(api)
    body = _post(api, f'mutation {{ recordSpending(input: {{id: "dt-lit", user: "{IDS[8]}", at: 1767139200, '
                      'amount: 5, category: purchase}) { users { userId } } }')  # fmt: skip
    error = body["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "DateTime" in error["message"], (
        error
    )
    assert _counts(api) == before


def test_a_time_the_model_refuses_is_echoed_as_a_datetime(api: LiveApi) -> None:
    before = _counts(api)
    body = _post(api, "mutation($i: UserInput!) { upsertUser(input: $i) { users { userId } } }",
                 i={"id": "dt-user", "created": "2999-06-01T00:00:00Z"})  # fmt: skip
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["column"] == "created", (
        error
    )
    assert error["extensions"]["value"] == "2999-06-01T00:00:00Z", error
    assert _counts(api) == before


def test_recompute_takes_its_evaluation_time_as_a_datetime(api: LiveApi) -> None:
    current = api.engine.computed_at
    assert current is not None
    later = current + 90
    # The same instant written at -05:00, answered back in UTC.
    local = time.strftime("%Y-%m-%dT%H:%M:%S-05:00", time.gmtime(later - 5 * 3600))
    body = _post(api, "mutation($t: DateTime!) { recompute(now: $t) { computedAt } }", t=local)
    assert "errors" not in body, body
    assert body["data"]["recompute"]["computedAt"] == iso(later) and api.engine.computed_at == later
    refused = _post(api, "mutation($t: DateTime!) { recompute(now: $t) { computedAt } }", t=iso(current - 5))
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and iso(later) in error["message"], error


def test_bands_are_the_enum_of_the_policy_bands(api: LiveApi) -> None:
    written = tomllib.loads(DEFAULT_POLICY_PATH.read_text())["bands"]
    as_enum = [band["name"].replace(" ", "_") for band in written]
    enum = _post(api, '{ __type(name: "Band") { enumValues { name } } }')["data"]["__type"]["enumValues"]
    assert [value["name"] for value in enum] == as_enum
    data = _post(api, "{ model { bands { name band min } } scoreStats { count bands { name band count } } }")[
        "data"
    ]
    assert [(b["name"], b["band"], b["min"]) for b in data["model"]["bands"]] == [
        (band["name"], band["name"].replace(" ", "_"), band["min"]) for band in written
    ]
    scores = api.engine.scores()["score"].to_numpy()
    starts = [band["min"] for band in written] + [951]
    expected = [int(((scores >= lo) & (scores < hi)).sum()) for lo, hi in itertools.pairwise(starts)]
    assert [b["count"] for b in data["scoreStats"]["bands"]] == expected
    assert [b["band"] for b in data["scoreStats"]["bands"]] == as_enum
    top = as_enum[-1]
    users = _post(api, "query($b: [Band!]) { users(filter: {band: {in: $b}}, first: 100) { totalCount "
                       "edges { node { band score } } } }", b=[top])["data"]["users"]  # fmt: skip
    assert users["totalCount"] == expected[-1]
    assert all(e["node"]["band"] == top and e["node"]["score"] >= written[-1]["min"] for e in users["edges"])
