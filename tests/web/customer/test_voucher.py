"""Redeeming vouchers on the customer pages and the JSON API, over the real stack: the
RouterOS emulator over TCP, real Redis and SQLite, the app on a loopback socket."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from portal.domain import vouchers
from portal.ledger.models import Grant, Payment, PaymentEvent, Voucher, VoucherUse
from portal.web.messages import MESSAGES
from tests.web.conftest import IP_A, IP_B, MAC_A, MAC_B, parse, words

NOT_VALID = words(MESSAGES["voucher_not_valid"])


def make_batch(services: Any, package: Any, count: int = 3, **extra: Any) -> vouchers.NewBatch:
    return vouchers.create_batch(
        services.settings, services.clock, package_id=package.id, count=count, actor="owner", **extra
    )


def device(mac: str = MAC_A, ip: str = IP_A, **extra: str) -> dict[str, str]:
    return {"mac": mac, "ip": ip, "router": "main", "link-orig": "http://example.com/", **extra}


def redeem_form(base_url: str, code: str, **fields: str) -> requests.Response:
    return requests.post(
        f"{base_url}/voucher", data={**device(), **fields, "code": code}, allow_redirects=False, timeout=10
    )


def redeem_api(base_url: str, code: str, mac: str = MAC_A, ip: str = IP_A) -> requests.Response:
    body = {"code": code, "macAddress": mac, "ip": ip, "router": "main"}
    return requests.post(f"{base_url}/api/portal/voucher", json=body, timeout=10)


@pytest.fixture
def batch(services: Any, package: Any) -> vouchers.NewBatch:
    return make_batch(services, package)


def test_a_code_from_the_form_gets_the_device_online_like_a_purchase(
    base_url: str, portal: Any, batch: vouchers.NewBatch, package: Any, emulator: Any
) -> None:
    portal.join(MAC_A, IP_A)

    answer = redeem_form(base_url, batch.codes[0])

    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert re.fullmatch(r"/voucher/[A-Za-z0-9_-]{20,}", location.path)
    page = parse(requests.get(f"{base_url}{location.path}?{location.query}", timeout=10).text)
    assert "Connected" in page.text and "1 hour left" in page.text
    assert page.find("a", href="http://example.com/")
    assert emulator.is_online(MAC_A)
    payment = Payment.get()
    assert (payment.method, payment.status, payment.amount, payment.phone) == ("voucher", "paid", 20, "")
    grant = Grant.get(Grant.payment == payment)
    assert grant.expires_at - grant.starts_at == timedelta(hours=1)
    kinds = [e.kind for e in PaymentEvent.select().where(PaymentEvent.payment == payment).order_by(PaymentEvent.id)]
    assert kinds[:3] == ["created", "voucher_redeemed", "paid"] and "router_authorized" in kinds
    voucher = VoucherUse.get().voucher
    assert voucher.first_used_at == portal.clock.now() and voucher.ends_at == grant.expires_at
    status = parse(requests.get(f"{base_url}/pay/{payment.public_id}?lang=en", timeout=10).text)
    assert "Paid with" in status.text and "Voucher" in status.text  # the payment page of a voucher
    assert "M-Pesa receipt" not in status.text and "M-Pesa code" not in status.text


def test_codes_are_read_whatever_the_case_spaces_or_dashes(base_url: str, portal: Any, batch: Any) -> None:
    portal.join(MAC_A, IP_A)
    typed = " " + batch.codes[1].lower().replace("-", " ") + " "
    assert redeem_form(base_url, typed).status_code == 303


def test_the_same_code_is_refused_on_a_second_device(base_url: str, portal: Any, batch: Any, emulator: Any) -> None:
    portal.join(MAC_A, IP_A)
    portal.join(MAC_B, IP_B)
    assert redeem_form(base_url, batch.codes[0]).status_code == 303

    second = redeem_form(base_url, batch.codes[0], mac=MAC_B, ip=IP_B)

    assert second.status_code == 404
    assert NOT_VALID in parse(second.text).text
    assert not emulator.is_online(MAC_B) and emulator.is_online(MAC_A)
    assert Payment.select().count() == 1


def test_the_first_device_typing_its_code_again_is_logged_in_again(
    base_url: str, portal: Any, batch: Any, emulator: Any
) -> None:
    portal.join(MAC_A, IP_A)
    first = redeem_form(base_url, batch.codes[0])
    emulator.reboot()
    portal.join(MAC_A, "10.5.50.77")
    portal.clock.advance(600)

    again = redeem_form(base_url, batch.codes[0], ip="10.5.50.77")

    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert emulator.is_online(MAC_A) and Payment.select().count() == 1


def test_a_two_device_voucher_serves_two_devices_until_the_same_time(
    base_url: str, portal: Any, services: Any, emulator: Any
) -> None:
    from portal.domain.packages import add_package, validate_changes

    pair = add_package(
        validate_changes({"name": "Couple", "price": "50", "duration": "2h", "devices": "2"}), portal.clock
    )
    code = make_batch(services, pair, 1).codes[0]
    third_mac, third_ip = "AA:BB:CC:00:00:03", "10.5.50.13"
    for mac, ip in ((MAC_A, IP_A), (MAC_B, IP_B), (third_mac, third_ip)):
        portal.join(mac, ip)
    assert redeem_form(base_url, code).status_code == 303
    portal.clock.advance(1800)

    assert redeem_form(base_url, code, mac=MAC_B, ip=IP_B).status_code == 303
    third = redeem_form(base_url, code, mac=third_mac, ip=third_ip)

    assert third.status_code == 404
    first, second = (Grant.get(Grant.mac == m) for m in (MAC_A, MAC_B))
    assert first.expires_at == second.expires_at  # the second device shares the time left, no fresh 2 hours
    assert [p.amount for p in Payment.select().order_by(Payment.id)] == [50, 0]  # money counted once
    assert emulator.is_online(MAC_A) and emulator.is_online(MAC_B) and not emulator.is_online(third_mac)


def test_a_voucher_ends_on_time_and_is_then_used_up(
    base_url: str, portal: Any, batch: Any, emulator: Any, services: Any
) -> None:
    portal.join(MAC_A, IP_A)
    redeem_form(base_url, batch.codes[0])
    ends = Voucher.get(Voucher.first_used_at.is_null(False)).ends_at

    portal.clock.advance(3599)
    portal.run_worker()
    assert emulator.is_online(MAC_A)
    portal.clock.advance(1)
    portal.run_worker()

    assert not emulator.is_online(MAC_A)
    assert Grant.get().status == "expired" and portal.clock.now() == ends
    assert vouchers.batch_rows(portal.clock.now())[0].states == {
        "unused": 2,
        "in_use": 0,
        "used_up": 1,
        "expired": 0,
        "revoked": 0,
    }
    assert redeem_form(base_url, batch.codes[0]).status_code == 404


def test_an_unused_voucher_past_its_use_by_date_is_refused(
    base_url: str, portal: Any, services: Any, package: Any
) -> None:
    code = make_batch(services, package, 1, use_by=vouchers.parse_use_by("2026-03-02", portal.clock.now())).codes[0]
    portal.join(MAC_A, IP_A)
    portal.clock.advance(2 * 86400)  # 2026-03-03 09:00 UTC: past the end of 2 March in Nairobi

    answer = redeem_form(base_url, code)

    assert answer.status_code == 404 and NOT_VALID in parse(answer.text).text
    assert vouchers.batch_rows(portal.clock.now())[0].states["expired"] == 1


def test_a_malformed_code_is_told_the_format_and_costs_no_check(base_url: str, portal: Any, services: Any) -> None:
    portal.join(MAC_A, IP_A)
    for typed in ("", "ABC", "0000-1111-IIII", "K7QM-3XHD-9RW", "<script>x</script>"):
        answer = redeem_form(base_url, typed)
        page = parse(answer.text)
        assert answer.status_code == 400
        assert "12 letters and numbers printed on your card" in page.text
        assert page.one("input", name="code")["aria-invalid"] == "true"
        assert "<script>x" not in answer.text
    assert services.live.count(f"voucher:device:{MAC_A}", portal.clock.now(), 3600) == 0


def test_the_api_answers_like_the_status_endpoint(base_url: str, portal: Any, batch: Any, emulator: Any) -> None:
    portal.join(MAC_A, IP_A)

    body = redeem_api(base_url, batch.codes[2]).json()

    assert body["success"] is True and body["status"] == "success"
    session = body["session"]
    assert session["packageName"] == "1 hour" and session["remainingSeconds"] == 3600
    assert session["expiresAt"] == "2026-03-01T10:00:00Z" and session["routerState"] == "online"
    assert portal.status(body["statusId"]) == {k: v for k, v in body.items() if k != "statusId"}
    portal.join(MAC_B, IP_B)
    refused = redeem_api(base_url, batch.codes[2], MAC_B, IP_B)
    assert refused.status_code == 404
    assert refused.json() == {"success": False, "error": "voucher_not_valid", "message": MESSAGES["voucher_not_valid"]}
    for bad in ("not json", "[]", '{"code": 12, "macAddress": null}'):
        answer = requests.post(
            f"{base_url}/api/portal/voucher", data=bad, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert answer.status_code == 400 and answer.json()["success"] is False


def test_it_works_with_the_daraja_simulator_stopped(
    base_url: str, portal: Any, batch: Any, simulator: Any, emulator: Any
) -> None:
    simulator.stop()  # no M-Pesa at all: the code is checked against the local ledger
    portal.join(MAC_A, IP_A)

    assert redeem_form(base_url, batch.codes[0]).status_code == 303
    assert emulator.is_online(MAC_A)


def test_it_works_while_payments_are_paused_and_the_splash_leads_with_it(
    base_url: str, portal: Any, batch: Any, services: Any, emulator: Any, client: Any
) -> None:
    from portal.domain import pause

    pause.pause_payments(services.clock, actor="owner", reason="M-Pesa maintenance")
    portal.join(MAC_A, IP_A)
    splash = parse(client.get("/", query_string={"mac": MAC_A, "ip": IP_A}).data)
    assert "M-Pesa payments are paused" in splash.text
    assert 'id="voucher"' in splash.source and "Pay with M-Pesa" not in splash.text

    assert redeem_form(base_url, batch.codes[0]).status_code == 303
    assert emulator.is_online(MAC_A)


def test_a_qr_code_opened_in_the_phone_browser_finds_the_device_by_its_address(
    base_url: str, portal: Any, batch: Any, emulator: Any, client: Any
) -> None:
    portal.join(MAC_A, "127.0.0.1")  # the phone's browser comes from its own address, without mac=
    splash = parse(client.get("/", query_string={"voucher": batch.codes[0]}).data)
    field = splash.one("input", name="code")
    assert field["value"] == batch.codes[0]
    assert splash.source.index('id="voucher"') < splash.source.index("Pay with M-Pesa")  # the voucher leads

    answer = requests.post(f"{base_url}/voucher", data={"code": field["value"]}, allow_redirects=False, timeout=10)

    assert answer.status_code == 303 and emulator.is_online(MAC_A)
    assert Grant.get().mac == MAC_A


def test_an_unknown_address_without_mac_is_asked_to_use_the_wifi(base_url: str, batch: Any) -> None:
    answer = requests.post(f"{base_url}/voucher", data={"code": batch.codes[0]}, timeout=10)
    assert answer.status_code == 400 and "We could not identify your device" in parse(answer.text).text
    assert Payment.select().count() == 0


def test_the_splash_offers_the_voucher_field_in_both_languages(client: Any, package: Any, joined: Any) -> None:
    for lang, heading, button in (("en", "Have a voucher?", "Use voucher"), ("sw", "Una vocha?", "Tumia vocha")):
        page = parse(client.get("/", query_string=device(lang=lang)).data)
        assert heading in page.text and button in page.text
        field = page.one("input", name="code")
        assert field["id"] == "voucher-code" and page.one("label", for_="voucher-code")
        form = [a for t, a in page.tags if t == "form" and a.get("action") == "/voucher"]
        assert len(form) == 1 and form[0]["method"] == "post"
        assert page.source.index("Pay with M-Pesa" if lang == "en" else "Lipa kwa M-Pesa") < page.source.index(
            'id="voucher"'
        )
        hidden = page.hidden()
        assert hidden["mac"] == MAC_A and hidden["lang"] == lang


def test_the_splash_leads_with_vouchers_when_mpesa_keeps_failing(
    client: Any, package: Any, joined: Any, services: Any
) -> None:
    now = services.clock.now()
    for n in range(3):
        Payment.create(
            public_id=f"failed{n}",
            package=package,
            router="main",
            mac=MAC_B,
            ip=IP_B,
            phone="254712345678",
            amount=20,
            status="failed",
            message_key="mpesa_unavailable",
            created_at=now - timedelta(minutes=3 - n),
            updated_at=now,
        )

    page = parse(client.get("/", query_string=device()).data)

    assert "Get online with a voucher" in page.text and "M-Pesa payments are not available right now" in page.text
    assert page.source.index('id="voucher"') < page.source.index("Pay with M-Pesa")
    services.clock.advance(15 * 60)  # the failures are old news: back to M-Pesa first
    page = parse(client.get("/", query_string=device()).data)
    assert page.source.index("Pay with M-Pesa") < page.source.index('id="voucher"')


def test_the_voucher_form_page_keeps_the_device_and_reads_in_swahili(client: Any, joined: Any) -> None:
    page = parse(client.get("/voucher", query_string=device(lang="sw", code="K7QM-3XHD-9RWT")).data)
    assert '<html lang="sw">' in page.source and "Tumia vocha" in page.text
    assert page.one("input", name="code")["value"] == "K7QM-3XHD-9RWT"
    assert page.hidden()["mac"] == MAC_A
    back = [h for h in page.hrefs() if h.startswith("/?")]
    assert len(back) == 1 and parse_qs(urlsplit(back[0]).query)["mac"] == [MAC_A]


def test_a_voucher_status_page_for_an_mpesa_payment_or_nothing_is_a_404(client: Any) -> None:
    assert client.get("/voucher/not-a-real-id").status_code == 404
    assert "Vocha haikupatikana" in parse(client.get("/voucher/nope?lang=sw").data).text


def test_every_voucher_string_has_swahili_with_the_same_placeholders() -> None:
    from babel.messages.extract import extract_from_file
    from babel.messages.pofile import read_po

    from portal import ROOT

    with (ROOT / "translations/sw/LC_MESSAGES/messages.po").open("rb") as po:
        catalog = read_po(po)
    wanted: list[Any] = [MESSAGES[k] for k in MESSAGES if k.startswith("voucher_")]
    for name in ("portal/web/customer/voucher.py", "templates/voucher.html", "templates/voucher_status.html"):
        method = "jinja2" if name.endswith(".html") else "python"
        wanted += [found[1] for found in extract_from_file(method, ROOT / name)]
    assert len(wanted) > 15
    for msgid in wanted:
        entry = catalog.get(msgid)
        assert entry is not None and entry.string and not entry.fuzzy, f"no Swahili for {msgid!r}"
        assert sorted(re.findall(r"%\(\w+\)s", entry.string)) == sorted(re.findall(r"%\(\w+\)s", msgid)), msgid
