"""Relay paging both ways (first/after and last/before) on every paged field, through a live server.

Each listing is paged all the way forward and all the way backward with a real client
(gql over HTTP) against uvicorn, on SQLite and Neo4j, and compared with an order the
test computes itself: the engine's score table sorted with pandas, the store's friends
and score snapshots, the ids the store gave the audit entries the test recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credence.api.config import ApiConfig, Limits
from credence.api.ids import encode_cursor
from credence.api.keys import ApiKeys
from credence.api.schema import CredenceSchema, build_schema
from credence.graph.model import COMPONENTS
from credence.graph.store import AuditDraft
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, epoch, live_population

DAY = 86_400
POPULATION = generate_population(n_users=260, seed=8, sybils_per_region=10, rings=1)
NOW = POPULATION.now
MAX_FIRST = 60


@pytest.fixture(scope="module", params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    limits = Limits(max_depth=10, max_tokens=2_000, max_aliases=10, max_first=MAX_FIRST, max_cost=20_000)
    with live_population(request, tmp_path_factory.mktemp(f"paging-{request.param}"), POPULATION.dataset(), NOW,
                         limits=limits) as server:  # fmt: skip
        yield server


# --------------------------------------------------------------------------- pages and walks


@dataclass(frozen=True)
class Page:
    """One page as the API answered it: its items, the edges' cursors and the page info."""

    items: list[Any]
    cursors: list[str]  # one per item where the type has edges; empty for the audit log
    start: str | None
    end: str | None
    previous: bool
    next: bool


Fetch = Callable[..., Page]


def connection_page(connection: dict[str, Any], item: Callable[[dict[str, Any]], Any]) -> Page:
    info = connection["pageInfo"]
    cursors = [edge["cursor"] for edge in connection["edges"]]
    page = Page([item(edge) for edge in connection["edges"]], cursors, info["startCursor"], info["endCursor"],
                info["hasPreviousPage"], info["hasNextPage"])  # fmt: skip
    # startCursor and endCursor are the first and the last edge's cursors.
    assert (page.start, page.end) == ((cursors[0], cursors[-1]) if cursors else (None, None))
    return page


def walk_forward(fetch: Fetch, size: int) -> list[Page]:
    pages = [fetch(first=size)]
    while pages[-1].next:
        pages.append(fetch(first=size, after=pages[-1].end))
    return pages


def walk_backward(fetch: Fetch, size: int) -> list[Page]:
    pages = [fetch(last=size)]
    while pages[-1].previous:
        pages.append(fetch(last=size, before=pages[-1].start))
    return pages


