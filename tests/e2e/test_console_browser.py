"""The console in Debian's headless Chromium against ``hub serve`` on loopback, with messages
sent through the real HL7 v2 front door and processed by its workers: sign in, find the failed
message, open it, see the error where it is, edit and replay it, see it processed; a reader
cannot replay; every page passes axe-core with no serious or critical violation. Screenshots
are kept under tmp/artifacts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.browser import HubProcess, axe_violations, chromium, need_browser, screenshot
from support.hl7_messages import adt
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

XSS = "<script>window.__owned=1</script>"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_browser()
    root = tmp_path_factory.mktemp("console-e2e")
    hub = HubProcess(root / "var", root / "serve.log")
    keys = {role: hub.key(role, f"{role}-e2e") for role in ("admin", "reader", "feed")}
    hub.start()
    try:
        sent = []
        for raw in (
            adt("E2E1", trigger="A04", mrn="M801", family="Goodname"),
            adt("E2E2", trigger="A08", mrn="M802", family=XSS, dob="19801345"),
            adt("E2E3", trigger="A04", mrn="M803", family="Other"),
        ):
            r = httpx.post(
                hub.base + "/hl7v2",
                content=raw,
                headers={
                    "Authorization": f"Bearer {keys['feed']}",
                    "Content-Type": "x-application/hl7-v2+er7",
                },
                timeout=30,
            )
            assert r.status_code == 200, r.text
            sent.append(r.content)
        assert b"MSA|AE|E2E2" in sent[1]
        yield {"hub": hub, "keys": keys}
    finally:
        hub.stop()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    wait_until(check, timeout=timeout, what=what, interval=0.2)


def sign_in(driver: Any, base: str, tok: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/admin/sign-in")
    field = driver.find_element(By.ID, "token")
    assert driver.switch_to.active_element == field  # autofocus: type at once
    field.send_keys(tok)
    field.submit()
    wait_for(lambda: driver.current_url.rstrip("/").endswith("/admin"), "the dashboard")


def no_serious_violations(driver: Any, page: str) -> None:
    found = axe_violations(driver)
    assert found == [], f"{page}: {found}"


def _dashboard(driver: Any, base: str, tok: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/admin/sign-in")
    no_serious_violations(driver, "sign-in")
    screenshot(driver, "sign_in")
    sign_in(driver, base, tok)
    figures = {
        e.get_attribute("id"): e.text for e in driver.find_elements(By.CSS_SELECTOR, ".figure")
    }
    assert figures["fig-total"] == "3"
    assert figures["fig-24h-failed"] == "1"
    assert driver.find_element(By.CSS_SELECTOR, ".chart svg rect")
    no_serious_violations(driver, "dashboard")
    screenshot(driver, "dashboard")


def _find_the_failed_message(driver: Any) -> str:
    """Through the search form, with keyboard-reachable controls; returns its page's URL."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.find_element(By.LINK_TEXT, "Messages").click()
    wait_for(lambda: driver.current_url.endswith("/admin/messages"), "the search page")
    Select(driver.find_element(By.ID, "f-status")).select_by_value("failed")
    driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    wait_for(lambda: "status=failed" in driver.current_url, "the search results")
    rows = driver.find_elements(By.CSS_SELECTOR, "tbody tr td a[href^='/admin/messages/']")
    assert len(rows) == 1
    no_serious_violations(driver, "messages")
    screenshot(driver, "messages")
    rows[0].click()
    wait_for(lambda: re.search(r"/admin/messages/\d+$", driver.current_url), "the message")
    # the error is shown where it is: PID-7, highlighted, and the <script> never ran
    marked = driver.find_elements(By.CSS_SELECTOR, ".raw .field.error")
    assert [(m.get_attribute("title"), m.text) for m in marked] == [
        ("PID-7 Date/Time of Birth", "19801345")
    ]
    assert "PID-7" in driver.find_element(By.ID, "last-error").text
    assert driver.execute_script("return window.__owned === undefined")
    assert XSS in driver.find_element(By.CSS_SELECTOR, ".raw").text
    no_serious_violations(driver, "message detail")
    screenshot(driver, "message_detail")
    return str(driver.current_url)


