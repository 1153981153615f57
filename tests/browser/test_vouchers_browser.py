"""Issue 15 in headless Chromium: the owner makes a batch and prints the sheet (print-media
rendering saved to docs/screenshots/2x-*.png, and a PDF whose pages are counted), then a
customer with JavaScript off redeems a code from that sheet on the splash and gets online
on the RouterOS emulator; the same code is refused on a second device; the time ends on
the dot (the clock is injected, never slept for)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from portal.domain.accounts import create_admin
from tests.browser.chrome import PHONE_SIZE, SHOTS, needs_chromium, start_chrome, wait_until

MAC_A, IP_A = "AA:BB:CC:00:00:01", "10.5.50.11"
MAC_B, IP_B = "AA:BB:CC:00:00:02", "10.5.50.12"
PASSWORD = "owner-password-123"


def chrome(tmp_path: Path, name: str, *, javascript: bool, size: str = PHONE_SIZE) -> Any:
    return start_chrome(tmp_path / name, size=size, javascript=javascript)


def print_rendering(driver: Any, path: Path, width_px: int) -> None:
    """The page as the printer gets it: print media, the paper's width, the whole height."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    height = driver.execute_cdp_cmd(
        "Runtime.evaluate", {"expression": "document.documentElement.scrollHeight", "returnByValue": True}
    )["result"]["value"]
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width_px, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def pdf_pages(driver: Any) -> int:
    """Print to PDF with the sheet's own @page size, and count the pages."""
    pdf = base64.b64decode(driver.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})["data"])
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def make_batch(driver: Any, count: int, layout: str, label: str) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.find_element(By.CSS_SELECTOR, "header nav a[href='/admin/vouchers']").click()
    wait_until(lambda: driver.find_elements(By.ID, "count"), "the vouchers page")
    count_field = driver.find_element(By.ID, "count")
    count_field.clear()
    count_field.send_keys(str(count))
    driver.find_element(By.ID, "label").send_keys(label)
    Select(driver.find_element(By.ID, "layout")).select_by_value(layout)
    driver.find_element(By.CSS_SELECTOR, "form[action='/admin/vouchers'] button[type=submit]").click()
    wait_until(lambda: driver.find_elements(By.ID, "sheet"), "the printable sheet")
    assert "shown only this once" in driver.page_source
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#sheet .vcard .code")]


@pytest.mark.browser
@needs_chromium
def test_a_printed_voucher_gets_a_phone_online_with_javascript_off(
    tmp_path: Path, base_url: str, services: Any, package: Any, portal: Any, emulator: Any, clock: Any
) -> None:
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    create_admin("owner", PASSWORD, clock)
    owner = chrome(tmp_path, "owner", javascript=True, size="1100,900")
    phone = chrome(tmp_path, "phone", javascript=False)
    try:
        owner.get(f"{base_url}/admin/login")
        owner.find_element(By.ID, "username").send_keys("owner")
        owner.find_element(By.ID, "password").send_keys(PASSWORD)
        owner.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until(lambda: "/admin/login" not in owner.current_url, "the login")

        codes = make_batch(owner, 20, "a4", "Harambee Sunday")
        assert len(codes) == 20 and len(set(codes)) == 20
        print_rendering(owner, SHOTS / "21-voucher-sheet-a4-print.png", 794)  # A4 at 96 dpi
        assert pdf_pages(owner) == 2  # 18 cut-out cards a page
        tickets = make_batch(owner, 2, "58mm", "Counter")
        print_rendering(owner, SHOTS / "22-voucher-tickets-58mm-print.png", 219)  # 58 mm at 96 dpi
        assert pdf_pages(owner) == 2  # one ticket a page: the printer cuts between them
        assert len(tickets) == 2

        portal.join(MAC_A, IP_A)
        portal.join(MAC_B, IP_B)

        def splash_for(mac: str, ip: str) -> str:
            query = {"mac": mac, "ip": ip, "router": "main", "link-orig": "http://example.com/"}
            return f"{base_url}/?{urlencode(query)}"

        splash = splash_for(MAC_A, IP_A)
        phone.get(splash)
        field = phone.find_element(By.ID, "voucher-code")
        field.send_keys(codes[0].lower().replace("-", " "))  # typed the way people type
        phone.save_screenshot(str(SHOTS / "23-splash-voucher-field.png"))
        phone.find_element(By.CSS_SELECTOR, "form[action='/voucher'] button[type=submit]").click()
        wait_until(lambda: "/voucher/" in phone.current_url, "the voucher's page")
        assert "Connected" in phone.page_source and "1 hour left" in phone.page_source
        assert emulator.is_online(MAC_A)
        phone.save_screenshot(str(SHOTS / "24-voucher-connected.png"))
        voucher_page = phone.current_url

        phone.get(splash_for(MAC_B, IP_B))  # the same card on a second phone
        phone.find_element(By.ID, "voucher-code").send_keys(codes[0])
        phone.find_element(By.CSS_SELECTOR, "form[action='/voucher'] button[type=submit]").click()
        wait_until(lambda: phone.find_elements(By.ID, "problem"), "the refusal")
        assert "That voucher code does not work" in phone.find_element(By.ID, "problem").text
        assert not emulator.is_online(MAC_B)
        phone.save_screenshot(str(SHOTS / "25-voucher-refused-second-phone.png"))

        clock.advance(3599)
        portal.run_worker()
        assert emulator.is_online(MAC_A)
        clock.advance(1)  # the hour is up, to the second
        portal.run_worker()
        assert not emulator.is_online(MAC_A)
        phone.get(voucher_page)
        assert "Your time has ended" in phone.page_source
    finally:
        owner.quit()
        phone.quit()
