"""Issue 13 in headless Chromium: an owner adds a cashier, turns on an authenticator app (QR
code, recovery codes) and signs in again with password + code. Screenshots of the accounts
page and the setup page land in docs/screenshots/ (with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from portal.domain.accounts import create_admin
from tests.browser.chrome import SHOTS, needs_chromium, page_left, start_chrome

PASSWORD = "correct horse battery"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A desktop-sized window: the admin pages."""
    driver = start_chrome(tmp_path / "chrome", size="1100,900")
    yield driver
    driver.quit()


def fill(browser: Any, fields: dict[str, str], button: str = "button[type=submit]") -> None:
    """Type into the form's fields, submit, and wait for the next page to load."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for name, value in fields.items():
        element = browser.find_element(By.CSS_SELECTOR, f"main [name={name}]")
        element.clear()
        element.send_keys(value)
    submit = browser.find_element(By.CSS_SELECTOR, f"main {button}")
    submit.click()
    WebDriverWait(browser, 10).until(page_left(submit))


@pytest.mark.browser
@needs_chromium
def test_owner_turns_on_an_authenticator_app_and_signs_in_with_it(browser: Any, base_url: str, clock: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    create_admin("amina", PASSWORD, clock)

    browser.get(f"{base_url}/admin/login")
    fill(browser, {"username": "amina", "password": PASSWORD})
    assert browser.current_url.endswith("/admin/") and "Dashboard" in browser.page_source

    browser.get(f"{base_url}/admin/users")
    fill(browser, {"username": "otieno"}, "form[action$='/users/new'] button")
    assert "only this once" in browser.page_source
    handed_over = browser.find_element(By.ID, "one-time-password").text
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", handed_over)

    browser.get(f"{base_url}/admin/account")
    browser.get(browser.find_element(By.LINK_TEXT, "Set up an authenticator app").get_attribute("href"))
    assert browser.find_element(By.CSS_SELECTOR, "figure.qr svg").is_displayed()
    secret = browser.find_element(By.ID, "totp-secret").text
    browser.save_screenshot(str(SHOTS / "3x-totp-setup.png"))
    app_on_phone = pyotp.TOTP(secret)
    fill(browser, {"code": app_on_phone.at(clock.now())})
    codes = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    assert len(codes) == 10 and "Authenticator app is on" in browser.page_source

    browser.get(f"{base_url}/admin/users")
    rows = browser.find_element(By.TAG_NAME, "table").text
    assert "amina" in rows and "otieno" in rows and "on" in rows
    browser.save_screenshot(str(SHOTS / "3x-accounts.png"))

    sign_out = browser.find_element(By.CSS_SELECTOR, "header form button")
    sign_out.click()
    WebDriverWait(browser, 10).until(page_left(sign_out))
    assert "/admin/login" in browser.current_url
    browser.get(f"{base_url}/admin/")
    assert "/admin/login" in browser.current_url  # the session ended on the server

    clock.advance(30)  # the next code (the one used to turn the app on works only once)
    fill(browser, {"username": "amina", "password": PASSWORD})
    assert "/admin/login/code" in browser.current_url and "Enter your code" in browser.page_source
    fill(browser, {"code": "000000"})
    assert "code is not right" in browser.page_source
    fill(browser, {"code": app_on_phone.at(clock.now())})
    assert browser.current_url.endswith("/admin/") and "Dashboard" in browser.page_source
    assert "Sign-ins that failed" in browser.page_source  # the wrong code shows on the dashboard
    panel = browser.find_element(By.ID, "failed-sign-ins").text
    assert "1 failed sign-in" in panel and "127.0.0.1" in panel
