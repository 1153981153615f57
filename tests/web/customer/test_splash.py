"""The splash page, the pay form and the payment status page, over the real stack:
the Daraja simulator over HTTP, the RouterOS emulator over TCP, real Redis and SQLite."""

from __future__ import annotations

import gzip
import os
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from portal.ledger.models import Grant, Payment
from portal.mpesa.results import classify_result
from portal.web.messages import MESSAGES
from tests.web.conftest import IP_A, MAC_A, parse, words

LINK_ORIG = "http://example.com/news?a=1&b=2"
LOGIN_ONLY = "http://10.5.50.1/login"


def device_query(**extra: str) -> dict[str, str]:
    query = {"mac": MAC_A, "ip": IP_A, "router": "main", "link-orig": LINK_ORIG, "link-login-only": LOGIN_ONLY}
    query.update(extra)
    return query


def pay_form(package_id: int, phone: str = "0712345678", **extra: str) -> dict[str, str]:
    form = device_query(phone=phone, package=str(package_id), idempotency_key="k" * 32)
    form.update(extra)
    return form


def test_splash_lists_packages_and_carries_the_device_params(client: Any, package: Any, joined: Any) -> None:
    response = client.get("/", query_string=device_query())

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = parse(response.data)
    assert '<html lang="en">' in page.source
    radio = page.one("input", type="radio", name="package")
    assert radio["value"] == str(package.id) and "checked" in radio  # the only package is preselected
    assert "KSh 20 · 1 hour" in page.text
    phone = page.one("input", name="phone")
    assert (phone["type"], phone["inputmode"], phone["autocomplete"]) == ("tel", "numeric", "tel")
    assert page.one("label", for_="phone")  # a visible label for the phone field
    hidden = page.hidden()
    assert {k: hidden[k] for k in ("mac", "ip", "router", "link-orig", "link-login-only", "lang")} == {
        "mac": MAC_A,
        "ip": IP_A,
        "router": "main",
        "link-orig": LINK_ORIG,
        "link-login-only": LOGIN_ONLY,
        "lang": "en",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", hidden["idempotency_key"])
    assert len(page.find("button", type="submit")) == 2  # pay, and "Have a voucher?"
    assert "Pay with M-Pesa" in page.text
    again = parse(client.get("/", query_string=device_query()).data).hidden()["idempotency_key"]
    assert again != hidden["idempotency_key"]  # a fresh key per render

    reconnect = [h for h in page.hrefs() if h.startswith("/reconnect")]
    assert len(reconnect) == 1 and "I already paid" in page.text
    assert parse_qs(urlsplit(reconnect[0]).query)["mac"] == [MAC_A]
    assert parse_qs(urlsplit(reconnect[0]).query)["link-orig"] == [LINK_ORIG]
    switch = [h for h in page.hrefs() if "lang=sw" in h]
    assert len(switch) == 1 and "Kiswahili" in page.text
    kept = parse_qs(urlsplit(switch[0]).query)
    assert kept["mac"] == [MAC_A] and kept["link-orig"] == [LINK_ORIG] and kept["router"] == ["main"]


def test_the_language_switch_gives_swahili(client: Any, package: Any, joined: Any) -> None:
    page = parse(client.get("/", query_string=device_query(lang="sw")).data)

    assert '<html lang="sw">' in page.source
    assert "Lipa kwa M-Pesa" in page.text and "Pay with M-Pesa" not in page.text
    assert "KSh 20 · Saa 1" in page.text  # the package's Swahili name
    assert "Nimeshalipa" in page.text
    assert page.hidden()["lang"] == "sw"
    back = [h for h in page.hrefs() if "lang=en" in h]
    assert len(back) == 1 and parse_qs(urlsplit(back[0]).query)["mac"] == [MAC_A]


def test_without_a_device_the_packages_show_with_a_note_to_use_the_wifi(client: Any, package: Any) -> None:
    for query in ({}, {"mac": "not-a-mac", "ip": IP_A}, {"mac": MAC_A, "ip": "10.5.50"}):
        page = parse(client.get("/", query_string=query).data)
        assert "KSh 20 · 1 hour" in page.text
        assert page.one("p", id="device-note")
        assert "paying works only from the Wi-Fi" in page.text


def test_paying_from_the_form_connects_the_device(
    base_url: str, portal: Any, package: Any, joined: Any, emulator: Any
) -> None:
    response = requests.post(f"{base_url}/pay", data=pay_form(package.id), allow_redirects=False, timeout=10)

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert re.fullmatch(r"/pay/[A-Za-z0-9_-]{20,}", location.path) and parse_qs(location.query)["lang"] == ["en"]
    status_url = f"{base_url}{location.path}?{location.query}"
    waiting_answer = requests.get(status_url, timeout=10)
    waiting = parse(waiting_answer.text)
    assert waiting_answer.headers["Refresh"] == "3" and waiting.meta_refresh() is None  # axe: no <meta> refresh
    stop = [h for h in waiting.hrefs() if "refresh=0" in h]
    assert len(stop) == 1 and "Stop updating" in waiting.text  # WCAG 2.2.1: the customer can turn it off
    assert "Refresh" not in requests.get(f"{base_url}{stop[0]}", timeout=10).headers
    assert "Check your phone and enter your M-Pesa PIN" in waiting.text
    assert "KSh 20 for 1 hour" in waiting.text and "ending 678" in waiting.text
    assert waiting.one("div", id="status")["aria-live"] == "polite"
    assert not emulator.is_online(MAC_A)

    portal.settle()

    done_answer = requests.get(status_url, timeout=10)
    done = parse(done_answer.text)
    payment = Payment.get()
    assert payment.status == "paid" and payment.receipt
    assert "Connected" in done.text
    assert "1 hour left" in done.text
    assert "Your time ends at 13:00." in done.text  # paid 09:00:05 UTC + 1 h = 13:00 in Nairobi
    assert payment.receipt in done.text
    assert "Refresh" not in done_answer.headers and "Stop updating" not in done.text
    assert done.find("a", href=LINK_ORIG, **{"class": "btn"})
    assert emulator.is_online(MAC_A)


@pytest.mark.parametrize("outcome", ["cancel", "insufficient", "wrong_pin", "timeout"])
def test_each_failure_shows_plain_words_and_a_way_to_try_again(
    client: Any, portal: Any, simulator: Any, package: Any, joined: Any, outcome: str, emulator: Any
) -> None:
    simulator.script_outcome("0712345678", outcome)
    status_path = client.post("/pay", data=pay_form(package.id)).headers["Location"]

    portal.settle(120)  # long enough for an unanswered prompt to time out

    payment = Payment.get()
    _status, key = classify_result(payment.result_code)
    assert payment.message_key == key and payment.status != "paid"
    answer = client.get(status_path)
    page = parse(answer.data)
    assert words(MESSAGES[key]) in page.text
    assert "Payment not completed" in page.text and "Refresh" not in answer.headers
    retry = [h for h in page.hrefs() if "Try again" in page.text and h.startswith("/?")]
    assert len(retry) == 1
    assert parse_qs(urlsplit(retry[0]).query)["mac"] == [MAC_A]
    assert parse_qs(urlsplit(retry[0]).query)["link-orig"] == [LINK_ORIG]
    assert not emulator.is_online(MAC_A)


def test_a_failure_reads_in_swahili_when_the_customer_chose_swahili(
    client: Any, portal: Any, simulator: Any, package: Any, joined: Any
) -> None:
    simulator.script_outcome("0712345678", "cancel")
    status_path = client.post("/pay", data=pay_form(package.id, lang="sw")).headers["Location"]
    assert "lang=sw" in status_path
    portal.settle()

    page = parse(client.get(status_path).data)
    assert words(swahili(MESSAGES["mpesa_cancelled"])) in page.text
    assert "Jaribu tena" in page.text and '<html lang="sw">' in page.source


@pytest.mark.parametrize(
    ("changes", "status", "text", "field"),
    [
        ({"phone": "07123"}, 400, "That phone number does not look right", "phone"),
        ({"phone": "0733123456"}, 400, "only reach Safaricom lines", "phone"),
        ({"phone": ""}, 400, "That phone number does not look right", "phone"),
        ({"package": ""}, 400, "Please choose a package.", "package"),
        ({"package": "9" * 5000}, 400, "Please choose a package.", "package"),
        ({"package": "99999"}, 404, "That package is not available any more", "package"),
        ({"mac": "zz"}, 400, "We could not identify your device", None),
        ({"router": "elsewhere"}, 400, "We could not tell which hotspot", None),
        ({"ip": "10.5.50.99"}, 403, "This device is not connected to our Wi-Fi hotspot", None),
    ],
)
def test_a_bad_form_is_shown_again_with_the_problem_and_what_was_typed(
    client: Any, package: Any, joined: Any, changes: dict[str, str], status: int, text: str, field: str | None
) -> None:
    form = pay_form(package.id, **changes)
    response = client.post("/pay", data=form)

    assert response.status_code == status
    page = parse(response.data)
    summary = page.one("div", id="problem")
    assert summary["role"] == "alert" and text in page.text
    assert page.one("input", name="phone")["value"] == form["phone"][:40]
    if field == "phone":
        phone = page.one("input", name="phone")
        assert phone["aria-invalid"] == "true" and "phone-error" in phone["aria-describedby"].split()
        assert page.one("p", id="phone-error")
    if field == "package":
        assert page.one("fieldset", id="package")["aria-describedby"] == "package-error"
    assert page.hidden()["link-orig"] == LINK_ORIG  # the device params survive the round trip
    assert Payment.select().count() == 0


def test_hostile_or_missing_form_input_never_gives_a_server_error(client: Any, package: Any, joined: Any) -> None:
    assert client.post("/pay", data={}).status_code == 400
    response = client.post("/pay", data=pay_form(package.id, phone="<script>alert(1)</script>"))
    assert response.status_code == 400
    assert b"<script>alert" not in response.data and b"&lt;script&gt;" in response.data
    too_big = client.post("/pay", data={"phone": "0" * 50_000, "package": str(package.id)})
    assert too_big.status_code == 413 and b"Traceback" not in too_big.data
    weird = client.post(
        "/pay",
        data=pay_form(
            package.id,
            phone="\u0660\u0667\u0661\u0662" + "\x00" * 3,
            idempotency_key="'; drop table payment; --",
            lang="xx",
        ),
    )
    assert weird.status_code == 400
    assert client.get("/", query_string={"mac": "\x00" * 600, "ip": "::1", "router": "x" * 10_000}).status_code == 200


def test_a_device_with_time_left_is_logged_back_in_and_told_how_long(
    client: Any, portal: Any, package: Any, joined: Any, emulator: Any
) -> None:
    assert portal.pay(package.id, mac=MAC_A, ip=IP_A).json()["success"]
    portal.settle()
    assert emulator.is_online(MAC_A)
    emulator.reboot()  # the router forgets every session; the phone comes back on a new address
    portal.join(MAC_A, "10.5.50.77")
    portal.clock.advance(13 * 60)
    assert not emulator.is_online(MAC_A)

    page = parse(client.get("/", query_string=device_query(ip="10.5.50.77")).data)

    assert "You are connected" in page.text
    assert "47 minutes left (until 13:00)" in page.text
    assert page.find("a", href=LINK_ORIG)
    assert emulator.is_online(MAC_A)
    assert Grant.get().ip == "10.5.50.77"


def test_a_spoofed_mac_with_time_left_is_not_logged_in(
    client: Any, portal: Any, package: Any, joined: Any, emulator: Any
) -> None:
    portal.pay(package.id, mac=MAC_A, ip=IP_A)
    portal.settle()
    portal.join("AA:BB:CC:00:00:09", "10.5.50.99")  # another device claims A's MAC in the URL

    page = parse(client.get("/", query_string=device_query(ip="10.5.50.99")).data)

    assert "You are connected" not in page.text and "Pay with M-Pesa" in page.text
    assert Grant.get().ip == IP_A


@pytest.mark.parametrize(
    "bad_link",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(document.cookie)",
        "data:text/html,<b>x</b>",
        "//evil.example/x",
        "http:\\\\evil.example",
        "ftp://evil.example/",
        "http://",
        "vbscript:msgbox(1)",
    ],
)
def test_link_orig_that_is_not_a_plain_web_address_never_becomes_a_link(
    client: Any, portal: Any, package: Any, joined: Any, bad_link: str
) -> None:
    form = pay_form(package.id, **{"link-orig": bad_link})
    status_path = client.post("/pay", data=form).headers["Location"]
    portal.settle()
    connected = parse(client.get(status_path).data)
    assert "Connected" in connected.text
    returning = parse(client.get("/", query_string=device_query(**{"link-orig": bad_link})).data)
    assert "You are connected" in returning.text

    for page in (connected, returning):
        assert not page.find("a", **{"class": "btn"}), "no Continue button without a safe link"
        for href in page.hrefs():
            assert href.startswith(("/", "#")), href
    assert Payment.get().link_orig == ""