def _edit_and_replay(driver: Any, failed_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "edit").click()
    wait_for(lambda: driver.current_url.endswith("/edit"), "the edit page")
    box = driver.find_element(By.ID, "raw")
    fixed = box.get_attribute("value").replace("19801345", "19801231").replace(XSS, "Fixed")
    box.clear()
    box.send_keys(fixed)
    driver.find_element(By.ID, "check").click()
    wait_for(lambda: bool(driver.find_elements(By.ID, "edit-ok")), "the check's answer")
    assert driver.find_elements(By.CSS_SELECTOR, ".diff li.add")
    no_serious_violations(driver, "edit")
    screenshot(driver, "edit_diff")
    driver.find_element(By.ID, "reason").send_keys("DOB typo fixed with the practice")
    driver.find_element(By.ID, "store-replay").click()
    wait_for(
        lambda: (
            bool(re.search(r"/admin/messages/\d+$", driver.current_url))
            and driver.current_url != failed_url
        ),
        "the revision's page",
    )

    def processed() -> bool:
        driver.refresh()
        return bool(driver.find_element(By.ID, "status").text == "processed")

    wait_for(processed, "the edited revision to be processed")
    assert "revision" in driver.page_source.lower()
    screenshot(driver, "revision_processed")
    driver.get(failed_url)
    assert driver.find_element(By.ID, "status").text == "superseded"


def test_admin_finds_fixes_and_replays_a_failed_message(served: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    base = served["hub"].base
    with chromium() as driver:
        _dashboard(driver, base, served["keys"]["admin"])
        failed_url = _find_the_failed_message(driver)
        _edit_and_replay(driver, failed_url)
        pages = ("/admin/patients/1", "/admin/destinations", "/admin/audit", "/admin/keys",
                 "/admin/kpis")  # fmt: skip
        for page in pages:
            driver.get(base + page)
            no_serious_violations(driver, page)
            screenshot(driver, page.rsplit("/", 1)[-1])
            if page == "/admin/audit":
                assert driver.find_element(By.ID, "verify-result").text.startswith("Intact")
            if page == "/admin/kpis":  # the practice KPIs render, charts included
                assert driver.find_element(By.ID, "h-clean").text
                assert driver.find_elements(By.CSS_SELECTOR, "svg")


def test_a_reader_cannot_replay(served: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    base = served["hub"].base
    with chromium() as driver:
        sign_in(driver, base, served["keys"]["reader"])
        driver.get(base + "/admin/messages?status=superseded")
        link = driver.find_element(By.CSS_SELECTOR, "tbody a[href^='/admin/messages/']")
        link.click()
        wait_for(lambda: re.search(r"/admin/messages/\d+$", driver.current_url), "the message")
        assert driver.find_elements(By.ID, "replay") == []
        assert driver.find_elements(By.ID, "edit") == []
        # a hand-made post with the reader's own CSRF token is refused by the server
        driver.execute_script(
            "const f = document.createElement('form'); f.method = 'post';"
            "f.action = location.pathname + '/replay';"
            "const c = document.querySelector('input[name=csrf]').cloneNode();"
            "f.appendChild(c); document.body.appendChild(f); f.submit();"
        )
        wait_for(lambda: "Not allowed" in driver.title, "the refusal page")
        assert "may not do this" in driver.find_element(By.TAG_NAME, "main").text
        screenshot(driver, "reader_refused")


def test_keyboard_only_sign_in_and_navigation(served: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = served["hub"].base
    with chromium() as driver:
        driver.get(base + "/admin/sign-in")
        driver.switch_to.active_element.send_keys(served["keys"]["reader"], Keys.ENTER)
        wait_for(lambda: driver.current_url.rstrip("/").endswith("/admin"), "the dashboard")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)  # the first stop is the skip link
        assert driver.switch_to.active_element.text == "Skip to content"
        driver.switch_to.active_element.send_keys(Keys.TAB)
        assert driver.switch_to.active_element.get_attribute("href").endswith("/admin")


def test_readme_screenshots_exist() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    for name in ("dashboard.png", "message_detail.png"):
        assert (docs / name).stat().st_size > 10_000, name


def test_the_accessibility_check_finds_what_it_should() -> None:
    """The checker itself: a page with an unlabelled field and a low-contrast text fails it."""
    need_browser()
    page = (
        "data:text/html,<!doctype html><html lang=en><title>t</title><main>"
        "<input type=text><p style='color:%23bbb;background:%23fff'>faint</p></main></html>"
    )
    with chromium() as driver:
        driver.get(page)
        found = {v["id"] for v in axe_violations(driver)}
    assert {"label", "color-contrast"} <= found
