"""The dashboard in headless Chromium against a real meshfed: it signs in with a token, shows
the three clusters, and follows an outlier ejection (and the failover it causes) within 2 s."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from federation.model import Role
from tests.federation.api.conftest import TOKENS
from tests.federation.ui.conftest import ENDPOINTS, UiServer, wait_for_endpoints

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
CLUSTERS = ["aws-use1", "azure-weu", "gcp-euw1"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "the dashboard tests need Chromium and its driver: run scripts/ensure-test-deps.sh "
            "as root, or `sudo apt-get install chromium chromium-driver` (Debian/Ubuntu)"
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver_path = chromium_paths()
    with tempfile.TemporaryDirectory(prefix="meshfed-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_window_size(1400, 1000)
        try:
            yield driver
        finally:
            driver.quit()


def save_screenshot(driver: webdriver.Chrome, name: str) -> None:
    """The whole page, not only the window: let the viewport take the page's height first."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    viewport = {"width": 1400, "height": int(size["height"]), "deviceScaleFactor": 1}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**viewport, "mobile": False})
    try:
        driver.save_screenshot(str(ARTIFACTS / name))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Errors logged since the last call (reading the log drains it)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry for entry in entries if entry["level"] == "SEVERE"]


def sign_in(driver: webdriver.Chrome, server: UiServer, token: str) -> None:
    driver.get(server.url + "/ui")
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()


def text_of(driver: webdriver.Chrome, selector: str) -> str:
    # Read in one script call: the page re-renders every second, so an element found by one
    # WebDriver call may be gone by the next.
    text: str = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector
    )
    return text


def wait_for_text(driver: webdriver.Chrome, selector: str, wanted: str, within_s: float) -> None:
    WebDriverWait(driver, within_s, poll_frequency=0.05).until(
        lambda d: wanted in text_of(d, selector),
        message=f"{selector} did not show {wanted!r} within {within_s}s "
        f"(shows {text_of(driver, selector)!r})",
    )


def test_dashboard_shows_three_clusters_and_an_ejection_within_two_seconds(
    browser: webdriver.Chrome, server: UiServer
) -> None:
    console_errors(browser)
    sign_in(browser, server, TOKENS[Role.ADMIN])
    for name in CLUSTERS:
        wait_for_text(browser, f"#clusters tr[data-cluster='{name}'] .count", "/", 5)
    assert browser.execute_script("return document.querySelectorAll('#points .point').length") == 3
    assert text_of(browser, "#clusters tr[data-cluster='aws-use1'] .count") == "2/2"
    wait_for_text(browser, "[data-share='aws-use1'] .num", "100%", 5)
    wait_for_text(browser, "#providers tr[data-provider='local']", "fresh", 5)
    wait_for_text(browser, "#trust", "meshfed trust init", 5)

    started = time.monotonic()
    server.eject("127.0.0.10:9443")
    server.eject("127.0.0.11:9443")
    wait_for_text(browser, "#clusters tr[data-cluster='aws-use1'] .count", "0/2", 2)
    wait_for_text(browser, "[data-share='gcp-euw1'] .num", "100%", 2)
    assert text_of(browser, "[data-share='aws-use1'] .num").startswith("0%")
    took = time.monotonic() - started
    assert browser.execute_script(
        "return document.querySelector(\"#points .point[data-cluster='aws-use1']\").classList"
        ".contains('bad')"
    )
    save_screenshot(browser, "dashboard.png")
    print(f"ejection shown after {took:.2f}s")
    assert console_errors(browser) == []


def test_viewer_dashboard_notes_the_audit_log_is_admin_only_without_console_errors(
    browser: webdriver.Chrome, server: UiServer
) -> None:
    console_errors(browser)
    sign_in(browser, server, TOKENS[Role.VIEWER])
    wait_for_text(browser, "#audit", "for admin tokens; this token's role is viewer", 5)
    wait_for_text(browser, "#clusters tr[data-cluster='gcp-euw1'] .count", "2/2", 5)
    browser.refresh()  # the token is entered once per tab: a reload stays signed in
    wait_for_text(browser, "#clusters tr[data-cluster='gcp-euw1'] .count", "2/2", 5)
    assert browser.execute_script("return document.getElementById('sign-in').hidden") is True
    assert console_errors(browser) == []


def test_unknown_token_keeps_the_sign_in_form_with_the_reason(
    browser: webdriver.Chrome, server: UiServer
) -> None:
    sign_in(browser, server, "not-a-token-anyone-holds")
    wait_for_text(browser, "#token-error", "not known to this server", 5)
    assert browser.execute_script("return document.getElementById('board').hidden") is True
    assert browser.execute_script("return sessionStorage.getItem('meshfed.token')") is None


def test_dashboard_shows_ca_expiries_and_the_audit_tail_once_trust_is_initialized(
    browser: webdriver.Chrome, trusted_server: UiServer
) -> None:
    console_errors(browser)
    sign_in(browser, trusted_server, TOKENS[Role.ADMIN])
    wait_for_text(browser, "#trust", "acme.mesh", 5)
    trust = text_of(browser, "#trust")
    assert "Root CA expires" in trust and "Intermediate expires" in trust
    wait_for_text(browser, "#audit table", "acme.mesh", 5)
    wait_for_text(browser, "[data-share='aws-use1'] .num", "100%", 5)
    trusted_server.eject("127.0.0.10:9443")
    wait_for_text(browser, "#clusters tr[data-cluster='aws-use1'] .count", "1/2", 2)
    assert browser.execute_script(
        "return document.querySelector(\"#clusters tr[data-cluster='aws-use1'] .count\")"
        ".classList.contains('warn')"
    )
    save_screenshot(browser, "dashboard-trust.png")
    assert console_errors(browser) == []


def test_a_server_that_stops_answering_turns_the_status_line_red(
    browser: webdriver.Chrome,
) -> None:
    with UiServer() as server:
        wait_for_endpoints(server, ENDPOINTS)
        sign_in(browser, server, TOKENS[Role.VIEWER])
        wait_for_text(browser, "#status", "Live", 5)
    wait_for_text(browser, "#status", "Update failed", 3)
    assert browser.execute_script(
        "return document.getElementById('status').classList.contains('failing')"
    )
    assert text_of(browser, "#clusters tr[data-cluster='aws-use1'] .count") == "2/2"


def test_without_chromium_the_tests_fail_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium chromium-driver"):
        chromium_paths()
