"""'I already paid': the M-Pesa receipt code plus the paying phone moves a live purchase to
the device in hand, over the real stack (simulator over HTTP, emulator over TCP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.domain.errors import BadInput
from portal.domain.reconnect import normalize_receipt
from portal.ledger.models import Grant, Payment, PaymentEvent
from tests.web.conftest import IP_A, IP_B, MAC_A, MAC_B, parse

PHONE = "0712345678"
NOT_FOUND = "We could not find a live purchase with that M-Pesa code and phone number."


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "limits": {
            "reconnect_max_moves": 2,
            "reconnect_attempts_per_hour": 6,
            "reconnect_source_attempts_per_hour": 6,
            "reconnect_receipt_failures_per_hour": 3,
        }
    }


@pytest.fixture
def paid_on_a(portal: Any, package: Any, emulator: Any) -> Payment:
    """Device A bought an hour; device B has joined the Wi-Fi but is not logged in."""
    portal.join(MAC_A, IP_A)
    portal.join(MAC_B, IP_B)
    assert portal.pay(package.id, phone=PHONE, mac=MAC_A, ip=IP_A).json()["success"]
    portal.settle()
    payment = Payment.get()
    assert payment.status == "paid" and payment.receipt and emulator.is_online(MAC_A)
    return payment


def move(
    client: Any,
    receipt: str,
    phone: str = PHONE,
    mac: str = MAC_B,
    ip: str = IP_B,
    environ_base: dict[str, str] | None = None,
    **extra: str,
) -> Any:
    form = {"receipt": receipt, "phone": phone, "mac": mac, "ip": ip, "router": "main", **extra}
    return client.post("/reconnect", data=form, environ_base=environ_base or {})


def test_the_form_carries_the_device_params_and_the_language(client: Any) -> None:
    query = {"mac": MAC_B, "ip": IP_B, "router": "main", "link-orig": "http://example.com/", "lang": "sw"}
    page = parse(client.get("/reconnect", query_string=query).data)

    assert '<html lang="sw">' in page.source and "Msimbo wa M-Pesa" in page.text
    assert {k: page.hidden()[k] for k in query} == query
    receipt = page.one("input", name="receipt")
    assert page.one("label", for_="receipt") and receipt["aria-describedby"] == "receipt-hint"
    assert page.one("input", name="phone")["type"] == "tel"
    back = [h for h in page.hrefs() if h.startswith("/?")]
    assert parse_qs(urlsplit(back[0]).query)["mac"] == [MAC_B]


def test_a_purchase_moves_to_a_new_device(client: Any, paid_on_a: Payment, emulator: Any, clock: Any) -> None:
    clock.advance(10 * 60)
    response = move(
        client, f" {paid_on_a.receipt.lower()} ", "+254 712 345 678", **{"link-orig": "http://example.com/b"}
    )

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/pay/{paid_on_a.public_id}"
    assert emulator.is_online(MAC_B) and not emulator.is_online(MAC_A)
    grant = Grant.get()
    assert (grant.mac, grant.ip, grant.moves, grant.router_state) == (MAC_B, IP_B, 1, "online")
    event = PaymentEvent.get(PaymentEvent.kind == "moved")
    assert event.detail_data["from_mac"] == MAC_A and event.detail_data["to_mac"] == MAC_B
    page = parse(client.get(f"{location.path}?{location.query}").data)
    assert "Connected" in page.text and "50 minutes left" in page.text  # the time left moves, not a new hour
    assert page.find("a", href="http://example.com/b")
    live = client.application.extensions["pay2connect"].live
    assert live.session_for_device("main", MAC_B).grant_id == grant.id
    assert live.session_for_device("main", MAC_A) is None


def test_a_wrong_code_and_a_wrong_phone_get_the_same_answer(client: Any, paid_on_a: Payment, emulator: Any) -> None:
    wrong_code = move(client, "QZZ9ZZZZ99")
    wrong_phone = move(client, paid_on_a.receipt, "0722000111")

    assert wrong_code.status_code == wrong_phone.status_code == 404
    pages = [parse(r.data) for r in (wrong_code, wrong_phone)]
    summaries = [p.text.split("There is a problem", 1)[1].split("I already paid", 1)[0] for p in pages]
    assert summaries[0] == summaries[1] and NOT_FOUND in summaries[0]
    assert all(p.one("div", id="problem")["role"] == "alert" for p in pages)
    assert pages[1].one("input", name="phone")["value"] == "0722000111"  # what was typed stays
    assert Grant.get().mac == MAC_A and emulator.is_online(MAC_A) and not emulator.is_online(MAC_B)


def test_a_malformed_code_is_explained_next_to_the_field(client: Any, paid_on_a: Payment) -> None:
    response = move(client, "abc<b>")

    assert response.status_code == 400
    page = parse(response.data)
    assert page.one("input", name="receipt")["aria-invalid"] == "true"
    assert "receipt-error" in page.one("input", name="receipt")["aria-describedby"].split()
    assert "does not look like an M-Pesa code" in page.text
    assert b"<b>" not in response.data


def test_a_spoofed_device_is_refused(client: Any, paid_on_a: Payment, emulator: Any) -> None:
    response = move(client, paid_on_a.receipt, mac="AA:BB:CC:00:00:77")  # not at IP_B on the hotspot

    assert response.status_code == 403
    assert "not connected to our Wi-Fi hotspot" in parse(response.data).text
    assert Grant.get().mac == MAC_A


def test_moves_stop_at_the_limit_and_the_same_device_only_logs_in_again(
    client: Any, paid_on_a: Payment, emulator: Any
) -> None:
    receipt = paid_on_a.receipt
    assert move(client, receipt).status_code == 303  # A -> B (move 1)
    assert move(client, receipt).status_code == 303  # B -> B: just logged in again
    assert Grant.get().moves == 1
    assert move(client, receipt, mac=MAC_A, ip=IP_A).status_code == 303  # B -> A (move 2)
    assert emulator.is_online(MAC_A) and not emulator.is_online(MAC_B)

    refused = move(client, receipt)  # a third move is one too many

    assert refused.status_code == 429
    assert "moved to another device too many times" in parse(refused.data).text
    assert Grant.get().mac == MAC_A and Grant.get().moves == 2 and emulator.is_online(MAC_A)


def test_an_expired_purchase_cannot_be_moved(client: Any, paid_on_a: Payment, portal: Any) -> None:
    portal.clock.advance(3601)

    response = move(client, paid_on_a.receipt)

    assert response.status_code == 404 and NOT_FOUND in parse(response.data).text


def test_guessing_from_one_device_is_rate_limited(client: Any, paid_on_a: Payment, emulator: Any, clock: Any) -> None:
    for n in range(6):
        assert move(client, f"QZZ{n}ZZZZ99", f"07220001{n:02d}").status_code == 404

    blocked = move(client, paid_on_a.receipt)  # even the right code, once the device is over the limit

    assert blocked.status_code == 429
    assert "Too many tries. Please wait an hour" in parse(blocked.data).text
    assert not emulator.is_online(MAC_B)
    clock.advance(3601)  # an hour on, the device may try again (the purchase itself has run out)
    assert move(client, paid_on_a.receipt).status_code == 404


def test_wrong_codes_with_someone_elses_phone_spend_only_the_guessers_budget(
    client: Any, paid_on_a: Payment, portal: Any, emulator: Any
) -> None:
    guesser = {"REMOTE_ADDR": "10.5.50.66"}  # the portal sees each phone's own address
    for n in range(6):  # a guesser rotating its MAC address, aiming at one customer's phone
        mac, ip = f"AA:BB:CC:00:01:{n:02X}", f"10.5.50.{100 + n}"
        portal.join(mac, ip)
        assert move(client, f"QZZ{n}ZZZZ99", mac=mac, ip=ip, environ_base=guesser).status_code == 404
    portal.join("AA:BB:CC:00:01:09", "10.5.50.109")
    over = move(client, "QZZ9ZZZZ99", mac="AA:BB:CC:00:01:09", ip="10.5.50.109", environ_base=guesser)

    moved = move(client, paid_on_a.receipt, environ_base={"REMOTE_ADDR": IP_B})  # the customer's new device

    assert over.status_code == 429  # the guesser's address is over its 6 tries
    assert moved.status_code == 303 and emulator.is_online(MAC_B) and Grant.get().mac == MAC_B


def test_a_code_tried_wrongly_too_often_is_refused_for_an_hour(
    client: Any, paid_on_a: Payment, portal: Any, clock: Any
) -> None:
    for n in range(3):  # someone who saw the code on a shared screen tries phone numbers
        mac, ip = f"AA:BB:CC:00:01:{n:02X}", f"10.5.50.{100 + n}"
        portal.join(mac, ip)
        assert move(client, paid_on_a.receipt, f"07220001{n:02d}", mac=mac, ip=ip).status_code == 404

    refused = move(client, paid_on_a.receipt)  # three wrong tries of one code: the code rests for an hour
    other_code = move(client, "QZZ9ZZZZ99")
    clock.advance(3601)
    an_hour_on = move(client, paid_on_a.receipt)

    assert refused.status_code == 429 and Grant.get().mac == MAC_A
    assert other_code.status_code == 404  # only that code rests, not the device
    assert an_hour_on.status_code == 404  # no longer refused (the purchase itself has run out by now)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("qjk3abcd12", "QJK3ABCD12"),
        (" QJK 3ABC D12 ", "QJK3ABCD12"),
        ("QJK3ABCD12 Confirmed. Ksh20.00 paid to CAFE WIFI on 1/3/26", "QJK3ABCD12"),
    ],
)
def test_receipt_codes_are_read_the_way_customers_type_them(typed: str, code: str) -> None:
    assert normalize_receipt(typed) == code


@pytest.mark.parametrize("typed", ["", "QJK3ABCD1", "QJK3ABCD123", "QJK-3ABCD12", "ﾑQJK3ABCD1", "Confirmed QJK3"])
def test_anything_else_is_not_a_receipt_code(typed: str) -> None:
    with pytest.raises(BadInput) as caught:
        normalize_receipt(typed)
    assert caught.value.key == "receipt_invalid"
