"""The GraphQL API through a live uvicorn server and a real client (gql), on SQLite and Neo4j.

Every expected value is computed independently of the API: from the engine, the store
or pandas/numpy over the engine's scores.
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from credence.api.app import SDL_PATH, SERVING_SWITCH_INTERVAL, schema_sdl, settle_serving_process
from credence.api.config import Limits
from credence.api.context import PERMISSIONS
from credence.api.ids import from_global_id, to_global_id
from credence.seeds.synthetic import generate_population
from tests.api_server import ROLES, LiveApi, iso, live_population

DAY = 86_400
POPULATION = generate_population(n_users=600, seed=5, sybils_per_region=30, rings=1)
IDS = POPULATION.users["id"].astype(str).tolist()
NOW = POPULATION.now


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    limits = Limits(max_depth=10, max_tokens=1_500, max_aliases=10, max_first=100, max_cost=20_000)
    with live_population(request, tmp_path_factory.mktemp(f"api-{request.param}"), POPULATION.dataset(), NOW,
                         limits=limits) as server:  # fmt: skip
        yield server


def _user_with_links(api: LiveApi, start: int) -> str:
    """A consenting, unflagged user with links, not used by earlier tests (by position)."""
    table = api.engine.view()
    for i in range(start, len(IDS)):
        user = IDS[i]
        row = int(np.flatnonzero(table.ids == user)[0])
        if table.degree[row] > 0 and table.consent[row] and not table.quarantined[row]:
            return user
    raise AssertionError("no linked user")


def _store_state(api: LiveApi, users: list[str]) -> dict[str, Any]:
    """What a rejected mutation must leave untouched: counts and every named user's records."""
    store = api.store
    state: dict[str, Any] = {"stats": store.stats().as_dict()}
    for user in users:
        if store.has_users([user])[0]:
            state[user] = (
                store.get_user(user),
                store.neighbors(user).to_dict("list"),
                store.repayments(user).to_dict("list"),
                store.spending(user).to_dict("list"),
                len(store.score_history(user)),
                [f.id for f in store.flags(user)],
            )
    state["scores"] = api.engine.scores()["score"].to_numpy().copy()
    return state


def _same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        if key == "scores":
            np.testing.assert_array_equal(before[key], after[key])
        else:
            assert before[key] == after[key], key


USER_QUERY = """query($id: String!) { user(id: $id) {
  id userId score band benefits modelVersion computedAt consentNetwork
  components { name value weight points } reasons { code text points } } }"""


# --------------------------------------------------------------------------- queries


def test_user_matches_the_engine(api: LiveApi) -> None:
    user = IDS[3]
    data = api.run("app", USER_QUERY, id=user)["user"]
    expected = api.engine.explain(user, contributors=0)
    assert data["userId"] == user and from_global_id(data["id"]) == user
    assert data["score"] == expected.score and data["band"] == expected.band.replace(" ", "_")
    assert data["benefits"] == list(expected.benefits) and data["modelVersion"] == expected.model_version
    assert [c["name"] for c in data["components"]] == [c.name for c in expected.components]
    assert sum(c["points"] for c in data["components"]) == pytest.approx(data["score"] - 350, abs=0.5)
    assert [r["code"] for r in data["reasons"]] == [r.code for r in expected.reasons]
    assert len(data["reasons"]) <= 4


def test_user_takes_the_user_id_and_node_the_global_id(api: LiveApi) -> None:
    user = IDS[4]
    by_id = api.run("app", "query($id: String!) { user(id: $id) { id userId score } }", id=user)["user"]
    node = api.run("app", "query($id: ID!) { node(id: $id) { id ... on User { userId score } } }",
                   id=by_id["id"])["node"]  # fmt: skip
    assert by_id["userId"] == user == node["userId"]
    assert node["id"] == by_id["id"] == to_global_id(user)
    assert node["score"] == api.engine.score_of(user)
    # Neither argument guesses the kind of id: a global id is no user id, a user id no global id.
    error = api.error("app", "query($id: String!) { user(id: $id) { userId } }", id=to_global_id(user))
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = api.error("app", "query($id: ID!) { node(id: $id) { id } }", id=user)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_unknown_user_is_not_found(api: LiveApi) -> None:
    error = api.error("app", '{ user(id: "nobody-here") { score } }')
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "nobody-here" in error["message"]