def test_a_double_tap_with_the_same_key_sends_one_prompt(
    client: Any, simulator: Any, package: Any, joined: Any
) -> None:
    form = pay_form(package.id)
    first = client.post("/pay", data=form)
    second = client.post("/pay", data=form)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert Payment.select().count() == 1
    assert len(simulator.transactions()) == 1


def test_the_splash_fits_the_captive_budget(client: Any, services: Any, package: Any, joined: Any) -> None:
    from portal.domain.packages import add_package, validate_changes

    for n in range(2, 9):  # a venue with a long price list
        add_package(
            validate_changes(
                {
                    "name": f"{n} hours of fast internet",
                    "name_sw": f"Saa {n} za intaneti",
                    "price": str(10 * n),
                    "duration": f"{n}h",
                    "data_cap": "2GB",
                }
            ),
            services.clock,
        )
    for lang in ("en", "sw"):
        response = client.get("/", query_string=device_query(lang=lang))
        body = response.data
        assert len(gzip.compress(body)) <= 14 * 1024
        assert len(body) <= 50 * 1024
        assert b"<script" not in body.lower()
        page = parse(body)
        assert not [a for t, a in page.tags if "src" in a]  # no images, frames or scripts to fetch
        assert [a["href"] for a in page.find("link")] == ["data:,"]  # no CSS, fonts or icons to fetch
        assert all(h.startswith(("/", "#")) for h in page.hrefs())
        assert all(not h.startswith("http") for _tag, a in page.tags for k, h in a.items() if k in ("href", "src"))
        assert "user-scalable" not in page.one("meta", name="viewport")["content"]
        assert page.text.count("KSh ") == 8


