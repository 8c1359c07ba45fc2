"""Hostile requests at the HTTP door, through a live uvicorn server and httpx, on SQLite and Neo4j.

Every one is the client's mistake and must be answered as such: a client code
(``BAD_USER_INPUT``, ``BAD_REQUEST``, ``LIMIT_EXCEEDED``) with a message naming what
and where, never ``INTERNAL_SERVER_ERROR`` or HTTP 500, nothing written, no traceback
in the server log, and no hostile value echoed at length.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from credence.api.config import Limits
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, iso, live_api, live_population

POPULATION = generate_population(n_users=600, seed=8)
IDS = POPULATION.users["id"].astype(str).tolist()
CONSOLE = "https://console.example.org"
PAGE = "query($n: Int!) { users(first: $n) { edges { node { userId } } } }"
ADD_LINK = "mutation($a: String!, $b: String!, $w: Float!) { addLink(a: $a, b: $b, weight: $w) { changes { userId } } }"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    limits = Limits(max_tokens=300, max_body_bytes=64_000)
    with live_population(request, tmp_path_factory.mktemp(f"requests-{request.param}"), POPULATION.dataset(),
                         POPULATION.now, limits=limits, cors_origins=(CONSOLE,)) as server:  # fmt: skip
        yield server


def _post(api: LiveApi, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.secrets['admin']}", **kwargs.pop("headers", {})}
    return httpx.post(api.url, headers=headers, timeout=60, **kwargs)


def _raw(api: LiveApi, text: str) -> httpx.Response:
    return _post(api, content=text.encode(), headers={"content-type": "application/json"})


def _first_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("errors"), body
    return body["errors"][0]  # type: ignore[no-any-return]


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def _no_tracebacks(log: pytest.LogCaptureFixture) -> None:
    loud = [r for r in log.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [r.getMessage()[:200] for r in loud]


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"n": "10"}, "non-integer value: '10'"),
        ({"n": 10.5}, "non-integer value: 10.5"),
        ({"n": None}, "not to be None"),
        ({}, "to be provided"),
        ({"n": 2**53 + 1}, "32-bit"),
    ],
)
def test_a_wrong_variable_value_is_bad_user_input(
    api: LiveApi, server_log: pytest.LogCaptureFixture, variables: dict[str, Any], says: str
) -> None:
    error = _first_error(_post(api, json={"query": PAGE, "variables": variables}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("Variable '$n' has invalid value") and says in error["message"]
    _no_tracebacks(server_log)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_a_non_finite_float_is_refused_and_writes_nothing(
    api: LiveApi, server_log: pytest.LogCaptureFixture, number: str
) -> None:
    links = len(api.store.links())
    text = json.dumps({"query": ADD_LINK, "variables": {"a": IDS[0], "b": IDS[1], "w": 0}}).replace(
        '"w": 0', f'"w": {number}'
    )
    error = _first_error(_raw(api, text))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Variable '$w'" in error["message"] and "non numeric" in error["message"]
    assert len(api.store.links()) == links
    _no_tracebacks(server_log)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"42", "JSON but a number"),
        (b'"query"', "JSON but a string"),
        (b"null", "JSON but null"),
        (b"[]", "JSON but an array"),
        (b'{"query": "{ scoreStats { count } }"', "not JSON: Expecting ',' delimiter at line 1, column 37"),
        (b'{"query": "\xff\xfe"}', "not valid UTF-8: byte 0xff at offset 11"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400_naming_what_and_where(
    api: LiveApi, server_log: pytest.LogCaptureFixture, content: bytes, says: str
) -> None:
    response = _post(api, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = _first_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST" and says in error["message"], error
    _no_tracebacks(server_log)


def test_a_body_above_the_size_limit_is_refused_before_it_is_read_whole(api: LiveApi) -> None:
    big = json.dumps({"query": "{ scoreStats { count } }" + " " * 100_000})
    response = _raw(api, big)
    assert response.status_code == 413
    error = _first_error(response)
    assert {k: v for k, v in error["extensions"].items() if k != "request_id"} == {
        "code": "LIMIT_EXCEEDED", "limit": "body_bytes", "value": len(big), "maximum": 64_000}  # fmt: skip

    # Without a Content-Length (chunked): counted as it arrives.
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ scoreStats { count } }'
        for _ in range(20):
            yield b" " * 10_000
        yield b'"}'

    chunked = _post(api, content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert _first_error(chunked)["extensions"]["limit"] == "body_bytes"
    # Just under the limit is served.
    fine = _raw(api, json.dumps({"query": "{ scoreStats { count } }" + " " * 60_000}))
    assert fine.json()["data"]["scoreStats"]["count"] == len(IDS)


def test_a_huge_id_is_not_echoed_in_the_error_or_the_log(
    api: LiveApi, server_log: pytest.LogCaptureFixture
) -> None:
    huge = "x" * 50_000
    response = _post(
        api, json={"query": "query($u: String!) { user(id: $u) { score } }", "variables": {"u": huge}}
    )
    error = _first_error(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert len(response.text) < 1_000 and "(50000 characters)" in error["message"]
    assert all(len(record.getMessage()) < 1_000 for record in server_log.records)
    _no_tracebacks(server_log)


def test_several_operations_need_an_operation_name(api: LiveApi) -> None:
    query = "query A { scoreStats { count } } query B { users(first: 1) { edges { node { userId } } } }"
    response = _post(api, json={"query": query})
    assert response.status_code == 400
    error = _first_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST" and "2 operations (A, B)" in error["message"]
    named = _post(api, json={"query": query, "operationName": "B"}).json()
    assert list(named["data"]) == ["users"]


def test_the_token_limit_says_which_limit_and_its_maximum(api: LiveApi) -> None:
    aliases = " ".join(f"a{i}: scoreStats {{ count }}" for i in range(200))
    error = _first_error(_post(api, json={"query": "{ " + aliases + " }"}))
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["extensions"]["limit"] == "tokens" and error["extensions"]["maximum"] == 300


def test_a_valid_request_still_works_through_the_door(api: LiveApi) -> None:
    data = _post(api, json={"query": PAGE, "variables": {"n": 3}}).json()["data"]
    served = [edge["node"]["userId"] for edge in data["users"]["edges"]]
    assert len(set(served)) == 3 and set(served) <= set(IDS)


def test_every_response_carries_a_request_id_and_errors_name_it(api: LiveApi) -> None:
    made = _post(api, json={"query": PAGE, "variables": {"n": "x"}})
    rid = made.headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0
    assert _first_error(made)["extensions"]["request_id"] == rid
    sent = _post(
        api, json={"query": PAGE, "variables": {"n": 1}}, headers={"X-Request-Id": "checkout-42.a:b"}
    )
    assert sent.headers["x-request-id"] == "checkout-42.a:b" and "errors" not in sent.json()
    hostile = _post(api, json={"query": PAGE}, headers={"X-Request-Id": "x" * 500})
    assert len(hostile.headers["x-request-id"]) == 32
    door = _post(api, content=b"42", headers={"content-type": "application/json", "X-Request-Id": "door-1"})
    assert (
        door.headers["x-request-id"] == "door-1"
        and _first_error(door)["extensions"]["request_id"] == "door-1"
    )


def test_large_answers_are_gzipped_for_clients_that_ask(api: LiveApi) -> None:
    query = "{ users(first: 100) { edges { node { userId score band reasons { code } } } } }"
    zipped = _post(api, json={"query": query}, headers={"Accept-Encoding": "gzip"})
    plain = _post(api, json={"query": query}, headers={"Accept-Encoding": "identity"})
    assert zipped.headers.get("content-encoding") == "gzip" and "content-encoding" not in plain.headers
    assert zipped.json() == plain.json()  # httpx inflates it: the same answer


def test_cors_allows_only_the_configured_origins(api: LiveApi) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(api.url, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "authorization, content-type"})  # fmt: skip

    allowed = preflight(CONSOLE)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == CONSOLE
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight("https://evil.example.com")
    assert "access-control-allow-origin" not in refused.headers
    answer = _post(api, json={"query": PAGE, "variables": {"n": 1}}, headers={"Origin": CONSOLE})
    assert answer.headers["access-control-allow-origin"] == CONSOLE
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


def test_cors_is_off_by_default(tmp_path: Path) -> None:
    from credence.graph.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "credence.db")
    store.load(generate_population(n_users=600, seed=2).dataset())
    try:
        with live_api(store, POPULATION.now, tmp_path) as server:
            response = httpx.options(
                server.url, headers={"Origin": CONSOLE, "Access-Control-Request-Method": "POST"}
            )
            answer = httpx.post(
                server.url, json={"query": "{ model { version } }"}, headers={"Origin": CONSOLE}
            )
    finally:
        store.close()
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in answer.headers


def test_cost_is_reported_and_a_key_over_its_rate_budget_waits(tmp_path: Path) -> None:
    from credence.graph.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "credence.db")
    store.load(POPULATION.dataset())
    query = {"query": "{ scoreStats { count mean } }"}  # the documented model: 1 + 1 + 1 = 3
    limits = Limits(max_cost=50, rate_budget=50, rate_refill_per_second=1)
    try:
        with live_api(store, POPULATION.now, tmp_path, limits=limits) as server:
            first = _post(server, json=query)
            answers = [first]
            while "errors" not in answers[-1].json() and len(answers) < 40:
                answers.append(_post(server, json=query))
            other = _post(
                server, json=query, headers={"Authorization": f"Bearer {server.secrets['analyst']}"}
            )
    finally:
        store.close()
    cost = first.json()["extensions"]["cost"]
    assert cost == {"requested": 3, "remaining": 47, "budget": 50, "refillPerSecond": 1}
    assert first.headers["x-ratelimit-limit"] == "50" and first.headers["x-ratelimit-remaining"] == "47"
    assert first.headers["x-ratelimit-cost"] == "3"
    refused = answers[-1]
    assert 16 <= len(answers) <= 20, [a.json().get("extensions") for a in answers][
        :6
    ]  # 50 points, 3 a request, about 1 back per second meanwhile
    error = _first_error(refused)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and error["extensions"]["limit"] == "rate"
    assert error["extensions"]["retry_after"] >= 1 and refused.headers["retry-after"] == str(
        error["extensions"]["retry_after"]
    )
    assert refused.json()["data"] is None
    assert other.json()["extensions"]["cost"]["remaining"] == 47  # another key, its own bucket


def _apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def test_automatic_persisted_queries_register_once_then_run_by_hash(api: LiveApi) -> None:
    import hashlib

    query = "query($n: Int!) { users(first: $n) { totalCount } }"
    digest = hashlib.sha256(query.encode()).hexdigest()  # the client's own hash
    miss = _post(api, json={"extensions": _apq(digest), "variables": {"n": 1}})
    assert miss.status_code == 200
    error = _first_error(miss)
    assert (
        error["message"] == "PersistedQueryNotFound"
        and error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    )
    registered = _post(api, json={"query": query, "extensions": _apq(digest), "variables": {"n": 1}}).json()
    by_hash = _post(api, json={"extensions": _apq(digest), "variables": {"n": 2}}).json()
    assert registered["data"] == by_hash["data"] == {"users": {"totalCount": len(IDS)}}
    wrong = _post(api, json={"query": query, "extensions": _apq("0" * 64)})
    assert wrong.status_code == 400 and "is not the SHA-256" in _first_error(wrong)["message"]
    malformed = _post(api, json={"extensions": {"persistedQuery": {"version": 2, "sha256Hash": digest}}})
    assert malformed.status_code == 400 and _first_error(malformed)["extensions"]["code"] == "BAD_REQUEST"


def test_allow_list_mode_runs_only_the_manifest(tmp_path: Path) -> None:
    import hashlib

    from credence.api.persisted import read_manifest
    from credence.graph.sqlite import SQLiteStore

    listed = "query Stats { scoreStats { count } }"
    digest = hashlib.sha256(listed.encode()).hexdigest()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1,
                                    "operations": [{"id": digest, "name": "Stats", "type": "query", "body": listed}]}))  # fmt: skip
    store = SQLiteStore(tmp_path / "credence.db")
    store.load(POPULATION.dataset())
    links = len(store.links())
    try:
        with live_api(store, POPULATION.now, tmp_path, allowed_queries=read_manifest(manifest)) as server:
            by_hash = _post(server, json={"extensions": _apq(digest)}).json()
            by_text = _post(server, json={"query": listed}).json()
            adhoc = _post(server, json={"query": "{ model { version } }"})
            unknown = _post(server, json={"extensions": _apq("a" * 64)})
            register = _post(server, json={"query": ADD_LINK, "variables": {"a": IDS[0], "b": IDS[1], "w": 1.0},
                                           "extensions": _apq(hashlib.sha256(ADD_LINK.encode()).hexdigest())})  # fmt: skip
    finally:
        links_after = len(store.links())
        store.close()
    assert by_hash["data"] == by_text["data"] == {"scoreStats": {"count": len(IDS)}}
    for refused in (adhoc, unknown, register):
        assert refused.status_code == 403
        assert _first_error(refused)["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    assert links_after == links  # the refused mutation wrote nothing


def test_a_bad_manifest_names_the_operation_and_field(tmp_path: Path) -> None:
    from credence.api.persisted import read_manifest
    from credence.core.errors import ValidationError

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1,
                                    "operations": [{"id": "f" * 64, "name": "X", "type": "query", "body": "{ x }"}]}))  # fmt: skip
    with pytest.raises(ValidationError, match=r"manifest operation row 1, column 'id'.*not the SHA-256"):
        read_manifest(manifest)


@pytest.mark.parametrize(
    ("weight", "says"),
    [
        ("1e-320", "must be >= 1e-06"),
        ("1e400", "finite|non numeric"),
        ("0", "must be > 0"),
        ("2e6", "must be <= 1e+06"),
    ],
)
def test_a_link_weight_out_of_range_is_refused_in_variables_and_literals(
    api: LiveApi, weight: str, says: str
) -> None:
    links = len(api.store.links())
    text = json.dumps({"query": ADD_LINK, "variables": {"a": IDS[2], "b": IDS[3], "w": 0}}).replace(
        '"w": 0', f'"w": {weight}'
    )
    as_variable = _first_error(_raw(api, text))
    literal = (
        f'mutation {{ addLink(a: "{IDS[2]}", b: "{IDS[3]}", weight: {weight}) {{ changes {{ userId }} }} }}'
    )
    as_literal = _first_error(_post(api, json={"query": literal}))
    for error in (as_variable, as_literal):
        assert error["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, error
        assert any(phrase in error["message"] for phrase in says.split("|")), error
    assert len(api.store.links()) == links


def test_reusing_a_repayment_id_for_another_user_is_a_conflict(api: LiveApi) -> None:
    repay = "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }"
    event = {"id": "dup-repayment", "user": IDS[4], "due": iso(int(POPULATION.now) - 10 * 86_400), "amount": 50.0,
             "status": "defaulted"}  # fmt: skip
    first = _post(api, json={"query": repay, "variables": {"i": event}}).json()
    assert "errors" not in first, first
    served = api.engine.score_of(IDS[5])
    error = _first_error(_post(api, json={"query": repay, "variables": {"i": {**event, "user": IDS[5]}}}))
    assert error["extensions"]["code"] == "CONFLICT" and f"stored for user '{IDS[4]}'" in error["message"]
    assert api.store.event_owners("repayments", ["dup-repayment"]) == {"dup-repayment": IDS[4]}
    assert api.engine.score_of(IDS[5]) == served


def test_errors_speak_the_apis_language(api: LiveApi) -> None:
    link = _first_error(
        _post(api, json={"query": ADD_LINK, "variables": {"a": IDS[0], "b": "nobody-here", "w": 1.0}})
    )
    flag = _first_error(
        _post(
            api,
            json={"query": 'mutation { flagUser(user: "nobody-here", reason: "x") { changes { userId } } }'},
        )
    )
    repay = "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }"
    ghost = {
        "id": "ghost-r",
        "user": "nobody-here",
        "due": iso(int(POPULATION.now) - 86_400),
        "amount": 5.0,
        "status": "missed",
    }
    repayment = _first_error(_post(api, json={"query": repay, "variables": {"i": ghost}}))
    for error in (link, flag, repayment):  # an unknown user is NOT_FOUND wherever it is named
        assert error["extensions"]["code"] == "NOT_FOUND" and error["extensions"]["key"] == "nobody-here", (
            error
        )
    upsert = "mutation($i: UserInput!) { upsertUser(input: $i) { users { userId } } }"
    income = _first_error(
        _post(api, json={"query": upsert, "variables": {"i": {"id": IDS[0], "declaredIncome": -5.0}}})
    )
    assert (
        income["extensions"]["code"] == "BAD_USER_INPUT"
        and income["extensions"]["column"] == "declaredIncome"
    )
    assert income["message"].startswith("input, column 'declaredIncome'") and "row" not in income["message"]
    amount = _first_error(
        _post(api, json={"query": repay, "variables": {"i": {**ghost, "user": IDS[0], "amount": -1.0}}})
    )
    assert (
        amount["message"].startswith("input, column 'amount'") and amount["extensions"]["entity"] == "input"
    )
    weight = _first_error(
        _post(api, json={"query": ADD_LINK, "variables": {"a": IDS[0], "b": IDS[1], "w": 0.0}})
    )
    assert weight["message"].startswith("addLink, column 'weight'"), weight
    assert not api.store.event_owners("repayments", ["ghost-r"])