def test_users_pages_cover_everyone_in_score_order(api: LiveApi) -> None:
    frame = api.engine.scores()
    expected = frame.sort_values(["score", "user"], ascending=[False, True])["user"].tolist()
    seen: list[str] = []
    after = None
    query = """query($after: String) { users(first: 100, after: $after) {
      totalCount edges { cursor node { userId score } } pageInfo { hasNextPage endCursor } } }"""
    while True:
        page = api.run("app", query, after=after)["users"]
        assert page["totalCount"] == len(frame)
        seen += [edge["node"]["userId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected


def test_users_filter_and_sort(api: LiveApi) -> None:
    frame = api.engine.scores()
    low, high = int(frame["score"].quantile(0.3)), int(frame["score"].quantile(0.7))
    chosen = frame[(frame["score"] >= low) & (frame["score"] < high)]
    expected = chosen.sort_values(["score", "user"])["user"].tolist()[:50]
    data = api.run("app", """query($f: UserFilter) { users(filter: $f, sort: SCORE_ASC, first: 50) {
        totalCount edges { node { userId } } } }""", f={"score": {"gte": low, "lt": high}})["users"]  # fmt: skip
    assert data["totalCount"] == len(chosen)
    assert [e["node"]["userId"] for e in data["edges"]] == expected
    band = str(frame["band"].mode().iloc[0])
    by_band = api.run("app", """query($f: UserFilter) { users(filter: $f, sort: USER_ID_ASC, first: 7) {
        totalCount edges { node { userId band } } } }""", f={"band": {"in": [band.replace(" ", "_")]}})["users"]  # fmt: skip
    assert by_band["totalCount"] == int((frame["band"] == band).sum())
    assert {e["node"]["band"] for e in by_band["edges"]} == {band.replace(" ", "_")}
    assert [e["node"]["userId"] for e in by_band["edges"]] == sorted(
        frame.loc[frame["band"] == band, "user"]
    )[:7]


def test_unknown_band_and_bad_cursor_are_bad_input(api: LiveApi) -> None:
    error = api.error("app", "{ users(filter: {band: {eq: platinum}}) { totalCount } }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "Band" in error["message"], error
    error = api.error(
        "app", "query($b: Band!) { users(filter: {band: {eq: $b}}) { totalCount } }", b="very good"
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "very_good" in error["message"], error
    error = api.error("app", '{ users(after: "not-a-cursor") { totalCount } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_score_stats_and_histogram(api: LiveApi) -> None:
    scores = api.engine.scores()["score"].to_numpy()
    stats = api.run("app", "{ scoreStats { count mean min max median bands { name count } } }")["scoreStats"]
    assert stats["count"] == scores.size and stats["mean"] == pytest.approx(scores.mean())
    assert (stats["min"], stats["max"]) == (scores.min(), scores.max())
    assert stats["median"] == pytest.approx(np.median(scores))
    assert sum(b["count"] for b in stats["bands"]) == scores.size
    bins = api.run("app", "{ scoreHistogram(bins: 12) { lower upper count } }")["scoreHistogram"]
    assert len(bins) == 12 and bins[0]["lower"] == 350 and bins[-1]["upper"] == 950
    assert [b["count"] for b in bins] == np.histogram(scores, bins=12, range=(350, 950))[0].tolist()
    error = api.error("app", "{ scoreHistogram(bins: 0) { count } }")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_model(api: LiveApi) -> None:
    policy = api.engine.policy
    model = api.run("app", """{ model { version weights { name weight } bands { name min }
        benefitTiers { name min } diffusion { damping shrinkage policy tol } } }""")["model"]  # fmt: skip
    assert model["version"] == policy.version
    assert {w["name"]: w["weight"] for w in model["weights"]} == pytest.approx(dict(policy.weights))
    assert [(b["name"], b["min"]) for b in model["bands"]] == [(b.name, b.min) for b in policy.bands]
    assert model["diffusion"]["damping"] == policy.diffusion.damping
    assert model["diffusion"]["policy"] == policy.diffusion.sharing


def test_network_evidence_is_exact_and_audited(api: LiveApi) -> None:
    user = _user_with_links(api, 10)
    before = len(api.store.audit_log(first=10_000, subject=user))
    data = api.run("analyst", """query($id: String!) { user(id: $id) { network {
        value prior degree shrink participating
        contributors(first: 100) { total bound items { userId contribution user { score } } }
        influenced(first: 5) { items { userId sensitivity pointsAtRisk } } } } }""", id=user)  # fmt: skip
    network = data["user"]["network"]
    explanation = api.engine.explain(user, contributors=100)
    assert network["value"] == pytest.approx(explanation.network_value)
    assert network["degree"] == pytest.approx(explanation.degree)
    contributors = network["contributors"]
    assert contributors["total"] == pytest.approx(
        network["value"] - network["prior"], abs=2 * contributors["bound"] + 1e-9
    )
    listed = sum(item["contribution"] for item in contributors["items"])
    assert (
        abs(listed) <= abs(contributors["total"]) + contributors["bound"] + 1e-6
        or len(contributors["items"]) == 100
    )
    log = api.store.audit_log(first=10_000, subject=user)
    actions = [entry.action for entry in log[before:]]
    assert actions.count("read:network.contributors") == 1 and actions.count("read:network.influenced") == 1
    assert all(entry.actor == "test-analyst" and entry.role == "analyst" for entry in log[before:])
    page = api.run("admin", """query($s: String) { auditLog(subject: $s, first: 100) {
        entries { actor action subject } } }""", s=user)["auditLog"]  # fmt: skip
    assert [e["action"] for e in page["entries"]][-2:] == actions[-2:]


def test_friends_match_the_store(api: LiveApi) -> None:
    user = _user_with_links(api, 20)
    expected = api.store.neighbors(user)
    got: list[str] = []
    after = None
    while True:
        page = api.run("analyst", """query($id: String!, $after: String) { user(id: $id) {
            friends(first: 3, after: $after) { totalCount edges { weight node { userId } }
            pageInfo { hasNextPage endCursor } } } }""", id=user, after=after)["user"]["friends"]  # fmt: skip
        assert page["totalCount"] == len(expected)
        got += [edge["node"]["userId"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert got == expected["user"].astype(str).tolist()


def test_first_above_the_limit_is_refused(api: LiveApi) -> None:
    error = api.error("app", "{ users(first: 101) { totalCount } }")
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    error = api.error("app", "query($n: Int!) { users(first: $n) { totalCount } }", n=500)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"


def test_depth_alias_token_and_cost_limits(api: LiveApi) -> None:
    deep = (
        "{ users(first: 1) { edges { node { friends(first: 1) { edges { node { friends(first: 1) { edges { node {"
        " friends(first: 1) { edges { node { userId } } } } } } } } } } } } }"
    )
    depth = api.error("analyst", deep)["extensions"]
    assert (
        depth["code"] == "LIMIT_EXCEEDED" and depth["limit"] == "depth" and depth["value"] > depth["maximum"]
    )
    aliases = "{ " + " ".join(f"a{i}: model {{ version }}" for i in range(11)) + " }"
    assert api.error("app", aliases)["extensions"]["limit"] == "aliases"
    tokens = "{ model { " + " ".join(["version"] * 1_600) + " } }"
    assert api.error("app", tokens)["extensions"]["code"] == "LIMIT_EXCEEDED"
    costly = "{ users(first: 100) { edges { node { network { contributors(first: 100) { total } } } } } }"
    error = api.error("analyst", costly)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and error["extensions"]["limit"] == "cost"


def test_syntax_and_validation_errors_have_codes(api: LiveApi) -> None:
    with api.client("app") as session:
        pass
    import httpx

    response = httpx.post(
        api.url, json={"query": "{ user(id: "}, headers={"Authorization": f"Bearer {api.secrets['app']}"}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    response = httpx.post(api.url, json={"query": "{ nosuchfield }"},
                          headers={"Authorization": f"Bearer {api.secrets['app']}"})  # fmt: skip
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    del session


# --------------------------------------------------------------------------- mutations


def test_record_repayment_updates_scores_incrementally(api: LiveApi) -> None:
    user = _user_with_links(api, 30)
    history_before = len(api.store.score_history(user))
    due = NOW - 40 * DAY
    data = api.run("app", """mutation($input: RepaymentInput!) { recordRepayment(input: $input) {
        changes { userId before after } users { userId score } } }""",
        input={"id": "api-r1", "user": user, "due": iso(due), "paid": iso(due + 3600), "amount": 250.0, "status": "on_time"},
    )["recordRepayment"]  # fmt: skip
    assert data["users"][0]["userId"] == user
    assert data["users"][0]["score"] == api.engine.score_of(user)
    assert api.store.repayments(user)["id"].astype(str).str.contains("api-r1").any()
    for change in data["changes"]:
        assert change["after"] == api.engine.score_of(change["userId"])
    assert len(api.store.score_history(user)) == history_before + 1


def test_link_mutations_and_consent(api: LiveApi) -> None:
    a = IDS[40]
    linked = set(api.store.neighbors(a)["user"].astype(str))
    b = next(user for user in IDS[41:] if user not in linked)
    added = api.run("app", """mutation($a: String!, $b: String!) { addLink(a: $a, b: $b, weight: 2.5) {
        users { userId score } } }""", a=a, b=b)["addLink"]  # fmt: skip
    assert {u["userId"] for u in added["users"]} == {a, b}
    assert b in api.store.neighbors(a)["user"].astype(str).tolist()
    removed = api.run("app", "mutation($a: String!, $b: String!) { removeLink(a: $a, b: $b) { users { userId } } }",
                      a=a, b=b)  # fmt: skip
    assert removed["removeLink"]["users"]
    assert b not in api.store.neighbors(a)["user"].astype(str).tolist()
    error = api.error("app", "mutation($a: String!, $b: String!) { removeLink(a: $a, b: $b) { users { userId } } }",
                      a=a, b=b)  # fmt: skip
    assert error["extensions"]["code"] == "NOT_FOUND"
    off = api.run("app", "mutation($u: String!) { setConsent(user: $u, consent: false) { users { consentNetwork } } }",
                  u=a)  # fmt: skip
    assert off["setConsent"]["users"][0]["consentNetwork"] is False
    assert api.store.get_user(a).consent_network is False
    assert api.run("analyst", "query($u: String!) { user(id: $u) { network { participating } } }",
                   u=a)["user"]["network"]["participating"] is False  # fmt: skip
    api.run(
        "app",
        "mutation($u: String!) { setConsent(user: $u, consent: true) { users { consentNetwork } } }",
        u=a,
    )


def test_upsert_user_and_spending(api: LiveApi) -> None:
    data = api.run("app", """mutation($input: UserInput!) { upsertUser(input: $input) { users { userId score } } }""",
                   input={"id": "api-new-user", "created": iso(NOW - 400 * DAY), "phoneVerified": True,
                          "idVerified": True, "declaredIncome": 4000.0})["upsertUser"]  # fmt: skip
    assert data["users"][0]["userId"] == "api-new-user"
    assert data["users"][0]["score"] == api.engine.score_of("api-new-user")
    assert api.store.get_user("api-new-user").id_verified is True
    spent = api.run("app", """mutation($input: SpendingInput!) { recordSpending(input: $input) { users { score } } }""",
                    input={"id": "api-s1", "user": "api-new-user", "at": iso(NOW - 5 * DAY), "amount": 80.0,
                           "category": "bill", "onTime": True})["recordSpending"]  # fmt: skip
    assert spent["users"][0]["score"] == api.engine.score_of("api-new-user")
    assert len(api.store.spending("api-new-user")) == 1


def test_a_user_id_shaped_like_a_global_id_names_its_own_user(api: LiveApi) -> None:
    other = IDS[5]
    lookalike = to_global_id(other)  # a valid user id, and the global id of another user
    created = api.run("app", """mutation($input: UserInput!) { upsertUser(input: $input) { users { userId } } }""",
                      input={"id": lookalike, "created": iso(NOW - 400 * DAY)})["upsertUser"]  # fmt: skip
    assert created["users"] == [{"userId": lookalike}]
    assert api.run("app", "query($id: String!) { user(id: $id) { userId } }", id=lookalike)["user"] == {
        "userId": lookalike
    }
    node = api.run(
        "app", "query($id: ID!) { node(id: $id) { ... on User { userId } } }", id=to_global_id(lookalike)
    )
    assert node["node"] == {"userId": lookalike}
    consent = api.store.get_user(other).consent_network
    changed = api.run("app", """mutation($u: String!) { setConsent(user: $u, consent: false) {
        users { userId consentNetwork } } }""", u=lookalike)["setConsent"]  # fmt: skip
    assert changed["users"] == [{"userId": lookalike, "consentNetwork": False}]
    assert api.store.get_user(lookalike).consent_network is False
    assert api.store.get_user(other).consent_network is consent


def test_flag_unflag_and_audit(api: LiveApi) -> None:
    user = _user_with_links(api, 60)
    flagged = api.run("analyst", """mutation($u: String!) { flagUser(user: $u, reason: "ring member") {
        users { userId } } }""", u=user)  # fmt: skip
    assert flagged["flagUser"]["users"][0]["userId"] == user
    assert user in api.store.quarantined().tolist() or api.store.flags(user)[-1].active
    flags = api.run("analyst", "query($u: String!) { user(id: $u) { quarantined flags { analyst reason active } } }",
                    u=user)["user"]  # fmt: skip
    assert flags["quarantined"] is True and flags["flags"][-1] == {
        "analyst": "test-analyst",
        "reason": "ring member",
        "active": True,
    }
    assert api.error("analyst", """mutation($u: String!) { flagUser(user: $u, reason: "again") { users { userId } } }""",
                     u=user)["extensions"]["code"] == "CONFLICT"  # fmt: skip
    api.run(
        "analyst",
        """mutation($u: String!) { unflagUser(user: $u, reason: "cleared") { users { userId } } }""",
        u=user,
    )
    assert not api.store.flags(user)[-1].active
    actions = [e.action for e in api.store.audit_log(first=10_000, subject=user, actor="test-analyst")]
    assert "flag" in actions and "unflag" in actions


@pytest.mark.parametrize("shift", [None, -1, 10 * 365 * DAY])
def test_recompute_refuses_an_evaluation_time_out_of_range(api: LiveApi, shift: int | None) -> None:
    import time

    current = api.engine.computed_at
    assert current is not None
    now = -1 if shift == -1 else (int(time.time()) + shift if shift else current - 1)
    snapshots = api.store.stats().score_snapshots
    error = api.error("admin", "mutation($t: DateTime!) { recompute(now: $t) { users } }", t=iso(now))
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["column"] == "now"
    assert api.store.stats().score_snapshots == snapshots and api.engine.computed_at == current


def test_recompute_keeps_cursors_valid(api: LiveApi) -> None:
    query = """query($after: String) { users(first: 50, after: $after) {
        edges { node { userId score } } pageInfo { endCursor } generation } }"""
    first_page = api.run("app", query)["users"]
    report = api.run("admin", "mutation { recompute { users generation modelVersion } }")["recompute"]
    assert report["users"] == len(api.engine.scores()) and report["generation"] > first_page["generation"]
    second = api.run("app", query, after=first_page["pageInfo"]["endCursor"])["users"]
    last = first_page["edges"][-1]["node"]
    frame = api.engine.scores()
    after_key = frame[
        (frame["score"] < last["score"])
        | ((frame["score"] == last["score"]) & (frame["user"] > last["userId"]))
    ]
    expected = after_key.sort_values(["score", "user"], ascending=[False, True])["user"].tolist()[:50]
    assert [e["node"]["userId"] for e in second["edges"]] == expected


def test_history_pages(api: LiveApi) -> None:
    user = IDS[70]
    stored = api.store.score_history(user)
    got: list[int] = []
    after = None
    while True:
        page = api.run("app", """query($u: String!, $after: String) { user(id: $u) { history(first: 1, after: $after) {
            totalCount edges { node { score computedAt } } pageInfo { hasNextPage endCursor } } } }""",
                       u=user, after=after)["user"]["history"]  # fmt: skip
        assert page["totalCount"] == len(stored)
        got += [edge["node"]["score"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert got == stored["score"].tolist()[::-1]


# --------------------------------------------------------------------------- bad input changes nothing


BAD_MUTATIONS = [
    ("recordRepayment", "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }",
     {"i": {"id": "bad-r", "user": "{user}", "due": iso(NOW - 10 * DAY), "amount": -5.0, "status": "on_time",
            "paid": iso(NOW - 10 * DAY)}}),
    ("recordRepayment unknown user", "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }",
     {"i": {"id": "bad-r2", "user": "ghost-user", "due": iso(NOW - 10 * DAY), "amount": 5.0, "status": "missed"}}),
    ("recordSpending", "mutation($i: SpendingInput!) { recordSpending(input: $i) { changes { userId } } }",
     {"i": {"id": "bad-s", "user": "{user}", "at": iso(NOW - DAY), "amount": 10.0, "category": "gambling"}}),
    ("upsertUser", "mutation($i: UserInput!) { upsertUser(input: $i) { changes { userId } } }",
     {"i": {"id": "{user}", "created": iso(NOW + 400 * DAY)}}),
    ("upsertUser bad id", "mutation($i: UserInput!) { upsertUser(input: $i) { changes { userId } } }",
     {"i": {"id": "   ", "created": iso(NOW - DAY)}}),
    ("addLink self", 'mutation($u: String!) { addLink(a: $u, b: $u) { changes { userId } } }', {"u": "{user}"}),
    ("addLink weight", 'mutation($u: String!, $v: String!) { addLink(a: $u, b: $v, weight: -1) { changes { userId } } }',
     {"u": "{user}", "v": "{other}"}),
    ("addLink unknown", 'mutation($u: String!) { addLink(a: $u, b: "ghost-user") { changes { userId } } }',
     {"u": "{user}"}),
    ("removeLink unknown", 'mutation($u: String!) { removeLink(a: $u, b: "ghost-user") { changes { userId } } }',
     {"u": "{user}"}),
    ("setConsent unknown", "mutation { setConsent(user: \"ghost-user\", consent: false) { changes { userId } } }", {}),
    ("flagUser empty reason", 'mutation($u: String!) { flagUser(user: $u, reason: "  ") { changes { userId } } }',
     {"u": "{user}"}),
    ("unflagUser not flagged", 'mutation($u: String!) { unflagUser(user: $u, reason: "x") { changes { userId } } }',
     {"u": "{user}"}),
    ("flagUsers one unknown", 'mutation($u: [String!]!) { flagUsers(users: $u, reason: "ring") { changes { userId } } }',
     {"u": ["{user}", "{other}", "ghost-user"]}),
    ("flagUsers empty reason", 'mutation($u: [String!]!) { flagUsers(users: $u, reason: " ") { changes { userId } } }',
     {"u": ["{user}", "{other}"]}),
]  # fmt: skip


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, str):
        for name, user in names.items():
            value = value.replace("{" + name + "}", user)
    return value


@pytest.mark.parametrize(("name", "document", "variables"), BAD_MUTATIONS, ids=[m[0] for m in BAD_MUTATIONS])
def test_bad_input_changes_nothing(api: LiveApi, name: str, document: str, variables: dict[str, Any]) -> None:
    user, other = IDS[100], IDS[101]
    filled = _fill(variables, {"user": user, "other": other})
    role = "admin"
    before = _store_state(api, [user, other, "ghost-user"])
    error = api.error(role, document, **filled)
    assert error["extensions"]["code"] in {"BAD_USER_INPUT", "NOT_FOUND", "CONFLICT"}, error
    _same_state(before, _store_state(api, [user, other, "ghost-user"]))


# --------------------------------------------------------------------------- fraud tools


def test_influence_paths_match_the_kernel_and_are_audited(api: LiveApi) -> None:
    from credence.scoring.paths import influence_paths

    source = _user_with_links(api, 200)
    view = api.engine.view(adjacency="all")
    adjacency = view.graph()
    s = view.row(source)
    row = adjacency.getrow(s)
    first_hop = int(row.indices[0])
    target_index = next((int(t) for t in adjacency.getrow(first_hop).indices if t != s), first_hop)
    target = str(view.ids[target_index])
    expected = influence_paths(adjacency, s, target_index, damping=view.damping, k=3, max_hops=4,
                               participating=view.participating)  # fmt: skip
    before = len(api.store.audit_log(first=10_000, subject=source))
    got = api.run(
        "analyst",
        """query($s: String!, $t: String!) { influencePaths(source: $s, target: $t, k: 3,
        maxHops: 4) { userIds transitions probability share influence } }""",
        s=source,
        t=target,
    )["influencePaths"]
    assert expected and len(got) == len(expected)
    for path, want in zip(got, expected, strict=True):
        assert path["userIds"] == [str(view.ids[x]) for x in want.nodes]
        assert path["transitions"] == pytest.approx(list(want.transitions))
        assert path["probability"] == pytest.approx(want.probability)
        assert path["share"] == pytest.approx(want.share)
        assert path["influence"] == pytest.approx(want.influence)
    log = api.store.audit_log(first=10_000, subject=source)[before:]
    assert [(e.action, e.actor) for e in log] == [("read:influence_paths", "test-analyst")]
    bad = "query($s: String!, $t: String!, $k: Int!, $h: Int!) { influencePaths(source: $s, target: $t, k: $k, maxHops: $h) { share } }"
    for target_id, k, hops, code in (
        ("ghost-user", 3, 4, "NOT_FOUND"),
        (target, 101, 4, "LIMIT_EXCEEDED"),
        (target, 0, 4, "BAD_USER_INPUT"),
        (target, 3, 0, "BAD_USER_INPUT"),
    ):
        assert api.error("analyst", bad, s=source, t=target_id, k=k, h=hops)["extensions"]["code"] == code


def test_suspicious_clusters_match_the_kernels_and_are_audited(api: LiveApi) -> None:
    from credence.scoring.fraud import dense_subgraphs, rank_clusters

    view = api.engine.view(adjacency="all")
    adjacency = view.graph()
    blocks = dense_subgraphs(adjacency, k=5, participating=view.participating)
    # Thin histories from the whole repayments table (the service reads members one by one).
    repayments = api.store.repayments()
    resolved = (
        repayments.loc[repayments["status"].astype(str) != "pending", "user"].astype(str).value_counts()
    )
    history = resolved.reindex([str(u) for u in view.ids.tolist()], fill_value=0).to_numpy(dtype=float)
    expected = rank_clusters(adjacency, blocks, base=view.base, history_length=history, thin_history=3.0)[:5]
    before = len(api.store.audit_log(first=10_000, actor="test-analyst"))
    got = api.run("analyst", """{ suspiciousClusters(first: 5) { rank userIds size density relativeDensity
        internalLinks attackLinks outsideNeighbours insideShare thinFraction meanBase suspicion } }""")[
        "suspiciousClusters"]  # fmt: skip
    assert expected and len(got) == len(expected)
    for rank, (cluster, want) in enumerate(zip(got, expected, strict=True), 1):
        assert cluster["rank"] == rank
        assert cluster["userIds"] == [str(view.ids[x]) for x in want.members]
        assert cluster["size"] == want.size == len(cluster["userIds"])
        assert (cluster["attackLinks"], cluster["internalLinks"], cluster["outsideNeighbours"]) == (
            want.attack_links,
            want.internal_links,
            want.outside_neighbours,
        )
        for name, value in (
            ("density", want.density),
            ("relativeDensity", want.relative_density),
            ("meanBase", want.mean_base),
            ("suspicion", want.suspicion),
            ("thinFraction", want.thin_fraction),
            ("insideShare", want.inside_share),
        ):
            assert cluster[name] == pytest.approx(value), name
    planted = set(POPULATION.labels.loc[POPULATION.labels["ring"] >= 0, "user"].astype(str))
    assert any(planted & set(c["userIds"]) for c in got)
    log = api.store.audit_log(first=10_000, actor="test-analyst")[before:]
    assert [e.action for e in log] == ["read:suspicious_clusters"] and log[0].subject is None


def test_suspicious_cluster_inflation_is_what_quarantine_takes(api: LiveApi) -> None:
    got = api.run("analyst", """{ suspiciousClusters(first: 2) { userIds inflation(top: 3) { points memberPoints
        outsiderPoints usersRaised outsidersRaised pointsLowered topOutsiders { userId before after } } } }""")[
        "suspiciousClusters"]  # fmt: skip
    assert got
    for cluster in got:
        members = set(cluster["userIds"])
        changes = api.engine.what_if(remove_users=sorted(members)).changes
        drops = {c.user: c.before - c.after for c in changes if c.after < c.before}
        inflation = cluster["inflation"]
        assert inflation["memberPoints"] == sum(v for u, v in drops.items() if u in members)
        assert inflation["outsiderPoints"] == sum(v for u, v in drops.items() if u not in members)
        assert inflation["points"] == sum(drops.values())
        assert inflation["usersRaised"] == len(drops)
        assert inflation["outsidersRaised"] == len(set(drops) - members)
        assert inflation["pointsLowered"] == sum(c.after - c.before for c in changes if c.after > c.before)
        top = [(c["userId"], c["before"] - c["after"]) for c in inflation["topOutsiders"]]
        assert len(top) == min(3, inflation["outsidersRaised"])
        assert [d for _, d in top] == sorted((v for u, v in drops.items() if u not in members), reverse=True)[
            :3
        ]
    error = api.error("app", "{ suspiciousClusters(first: 1) { userIds } }")
    assert error["extensions"]["code"] == "FORBIDDEN"


def test_sybil_suspects_are_the_planted_sybils_and_audited(api: LiveApi) -> None:
    from credence.analysis.investigate import sybil_suspects

    sybils = set(POPULATION.labels.loc[POPULATION.labels["is_sybil"], "user"].astype(str))
    got = api.run("analyst", """{ sybilSuspects(first: 20, seedGroups: 5) { seeds seedGroups iterations
        participants suspects { userId trustPerDegree degree percentile } } }""")["sybilSuspects"]  # fmt: skip
    expected = sybil_suspects(api.engine, first=20, seed_groups=5)
    assert (got["seeds"], got["seedGroups"], got["iterations"], got["participants"]) == (
        expected.seeds,
        5,
        expected.iterations,
        expected.participants,
    )
    assert [s["userId"] for s in got["suspects"]] == [u for u, *_ in expected.suspects]
    ranks = [s["trustPerDegree"] for s in got["suspects"]]
    assert ranks == sorted(ranks)
    assert sum(s["userId"] in sybils for s in got["suspects"]) >= 18  # 30 planted among 600
    log = api.store.audit_log(first=10_000, actor="test-analyst")
    assert log[-1].action == "read:sybil_suspects" and "seed_groups=5" in log[-1].detail
    error = api.error("analyst", "{ sybilSuspects(seedGroups: 0) { seeds } }")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_communities_match_the_report_and_are_audited(api: LiveApi) -> None:
    from credence.analysis.investigate import community_report

    got = api.run("analyst", """{ communities(first: 3, members: 4) { count modularity resolution largest {
        community size internalLinks density conductance meanScore minScore maxScore userIds } } }""")[
        "communities"]  # fmt: skip
    report = community_report(api.engine)
    assert (got["count"], got["resolution"]) == (report.count, 1.0)
    assert got["modularity"] == pytest.approx(report.modularity)
    frame = report.frame()
    assert len(got["largest"]) == min(3, report.count)
    for item, row in zip(got["largest"], frame.itertuples(index=False), strict=False):
        assert (item["community"], item["size"], item["internalLinks"]) == (
            row.community,
            row.size,
            row.internal_links,
        )
        assert item["meanScore"] == pytest.approx(row.mean_score)
        assert item["userIds"] == sorted(report.members(row.community))[:4]
        scores = api.engine.scores().set_index("user")["score"]
        assert item["minScore"] == min(int(scores[u]) for u in report.members(row.community))
    sybils = set(POPULATION.labels.loc[POPULATION.labels["is_sybil"], "user"].astype(str))
    sybil_labels = {int(report.labels[i]) for i, u in enumerate(report.ids.tolist()) if str(u) in sybils}
    assert len(sybil_labels - {-1}) == 1  # the planted region is one community
    log = api.store.audit_log(first=10_000, actor="test-analyst")
    assert log[-1].action == "read:communities"
    error = api.error("analyst", "{ communities(resolution: -1) { count } }")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_if_defaulted_matches_a_what_if_and_stores_nothing(api: LiveApi) -> None:
    from credence.analysis.investigate import default_impact

    user = _user_with_links(api, 240)
    before = _store_state(api, [user])
    got = api.run("analyst", """query($u: String!) { user(id: $u) { network { influenced(first: 3) {
        ifDefaulted(amount: 500) { userId before after } } } } }""", u=user)["user"]["network"]["influenced"][
        "ifDefaulted"]  # fmt: skip
    expected = default_impact(api.engine, user, amount=500.0)
    assert [(c["userId"], c["before"], c["after"]) for c in got] == [
        (c.user, c.before, c.after) for c in expected
    ]
    assert got and got[0]["userId"] == user and got[0]["after"] < got[0]["before"]
    _same_state(before, _store_state(api, [user]))
    log = api.store.audit_log(first=10_000, subject=user, actor="test-analyst")
    assert log[-1].action == "read:network.influenced.if_defaulted" and log[-1].detail == "amount=500.0"
    error = api.error("analyst", """query($u: String!) { user(id: $u) { network { influenced { ifDefaulted(
        amount: -1) { userId } } } } }""", u=user)  # fmt: skip
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_what_if_matches_the_engine_and_stores_nothing(api: LiveApi) -> None:
    user = _user_with_links(api, 220)
    friend = str(api.store.neighbors(user)["user"].iloc[0])
    expected = api.engine.what_if(remove_links=[(user, friend)])
    before = _store_state(api, [user, friend])
    got = api.run("analyst", "query($l: [[String!]!]) { whatIf(removeLinks: $l) { userId before after } }",
                  l=[[user, friend]])["whatIf"]  # fmt: skip
    assert sorted((c["userId"], c["before"], c["after"]) for c in got) == sorted(
        (c.user, c.before, c.after) for c in expected.changes
    )
    _same_state(before, _store_state(api, [user, friend]))
    log = api.store.audit_log(first=10_000, subject=user, actor="test-analyst")
    assert log[-1].action == "read:what_if" and friend in log[-1].detail
    error = api.error("analyst", "query($l: [[String!]!]) { whatIf(removeLinks: $l) { userId } }", l=[[user]])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_what_if_account_removal(api: LiveApi) -> None:
    user = _user_with_links(api, 230)
    expected = api.engine.what_if(remove_users=[user])
    before = _store_state(api, [user])
    got = api.run("analyst", "query($u: [String!]) { whatIf(removeUsers: $u) { userId before after } }",
                  u=[user])["whatIf"]  # fmt: skip
    # Users whose components only drift within the tolerance may be listed or not (the state after
    # one what-if is restored to within tol, not bit for bit); the score changes must agree.
    moved = {c["userId"]: (c["before"], c["after"]) for c in got if c["before"] != c["after"]}
    assert moved == {c.user: (c.before, c.after) for c in expected.changes if c.before != c.after}
    assert any(c["userId"] != user for c in got)
    _same_state(before, _store_state(api, [user]))
    log = api.store.audit_log(first=10_000, subject=user, actor="test-analyst")
    assert log[-1].action == "read:what_if" and log[-1].detail == "remove_user"
    error = api.error("analyst", 'query { whatIf(removeUsers: ["ghost-user"]) { userId } }')
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert api.error("app", "query($u: [String!]) { whatIf(removeUsers: $u) { userId } }",
                     u=[user])["extensions"]["code"] == "FORBIDDEN"  # fmt: skip


def test_flag_users_quarantines_a_cluster(api: LiveApi) -> None:
    ring = POPULATION.labels.loc[POPULATION.labels["ring"] >= 0, "user"].astype(str).tolist()[:3]
    assert len(ring) == 3
    data = api.run("analyst", """mutation($u: [String!]!) { flagUsers(users: $u, reason: "ring quarantine") {
        changes { userId before after } users { userId score } } }""", u=ring)["flagUsers"]  # fmt: skip
    try:
        assert [u["userId"] for u in data["users"]] == ring
        for user in data["users"]:
            assert user["score"] == api.engine.score_of(user["userId"])
        for change in data["changes"]:
            assert change["after"] == api.engine.score_of(change["userId"])
        for user in ring:
            assert api.store.flags(user)[-1].active and api.store.flags(user)[-1].reason == "ring quarantine"
            log = api.store.audit_log(first=10_000, subject=user, actor="test-analyst")
            assert log[-1].action == "flag" and log[-1].detail == "ring quarantine"
        table = api.engine.view()
        assert all(table.quarantined[table.ids == user][0] for user in ring)
        again = api.error("analyst", 'mutation($u: [String!]!) { flagUsers(users: $u, reason: "x") { changes { userId } } }',
                          u=[IDS[0], ring[0]])  # fmt: skip
        assert again["extensions"]["code"] == "CONFLICT" and not api.store.flags(IDS[0])
    finally:
        for user in ring:
            api.run("analyst", 'mutation($u: String!) { unflagUser(user: $u, reason: "test done") { users { userId } } }',
                    u=user)  # fmt: skip
    too_many = api.error("analyst", 'mutation($u: [String!]!) { flagUsers(users: $u, reason: "x") { changes { userId } } }',
                         u=IDS[:101])  # fmt: skip
    assert too_many["extensions"]["code"] == "LIMIT_EXCEEDED"


# --------------------------------------------------------------------------- roles


PROTECTED = [
    ("read", '{ user(id: "%s") { score } }'),
    ("read", "{ users(first: 1) { totalCount } }"),
    ("read", "{ scoreStats { count } }"),
    ("read", "{ scoreHistogram(bins: 2) { count } }"),
    ("read", "{ model { version } }"),
    ("read", '{ user(id: "%s") { history(first: 1) { totalCount } } }'),
    ("read", '{ user(id: "%s") { network { value prior degree } } }'),
    ("evidence", '{ user(id: "%s") { network { contributors(first: 2) { total } } } }'),
    ("evidence", '{ user(id: "%s") { network { influenced(first: 2) { bound } } } }'),
    ("evidence", '{ user(id: "%s") { friends(first: 2) { totalCount } } }'),
    ("evidence", '{ user(id: "%s") { flags { active } } }'),
    ("subject", '{ user(id: "%s") { consentHistory { at } } }'),
    ("subject", '{ user(id: "%s") { subjectExport } }'),
    ("subject", '{ user(id: "%s") { notices { tier } } }'),
    ("evidence", '{ user(id: "%s") { quarantined } }'),
    ("evidence", '{ user(id: "%s") { network { participating } } }'),
    ("evidence", "{ users(first: 1, filter: {quarantined: true}) { totalCount } %s }"),
    ("evidence", "{ scoreStats(filter: {quarantined: false}) { count } %s }"),
    ("evidence", "{ scoreHistogram(bins: 2, filter: {quarantined: true}) { count } %s }"),
    ("write", 'mutation { setConsent(user: "%s", consent: true) { changes { userId } } }'),
    ("write", 'mutation { addLink(a: "%s", b: "ghost-user") { changes { userId } } }'),
    ("write", 'mutation { removeLink(a: "%s", b: "ghost-user") { changes { userId } } }'),
    ("write", 'mutation { recordRepayment(input: {id: "x", user: "%s", due: "1970-01-01T00:00:00Z", amount: -1, status: on_time}) { changes { userId } } }'),
    ("write", 'mutation { recordSpending(input: {id: "x", user: "%s", at: "1970-01-01T00:00:00Z", amount: -1, category: bill}) { changes { userId } } }'),
    ("write", 'mutation { upsertUser(input: {id: "%s", created: "1969-12-31T23:59:55Z"}) { changes { userId } } }'),
    ("write", 'mutation { requestReview(user: "%s", tier: "no-such-tier", reason: "role check") { id } }'),
    ("flag", 'mutation { resolveReview(id: 999999999, outcome: upheld, reason: "role check") { id } }'),
    ("evidence", "{ reviews { id } %s }"),
    ("flag", 'mutation { unflagUser(user: "%s", reason: "role check") { changes { userId } } }'),
    ("flag", 'mutation { flagUser(user: "%s", reason: "  ") { changes { userId } } }'),
    ("flag", 'mutation { flagUsers(users: ["%s", "ghost-user"], reason: "role check") { changes { userId } } }'),
    ("evidence", '{ influencePaths(source: "%s", target: "ghost-user") { share } }'),
    ("evidence", '{ suspiciousClusters(first: 1) { size } }'),
    ("evidence", '{ sybilSuspects(first: 2) { seeds } }'),
    ("evidence", '{ communities(first: 2) { count } }'),
    ("evidence", '{ whatIf(removeLinks: [["%s", "ghost-user"]]) { userId } }'),
    ("admin", '{ auditLog(first: 1) { entries { id } } %s }'),
]  # fmt: skip


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize(("permission", "template"), PROTECTED, ids=[f"{p}:{t[:40]}" for p, t in PROTECTED])
def test_every_role_against_every_protected_field(api: LiveApi, role: str | None, permission: str,
                                                  template: str) -> None:  # fmt: skip
    user = IDS[150]
    document = template.replace("%s", user if '"%s"' in template else "")
    before = _store_state(api, [user])
    outcome, _ = api.outcome(role, document)
    if role is None:
        assert outcome == "UNAUTHENTICATED"
    elif role not in PERMISSIONS[permission]:
        assert outcome == "FORBIDDEN"
    else:
        # Allowed: the operation runs (the write probes are bad input or no-ops by design).
        assert outcome in {"ok", "BAD_USER_INPUT", "NOT_FOUND", "CONFLICT"}
    if permission in {"write", "flag"}:
        _same_state(before, _store_state(api, [user]))


@pytest.mark.parametrize(
    ("document", "action"),
    [
        ('{ user(id: "%s") { quarantined } }', "read:quarantined"),
        ('{ user(id: "%s") { network { participating } } }', "read:network.participating"),
        ("{ users(first: 1, filter: {quarantined: true}) { totalCount } }", "read:users.filter.quarantined"),
        ("{ scoreStats(filter: {quarantined: true}) { count } }", "read:scoreStats.filter.quarantined"),
    ],
)
def test_every_read_that_tells_quarantine_is_audited_once(api: LiveApi, document: str, action: str) -> None:
    user = IDS[151]
    seen = api.store.audit_log(first=10_000, actor="test-analyst")
    while len(seen) == 10_000:
        seen = api.store.audit_log(first=10_000, actor="test-analyst", after=seen[-1].id)
    last = seen[-1].id if seen else None
    api.run("analyst", document.replace("%s", user))
    new = api.store.audit_log(first=10_000, actor="test-analyst", after=last)
    assert [entry.action for entry in new] == [action]
    assert new[0].actor == "test-analyst" and new[0].subject == (user if '"%s"' in document else None)


def test_upsert_user_changes_only_the_fields_it_sends(api: LiveApi) -> None:
    upsert = "mutation($i: UserInput!) { upsertUser(input: $i) { users { userId } } }"
    user = "partial-update-user"
    api.run("app", upsert, i={"id": user, "created": iso(NOW - 90 * DAY), "idVerified": True, "faceVerified": True,
                              "declaredIncome": 4000.0, "verifiedIncome": 3000.0})  # fmt: skip
    api.run(
        "app", "mutation($u: String!) { setConsent(user: $u, consent: false) { changes { userId } } }", u=user
    )
    api.run("app", upsert, i={"id": user, "phoneVerified": True})
    stored = api.store.get_user(user)
    assert (stored.phone_verified, stored.id_verified, stored.face_verified) == (True, True, True)
    assert (stored.declared_income, stored.verified_income) == (4000.0, 3000.0)
    assert stored.consent_network is False and stored.created == NOW - 90 * DAY
    api.run("app", upsert, i={"id": user, "declaredIncome": None})
    assert (
        api.store.get_user(user).declared_income is None
        and api.store.get_user(user).verified_income == 3000.0
    )
    missing = api.error("app", upsert, i={"id": "brand-new-user", "idVerified": True})
    assert missing["extensions"]["code"] == "BAD_USER_INPUT" and missing["extensions"]["column"] == "created"
    nulled = api.error("app", upsert, i={"id": user, "idVerified": None})
    assert nulled["extensions"]["code"] == "BAD_USER_INPUT" and nulled["extensions"]["column"] == "idVerified"
    assert not api.store.has_users(["brand-new-user"])[0] and api.store.get_user(user).id_verified is True
    consent = api.error(
        "app",
        'mutation { upsertUser(input: {id: "x", created: "1970-01-01T00:00:01Z", consentNetwork: true}) { users { userId } } }',
    )
    assert consent["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_the_enums_are_the_datas_own_vocabulary() -> None:
    from credence.api.inputs import RepaymentStatus, SpendingCategory
    from credence.graph.model import REPAYMENT_STATUSES, SPENDING_CATEGORIES

    assert tuple(member.value for member in RepaymentStatus) == REPAYMENT_STATUSES
    assert tuple(member.value for member in SpendingCategory) == SPENDING_CATEGORIES
    assert all(member.name == member.value for member in (*RepaymentStatus, *SpendingCategory))


def test_an_unknown_status_is_refused_by_the_schema(api: LiveApi) -> None:
    error = api.error("app", "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }",
                      i={"id": "enum-r", "user": IDS[0], "due": iso(NOW - DAY), "amount": 5.0, "status": "paid_ish"})  # fmt: skip
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "RepaymentStatus" in error["message"]
    assert not api.store.event_owners("repayments", ["enum-r"])


def test_changes_list_exactly_the_scores_that_moved(api: LiveApi) -> None:
    a, b = _user_with_links(api, 300), _user_with_links(api, 340)
    before = dict(zip(api.engine.view().ids.tolist(), api.engine.view().scores.tolist(), strict=True))
    snapshots = api.store.stats().score_snapshots
    listed = api.run("app", """mutation($a: String!, $b: String!) { addLink(a: $a, b: $b, weight: 3.0) {
        changes { userId before after } } }""", a=a, b=b)["addLink"]["changes"]  # fmt: skip
    after = dict(zip(api.engine.view().ids.tolist(), api.engine.view().scores.tolist(), strict=True))
    moved = {user for user in after if before.get(user) != after[user]}
    assert {c["userId"] for c in listed} == moved and all(c["before"] != c["after"] for c in listed)
    assert all(before[c["userId"]] == c["before"] and after[c["userId"]] == c["after"] for c in listed)
    # Components that drifted without moving a score are still stored (served == stored stays exact).
    assert api.store.stats().score_snapshots - snapshots >= len(moved)


def test_a_forbidden_nested_field_nulls_only_itself(api: LiveApi) -> None:
    import httpx

    user = IDS[152]
    query = """query($u: String!) { user(id: $u) { score quarantined flags { active } friends(first: 1) { totalCount }
        network { value participating contributors(first: 1) { total } } } }"""
    body = httpx.post(api.url, json={"query": query, "variables": {"u": user}},
                      headers={"Authorization": f"Bearer {api.secrets['app']}"}, timeout=30).json()  # fmt: skip
    answer = body["data"]["user"]
    assert answer["score"] == api.engine.score_of(user)
    assert answer["network"]["value"] == pytest.approx(api.engine.explain(user).network_value)
    assert answer["quarantined"] is None and answer["flags"] is None and answer["friends"] is None
    assert answer["network"]["participating"] is None and answer["network"]["contributors"] is None
    forbidden = sorted(tuple(str(p) for p in error["path"]) for error in body["errors"])
    assert forbidden == sorted([("user", "quarantined"), ("user", "flags"), ("user", "friends"),
                                ("user", "network", "participating"), ("user", "network", "contributors")])  # fmt: skip
    assert {error["extensions"]["code"] for error in body["errors"]} == {"FORBIDDEN"}


def test_unknown_key_is_unauthenticated(api: LiveApi) -> None:
    import httpx

    response = httpx.post(
        api.url, json={"query": "{ model { version } }"}, headers={"X-API-Key": "cred_fake"}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = httpx.post(
        api.url, json={"query": "{ model { version } }"}, headers={"X-API-Key": api.secrets["app"]}
    )
    assert response.json()["data"]["model"]["version"] == api.engine.model_version


# --------------------------------------------------------------------------- subscription

# gql's websockets transport now and then leaves its client socket to the garbage collector
# after the server closes a subscription (seen under load on the Neo4j variant, never alone):
# the client's leak, not the server's (the socket is the one on the ephemeral port). Each
# subscription test collects it itself, so it can neither fail nor spill into a later test.
client_socket_leaks = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.mark.slow
@client_socket_leaks[0]
@client_socket_leaks[1]
def test_score_changed_subscription(api: LiveApi) -> None:
    user = _user_with_links(api, 200)
    ws_url = api.url.replace("http://", "ws://")

    async def scenario() -> dict[str, Any]:
        transport = WebsocketsTransport(url=ws_url, headers={"Authorization": f"Bearer {api.secrets['app']}"},
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])  # fmt: skip
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            subscription = session.subscribe(
                GraphQLRequest(
                    "subscription($u: String) { scoreChanged(userId: $u) { userId before after } }",
                    variable_values={"u": user},
                )
            )

            async def first_event() -> dict[str, Any]:
                async for event in subscription:
                    return event  # type: ignore[no-any-return]
                raise AssertionError("subscription ended")

            waiter = asyncio.ensure_future(first_event())
            await asyncio.sleep(0.5)  # let the subscription register
            due = NOW - 20 * DAY
            await asyncio.to_thread(api.run, "app", """mutation($i: RepaymentInput!) { recordRepayment(input: $i) {
                changes { userId } } }""", i={"id": "sub-r1", "user": user, "due": iso(due), "amount": 900.0,
                                              "status": "defaulted"})  # fmt: skip
            return await asyncio.wait_for(waiter, timeout=30)

    event = asyncio.run(scenario())["scoreChanged"]
    gc.collect()  # the client's leaked socket, if any, is closed here under this test's filters
    assert event["userId"] == user
    assert event["after"] == api.engine.score_of(user) and event["after"] < event["before"]


def _subscribe_once(api: LiveApi, **transport: Any) -> dict[str, Any]:
    """Open a socket with ``transport`` options, subscribe, trigger one change; the first event."""
    user = _user_with_links(api, 200)
    ws_url = api.url.replace("http://", "ws://")

    async def scenario() -> dict[str, Any]:
        socket = WebsocketsTransport(
            url=ws_url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], **transport
        )
        async with Client(transport=socket, fetch_schema_from_transport=False) as session:
            subscription = session.subscribe(GraphQLRequest(
                "subscription($u: String) { scoreChanged(userId: $u) { userId after } }", variable_values={"u": user}))  # fmt: skip

            async def first_event() -> dict[str, Any]:
                async for event in subscription:
                    return event  # type: ignore[no-any-return]
                raise AssertionError("subscription ended")

            waiter = asyncio.ensure_future(first_event())
            await asyncio.sleep(0.5)
            # A default moves the user's own score (an event is a score that moved).
            await asyncio.to_thread(api.run, "app", """mutation($i: RepaymentInput!) { recordRepayment(input: $i) {
                changes { userId } } }""", i={"id": f"sub-{secrets.token_hex(4)}", "user": user, "due": iso(NOW - 20 * DAY),
                                              "amount": 900.0, "status": "defaulted"})  # fmt: skip
            return await asyncio.wait_for(waiter, timeout=30)

    try:
        return asyncio.run(scenario())
    finally:
        gc.collect()  # the client's leaked socket, if any, is closed here under this test's filters


@pytest.mark.parametrize("init", [None, {"authorization": "Bearer nope"}, {"apiKey": ""}, {"apiKey": 5}])
def test_a_socket_without_a_valid_key_is_closed_before_any_subscription(api: LiveApi, init: Any) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(api.url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", **({} if init is None else {"payload": init})}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@pytest.mark.slow
@client_socket_leaks[0]
@client_socket_leaks[1]
@pytest.mark.parametrize("payload", ["authorization", "apiKey"])
def test_a_browser_sends_its_key_in_connection_init(api: LiveApi, payload: str) -> None:
    secret = api.secrets["app"]
    init = {"authorization": f"Bearer {secret}"} if payload == "authorization" else {"apiKey": secret}
    event = _subscribe_once(api, init_payload=init)["scoreChanged"]
    assert event["after"] == api.engine.score_of(event["userId"])


# --------------------------------------------------------------------------- schema


def test_checked_in_sdl_matches_the_schema() -> None:
    assert Path(SDL_PATH).read_text(encoding="utf-8") == schema_sdl(), (
        "credence/api/schema.graphql drifted: run `credence schema --out credence/api/schema.graphql` and review the diff"
    )


def test_a_serving_process_hands_the_gil_over_fast_and_freezes_what_it_loaded() -> None:
    before = sys.getswitchinterval()
    loaded = [object() for _ in range(3)]  # tracked containers' contents, alive before serving
    holder = {"loaded": loaded}
    try:
        settle_serving_process()
        assert (
            sys.getswitchinterval() == pytest.approx(SERVING_SWITCH_INTERVAL)
            and before > SERVING_SWITCH_INTERVAL
        )
        assert gc.get_freeze_count() > 0
        # What was alive is out of the collector's generations now, so a full collection skips it.
        assert not any(holder is o for o in gc.get_objects())
    finally:
        sys.setswitchinterval(before)
        gc.unfreeze()
    assert any(holder is o for o in gc.get_objects())
