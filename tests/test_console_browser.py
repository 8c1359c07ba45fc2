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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, live_api

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
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1500,1000"):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
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


def _wait(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition(driver)
        except Exception:  # an element not there yet, or stale
            value = None
        if value:
            return value
        time.sleep(0.05)
    status = driver.execute_script(
        "const s = document.getElementById('status'); return s ? s.textContent : ''"
    )
    raise AssertionError(f"timed out waiting for {what}; status line: {status!r}")


def _css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector), selector)


def _all(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / name))


def _sign_in(driver: Any, api: LiveApi, role: str | None, secret: str | None = None) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get("about:blank")
    driver.get(_console_url(api))
    driver.execute_script("window.sessionStorage.clear()")
    driver.refresh()
    field = _css(driver, "#key")
    field.send_keys(secret if secret is not None else api.secrets[str(role)])
    field.send_keys(Keys.ENTER)  # the keyboard submits the form
    if role is not None and secret is None:
        _css(driver, "#tab-users")


def _open_user(driver: Any, user: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field = _css(driver, "#search-id")
    field.clear()
    field.send_keys(user, Keys.ENTER)
    _wait(driver, lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == user,
          f"the card of {user}")  # fmt: skip


def _tabs(driver: Any) -> list[str]:
    return [tab.get_attribute("id") for tab in _all(driver, "nav button")]


def test_the_console_loads_from_the_server_alone_and_paints_fast(browser: Any, api: LiveApi) -> None:
    paints = []
    for _ in range(5):
        browser.get("about:blank")
        browser.get(_console_url(api))
        _css(browser, "#key")
        paint = _wait(browser, lambda d: d.execute_script(
            "const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null"),
            "the first contentful paint")  # fmt: skip
        paints.append(float(paint))
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
    error = _wait(
        browser, lambda d: d.find_element("css selector", "#signin-error").text, "the sign-in error"
    )
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
    _open_user(browser, user)
    truth = api.run("app", "query($u: String!) { user(id: $u) { score band benefits reasons { code } components { name }"
                           " history(first: 30) { edges { node { score } } } } }", u=user)["user"]  # fmt: skip
    assert _css(browser, "#score").text == str(truth["score"])
    assert _css(browser, "#band").text == truth["band"].replace("_", " ")
    shown = {
        row.find_element("css selector", "td").text for row in _all(browser, "#components-table tbody tr")
    }
    assert shown == {c["name"] for c in truth["components"]}
    reasons = [item.find_element("css selector", "strong").text for item in _all(browser, "#reasons li")]
    assert reasons == [r["code"] for r in truth["reasons"]]
    label = _css(browser, "#history-chart").get_attribute("aria-label")
    assert label.endswith(", ".join(str(e["node"]["score"]) for e in reversed(truth["history"]["edges"])))
    assert (
        _css(browser, "#no-evidence")
        and not _all(browser, "#ego-graph")
        and not _all(browser, "#contributors-table")
    )
    _shot(browser, "02-app-score-card.png")
    # the list of users (filtered, paged within the server's limit) opens a card too
    _css(browser, "#list-min").send_keys("700")
    _css(browser, "#list-go").click()
    count = api.run("app", "{ users(filter: {score: {gte: 700}}) { totalCount } }")["users"]["totalCount"]
    _wait(
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
    times = []
    for _ in range(5):
        _open_user(browser, IDS[1])
        _open_user(browser, HUB)
        ego = browser.execute_script(
            "return window.credenceConsole.timings.filter(t => t.name === 'ego').at(-1)"
        )
        times.append(float(ego["ms"]))
    degree = api.run("analyst", "query($u: String!) { user(id: $u) { friends(first: 1) { totalCount } } }",
                     u=HUB)["user"]["friends"]["totalCount"]  # fmt: skip
    assert degree >= HUB_EXTRA
    more = _css(browser, "#ego-more").text
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
    row = _css(browser, f'#contributors-table tr[data-user="{target}"]')
    row.send_keys(Keys.ENTER)
    assert "selected" in row.get_attribute("class")
    assert browser.execute_script(
        f"return window.credenceConsole.graphs.ego.getElementById('{target}').hasClass('picked')"
    )
    blast = _all(browser, "#blast-table tbody tr")
    assert blast, "the blast radius is listed"

    # a real mouse click on a node moves the focus to it
    graph = _css(browser, "#ego-graph")
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
    _wait(browser, lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == neighbour,
          "the focus to move to the clicked node")  # fmt: skip
    _shot(browser, "04-ego-network-after-click.png")


def test_influence_paths_are_highlighted_hop_by_hop(browser: Any, api: LiveApi) -> None:
    source, target = HUB, IDS[600]
    truth = api.run("analyst", "query($s: String!, $t: String!) { influencePaths(source: $s, target: $t, k: 5, maxHops: 6)"
                               " { userIds share } }", s=source, t=target)["influencePaths"]  # fmt: skip
    assert truth, "the test population links them"
    _sign_in(browser, api, "analyst")
    _css(browser, "#tab-paths").click()
    _css(browser, "#path-source").send_keys(source)
    _css(browser, "#path-target").send_keys(target)
    _css(browser, "#paths-go").click()
    buttons = _wait(browser, lambda d: d.find_elements("css selector", "#paths-list button"), "the paths")
    assert len(buttons) == len(truth)
    assert all(" → ".join(p["userIds"]) in b.text for p, b in zip(truth, buttons, strict=True))
    label = _css(browser, "#hop-label").text
    assert label.startswith(
        f"Path 1 (share {100 * truth[0]['share']:.1f}%), hop 1 of {len(truth[0]['userIds']) - 1}"
    )
    _css(browser, "#hop-next").click()
    if len(truth[0]["userIds"]) > 2:
        assert "hop 2 of" in _css(browser, "#hop-label").text
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
    _css(browser, "#tab-clusters").click()
    rows = _wait(
        browser, lambda d: d.find_elements("css selector", "#clusters-table tbody tr"), "the clusters"
    )
    assert len(rows) == len(clusters)
    _css(browser, '#clusters-table button[data-cluster="1"]').click()
    _css(browser, "#cluster-detail")
    assert {row.get_attribute("data-user") for row in _all(browser, "#members-table tbody tr")} == set(
        members
    )
    assert browser.execute_script("return window.credenceConsole.graphs.cluster.nodes().length") == len(
        members
    )
    _shot(browser, "06-cluster.png")

    _css(browser, "#cluster-preview").click()
    summary = _css(browser, "#preview-summary").text
    browser.execute_script("arguments[0].scrollIntoView()", _css(browser, "#preview-card"))
    truth = api.run(
        "analyst", "query($u: [String!]!) { whatIf(removeUsers: $u) { userId before after } }", u=members
    )["whatIf"]
    inside = [c for c in truth if c["userId"] in set(members)]
    assert summary.startswith(
        f"Members: {sum(c['after'] - c['before'] for c in inside)} points over {len(inside)}"
    )
    _shot(browser, "07-quarantine-preview.png")

    def quarantined() -> set[str]:
        found = set()
        for user in members:
            if api.run("analyst", "query($u: String!) { user(id: $u) { quarantined } }", u=user)["user"][
                "quarantined"
            ]:
                found.add(user)
        return found

    _css(browser, "#cluster-flag").click()
    assert _css(browser, "#confirm-ok").get_attribute("disabled") is not None  # no reason, no flag
    _css(browser, "#confirm-cancel").click()
    assert not _all(browser, "#confirm") and quarantined() == set()
    _css(browser, "#cluster-flag").click()
    _css(browser, "#confirm-reason").send_keys("console test: planted ring")
    _shot(browser, "08-flag-confirmation.png")
    _css(browser, "#confirm-ok").click()
    _wait(browser, lambda d: len(d.find_elements("css selector", "#members-table button[data-unflag]")) == len(members),
          "the members shown flagged")  # fmt: skip
    assert quarantined() == set(members)
    _shot(browser, "09-cluster-flagged.png")

    first = members[0]
    _css(browser, f'#members-table button[data-unflag="{first}"]').click()
    _css(browser, "#confirm-reason").send_keys("console test: cleared")
    _css(browser, "#confirm-ok").click()
    _wait(browser, lambda d: len(d.find_elements("css selector", "#members-table button[data-unflag]")) == len(members) - 1,
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
    _css(browser, "#tab-audit").click()
    _css(browser, "#audit-table")
    _css(browser, "#audit-actor").send_keys("test-analyst")
    _css(browser, "#audit-subject").send_keys(HUB)
    _css(browser, "#audit-go").click()
    truth = api.run("admin", "query($s: String!) { auditLog(first: 50, actor: \"test-analyst\", subject: $s) { entries { id } } }",
                    s=HUB)["auditLog"]["entries"]  # fmt: skip
    assert truth

    def shown(d: Any) -> list[str] | None:
        rows = d.find_elements("css selector", "#audit-table tbody tr")
        cells = [row.find_elements("css selector", "td") for row in rows]
        if not cells or any(c[2].text != "test-analyst" or c[5].text != HUB for c in cells):
            return None
        return [c[0].text for c in cells]

    ids = _wait(browser, shown, "the filtered log")
    assert ids == [str(e["id"]) for e in truth]
    _shot(browser, "10-audit-log.png")


def test_the_console_says_what_is_missing_when_assets_are_not_installed(tmp_path: Path) -> None:
    from credence.api.console import ASSETS, render_page

    page = render_page(directory=tmp_path)
    assert "scripts/setup" in page and all(name in page for name in ASSETS)
