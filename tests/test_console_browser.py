"""The analyst console in a real headless Chromium against a live server, every flow end to end.

Chromium is Debian's (``/usr/bin/chromium`` with ``/usr/bin/chromedriver``, installed by
``scripts/setup --browser``), driven by Selenium. With ``CI=true`` these tests fail when
the browser cannot start; elsewhere they skip. The machine has no internet, so a page
that needed a CDN would not work. Screenshots go to ``docs/console/``. The expected
values come from the API itself (asked over HTTP with the same keys), never from the
console's code.

The population has a hub linked to 500 more users, for the ego view's sampling ("+N
more") and its time; the first paint and the ego-view times are printed (run with
``-s``) and bounded generously only.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, live_api
from tests.console_driver import css, ego_view_ms, first_paint_ms, open_user, sign_in, start_chromium, wait

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"
POPULATION = generate_population(n_users=1_200, seed=16)
IDS = POPULATION.users["id"].astype(str).tolist()
HUB = IDS[0]
HUB_EXTRA = 500


def _dataset() -> Any:
    """The population with HUB linked to 500 more users (weights 1..3)."""
    data = POPULATION.dataset()
    links = data.links
    linked = set(links.loc[links["source"] == HUB, "target"]) | set(
        links.loc[links["target"] == HUB, "source"]
    )
    others = [user for user in IDS[1:] if user not in linked][:HUB_EXTRA]
    extra = pd.DataFrame({
        "source": pd.array([HUB] * len(others), dtype=links["source"].dtype),
        "target": pd.array(others, dtype=links["target"].dtype),
        "weight": [1.0 + (i % 3) for i in range(len(others))],
        "created": [int(POPULATION.now) - 90 * 86_400] * len(others),
    })  # fmt: skip
    return dataclasses.replace(data, links=pd.concat([links, extra], ignore_index=True))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    tmp = tmp_path_factory.mktemp("console")
    store = SQLiteStore(tmp / "credence.db")
    store.load(_dataset())
    try:
        with live_api(store, POPULATION.now, tmp) as server:
            yield server
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        driver = start_chromium()
    except Exception as exc:  # any failure to start the browser is reported the same way
        if IN_CI:
            pytest.fail(f"CI=true and Chromium could not start: {exc}", pytrace=False)
        pytest.skip(f"Chromium unavailable here: {exc}")
    try:
        yield driver
    finally:
        driver.quit()


def _console_url(api: LiveApi) -> str:
    return api.url.rsplit("/graphql", 1)[0] + "/console"


def _all(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / name))


def _sign_in(driver: Any, api: LiveApi, role: str | None, secret: str | None = None) -> None:
    sign_in(driver, _console_url(api), secret if secret is not None else api.secrets[str(role)])
    if role is not None and secret is None:
        css(driver, "#tab-users")


def _tabs(driver: Any) -> list[str]:
    return [tab.get_attribute("id") for tab in _all(driver, "nav button")]


def test_the_console_loads_from_the_server_alone_and_paints_fast(browser: Any, api: LiveApi) -> None:
    paints = [first_paint_ms(browser, _console_url(api)) for _ in range(5)]
    origin = _console_url(api).rsplit("/console", 1)[0]
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(origin) for url in loaded), loaded  # nothing from a CDN
    assert any(url.endswith("/console/static/cytoscape.min.js") for url in loaded)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe
    print(f"\nconsole first contentful paint, ms: median {statistics.median(paints):.0f} of {sorted(paints)}")
    assert statistics.median(paints) < 5_000  # the target is 1 s; this bound only catches a hang
    _shot(browser, "01-sign-in.png")


def test_a_wrong_key_is_refused_and_nothing_is_kept(browser: Any, api: LiveApi) -> None:
    _sign_in(browser, api, None, secret="cred_app_not-a-key")
    error = wait(browser, lambda d: d.find_element("css selector", "#signin-error").text, "the sign-in error")
    assert "UNAUTHENTICATED" in error
    assert browser.execute_script("return window.sessionStorage.getItem('credence.console.apiKey')") is None
    assert not _all(browser, "nav button")


def test_an_app_key_sees_the_score_card_and_never_evidence(browser: Any, api: LiveApi) -> None:
    user = IDS[5]
    _sign_in(browser, api, "app")
    assert _tabs(browser) == ["tab-users"]
    assert (
        browser.execute_script("return window.sessionStorage.getItem('credence.console.apiKey')")
        == api.secrets["app"]
    )
    assert browser.execute_script("return window.localStorage.length") == 0
    open_user(browser, user)
    truth = api.run("app", "query($u: String!) { user(id: $u) { score band benefits reasons { code } components { name }"
                           " history(first: 30) { edges { node { score } } } } }", u=user)["user"]  # fmt: skip
    assert css(browser, "#score").text == str(truth["score"])
    assert css(browser, "#band").text == truth["band"].replace("_", " ")
    shown = {
        row.find_element("css selector", "td").text for row in _all(browser, "#components-table tbody tr")
    }
    assert shown == {c["name"] for c in truth["components"]}
    reasons = [item.find_element("css selector", "strong").text for item in _all(browser, "#reasons li")]
    assert reasons == [r["code"] for r in truth["reasons"]]
    label = css(browser, "#history-chart").get_attribute("aria-label")
    assert label.endswith(", ".join(str(e["node"]["score"]) for e in reversed(truth["history"]["edges"])))
    assert (
        css(browser, "#no-evidence")
        and not _all(browser, "#ego-graph")
        and not _all(browser, "#contributors-table")
    )
    _shot(browser, "02-app-score-card.png")
    # the list of users (filtered, paged within the server's limit) opens a card too
    css(browser, "#list-min").send_keys("700")
    css(browser, "#list-go").click()
    count = api.run("app", "{ users(filter: {score: {gte: 700}}) { totalCount } }")["users"]["totalCount"]
    wait(
        browser,
        lambda d: d.find_element("css selector", "#list-count").text.startswith(f"{count} users"),
        "the count",
    )
    rows = _all(browser, "#users-table tbody tr")
    assert 0 < len(rows) <= 20
    scores = [int(row.find_elements("css selector", "td")[1].text) for row in rows]
    assert all(score >= 700 for score in scores) and scores == sorted(scores, reverse=True)


def test_the_ego_network_around_a_hub_is_sampled_counted_and_linked_to_the_tables(
    browser: Any, api: LiveApi
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    _sign_in(browser, api, "analyst")
    assert _tabs(browser) == ["tab-users", "tab-clusters", "tab-paths"]  # no audit log for analysts
    times = [ego_view_ms(browser, HUB, IDS[1])["ms"] for _ in range(5)]
    degree = api.run("analyst", "query($u: String!) { user(id: $u) { friends(first: 1) { totalCount } } }",
                     u=HUB)["user"]["friends"]["totalCount"]  # fmt: skip
    assert degree >= HUB_EXTRA
    more = css(browser, "#ego-more").text
    assert more.startswith(f"100 of {degree} neighbours drawn (+{degree - 100} more)"), more
    nodes = browser.execute_script("return window.credenceConsole.graphs.ego.nodes().length")
    assert nodes > 100
    print(f"\nego view around a {degree}-neighbour hub ({nodes} nodes drawn), ms: median "
          f"{statistics.median(times):.0f} of {sorted(round(t) for t in times)}")  # fmt: skip
    assert statistics.median(times) < 10_000  # the target is 1 s; this bound only catches a hang
    _shot(browser, "03-ego-network-hub.png")

    # colours: the sign of each listed contributor's share
    truth = api.run("analyst", "query($u: String!) { user(id: $u) { network { contributors(first: 50) {"
                               " items { userId contribution } } } } }", u=HUB)["user"]["network"]["contributors"]["items"]  # fmt: skip
    colours = browser.execute_script(
        "const g = window.credenceConsole.graphs.ego; return Object.fromEntries(g.nodes().map(n => [n.id(), n.data('color')]))"
    )
    drawn = [c for c in truth if c["userId"] in colours and c["userId"] != HUB]  # the focus is drawn blue
    assert drawn
    assert all(colours[c["userId"]] == ("#1a7f37" if c["contribution"] >= 0 else "#c62828") for c in drawn)

    # the contributors table sorts by a header click, and a row (Enter) picks its node
    rows = _all(browser, "#contributors-table tbody tr")
    assert len(rows) == len(truth)
    header = next(b for b in _all(browser, "#contributors-table th button") if b.text.startswith("share"))
    header.click()
    shares = [row.get_attribute("data-user") for row in _all(browser, "#contributors-table tbody tr")]
    assert shares == [c["userId"] for c in sorted(truth, key=lambda c: -c["contribution"])]
    from selenium.webdriver.common.keys import Keys

    target = drawn[0]["userId"]
    row = css(browser, f'#contributors-table tr[data-user="{target}"]')
    row.send_keys(Keys.ENTER)
    assert "selected" in row.get_attribute("class")
    assert browser.execute_script(
        f"return window.credenceConsole.graphs.ego.getElementById('{target}').hasClass('picked')"
    )
    blast = _all(browser, "#blast-table tbody tr")
    assert blast, "the blast radius is listed"

    # a real mouse click on a node moves the focus to it
    graph = css(browser, "#ego-graph")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", graph)
    neighbour = api.run("analyst", "query($u: String!) { user(id: $u) { friends(first: 1) { edges { node { userId } } } } }",
                        u=HUB)["user"]["friends"]["edges"][0]["node"]["userId"]  # fmt: skip
    x, y = browser.execute_script(
        f"const p = window.credenceConsole.graphs.ego.getElementById('{neighbour}').renderedPosition(); return [p.x, p.y]"
    )
    size = graph.size
    ActionChains(browser).move_to_element_with_offset(
        graph, int(x - size["width"] / 2), int(y - size["height"] / 2)
    ).click().perform()
    wait(browser, lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == neighbour,
          "the focus to move to the clicked node")  # fmt: skip
    _shot(browser, "04-ego-network-after-click.png")


def test_influence_paths_are_highlighted_hop_by_hop(browser: Any, api: LiveApi) -> None:
    source, target = HUB, IDS[600]
    truth = api.run("analyst", "query($s: String!, $t: String!) { influencePaths(source: $s, target: $t, k: 5, maxHops: 6)"
                               " { userIds share } }", s=source, t=target)["influencePaths"]  # fmt: skip
    assert truth, "the test population links them"
    _sign_in(browser, api, "analyst")
    css(browser, "#tab-paths").click()
    css(browser, "#path-source").send_keys(source)
    css(browser, "#path-target").send_keys(target)
    css(browser, "#paths-go").click()
    buttons = wait(browser, lambda d: d.find_elements("css selector", "#paths-list button"), "the paths")
    assert len(buttons) == len(truth)
    assert all(" → ".join(p["userIds"]) in b.text for p, b in zip(truth, buttons, strict=True))
    label = css(browser, "#hop-label").text
    assert label.startswith(
        f"Path 1 (share {100 * truth[0]['share']:.1f}%), hop 1 of {len(truth[0]['userIds']) - 1}"
    )
    css(browser, "#hop-next").click()
    if len(truth[0]["userIds"]) > 2:
        assert "hop 2 of" in css(browser, "#hop-label").text
    highlighted = browser.execute_script(
        "return window.credenceConsole.graphs.paths.nodes('.path').map(n => n.id())"
    )
    assert set(highlighted) <= set(truth[0]["userIds"]) and truth[0]["userIds"][0] in highlighted
    _shot(browser, "05-influence-paths.png")


def test_a_cluster_opens_previews_its_quarantine_and_is_flagged_after_confirmation(
    browser: Any, api: LiveApi
) -> None:
    clusters = api.run("analyst", "{ suspiciousClusters(first: 10) { rank userIds } }")["suspiciousClusters"]
    assert clusters, "the population has planted rings"
    members = clusters[0]["userIds"]
    _sign_in(browser, api, "analyst")
    css(browser, "#tab-clusters").click()
    rows = wait(
        browser, lambda d: d.find_elements("css selector", "#clusters-table tbody tr"), "the clusters"
    )
    assert len(rows) == len(clusters)
    css(browser, '#clusters-table button[data-cluster="1"]').click()
    css(browser, "#cluster-detail")
    assert {row.get_attribute("data-user") for row in _all(browser, "#members-table tbody tr")} == set(
        members
    )
    assert browser.execute_script("return window.credenceConsole.graphs.cluster.nodes().length") == len(
        members
    )
    _shot(browser, "06-cluster.png")

    css(browser, "#cluster-preview").click()
    summary = css(browser, "#preview-summary").text
    browser.execute_script("arguments[0].scrollIntoView()", css(browser, "#preview-card"))
    truth = api.run(
        "analyst", "query($u: [String!]!) { whatIf(removeUsers: $u) { userId before after } }", u=members
    )["whatIf"]
    inside = [c for c in truth if c["userId"] in set(members)]
    assert summary.startswith(
        f"Members: {sum(c['after'] - c['before'] for c in inside)} points over {len(inside)}"
    )
    moves = sorted(
        (abs(c["after"] - c["before"]) for c in truth if c["userId"] not in set(members)), reverse=True
    )
    shown = sorted((abs(int(row.find_elements("css selector", "td")[3].text)) for row in _all(browser, "#preview-outsiders tbody tr")),
                   reverse=True)  # fmt: skip
    assert shown == moves[: len(shown)] and len(shown) == min(
        25, len(moves)
    )  # the outsiders that move most, either way
    _shot(browser, "07-quarantine-preview.png")

    def quarantined() -> set[str]:
        found = set()
        for user in members:
            if api.run("analyst", "query($u: String!) { user(id: $u) { quarantined } }", u=user)["user"][
                "quarantined"
            ]:
                found.add(user)
        return found

    css(browser, "#cluster-flag").click()
    assert css(browser, "#confirm-ok").get_attribute("disabled") is not None  # no reason, no flag
    css(browser, "#confirm-cancel").click()
    assert not _all(browser, "#confirm") and quarantined() == set()
    css(browser, "#cluster-flag").click()
    css(browser, "#confirm-reason").send_keys("console test: planted ring")
    _shot(browser, "08-flag-confirmation.png")
    css(browser, "#confirm-ok").click()
    wait(browser, lambda d: len(d.find_elements("css selector", "#members-table button[data-unflag]")) == len(members),
          "the members shown flagged")  # fmt: skip
    assert quarantined() == set(members)
    _shot(browser, "09-cluster-flagged.png")

    first = members[0]
    css(browser, f'#members-table button[data-unflag="{first}"]').click()
    css(browser, "#confirm-reason").send_keys("console test: cleared")
    css(browser, "#confirm-ok").click()
    wait(browser, lambda d: len(d.find_elements("css selector", "#members-table button[data-unflag]")) == len(members) - 1,
          "one member shown unflagged")  # fmt: skip
    assert quarantined() == set(members) - {first}
    for user in members[1:]:  # leave the population as it was for the tests after this one
        api.run(
            "analyst",
            'mutation($u: String!) { unflagUser(user: $u, reason: "reset") { changes { userId } } }',
            u=user,
        )


def test_an_admin_filters_the_audit_log_by_actor_and_subject(browser: Any, api: LiveApi) -> None:
    _sign_in(browser, api, "admin")
    assert _tabs(browser) == ["tab-users", "tab-clusters", "tab-paths", "tab-audit"]
    css(browser, "#tab-audit").click()
    css(browser, "#audit-table")
    css(browser, "#audit-actor").send_keys("test-analyst")
    css(browser, "#audit-subject").send_keys(HUB)
    css(browser, "#audit-go").click()
    truth = api.run("admin", "query($s: String!) { auditLog(first: 50, actor: \"test-analyst\", subject: $s) { entries { id } } }",
                    s=HUB)["auditLog"]["entries"]  # fmt: skip
    assert truth

    def shown(d: Any) -> list[str] | None:
        rows = d.find_elements("css selector", "#audit-table tbody tr")
        cells = [row.find_elements("css selector", "td") for row in rows]
        if not cells or any(c[2].text != "test-analyst" or c[5].text != HUB for c in cells):
            return None
        return [c[0].text for c in cells]

    ids = wait(browser, shown, "the filtered log")
    assert ids == [str(e["id"]) for e in truth]
    _shot(browser, "10-audit-log.png")


# --------------------------------------------------------------------------- keyboard only


def _http(api: LiveApi, role: str, query: str, **variables: Any) -> dict[str, Any]:
    """The API's answer over plain HTTP (httpx), the expected values of the keyboard tests."""
    answer = httpx.post(api.url, json={"query": query, "variables": variables},
                        headers={"Authorization": f"Bearer {api.secrets[role]}"}, timeout=120)  # fmt: skip
    body = answer.json()
    assert answer.status_code == 200 and not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