def test_an_unknown_status_id_is_a_plain_404_page(client: Any) -> None:
    response = client.get("/pay/not-a-real-id?lang=sw")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = parse(response.data)
    assert "Malipo hayakupatikana" in page.text
    assert page.find("a", href="/?lang=sw")


def test_an_unknown_page_is_a_plain_404_in_the_chosen_language(client: Any) -> None:
    page = parse(client.get("/no/such/page?lang=sw").data)
    assert "Ukurasa haukupatikana" in page.text and '<html lang="sw">' in page.source


def test_a_paid_device_whose_router_is_down_sees_paid_and_connecting(
    client: Any, portal: Any, package: Any, joined: Any, emulator: Any
) -> None:
    status_path = client.post("/pay", data=pay_form(package.id)).headers["Location"]
    emulator.set_down(True)
    portal.settle()

    answer = client.get(status_path)
    page = parse(answer.data)

    assert Payment.get().status == "paid"
    assert "Paid — connecting you…" in page.text and "1 hour left" in page.text
    assert answer.headers["Refresh"] == "3"  # keeps looking until the router lets the device through


def test_the_status_page_answers_in_the_language_the_customer_paid_in(client: Any, package: Any, joined: Any) -> None:
    status_path = client.post("/pay", data=pay_form(package.id, lang="sw")).headers["Location"]

    bare = client.get(urlsplit(status_path).path)

    assert bare.status_code == 302 and bare.headers["Location"] == status_path
    assert "Angalia simu yako" in parse(client.get(status_path).data).text


