"""The customer's SMS receipt and top-up reminder, end to end over real sockets: the pay form
and the JSON API on the loopback app, Daraja simulator callbacks over HTTP, the RouterOS
emulator over TCP, and the Africa's Talking simulator over HTTP receiving the SMS.

Exactly one receipt per paid payment however many callbacks arrive, none for a failed one,
none without consent, and only ever to the phone that paid."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from portal.clock import to_nairobi
from portal.domain import deliveries
from portal.ledger.models import Delivery, Grant, Payment
from tests.conftest import PortalActions

PHONE, MSISDN = "0712345678", "254712345678"
OTHER_MSISDN = "254722000111"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "sms": {"environment": "simulator"},
        "receipts": {"enabled": True, "topup_reminder": True, "reminder_minutes": 5},
        "alerts": {"enabled": False},
    }


def pay(portal: PortalActions, package_id: int, *, consent: bool = True, phone: str = PHONE, **extra: Any) -> str:
    mac, ip = portal.join(extra.pop("mac", "AA:BB:CC:00:00:01"), extra.pop("ip", "10.5.50.11"))
    answer = requests.post(
        f"{portal.base_url}/api/portal/pay",
        json={"phone": phone, "packageId": package_id, "macAddress": mac, "ip": ip, "receiptSms": consent, **extra},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["statusId"])


def sms_to(services: Any, number: str) -> list[str]:
    return [m.message for m in services.sms_gateway.messages() if m.number == "+" + number]


def test_the_pay_form_shows_the_consent_box_and_one_receipt_follows(portal, package, services, simulator):
    mac, ip = portal.join()
    query = {"mac": mac, "ip": ip, "router": "main"}
    page = requests.get(f"{portal.base_url}/", params=query, timeout=10).text
    assert 'name="receipt_sms"' in page and "Send me an SMS receipt with my M-Pesa code" in page
    assert 'name="receipt_sms" value="1" checked' not in page  # consent is never ticked for them
    form = {**query, "phone": PHONE, "package": str(package.id), "idempotency_key": "a" * 32, "receipt_sms": "1"}
    answer = requests.post(f"{portal.base_url}/pay", data=form, timeout=10, allow_redirects=False)
    assert answer.status_code == 303, answer.text
    payment = Payment.get()
    assert payment.receipt_consent is True

    simulator.duplicate_callbacks = 2  # three identical success callbacks reach the app
    portal.settle(5)
    portal.settle(5)
    for _ in range(3):
        portal.run_worker()
    payment = Payment.get()
    grant = Grant.get(Grant.payment == payment)
    sent = sms_to(services, MSISDN)
    assert len(sent) == 1, sent
    text = sent[0]
    assert payment.receipt and payment.receipt in text
    assert "KSh 20" in text and "1 hour" in text and services.settings.portal.venue_name in text
    assert f"Online until {to_nairobi(grant.expires_at):%H:%M}." in text
    assert f"{portal.base_url}/reconnect?lang=en" in text
    assert Delivery.select().where(Delivery.kind == "receipt").count() == 1
    assert Delivery.get(Delivery.kind == "receipt").body == text  # kept for support calls


@pytest.mark.parametrize("settings_overrides", [{"sms": {"environment": "simulator"}, "receipts": {"enabled": False}}])
def test_no_box_and_no_receipt_where_the_venue_does_not_offer_them(portal, package, services, simulator):
    mac, ip = portal.join()
    page = requests.get(f"{portal.base_url}/", params={"mac": mac, "ip": ip, "router": "main"}, timeout=10).text
    assert 'name="receipt_sms"' not in page
    pay(portal, package.id, consent=True)  # asking through the API changes nothing
    portal.settle(5)
    portal.run_worker()
    assert Payment.get().status == "paid" and Payment.get().receipt_consent is False
    assert services.sms_gateway.messages() == []


def test_without_consent_no_receipt(portal, package, services):
    pay(portal, package.id, consent=False)
    portal.settle(5)
    portal.run_worker()
    assert Payment.get().status == "paid"
    assert services.sms_gateway.messages() == [] and Delivery.select().count() == 0


@pytest.mark.parametrize("outcome", ["cancel", "insufficient", "wrong_pin", "timeout"])
def test_a_failed_payment_gets_no_receipt(portal, package, services, simulator, outcome):
    simulator.script_outcome(MSISDN, outcome)
    pay(portal, package.id)
    portal.settle(5)
    portal.settle(120)
    portal.clock.advance(600)
    portal.run_worker()
    assert Payment.get().status != "paid"
    assert services.sms_gateway.messages() == [] and Delivery.select().count() == 0


def test_confirmed_by_query_without_a_callback_still_one_receipt_without_the_code(portal, package, services, simulator):
    simulator.drop_callbacks = True
    pay(portal, package.id)
    portal.settle(5)
    portal.clock.advance(services.settings.mpesa.query_after_seconds)
    portal.run_worker()
    portal.run_worker()
    assert Payment.get().status == "paid" and Payment.get().receipt is None
    sent = sms_to(services, MSISDN)
    assert len(sent) == 1 and "M-Pesa code from M-Pesa's SMS" in sent[0]


def test_a_forged_success_for_another_phone_sends_it_nothing(portal, package, services, simulator, base_url):
    pay(portal, package.id)
    payment = Payment.get()
    forged = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": payment.merchant_request_id,
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 20},
                        {"Name": "MpesaReceiptNumber", "Value": "SFORGED001"},
                        {"Name": "TransactionDate", "Value": 20260301120000},
                        {"Name": "PhoneNumber", "Value": int(OTHER_MSISDN)},
                    ]
                },
            }
        }
    }
    requests.post(services.settings.mpesa.callback_url, json=forged, timeout=10)
    portal.run_worker()
    assert sms_to(services, OTHER_MSISDN) == []
    portal.settle(5)  # the real phone approves
    portal.run_worker()
    assert sms_to(services, OTHER_MSISDN) == []
    assert len(sms_to(services, MSISDN)) == 1
    assert all(d.recipient == MSISDN for d in Delivery.select())


def test_swahili_customer_gets_a_swahili_receipt(portal, package, services):
    pay(portal, package.id, lang="sw")
    portal.settle(5)
    portal.run_worker()
    (text,) = sms_to(services, MSISDN)
    assert "zimepokelewa kwa Saa 1" in text and "Uko mtandaoni hadi" in text
    assert "reconnect?lang=sw" in text


def test_the_top_up_reminder_comes_five_minutes_before_the_end_once(portal, package, services):
    pay(portal, package.id)
    portal.settle(5)
    portal.run_worker()
    grant = Grant.get()
    assert len(sms_to(services, MSISDN)) == 1  # the receipt only
    portal.clock.set(grant.expires_at - timedelta(minutes=6))
    portal.run_worker()
    assert len(sms_to(services, MSISDN)) == 1
    portal.clock.set(grant.expires_at - timedelta(minutes=5))
    portal.run_worker()
    portal.run_worker()
    sent = sms_to(services, MSISDN)
    assert len(sent) == 2 and "in 5 minutes" in sent[1] and "buy more time" in sent[1]
    assert f"mac={grant.mac.replace(':', '%3A')}" in sent[1]


def test_buying_more_time_cancels_the_reminder(portal, package, services):
    pay(portal, package.id)
    portal.settle(5)
    portal.run_worker()
    first = Grant.get()
    portal.clock.set(first.expires_at - timedelta(minutes=20))
    pay(portal, package.id)  # tops up: a second grant stacked after the first
    portal.settle(5)
    portal.clock.set(first.expires_at - timedelta(minutes=5))
    portal.run_worker()
    reminders = list(Delivery.select().where(Delivery.kind == "topup").order_by(Delivery.id))
    assert [r.status for r in reminders] == ["cancelled", "queued"]
    assert len(sms_to(services, MSISDN)) == 2  # two receipts, no reminder yet
    assert deliveries.queued_count(services) == 0
