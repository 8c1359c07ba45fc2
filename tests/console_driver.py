"""Driving the analyst console in Debian's headless Chromium: shared by its browser tests and its benchmark.

``tests/test_console_browser.py`` and ``benchmarks/bench_console.py`` start Chromium and
measure the console the same way, with these functions: the first contentful paint is
the Performance API's entry (``first-contentful-paint``), and the time of an ego view
is the one the console records itself in ``window.credenceConsole.timings`` (from the
requests going out to the graph drawn and a frame painted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1500,1000")  # fmt: skip


def start_chromium() -> Any:
    """A selenium driver of headless Chromium (raises whatever selenium raises when it cannot start)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 30.0) -> Any:
    """The first true value of ``condition(driver)``, polled; names ``what`` and the status line on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition(driver)
        except Exception:  # an element not there yet, or stale
            value = None
        if value:
            return value
        time.sleep(0.05)
    page = driver.execute_script(
        "const s = document.getElementById('status');"
        " return [s ? s.textContent : '', location.href, document.readyState, document.body ? document.body.innerText.slice(0, 300) : '']"
    )
    raise AssertionError(
        f"timed out waiting for {what}; status line: {page[0]!r}; page {page[1]} ({page[2]}): {page[3]!r}"
    )


def css(driver: Any, selector: str) -> Any:
    """The element ``selector`` finds, waited for."""
    return wait(driver, lambda d: d.find_element("css selector", selector), selector)


def first_paint_ms(driver: Any, url: str) -> float:
    """Load the console afresh and return its first contentful paint (ms after navigation start)."""
    driver.get("about:blank")
    driver.get(url)
    css(driver, "#key")
    paint = wait(driver, lambda d: d.execute_script(
        "const p = performance.getEntriesByName('first-contentful-paint')[0]; return p ? p.startTime : null"),
        "the first contentful paint")  # fmt: skip
    return float(paint)


def sign_in(driver: Any, url: str, secret: str) -> None:
    """Open the console at ``url`` with an empty session and type ``secret`` in, submitted by Enter."""
    from selenium.webdriver.common.keys import Keys

    driver.get("about:blank")
    driver.get(url)
    driver.execute_script("window.sessionStorage.clear()")
    driver.refresh()
    field = css(driver, "#key")
    field.send_keys(secret)
    field.send_keys(Keys.ENTER)


def open_user(driver: Any, user: str) -> None:
    """Type ``user`` into the search field, Enter, and wait for the user's card."""
    from selenium.webdriver.common.keys import Keys

    field = css(driver, "#search-id")
    field.clear()
    field.send_keys(user, Keys.ENTER)
    wait(driver, lambda d: d.find_element("css selector", "#user-view").get_attribute("data-user") == user,
         f"the card of {user}")  # fmt: skip


def ego_view_ms(driver: Any, hub: str, other: str) -> dict[str, float]:
    """Open ``other`` then ``hub`` (so the hub's view is drawn afresh); the console's timing of the hub's ego view.

    Returns ``{"ms": ..., "answered_ms": ..., "nodes": ...}``: the time from the requests
    going out to the graph drawn and painted, the part of it until both answers had
    arrived, and the nodes drawn.
    """
    open_user(driver, other)
    open_user(driver, hub)
    ego = driver.execute_script("return window.credenceConsole.timings.filter(t => t.name === 'ego').at(-1)")
    detail = ego["detail"]
    return {
        "ms": float(ego["ms"]),
        "answered_ms": float(detail["answeredMs"]),
        "nodes": float(detail["nodes"]),
    }