def _press(driver: Any, *keys: str) -> None:
    """Keys typed into whatever has the keyboard focus (no element is clicked or addressed)."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*keys).perform()


def _focused(driver: Any, selector: str) -> bool:
    return bool(driver.execute_script("return document.activeElement.matches(arguments[0])", selector))


def _tab_to(driver: Any, selector: str, *, back: bool = False, limit: int = 400) -> None:
    """Press Tab (Shift+Tab with ``back``) until the focus is on ``selector``; its focus must be visible."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    for _ in range(limit):
        if _focused(driver, selector):
            outline = driver.execute_script(
                "const s = getComputedStyle(document.activeElement);"
                " return [s.outlineStyle, s.outlineWidth, document.activeElement.matches(':focus-visible')]"
            )
            assert outline[0] != "none" and outline[1] != "0px" and outline[2], (selector, outline)
            return
        chain = ActionChains(driver)
        if back:
            chain.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        else:
            chain.send_keys(Keys.TAB).perform()
    active = driver.execute_script("return document.activeElement.outerHTML.slice(0, 200)")
    raise AssertionError(f"{limit} presses of Tab did not reach {selector}; the focus is on {active}")


def _keyboard_sign_in(driver: Any, api: LiveApi, role: str) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get("about:blank")
    driver.get(_console_url(api))
    driver.execute_script("window.sessionStorage.clear()")
    driver.refresh()
    wait(driver, lambda d: _focused(d, "#key"), "the key field focused on load")
    _press(driver, api.secrets[role], Keys.ENTER)
    wait(driver, lambda d: _focused(d, "#search-id"), "the search field focused after sign-in")


