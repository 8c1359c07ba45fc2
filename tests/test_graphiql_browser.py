"""The GraphiQL page in a real headless Chromium: served from the package, no CDN, key settable.

Chromium is Debian's (``/usr/bin/chromium`` with ``/usr/bin/chromedriver``, installed by
``scripts/setup --browser``), driven by Selenium. With ``CI=true`` these tests fail when
the browser cannot start; elsewhere they skip. The machine has no internet: a page that
needed a CDN would stay at "Loading".
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from credence.graph.sqlite import SQLiteStore
from credence.seeds.synthetic import generate_population
from tests.api_server import LiveApi, iso, live_api

pytestmark = pytest.mark.browser

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POPULATION = generate_population(n_users=600, seed=6)
IDS = POPULATION.users["id"].astype(str).tolist()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    tmp = tmp_path_factory.mktemp("graphiql")
    store = SQLiteStore(tmp / "credence.db")
    store.load(POPULATION.dataset())
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
                     "--disable-dev-shm-usage", "--window-size=1400,900"):  # fmt: skip
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


def _result(driver: Any, contains: str, timeout: float = 30.0) -> str:
    """The text of GraphiQL's result pane once it contains ``contains``."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = driver.execute_script(
            "const cm = document.querySelector('.graphiql-response .CodeMirror');"
            "return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : '';"
        )
        if contains in text:
            return str(text)
        time.sleep(0.2)
    raise AssertionError(f"the result pane never showed {contains!r}; it shows {text[:500]!r}")


def _open(driver: Any, api: LiveApi, query: str, key: str | None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # a new hash alone would not reload the page
    driver.get(f"{api.url}#query={quote(query)}")
    WebDriverWait(driver, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".graphiql-execute-button"))
    )
    field = driver.find_element(By.ID, "credence-key")
    field.clear()
    if key is not None:
        field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()


def test_the_page_loads_from_the_server_alone_and_runs_a_query_with_the_key(
    browser: Any, api: LiveApi
) -> None:
    _open(browser, api, "{ scoreStats { count } }", api.secrets["app"])
    answer = json.loads(_result(browser, '"count"'))
    assert answer["data"]["scoreStats"]["count"] == api.store.stats().users
    origin = api.url.rsplit("/graphql", 1)[0]
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(origin) for url in loaded), loaded  # nothing from a CDN
    assert any(url.endswith("/graphql/static/graphiql.min.js") for url in loaded)
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not severe, severe


def test_without_a_key_the_page_shows_unauthenticated(browser: Any, api: LiveApi) -> None:
    _open(browser, api, "{ scoreStats { count } }", None)
    assert "UNAUTHENTICATED" in _result(browser, "UNAUTHENTICATED")


def test_a_subscription_runs_from_the_page(browser: Any, api: LiveApi) -> None:
    user = IDS[10]
    _open(
        browser,
        api,
        f'subscription {{ scoreChanged(userId: "{user}") {{ userId before after }} }}',
        api.secrets["app"],
    )
    time.sleep(1.0)  # the socket opens and the subscription registers
    api.run("app", "mutation($i: RepaymentInput!) { recordRepayment(input: $i) { changes { userId } } }",
            i={"id": "page-default", "user": user, "due": iso(POPULATION.now - 20 * 86_400), "amount": 900.0,
               "status": "defaulted"})  # fmt: skip
    event = json.loads(_result(browser, '"scoreChanged"'))["data"]["scoreChanged"]
    assert event["userId"] == user and event["after"] == api.engine.score_of(user)


def test_the_page_says_what_is_missing_when_assets_are_not_installed(tmp_path: Path) -> None:
    from credence.api.graphiql import ASSETS, render_page

    page = render_page(directory=tmp_path)
    assert "scripts/setup" in page and all(name in page for name in ASSETS)
