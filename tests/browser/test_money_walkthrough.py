"""Issue 13 in headless Chromium, on the real stack (simulator over HTTP, emulator over TCP, the
app on a loopback socket, the clock injected): the owner pauses payments and the splash says so
and no prompt goes out; resumes; re-checks a stuck payment and sees it granted; imports a
statement with planted differences and finds each in its list; exports a list as CSV; a cashier
gets 403 at the price form and the pause switch. Screenshots land in docs/screenshots/1x-*.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import requests

from portal.domain.accounts import create_admin
from portal.ledger.models import AdminUser, Payment
from tests.browser.chrome import SHOTS, needs_chromium, wait_until
from tests.statement_files import Line, from_simulator, org_portal_csv

PASSWORD = "correct horse battery"


def login(driver, base_url: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base_url}/admin/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(lambda: "/admin/login" not in driver.current_url, "the login")


def click(driver, css: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, css).click()


def body(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def pay(portal, package, n: int) -> Payment:
    mac, ip = portal.join(f"AA:BB:CC:00:0A:{n:02X}", f"10.5.60.{n + 2}")
    checkout, _ = portal.pay_ids(package.id, phone=f"07{24000000 + n:08d}", mac=mac, ip=ip)
    return Payment.get(Payment.checkout_request_id == checkout)


@pytest.mark.browser
@needs_chromium
def test_the_owner_runs_the_money_side_in_the_browser(
    browser, base_url, portal, package, simulator, services, emulator, clock, tmp_path
):
    from selenium.webdriver.common.by import By

    SHOTS.mkdir(parents=True, exist_ok=True)
    create_admin("owner", PASSWORD, clock)
    login(browser, base_url, "owner")

    # 1. Pause: the splash says so (English and Swahili) and no prompt is sent.
    browser.get(f"{base_url}/admin/payments/pause")
    browser.find_element(By.ID, "pause-reason").send_keys("Safaricom outage")
    click(browser, "#pause-payments")
    wait_until(lambda: "Payments are paused." in body(browser), "the switch to show paused")
    browser.save_screenshot(str(SHOTS / "11-admin-payments-paused.png"))
    mac, ip = portal.join("AA:BB:CC:00:0A:F0", "10.5.60.240")
    browser.get(f"{base_url}/?mac={mac}&ip={ip}")
    assert "M-Pesa payments are paused" in body(browser) and not browser.find_elements(By.ID, "phone")
    browser.save_screenshot(str(SHOTS / "12-splash-payments-paused.png"))
    browser.get(f"{base_url}/?mac={mac}&ip={ip}&lang=sw")
    assert "Malipo ya M-Pesa yamesitishwa" in body(browser)
    browser.save_screenshot(str(SHOTS / "13-splash-payments-paused-swahili.png"))
    assert portal.pay(package.id, mac=mac, ip=ip).status_code == 503
    assert simulator.transactions() == []  # not one STK push while paused

    # 2. Resume: the pay form is back and prompts go out.
    browser.get(f"{base_url}/admin/payments/pause")
    click(browser, "#resume-payments")
    wait_until(lambda: "Payments are on." in body(browser), "the switch to show on")
    browser.get(f"{base_url}/?mac={mac}&ip={ip}")
    assert browser.find_elements(By.ID, "phone")

    # 3. A stuck payment (callback lost): "Check with M-Pesa now" grants it.
    simulator.drop_callbacks = True
    stuck = pay(portal, package, 0)
    portal.settle(5)
    browser.get(f"{base_url}/admin/payments/{stuck.id}")
    click(browser, "#check-mpesa")
    wait_until(lambda: "session was granted" in body(browser), "the check result")
    assert "Asked M-Pesa for the result (STK Query)" in body(browser) and "Router let the device in" in body(browser)
    browser.save_screenshot(str(SHOTS / "14-admin-check-with-mpesa.png"))
    assert Payment.get_by_id(stuck.id).status == "paid" and emulator.is_online(stuck.mac)
    simulator.drop_callbacks = False

    # 4. A statement with planted differences: each lands in its list.
    paid = [pay(portal, package, n) for n in range(1, 5)]
    portal.settle(5)
    paid = [Payment.get_by_id(p.id) for p in paid]
    lines = {line.receipt: line for line in from_simulator(simulator.transactions())}
    del lines[paid[0].receipt]  # in the ledger, not in the statement
    lines[paid[1].receipt].amount = "200.00"  # amount differs
    lines["UC1NOBODY01"] = Line("UC1NOBODY01", clock.now(), "50.00", "254799000111", "PETER OTIENO")
    statement_file = tmp_path / "mpesa-statement.csv"
    statement_file.write_bytes(org_portal_csv(list(lines.values()), clock.now().replace(hour=0), clock.now()))
    browser.get(f"{base_url}/admin/statements")
    browser.find_element(By.ID, "statement-file").send_keys(str(statement_file))
    click(browser, "#import-statement")
    wait_until(lambda: "new lines" in body(browser), "the import")
    kinds = ("statement_only", "ledger_only", "mismatch", "matched")
    counts = {k: browser.find_element(By.ID, f"count-{k}").text.split()[0] for k in kinds}
    assert counts == {"statement_only": "1", "ledger_only": "1", "mismatch": "1", "matched": "3"}
    assert "UC1NOBODY01" in browser.find_element(By.ID, "recon-list").text
    browser.save_screenshot(str(SHOTS / "15-admin-statement-reconciliation.png"))
    click(browser, "#count-ledger_only")
    assert f"#{paid[0].id}" in browser.find_element(By.ID, "recon-list").text
    click(browser, "#count-mismatch")
    assert paid[1].receipt in browser.find_element(By.ID, "recon-list").text and "amount" in body(browser)

    # 5. Export the mismatch list as a real download and open it.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    click(browser, "#export-list")
    # Chromium writes <name>.crdownload and renames it when the download is complete.
    wait_until(lambda: any(p.suffix == ".csv" for p in downloads.iterdir()), "the CSV download")
    (saved,) = [p for p in downloads.iterdir() if p.suffix == ".csv"]
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [(r["list"], r["receipt"], r["statement KSh"]) for r in rows] == [("mismatch", paid[1].receipt, "200")]
    browser.get(f"{base_url}/admin/statements/daily")
    assert "no:" in browser.find_element(By.ID, "daily-review").text
    browser.save_screenshot(str(SHOTS / "16-admin-daily-review.png"))

    # 6. A cashier cannot reach the price form or the pause switch.
    create_admin("cashier1", PASSWORD, clock)
    AdminUser.update(role="cashier").where(AdminUser.username == "cashier1").execute()
    login(browser, base_url, "cashier1")
    for path in ("/admin/packages/new", "/admin/payments/pause"):
        browser.get(f"{base_url}{path}")
        assert "Only the owner can open this page" in body(browser), path
        cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
        assert requests.get(f"{base_url}{path}", cookies=cookies, timeout=10).status_code == 403
    browser.save_screenshot(str(SHOTS / "17-cashier-forbidden.png"))
    assert Path(SHOTS / "17-cashier-forbidden.png").stat().st_size > 1000