def _members_state(api: LiveApi, members: list[str]) -> dict[str, Any]:
    return {user: _http(api, "analyst", "query($u: String!) { user(id: $u) { quarantined flags { reason active clearReason } } }",
                        u=user)["user"] for user in members}  # fmt: skip


def test_the_headline_flow_by_keyboard_alone(browser: Any, api: LiveApi) -> None:
    """Sign in, search, from a suspicious score to its ring, preview, flag after the confirmation, unflag: no mouse."""
    from selenium.webdriver.common.keys import Keys

    clusters = _http(api, "analyst", "{ suspiciousClusters(first: 10) { rank userIds } }")[
        "suspiciousClusters"
    ]
    assert clusters, "the population has planted rings"
    members = clusters[0]["userIds"]
    member = members[-1]
    rank = next(c["rank"] for c in clusters if member in c["userIds"])
    assert all(not state["quarantined"] for state in _members_state(api, members).values())

    _keyboard_sign_in(browser, api, "analyst")
    _press(browser, member, Keys.ENTER)
    wait(browser, lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == member,
         "the member's card")  # fmt: skip
    _tab_to(browser, "#user-cluster")
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: d.find_element("css selector", "#cluster-detail").get_attribute("data-rank") == str(rank),
         "the member's cluster opened")  # fmt: skip
    wait(browser, lambda d: _focused(d, "#cluster-title"), "the focus on the opened cluster")
    assert {row.get_attribute("data-user") for row in _all(browser, "#members-table tbody tr")} == set(
        members
    )

    _tab_to(browser, "#cluster-preview")
    _press(browser, Keys.SPACE)  # Space works on buttons as Enter does
    summary = wait(browser, lambda d: d.find_element("css selector", "#preview-summary").text, "the preview")
    truth = _http(api, "analyst", "query($u: [String!]!) { whatIf(removeUsers: $u) { userId before after } }",
                  u=members)["whatIf"]  # fmt: skip
    inside = [c for c in truth if c["userId"] in set(members)]
    assert summary.startswith(
        f"Members: {sum(c['after'] - c['before'] for c in inside)} points over {len(inside)}"
    )
    assert _focused(browser, "#preview-title")

    # the confirmation: Escape cancels and gives the focus back; nothing is stored
    _tab_to(browser, "#cluster-flag", back=True)
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: _focused(d, "#confirm-reason"), "the confirmation, focus on its reason")
    _press(browser, "not sent")
    _press(browser, Keys.ESCAPE)
    wait(browser, lambda d: not d.find_elements("css selector", "#confirm"), "the confirmation cancelled")
    assert _focused(browser, "#cluster-flag")
    assert all(not state["quarantined"] for state in _members_state(api, members).values())

    # again, with a reason; Tab and Shift+Tab stay inside the dialog
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: _focused(d, "#confirm-reason"), "the confirmation again")
    assert browser.find_element("css selector", "#confirm-ok").get_attribute("disabled") is not None
    reason = "keyboard test: planted ring"
    _press(browser, reason)
    for _ in range(7):
        _press(browser, Keys.TAB)
        assert browser.execute_script(
            "return document.getElementById('confirm').contains(document.activeElement)"
        )
    _tab_to(browser, "#confirm-ok")
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: len(d.find_elements("css selector", "#members-table button[data-unflag]")) == len(members),
         "the members shown flagged")  # fmt: skip
    stored = _members_state(api, members)
    assert all(
        s["quarantined"] and any(f["active"] and f["reason"] == reason for f in s["flags"])
        for s in stored.values()
    )
    assert _focused(browser, "#cluster-title")

    # unflag one member from its row
    first = members[0]
    _tab_to(browser, f'#members-table button[data-unflag="{first}"]')
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: _focused(d, "#confirm-reason"), "the unflag confirmation")
    _press(browser, "keyboard test: cleared")
    _tab_to(browser, "#confirm-ok")
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: _focused(d, f'#members-table button[data-flag="{first}"]'),
         "the member shown unflagged, focus on its flag button")  # fmt: skip
    stored = _members_state(api, members)
    assert not stored[first]["quarantined"]
    assert any(f["clearReason"] == "keyboard test: cleared" for f in stored[first]["flags"])
    assert all(stored[user]["quarantined"] for user in members[1:])
    _shot(browser, "11-keyboard-unflagged.png")
    for user in members[1:]:  # leave the population as it was for the tests after this one
        api.run(
            "analyst",
            'mutation($u: String!) { unflagUser(user: $u, reason: "reset") { changes { userId } } }',
            u=user,
        )