def check_paging(fetch: Fetch, expected: list[Any], size: int) -> None:
    """Forward and backward walks, cursors used the other way, and windows between two cursors."""
    n = len(expected)
    assert n > 2 * size, "the listing must span several pages"
    forward = walk_forward(fetch, size)
    assert [p.items for p in forward] == [expected[i : i + size] for i in range(0, n, size)]
    assert [(p.previous, p.next) for p in forward] == [
        (i > 0, i < len(forward) - 1) for i in range(len(forward))
    ]
    backward = walk_backward(fetch, size)
    # Backward pages are the listing's last items, page by page, each in listing order.
    assert [p.items for p in backward] == [
        expected[max(0, stop - size) : stop] for stop in range(n, 0, -size)
    ]
    assert [(p.previous, p.next) for p in backward] == [
        (i < len(backward) - 1, i > 0) for i in range(len(backward))
    ]
    assert [x for p in reversed(backward) for x in p.items] == expected
    # A cursor is a position: a forward page's start cursor as ``before`` gives the page before it,
    # a backward page's end cursor as ``after`` the page after it.
    for i in range(1, len(forward)):
        page = fetch(last=size, before=forward[i].start)
        assert (page.items, page.previous, page.next) == (forward[i - 1].items, i > 1, True)
    for i in range(1, len(backward)):
        page = fetch(first=size, after=backward[i].end)
        assert (page.items, page.previous, page.next) == (backward[i - 1].items, True, i > 1)
    # The two walks over the same boundaries: from the end by the forward walk's page sizes.
    before = None
    for previous in reversed(forward):
        page = fetch(last=len(previous.items), before=before)
        assert (page.items, page.start, page.end) == (previous.items, previous.start, previous.end)
        before = page.start
    # Windows between two cursors, sliced from either end.
    position = {}
    for p in forward + backward:
        if p.items:
            position[p.start] = expected.index(p.items[0])
            position[p.end] = expected.index(p.items[-1])
        for cursor, item in zip(p.cursors, p.items, strict=bool(p.cursors)):
            position[cursor] = expected.index(item)
    cursors = sorted(position, key=position.__getitem__)
    assert len(cursors) >= 6
    pairs = [(cursors[0], cursors[-1]), (cursors[1], cursors[len(cursors) // 2]), (cursors[2], cursors[3]),
             (cursors[-2], cursors[-1]), (cursors[3], cursors[3]), (cursors[5], cursors[1])]  # fmt: skip
    for after, before in pairs:
        low, high = position[after] + 1, position[before]
        window = expected[low : max(low, high)]
        for m in (1, 2, min(size + 3, MAX_FIRST)):
            for page, want in ((fetch(first=m, after=after, before=before), window[:m]),
                               (fetch(last=m, after=after, before=before), window[max(0, len(window) - m) :])):  # fmt: skip
                assert page.items == want, (low, high, m)
                if want:
                    # Items lie before and after the page in the whole listing, not only in the window.
                    assert page.previous == (expected.index(want[0]) > 0)
                    assert page.next == (expected.index(want[-1]) < n - 1)
                else:
                    # Both cursors name items of the listing: it goes on past either side.
                    assert (page.previous, page.next) == (True, True)


# --------------------------------------------------------------------------- users

USERS = """query($f: UserFilter, $s: UserSort!, $first: Int, $after: String, $last: Int, $before: String) {
  users(filter: $f, sort: $s, first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { userId score } }
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } }"""


def users_fetch(api: LiveApi, sort: str, filter: dict[str, Any] | None, total: int) -> Fetch:
    def fetch(**arguments: Any) -> Page:
        users = api.run("app", USERS, f=filter, s=sort, **arguments)["users"]
        assert users["totalCount"] == total
        return connection_page(users, lambda edge: (edge["node"]["userId"], edge["node"]["score"]))

    return fetch


def expected_users(frame: pd.DataFrame, sort: str) -> list[tuple[str, int]]:
    if sort == "USER_ID_ASC":
        ordered = sorted(zip(frame["user"].astype(str), frame["score"].astype(int), strict=True))
        return [(user, int(score)) for user, score in ordered]
    ordered_frame = frame.sort_values(["score", "user"], ascending=[sort == "SCORE_ASC", True])
    return [(str(u), int(s)) for u, s in zip(ordered_frame["user"], ordered_frame["score"], strict=True)]


@pytest.mark.parametrize("sort", ["SCORE_DESC", "SCORE_ASC", "USER_ID_ASC"])
def test_users_page_both_ways_with_a_filter(api: LiveApi, sort: str) -> None:
    frame = api.engine.scores()
    low = int(frame["score"].quantile(0.25))
    chosen = frame[frame["score"] >= low]
    expected = expected_users(chosen, sort)
    check_paging(users_fetch(api, sort, {"score": {"gte": low}}, len(chosen)), expected, 23)


def test_users_page_both_ways_unfiltered_with_the_default_size(api: LiveApi) -> None:
    frame = api.engine.scores()
    expected = expected_users(frame, "SCORE_DESC")
    fetch = users_fetch(api, "SCORE_DESC", None, len(frame))
    # Neither first nor last: the first 20; last alone: the last ones, in the same order.
    default = fetch()
    assert (default.items, default.previous, default.next) == (expected[:20], False, True)
    end = fetch(last=7)
    assert (end.items, end.previous, end.next) == (expected[-7:], True, False)
    assert fetch(first=None, last=7) == end  # an explicit null first is no first
    assert fetch(last=MAX_FIRST).items == expected[-MAX_FIRST:]
    zero = fetch(last=0, before=end.start)
    assert (zero.items, zero.start, zero.end, zero.next) == ([], None, None, True)
    check_paging(fetch, expected, MAX_FIRST)


def test_users_band_filter_backward(api: LiveApi) -> None:
    frame = api.engine.scores()
    band = str(frame["band"].mode().iloc[0])
    chosen = frame[frame["band"] == band]
    expected = expected_users(chosen, "USER_ID_ASC")
    fetch = users_fetch(api, "USER_ID_ASC", {"band": {"in": [band.replace(" ", "_")]}}, len(chosen))
    pages = walk_backward(fetch, 9)
    assert [x for p in reversed(pages) for x in p.items] == expected
    assert pages[0].items == expected[-9:] and not pages[0].next and not pages[-1].previous


def test_forward_has_previous_page_is_computed_not_assumed(api: LiveApi) -> None:
    frame = api.engine.scores()
    ordered = expected_users(frame, "SCORE_DESC")
    fetch = users_fetch(api, "SCORE_DESC", None, len(frame))
    first = fetch(first=3)
    # A cursor of the listing's first user, as after: the user at the cursor precedes the page.
    assert fetch(first=3, after=first.cursors[0]).previous
    # A cursor positioned before every user the filter keeps: nothing precedes the page,
    # though ``after`` was given. The top user's cursor, in a listing filtered to lower scores.
    top_score = ordered[0][1]
    lower = frame[frame["score"] < top_score]
    assert len(lower) > 3
    filtered = users_fetch(api, "SCORE_DESC", {"score": {"lt": top_score}}, len(lower))
    page = filtered(first=3, after=first.cursors[0])
    assert page.items == expected_users(lower, "SCORE_DESC")[:3] and not page.previous and page.next
    # Symmetrically, before a cursor past every kept user: nothing follows a last page.
    bottom_score = ordered[-1][1]
    upper = frame[frame["score"] > bottom_score]
    end = fetch(last=1)
    page = users_fetch(api, "SCORE_DESC", {"score": {"gt": bottom_score}}, len(upper))(
        last=4, before=end.start
    )
    assert page.items == expected_users(upper, "SCORE_DESC")[-4:] and page.previous and not page.next


# --------------------------------------------------------------------------- history and friends

HISTORY = """query($u: String!, $first: Int, $after: String, $last: Int, $before: String) { user(id: $u) {
  history(first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor node { computedAt score } }
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } } }"""


def test_history_pages_both_ways(api: LiveApi) -> None:
    user = str(POPULATION.users["id"].iloc[11])
    # Older snapshots written to the store, one score each, so that the history spans pages.
    frames = [
        pd.DataFrame({"user": [user], "model_version": ["paging-old"], "computed_at": [NOW - (30 - k) * DAY],
                      "score": [400 + 10 * k], **{c: [0.5] for c in COMPONENTS}})
        for k in range(16)
    ]  # fmt: skip
    for frame in frames:
        api.store.write_scores(frame)
    stored = api.store.score_history(user)  # oldest first
    expected = [
        (int(at), int(score)) for at, score in zip(stored["computed_at"], stored["score"], strict=True)
    ][::-1]
    assert len(expected) == 17

    def fetch(**arguments: Any) -> Page:
        history = api.run("app", HISTORY, u=user, **arguments)["user"]["history"]
        assert history["totalCount"] == len(expected)
        return connection_page(
            history, lambda edge: (epoch(edge["node"]["computedAt"]), edge["node"]["score"])
        )

    assert fetch().items == expected[:10]  # the default page, newest first
    assert fetch(last=4).items == expected[-4:]  # the oldest four, still newest first
    check_paging(fetch, expected, 4)


FRIENDS = """query($u: String!, $first: Int, $after: String, $last: Int, $before: String) { user(id: $u) {
  friends(first: $first, after: $after, last: $last, before: $before) {
    totalCount edges { cursor weight node { userId } }
    pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } } }"""


def test_friends_pages_both_ways(api: LiveApi) -> None:
    table = api.engine.view()
    user = str(table.ids[int(np.argmax(table.degree))])
    neighbors = api.store.neighbors(user)
    expected = sorted(neighbors["user"].astype(str))
    assert len(expected) >= 7

    def fetch(**arguments: Any) -> Page:
        friends = api.run("analyst", FRIENDS, u=user, **arguments)["user"]["friends"]
        assert friends["totalCount"] == len(expected)
        assert all(edge["weight"] > 0 for edge in friends["edges"])
        return connection_page(friends, lambda edge: edge["node"]["userId"])

    size = max(1, (len(expected) - 1) // 3)
    check_paging(fetch, expected, size)
    # Every read of friends is audited, backward ones too, with the page it asked for.
    fetch(last=2)
    assert api.store.audit_log(last=1, actor="test-analyst", subject=user)[0].detail == "last=2"


# --------------------------------------------------------------------------- audit log

AUDIT = """query($a: String, $first: Int, $after: String, $last: Int, $before: String) {
  auditLog(actor: $a, first: $first, after: $after, last: $last, before: $before) {
    entries { id actor } startCursor endCursor hasPreviousPage hasNextPage } }"""


def audit_fetch(api: LiveApi, actor: str | None) -> Fetch:
    def fetch(**arguments: Any) -> Page:
        log = api.run("admin", AUDIT, a=actor, **arguments)["auditLog"]
        entries = log["entries"]
        assert actor is None or all(e["actor"] == actor for e in entries)
        page = Page([e["id"] for e in entries], [], log["startCursor"], log["endCursor"], log["hasPreviousPage"],
                    log["hasNextPage"])  # fmt: skip
        assert (page.start, page.end) == (
            (encode_cursor("audit", {"id": entries[0]["id"]}), encode_cursor("audit", {"id": entries[-1]["id"]}))
            if entries else (None, None)
        )  # fmt: skip
        return page

    return fetch


def test_audit_log_pages_both_ways_by_actor(api: LiveApi) -> None:
    recorded = api.store.record_audit(
        [AuditDraft(actor="pager-a" if k % 3 else "pager-b", role="analyst", action=f"read:page.{k}", at=NOW + k)
         for k in range(40)]
    )  # fmt: skip
    for actor in ("pager-a", "pager-b"):
        expected = [e.id for e in recorded if e.actor == actor]
        fetch = audit_fetch(api, actor)
        assert fetch(last=3).items == expected[-3:]
        check_paging(fetch, expected, 4)
    # Another actor's cursor is a position in this listing too: before pager-b's first
    # entry (k = 0) there is nothing of pager-a's (k = 1 onwards), after it all of theirs.
    first_b = audit_fetch(api, "pager-b")(first=1)
    page = audit_fetch(api, "pager-a")(last=5, before=first_b.start)
    assert (page.items, page.previous, page.next) == ([], False, True)


def test_audit_log_pages_both_ways_unfiltered(api: LiveApi) -> None:
    api.store.record_audit([AuditDraft(actor="pager-c", role="admin", action=f"x.{k}") for k in range(45)])
    expected = [e.id for e in api.store.audit_log(first=10_000)]
    fetch = audit_fetch(api, None)
    assert fetch().items == expected[:50]  # the default page
    check_paging(fetch, expected, MAX_FIRST // 3)


# --------------------------------------------------------------------------- bad arguments and limits

FIELDS = {
    "users": ("app", "query($first: Int, $last: Int, $after: String, $before: String) {{ users(first: $first, "
              "last: $last, after: $after, before: $before) {{ totalCount }} }}"),
    "history": ("app", 'query($first: Int, $last: Int, $after: String, $before: String) {{ user(id: "{user}") {{ '
                "history(first: $first, last: $last, after: $after, before: $before) {{ totalCount }} }} }}"),
    "friends": ("analyst", 'query($first: Int, $last: Int, $after: String, $before: String) {{ user(id: "{user}") '
                "{{ friends(first: $first, last: $last, after: $after, before: $before) {{ totalCount }} }} }}"),
    "auditLog": ("admin", "query($first: Int, $last: Int, $after: String, $before: String) {{ auditLog(first: "
                 "$first, last: $last, after: $after, before: $before) {{ hasNextPage }} }}"),
}  # fmt: skip
KINDS = {"users": "users", "history": "history", "friends": "friends", "auditLog": "audit"}
GOOD_CURSORS = {
    "users": encode_cursor("users", {"s": "SCORE_DESC", "k": [600, "x"], "g": 0}),
    "history": encode_cursor("history", {"p": 0}),
    "friends": encode_cursor("friends", {"k": "x"}),
    "auditLog": encode_cursor("audit", {"id": 1}),
}


def field_query(field: str) -> tuple[str, str]:
    role, template = FIELDS[field]
    return role, template.format(user=str(POPULATION.users["id"].iloc[0]))


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_bad_paging_arguments_are_bad_input_naming_the_argument(api: LiveApi, field: str) -> None:
    role, query = field_query(field)
    other = next(kind for name, kind in KINDS.items() if name != field)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": 2, "last": 2}, "last"),
        ({"first": 0, "last": 0}, "last"),
        ({"last": -1}, "last"),
        ({"first": -1}, "first"),
        ({"last": 2, "before": "not-a-cursor"}, "before"),
        ({"first": 2, "after": "not-a-cursor"}, "after"),
        ({"last": 2, "before": encode_cursor(other, {"id": 1, "p": 0, "k": "x"})}, "before"),
        ({"first": 2, "before": encode_cursor(other, {"id": 1, "p": 0, "k": "x"})}, "before"),
        ({"last": 2, "after": encode_cursor(other, {"id": 1, "p": 0, "k": "x"})}, "after"),
        ({"last": 2, "before": encode_cursor(KINDS[field], {"id": "x", "p": "x", "k": 3, "s": "SCORE_DESC"})},
         "before"),
    ]  # fmt: skip
    for variables, argument in cases:
        error = api.error(role, query, **variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (variables, error)
        assert error["extensions"]["column"] == argument, (variables, error)
    # A good cursor of this kind passes as before and as after, together too.
    cursor = GOOD_CURSORS[field]
    for variables in ({"last": 2, "before": cursor}, {"first": 2, "before": cursor}, {"last": 2, "after": cursor},
                      {"after": cursor, "before": cursor}):  # fmt: skip
        assert api.outcome(role, query, **variables)[0] == "ok", variables


def test_a_users_cursor_of_another_order_is_refused_as_before(api: LiveApi) -> None:
    page = api.run("app", USERS, s="SCORE_ASC", first=2)["users"]
    error = api.error("app", USERS, s="SCORE_DESC", last=2, before=page["pageInfo"]["endCursor"])
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["column"] == "before"
    assert "another order" in error["message"]


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_last_above_the_limit_is_refused_like_first(api: LiveApi, field: str) -> None:
    role, query = field_query(field)
    for argument in ("first", "last"):
        error = api.error(role, query, **{argument: MAX_FIRST + 1})
        assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert error["extensions"]["limit"] == argument and error["extensions"]["maximum"] == MAX_FIRST
    assert api.outcome(role, query, last=MAX_FIRST)[0] == "ok"
    literal = api.error("app", f"{{ users(last: {MAX_FIRST + 1}) {{ totalCount }} }}")
    assert literal["extensions"]["code"] == "LIMIT_EXCEEDED"


def test_last_costs_what_first_costs(api: LiveApi) -> None:
    nested = ("{{ users({a}: 60) {{ edges {{ node {{ friends({a}: 60) {{ edges {{ node {{ userId score band "
              "modelVersion computedAt }} }} }} }} }} }} }}")  # fmt: skip
    for argument in ("first", "last"):
        error = api.error("analyst", nested.format(a=argument))
        assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and error["extensions"]["limit"] == "cost"
    # The estimate is the same number either way, with literals, defaults and variables.
    schema = build_schema(ApiConfig(keys=ApiKeys()))
    assert isinstance(schema, CredenceSchema)

    def cost(document: str) -> int | None:
        return schema.cost_of(document, None, MAX_FIRST)

    pairs = [
        ("{ users(first: 7) { edges { node { userId } } } }", "{ users(last: 7) { edges { node { userId } } } }"),
        ("query($n: Int) { users(first: $n) { edges { cursor } } }",
         "query($n: Int) { users(last: $n) { edges { cursor } } }"),
        ("{ auditLog(first: 9) { entries { id } } }", "{ auditLog(last: 9, before: \"x\") { entries { id } } }"),
        ('{ user(id: "a") { history(first: 4) { edges { cursor } } friends(first: 3) { edges { cursor } } } }',
         '{ user(id: "a") { history(last: 4) { edges { cursor } } friends(last: 3) { edges { cursor } } } }'),
    ]  # fmt: skip
    for forward, backward in pairs:
        costs = [cost(forward), cost(backward)]
        assert costs[0] == costs[1] is not None and costs[1] > 1, (forward, costs)
    # Neither given: the documented default page (20 users, 50 entries), not max_first.
    assert (
        cost("{ users { edges { cursor } } }")
        == cost("{ users(first: 20) { edges { cursor } } }")
        == 1 + 20 * 2
    )
    assert cost("{ auditLog(first: null) { entries { id } } }") == 1 + 50 * 2