def swahili(english: str) -> str:
    """The catalog's Swahili for an English msgid."""
    from babel.messages.pofile import read_po

    from portal import ROOT

    with (ROOT / "translations/sw/LC_MESSAGES/messages.po").open("rb") as po:
        entry = read_po(po).get(english)
    assert entry is not None and entry.string, english
    return str(entry.string)


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.mark.browser
@pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="Debian chromium and chromium-driver are not installed",
)
def test_the_pages_fit_a_320px_phone_with_javascript_off(
    base_url: str, tmp_path: Any, services: Any, package: Any, joined: Any
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from portal.domain.packages import add_package, validate_changes

    add_package(
        validate_changes(
            {
                "name": "Siku nzima ya intaneti ya kasi sana",
                "price": "1500",
                "duration": "1d",
                "data_cap": "10GB",
                "devices": "3",
            }
        ),
        services.clock,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chrome'}",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 320, "height": 640, "deviceScaleFactor": 2, "mobile": True}
    )
    try:
        query = "&".join(f"{k}={v}" for k, v in device_query(lang="sw").items() if k in ("mac", "ip", "lang"))
        for path in (f"/?{query}", f"/reconnect?{query}", "/pay/unknown?lang=sw"):
            driver.get(f"{base_url}{path}")
            width = driver.execute_cdp_cmd(
                "Runtime.evaluate",
                {
                    "expression": "[document.documentElement.scrollWidth, window.innerWidth]",
                    "returnByValue": True,
                },
            )["result"]["value"]
            assert width[0] <= width[1] <= 320, (path, width)
        driver.get(f"{base_url}/?{query}")
        for target in driver.find_elements(By.CSS_SELECTOR, "label.choice, button, a.btn, input[type=tel]"):
            assert target.size["height"] >= 44, target.get_attribute("outerHTML")[:80]
        driver.find_elements(By.CSS_SELECTOR, "input[type=radio]")[-1].click()
        driver.find_element(By.ID, "phone").send_keys("0712 345 678")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # no JavaScript needed to pay
        WebDriverWait(driver, 10).until(lambda d: "/pay/" in d.current_url)  # click returns before navigating
        assert "Angalia simu yako" in driver.page_source
    finally:
        driver.quit()
