"""Changes relayed from a follower worker to the writer (credence.api.relay), and errors across processes.

The codec and the error round trip are checked directly; then `credence serve
--workers 2` runs as a user runs it, and every kind of relayed change is sent over
fresh connections until the follower has answered each: its answers must equal what
the store then holds, its errors must be the writer's (class, code, facts), and a
refused change must leave nothing behind. Changes that are not relayed (flags) still
reach the primary whole, audited once.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import credence.core.errors as errors_module
from credence.api.relay import RELAYED_CHANGES, decode_change, encode_change
from credence.api.workers import RELAYED_MUTATIONS, needs_primary
from credence.core.errors import (
    ConflictError,
    CredenceError,
    LimitExceededError,
    NotFoundError,
    OutcomeUnknownError,
    ParameterError,
    PermissionDeniedError,
    RequestError,
    StoreError,
    ValidationError,
    error_from_payload,
    error_payload,
)
from credence.engine import ScoringEngine
from credence.graph.model import repayment_records
from credence.seeds.synthetic import generate_population
from tests.api_server import iso
from tests.serve_process import ServerProcess, issue_key, scored_store

SAMPLES: list[CredenceError] = [
    ValidationError("must be >= 0", entity="repayment", row=2, column="amount", value=-5.0, source="api"),
    ParameterError("damping", 1.5, "must be in (0, 1)"),
    NotFoundError("link", "a - b"),
    ConflictError("repayments id 'r1' is stored for user 'x', not 'y'"),
    StoreError("the store is away", retry_after=2),
    OutcomeUnknownError("the writer stopped answering", retry_after=1),
    PermissionDeniedError("flagUser", role="app", allowed=("analyst", "admin")),
    LimitExceededError("first", 500, 100, retry_after=3),
    RequestError("not JSON"),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_error_crosses_with_its_class_message_and_facts(error: CredenceError) -> None:
    # Through real JSON, as between the processes.
    back = error_from_payload(json.loads(json.dumps(error_payload(error))))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.extensions == error.extensions
    for name, value in vars(error).items():
        assert getattr(back, name) == value, name


def test_every_error_class_of_the_hierarchy_survives() -> None:
    classes = [
        c for c in vars(errors_module).values() if isinstance(c, type) and issubclass(c, CredenceError)
    ]
    assert len(classes) >= 15
    for cls in classes:
        error = cls.__new__(cls)
        CredenceError.__init__(error, f"a {cls.__name__}")
        back = error_from_payload(error_payload(error))
        assert type(back) is cls and back.code == cls.code and str(back) == f"a {cls.__name__}"


@pytest.mark.parametrize("payload", [None, [], {"type": "X"}, {"type": "X", "message": 3},
                                     {"type": "X", "message": "m", "facts": []}])  # fmt: skip
def test_an_unreadable_error_is_an_internal_error_saying_so(payload: Any) -> None:
    error = error_from_payload(payload)
    assert type(error) is CredenceError and error.code == "INTERNAL" and "unreadable" in str(error)


def test_an_unknown_error_class_keeps_its_code() -> None:
    error = error_from_payload(
        {"type": "SomethingNew", "code": "READ_ONLY", "message": "read-only", "facts": {}}
    )
    assert error.extensions == {"code": "READ_ONLY"} and str(error) == "read-only"


def test_a_change_round_trips_with_its_records_validated_again() -> None:
    records = repayment_records(
        [{"id": "r1", "user": "ann", "due": 10, "paid": 9 * 86_400, "amount": 5, "status": "late"}]
    )
    name, args, kwargs = decode_change(encode_change("record_repayments", [records], {}))
    assert (name, kwargs) == ("record_repayments", {}) and args[0] == records
    assert decode_change(encode_change("add_link", ["a", "b"], {"weight": 2.5})) == (
        "add_link", ["a", "b"], {"weight": 2.5})  # fmt: skip


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"change": "recompute", "args": [], "kwargs": {}}', "is not one of"),
        (b'{"change": "erase_user", "args": ["u1"], "kwargs": {}}', "is not one of"),
        (b'{"change": "remove_link", "args": "ab", "kwargs": {}}', "args must be a list"),
        (b'{"change": "remove_link", "args": [["a"]], "kwargs": {}}', "argument 0 is not a plain value"),
        (b'{"change": "remove_link", "args": [{"x": 1}], "kwargs": {}}', "argument 0 is not a record set"),
        (b'{"change": "record_repayments", "args": [{"records": "scores", "rows": []}], "kwargs": {}}',
         "not a record set"),
        (b'{"change": "record_repayments", "args": [{"records": "repayments", "rows": [[1, 2]]}], "kwargs": {}}',
         "every row needs 6 values"),
    ],
)  # fmt: skip
def test_a_hostile_relayed_call_is_refused_naming_what(body: bytes, says: str) -> None:
    with pytest.raises(RequestError, match=says):
        decode_change(body)


def test_relayed_records_pass_the_checks_of_their_kind_again() -> None:
    # A follower that skipped validation (or anything else on the socket) cannot store a bad row.
    bad = {"records": "repayments", "rows": [["r1", "ann", 10, None, -5.0, "pending"]]}
    with pytest.raises(ValidationError, match="amount"):
        decode_change(json.dumps({"change": "record_repayments", "args": [bad], "kwargs": {}}).encode())


def test_only_mutations_made_of_relayed_fields_stay_in_a_follower() -> None:
    def body(query: str) -> bytes:
        return json.dumps({"query": query}).encode()

    assert not needs_primary(
        body('mutation { addLink(a: "x", b: "y") { users { score } } }'), relayed=RELAYED_MUTATIONS
    )
    assert not needs_primary(body('mutation { a: removeLink(a: "x", b: "y") { changes { userId } } '
                                  'b: setConsent(user: "x", consent: true) { users { score } } }'), relayed=RELAYED_MUTATIONS)  # fmt: skip
    # One field that is not relayed, or one read only the primary answers, sends it all there.
    assert needs_primary(body('mutation { addLink(a: "x", b: "y") { changes { userId } } '
                              'flagUser(user: "x", reason: "r") { changes { userId } } }'), relayed=RELAYED_MUTATIONS)  # fmt: skip
    assert needs_primary(body('mutation { addLink(a: "x", b: "y") { users { network { value } } } }'),
                         relayed=RELAYED_MUTATIONS)  # fmt: skip
    assert needs_primary(body('mutation { ...M } fragment M on Mutation { addLink(a: "x", b: "y") { changes { userId } } }'),
                         relayed=RELAYED_MUTATIONS)  # fmt: skip
    assert len(RELAYED_MUTATIONS) == len(RELAYED_CHANGES)


# --------------------------------------------------------------------------- a real server

USERS = 600
DAY = 86_400
CHANGE = "changes { userId before after } users { userId score }"
REPAY = f"mutation($i: RepaymentInput!) {{ recordRepayment(input: $i) {{ {CHANGE} }} }}"
SPEND = f"mutation($i: SpendingInput!) {{ recordSpending(input: $i) {{ {CHANGE} }} }}"
ADD = f"mutation($a: String!, $b: String!, $w: Float!) {{ addLink(a: $a, b: $b, weight: $w) {{ {CHANGE} }} }}"
REMOVE = f"mutation($a: String!, $b: String!) {{ removeLink(a: $a, b: $b) {{ {CHANGE} }} }}"
CONSENT = f"mutation($u: String!, $c: Boolean!) {{ setConsent(user: $u, consent: $c) {{ {CHANGE} }} }}"
FLAG = f"mutation($u: String!, $r: String!) {{ flagUser(user: $u, reason: $r) {{ {CHANGE} }} }}"


def _send(url: str, key: str, query: str, **variables: Any) -> tuple[str, dict[str, Any]]:
    """(the worker that answered, the JSON answer), over a fresh connection (any worker may take it)."""
    reply = httpx.post(url, json={"query": query, "variables": variables}, timeout=30,
                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    return reply.headers.get("x-credence-worker", "primary"), reply.json()


@pytest.mark.slow
def test_a_follower_answers_relayed_changes_as_the_writer_would(tmp_path: Path) -> None:
    from credence.graph.sqlite import SQLiteStore

    db, population, env = scored_store(tmp_path, users=USERS, seed=5)
    app, analyst = issue_key(env, "relay-app", "app"), issue_key(env, "relay-analyst", "analyst")
    server = ServerProcess(args=["--db", str(db), "--workers", "2"], env=env, log_path=tmp_path / "serve.log")
    users = population.users["id"].astype(str).tolist()
    rng = random.Random(3)
    now = int(population.now)
    answers: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {}
    sequence: list[dict[str, Any]] = []  # every answer, in the order sent (one request at a time)
    refused_ids: list[str] = []
    server.start()
    try:
        deadline = time.monotonic() + 90
        i = 0
        while time.monotonic() < deadline and (i < 15 or not all(
            any(who == "follower" for who, _, _ in answers.get(kind, [])) for kind in
            ("repay", "spend", "add", "remove", "consent", "bad_repay", "bad_weight", "no_link")
        )):  # fmt: skip
            i += 1
            a, b = rng.sample(users, 2)
            due = now - rng.randint(2, 90) * DAY
            cases: dict[str, tuple[str, dict[str, Any]]] = {
                "repay": (REPAY, {"i": {"id": f"r{i}", "user": a, "due": iso(due), "paid": iso(due), "amount": 80.0,
                                        "status": "on_time"}}),
                "spend": (SPEND, {"i": {"id": f"s{i}", "user": a, "at": iso(due), "amount": 40.0,
                                        "category": "purchase"}}),
                "add": (ADD, {"a": a, "b": b, "w": 2.0}),
                "remove": (REMOVE, {"a": a, "b": b}),  # the link just added
                "consent": (CONSENT, {"u": a, "c": bool(i % 2)}),
                "bad_repay": (REPAY, {"i": {"id": f"x{i}", "user": a, "due": iso(due), "amount": -1.0,
                                            "status": "pending"}}),
                "bad_weight": (ADD, {"a": a, "b": b, "w": -3.0}),
                "no_link": (REMOVE, {"a": a, "b": b}),  # removed just before
            }  # fmt: skip
            for kind, (query, variables) in cases.items():
                who, body = _send(server.url, app, query, **variables)
                answers.setdefault(kind, []).append((who, variables, body))
                sequence.append(body)
                if kind == "bad_repay":
                    refused_ids.append(variables["i"]["id"])
        flagged = rng.choice(users)
        flag_who, flag_body = _send(server.url, analyst, FLAG, u=flagged, r="relay test")
        sequence.append(flag_body)
    finally:
        server.stop()

    missing = [k for k, v in answers.items() if not any(who == "follower" for who, _, _ in v)]
    assert not missing, f"the follower never answered {missing} (log: {server.log()[-2000:]})"
    for kind in ("repay", "spend", "add", "remove", "consent"):
        for who, _, body in answers[kind]:
            assert "errors" not in body, (kind, who, body)
    # Refusals are the writer's own errors, with their facts, wherever they were answered.
    for who, _, body in answers["bad_repay"]:
        (error,) = body["errors"]
        assert (
            error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["column"] == "amount"
        ), who
    for who, _, body in answers["bad_weight"]:
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "weight" in error["message"], (who, error)
        assert error["path"] == ["addLink"]
    for who, variables, body in answers["no_link"]:
        (error,) = body["errors"]
        facts = {k: v for k, v in error["extensions"].items() if k != "request_id"}
        assert facts == {
            "code": "NOT_FOUND",
            "entity": "link",
            "key": f"{variables['a']} - {variables['b']}",
        }, who
    assert flag_who == "primary" and "errors" not in flag_body

    with SQLiteStore(db) as store:
        stored_ids = set(store.repayments()["id"].astype(str)) | set(store.spending()["id"].astype(str))
        latest = store.latest_scores().set_index("user")["score"]
        consent = store.get_all_users().set_index("id")["consent_network"]
    db_rows = (
        sqlite3.connect(db)
        .execute("SELECT COUNT(*) FROM audit_log WHERE action = 'flag' AND subject = ?", (flagged,))
        .fetchone()[0]
    )
    assert db_rows == 1, "the forwarded flag was not audited exactly once"
    assert not set(refused_ids) & stored_ids, "a refused repayment was stored"
    for who, variables, _ in answers["repay"] + answers["spend"]:
        assert variables["i"]["id"] in stored_ids, (who, variables)
    last_consent = {v["u"]: v["c"] for _, v, _ in answers["consent"]}
    for user, value in last_consent.items():
        assert bool(consent.loc[user]) == value, user
    # Replay the answers in order: a change's users as it left them, and every score it moved
    # (before, then after). Each "before" must be what the earlier answers said, and the end
    # must be what the store holds: the follower's answers were the writer's, in order.
    told: dict[str, int] = {}
    for body in sequence:
        if "errors" in body:
            continue
        payload = next(iter(body["data"].values()))
        for change in payload["changes"]:
            if change["userId"] in told:
                assert told[change["userId"]] == change["before"], change
            told[change["userId"]] = change["after"]
        for node in payload["users"]:
            told[node["userId"]] = node["score"]
    assert len(told) > 40
    assert told == {user: int(latest.loc[user]) for user in told}


# --------------------------------------------------------------------------- the relay socket


def test_the_relay_socket_applies_calls_refuses_hostile_frames_and_survives_a_restart(tmp_path: Path) -> None:
    """ChangeRelay to RelayServer over a real Unix socket, the primary's real writer and store behind it."""
    import asyncio
    import socket
    import struct

    from credence.api.relay import ChangeRelay, RelayServer
    from credence.api.service import CredenceService
    from credence.graph.sqlite import SQLiteStore

    population = generate_population(n_users=600, seed=9)
    store = SQLiteStore(tmp_path / "relay.db")
    store.load(population.dataset())
    engine = ScoringEngine(store, now=population.now)
    engine.recompute()
    service = CredenceService(store=store, engine=engine)
    path = tmp_path / "relay.sock"
    users = population.users["id"].astype(str).tolist()
    linked = {
        frozenset(pair) for pair in population.links[["source", "target"]].astype(str).itertuples(index=False)
    }
    a, b = next((x, y) for x in users for y in users if x != y and frozenset((x, y)) not in linked)

    def listening() -> socket.socket:
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(8)
        return sock

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        server = RelayServer(service)
        await server.start(listening())
        relay = ChangeRelay(path)
        applied = await relay.apply("add_link", [a, b], {"weight": 3.0})
        out["generation"] = applied.generation
        out["added"] = dict(
            zip(store.neighbors(a)["user"].astype(str), store.neighbors(a)["weight"], strict=True)
        )
        with pytest.raises(NotFoundError) as missing:
            await relay.apply("remove_link", [a, "no-such-user"], {})
        out["missing"] = missing.value.extensions
        with pytest.raises(ValidationError) as bad:
            await relay.apply("add_link", [a, b], {"weight": -1.0})
        out["bad"] = bad.value
        # A frame past the limit is answered with an error, then the connection is closed.
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(struct.pack(">I", 10_000_000))
        await writer.drain()
        size = struct.unpack(">I", await reader.readexactly(4))[0]
        out["too_big"] = json.loads(await reader.readexactly(size))
        out["closed"] = await reader.read() == b""
        writer.close()
        # The primary goes away (its connections close): nothing reaches it, and the caller hears so.
        await server.close()
        await asyncio.sleep(0.05)
        path.unlink()
        with pytest.raises(StoreError) as away:
            await relay.apply("remove_link", [a, b], {})
        out["away"] = type(away.value)
        # Its replacement listens anew: the same relay carries on.
        server = RelayServer(service)
        await server.start(listening())
        removed = await relay.apply("remove_link", [a, b], {})
        out["removed_generation"] = removed.generation
        await relay.close()
        await server.close()
        return out

    try:
        out = asyncio.run(scenario())
        neighbours = set(store.neighbors(a)["user"].astype(str))
    finally:
        service.close()
    assert out["generation"] >= 0 and out["added"].get(b) == 3.0
    assert out["missing"]["code"] == "NOT_FOUND"
    assert out["bad"].column == "weight" and out["bad"].extensions["code"] == "BAD_USER_INPUT"
    assert out["too_big"]["error"]["type"] == "RequestError" and "above" in out["too_big"]["error"]["message"]
    assert out["closed"]
    assert out["away"] is StoreError  # not OUTCOME_UNKNOWN: the call never left
    assert out["removed_generation"] > out["generation"]
    assert b not in neighbours  # added, then removed: as the two applied calls said
