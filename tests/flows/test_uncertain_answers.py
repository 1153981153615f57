"""Daraja answers that are not (yet) an outcome, over real sockets: STK Query's 4999 "still
under processing", and success callbacks whose PhoneNumber cannot be compared.

The customer must never be told "failed" while M-Pesa is still deciding, and a success
that cannot be checked field by field is granted only after STK Query confirms it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from portal.ledger.models import Grant, Payment, PaymentEvent

PHONE = "0712345678"
MSISDN = "254712345678"
FAILED_WORDS = ("Payment not completed", "did not go through", "No money was taken")


def status_page(portal: Any, payment: Payment) -> str:
    """The customer's status page as the captive browser loads it."""
    answer = requests.get(f"{portal.base_url}/pay/{payment.public_id}?lang=en", timeout=10)
    assert answer.status_code == 200
    return answer.text


def query_events(payment: Payment) -> list[dict[str, Any]]:
    rows = PaymentEvent.select().where(PaymentEvent.payment == payment, PaymentEvent.kind == "query")
    return [e.detail_data for e in rows.order_by(PaymentEvent.id)]


@pytest.mark.parametrize("callback", ["lost", "late"])
def test_still_under_processing_is_never_failed_and_ends_paid(portal, package, emulator, simulator, services, callback):
    """Callback lost (or late), the first three STK Queries answer 4999, the customer approved."""
    mac, ip = portal.join()
    if callback == "lost":
        simulator.drop_callbacks = True
        simulator.approve_after_seconds = 3.0
    else:  # the customer is slow at the PIN prompt; the callback comes after the 4999s
        simulator.approve_after_seconds = services.settings.mpesa.query_after_seconds + 35
    simulator.query_still_processing_next = 3
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    portal.settle(5)
    pages = [status_page(portal, payment)]

    portal.clock.advance(services.settings.mpesa.query_after_seconds - 5)
    for _ in range(3):
        portal.run_worker()
        assert portal.status(status_id)["status"] == "pending"
        page = status_page(portal, payment)
        assert "Still confirming with M-Pesa" in page
        pages.append(page)
        portal.settle(services.settings.mpesa.query_every_seconds)

    portal.settle(40)  # the late customer approves now; a late callback arrives
    portal.run_worker()
    pages.append(status_page(portal, payment))
    assert portal.status(status_id)["status"] == "success"
    assert emulator.is_online(mac)
    assert Grant.select().where(Grant.payment == payment).count() == 1
    for page in pages:
        assert not any(word in page for word in FAILED_WORDS), page
    answers = query_events(Payment.get_by_id(payment.id))
    assert [a["result_code"] for a in answers[:3]] == ["4999", "4999", "4999"]
    assert all(a["pending"] for a in answers[:3])
    assert "still under processing" in answers[0]["result_desc"]


def test_long_processing_keeps_asking_with_backoff(portal, package, emulator, simulator, services):
    """An answer that is not an outcome, for hours: the payment is asked about again and again,
    more slowly, and still becomes paid when M-Pesa finally says so."""
    mac, ip = portal.join()
    simulator.drop_callbacks = True
    simulator.query_still_processing_next = 1000
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    portal.settle(5)  # approved on the phone; the callback is lost
    m = services.settings.mpesa
    portal.clock.advance(m.query_after_seconds)
    gaps = []
    for _ in range(30):
        portal.run_worker()
        current = Payment.get_by_id(payment.id)
        assert current.status in ("pending", "timeout")
        assert current.next_query_at is not None
        gap = (current.next_query_at - portal.clock.now()).total_seconds()
        gaps.append(gap)
        portal.clock.advance(gap)
    assert gaps[0] == m.query_every_seconds
    assert max(gaps) == m.query_max_interval_seconds  # backs off, never stops within the window
    assert gaps == sorted(gaps)
    simulator.query_still_processing_next = 0
    portal.run_worker()
    assert portal.status(status_id)["status"] == "success"  # timed out for the customer, then paid
    assert emulator.is_online(mac)


def _success_with(phone_value: Any, payment: Payment) -> dict[str, Any]:
    items = [
        {"Name": "Amount", "Value": payment.amount},
        {"Name": "MpesaReceiptNumber", "Value": "TKX4ABC12Q"},
        {"Name": "TransactionDate", "Value": 20260301120105},
        {"Name": "PhoneNumber", "Value": phone_value},
    ]
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {"Item": items},
            }
        }
    }


@pytest.mark.parametrize("style", ["x_masked", "star_masked", "hashed"])
def test_genuine_success_with_masked_phone_is_confirmed_by_query(portal, package, emulator, simulator, style):
    mac, ip = portal.join()
    simulator.callback_phone_style = style
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    assert portal.status(status_id)["status"] == "success"
    assert emulator.is_online(mac)
    kinds = [e.kind for e in PaymentEvent.select().where(PaymentEvent.payment == payment).order_by(PaymentEvent.id)]
    assert kinds.index("callback") < kinds.index("confirming_by_query") < kinds.index("query") < kinds.index("paid")
    assert payment.receipt  # the callback's receipt is kept once the query agreed


@pytest.mark.parametrize("phone_value", ["2547XXXXX678", "0712345678"])
def test_masked_success_for_a_cancelled_prompt_grants_nothing(
    portal, package, emulator, simulator, services, phone_value
):
    """The customer cancels; a success with the right ids and amount but an uncomparable (or
    local-form) phone arrives: STK Query says cancelled, so nothing is granted."""
    mac, ip = portal.join()
    simulator.script_outcome(MSISDN, "cancel")
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    assert payment.status == "cancelled"
    url = services.settings.mpesa.callback_url
    attempt = simulator.send_raw_callback(url, json.dumps(_success_with(phone_value, payment)))
    assert attempt.status == 200
    portal.run_worker()
    assert portal.status(status_id)["status"] == "cancelled"
    assert Grant.select().count() == 0
    assert not emulator.is_online(mac)
    kinds = [e.kind for e in PaymentEvent.select().where(PaymentEvent.payment == payment)]
    assert "confirming_by_query" in kinds and "paid" not in kinds


def test_masked_success_while_pending_waits_for_the_query(portal, package, emulator, simulator, services):
    """Forged success with an X-masked phone while the customer still has the prompt open:
    the query says "still processing", nothing is granted on the callback's word."""
    mac, ip = portal.join()
    simulator.approve_after_seconds = 50
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    url = services.settings.mpesa.callback_url
    simulator.send_raw_callback(url, json.dumps(_success_with("2547XXXXX678", payment)))
    assert portal.status(status_id)["status"] == "pending"
    assert Grant.select().count() == 0
    portal.settle(55)  # the real approval and its genuine callback
    assert portal.status(status_id)["status"] == "success"
    assert Grant.select().count() == 1