def test_the_graph_tables_tabs_paths_and_audit_work_by_keyboard_alone(browser: Any, api: LiveApi) -> None:
    from selenium.webdriver.common.keys import Keys

    _keyboard_sign_in(browser, api, "admin")
    _press(browser, HUB, Keys.ENTER)
    wait(
        browser,
        lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == HUB,
        "the hub",
    )
    truth = _http(api, "admin", "query($u: String!) { user(id: $u) { network { contributors(first: 50) {"
                                " items { userId contribution } } } } }", u=HUB)["user"]["network"]["contributors"]["items"]  # fmt: skip

    # a sortable header: Enter sorts, Space turns the order round
    _tab_to(browser, "#contributors-table th:nth-child(2) button")
    _press(browser, Keys.ENTER)
    order = [row.get_attribute("data-user") for row in _all(browser, "#contributors-table tbody tr")]
    assert order == [c["userId"] for c in sorted(truth, key=lambda c: -c["contribution"])]
    _press(browser, Keys.SPACE)
    order = [row.get_attribute("data-user") for row in _all(browser, "#contributors-table tbody tr")]
    assert order == [c["userId"] for c in sorted(truth, key=lambda c: c["contribution"])]
    # a row: Enter marks its node in the graph
    _tab_to(browser, "#contributors-table tbody tr:first-child")
    _press(browser, Keys.ENTER)
    picked = order[0]
    assert "selected" in browser.find_element(
        "css selector", f'#contributors-table tr[data-user="{picked}"]'
    ).get_attribute("class")
    assert browser.execute_script(
        f"return window.credenceConsole.graphs.ego.getElementById('{picked}').hasClass('picked')"
    )

    # the graph: arrow keys pick a node, Enter moves the focus to it
    _tab_to(browser, "#ego-graph", back=True)
    _press(browser, Keys.ARROW_RIGHT)
    assert (
        browser.find_element("css selector", "#ego-graph").get_attribute("data-picked") == HUB
    )  # the focus first
    _press(browser, Keys.ARROW_RIGHT)
    neighbour = browser.find_element("css selector", "#ego-graph").get_attribute("data-picked")
    friends = _http(api, "admin", "query($u: String!) { user(id: $u) { friends(first: 100) { edges { node { userId } } } } }",
                    u=HUB)["user"]["friends"]["edges"]  # fmt: skip
    assert neighbour in {e["node"]["userId"] for e in friends}
    assert neighbour in browser.find_element("css selector", "#ego-graph-picked").text
    assert browser.execute_script(
        f"return window.credenceConsole.graphs.ego.getElementById('{neighbour}').hasClass('picked')"
    )
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'start'})", browser.find_element("css selector", "#ego-graph")
    )
    _shot(browser, "12-keyboard-ego-graph.png")
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == neighbour,
         "the focus moved to the picked neighbour")  # fmt: skip
    wait(browser, lambda d: _focused(d, "#ego-graph"), "the keyboard focus on the new ego graph")

    # the tabs: arrow keys between them; the paths flow from its form
    source, target = HUB, IDS[600]
    paths = _http(api, "admin", "query($s: String!, $t: String!) { influencePaths(source: $s, target: $t, k: 5, maxHops: 6)"
                                " { userIds } }", s=source, t=target)["influencePaths"]  # fmt: skip
    _tab_to(browser, "#tab-users", back=True)
    _press(browser, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert _focused(browser, "#tab-paths")
    assert browser.find_element("css selector", "#tab-paths").get_attribute("aria-selected") == "true"
    _tab_to(browser, "#path-source")
    _press(browser, source, Keys.TAB, target, Keys.ENTER)
    wait(browser, lambda d: _focused(d, "#paths-title"), "the paths, focus on their title")
    assert len(_all(browser, "#paths-list button")) == len(paths)
    _tab_to(browser, "#hop-next")
    _press(browser, Keys.ENTER)
    if len(paths[0]["userIds"]) > 2:
        assert "hop 2 of" in browser.find_element("css selector", "#hop-label").text
    if len(paths) > 1:
        _tab_to(browser, '#paths-list button[data-path="1"]', back=True)
        _press(browser, Keys.ENTER)
        assert browser.find_element("css selector", "#hop-label").text.startswith("Path 2 ")

    # the audit log's filters
    _tab_to(browser, "#tab-paths", back=True)
    _press(browser, Keys.ARROW_RIGHT)
    assert _focused(browser, "#tab-audit")
    _tab_to(browser, "#audit-actor")
    _press(browser, "test-admin", Keys.TAB, HUB, Keys.ENTER)
    entries = _http(api, "admin", 'query($s: String!) { auditLog(first: 50, actor: "test-admin", subject: $s) { entries { id } } }',
                    s=HUB)["auditLog"]["entries"]  # fmt: skip
    assert entries

    def shown(d: Any) -> list[str] | None:
        cells = [
            row.find_elements("css selector", "td")
            for row in d.find_elements("css selector", "#audit-table tbody tr")
        ]
        if not cells or any(c[2].text != "test-admin" or c[5].text != HUB for c in cells):
            return None
        return [c[0].text for c in cells]

    assert wait(browser, shown, "the filtered log") == [str(e["id"]) for e in entries]

    # sign out
    _tab_to(browser, "#sign-out", back=True)
    _press(browser, Keys.ENTER)
    wait(browser, lambda d: _focused(d, "#key"), "the sign-in form again")
    assert browser.execute_script("return window.sessionStorage.getItem('credence.console.apiKey')") is None


def test_a_failed_request_names_what_failed_and_the_apis_code(browser: Any, api: LiveApi) -> None:
    from selenium.webdriver.common.keys import Keys

    missing = "u-not-there"
    answer = httpx.post(api.url, headers={"Authorization": f"Bearer {api.secrets['analyst']}"}, timeout=60,
                        json={"query": "query($u: String!) { user(id: $u) { score } }", "variables": {"u": missing}}).json()  # fmt: skip
    code = answer["errors"][0]["extensions"]["code"]
    _keyboard_sign_in(browser, api, "analyst")
    _press(browser, missing, Keys.ENTER)
    status = wait(browser, lambda d: d.find_element("css selector", "#status").text, "the status line")
    assert status.startswith(f"Opening user {missing} failed: {code}: "), status
    assert "error" in browser.find_element("css selector", "#status").get_attribute("class")


def test_the_console_says_what_is_missing_when_assets_are_not_installed(tmp_path: Path) -> None:
    from credence.api.console import ASSETS, render_page

    page = render_page(directory=tmp_path)
    assert "scripts/setup" in page and all(name in page for name in ASSETS)
