"""STK Push through the real client against the simulator: success, validation, every error
envelope, timeouts and transport failures, and what never appears in logs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
import requests
import responses

from portal.clock import ManualClock
from portal.mpesa.client import DarajaClient
from portal.mpesa.errors import (
    DarajaMerchantError,
    DarajaRequestInvalid,
    DarajaSubscriberBusy,
    DarajaThrottled,
    DarajaTimeout,
    DarajaUnavailable,
)
from portal.mpesa.request_fields import NO_CALLBACK_URL, TILL, DarajaCredentials, build_password, daraja_timestamp
from portal.mpesa.simulator import DarajaSimulator

PHONE = "254712345678"
CALLBACK = "http://127.0.0.1:9/hooks/stk/x"


def push(client: DarajaClient, phone: str = PHONE, amount: int = 20, **kw: Any) -> Any:
    args = {"account_reference": "WIFI1H", "description": "1 hour wifi", "callback_url": CALLBACK}
    args.update(kw)
    return client.stk_push(phone=phone, amount=amount, **args)


def test_golden_password_vector(sandbox_passkey: str) -> None:
    assert build_password("174379", sandbox_passkey, "20210628092408") == (
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
        "YzkxOTIwMjEwNjI4MDkyNDA4"
    )


def test_timestamp_is_nairobi_time() -> None:
    from datetime import datetime

    assert daraja_timestamp(datetime(2021, 6, 28, 6, 24, 8, tzinfo=UTC)) == ("20210628092408")
    with pytest.raises(ValueError):
        daraja_timestamp(datetime(2021, 6, 28, 6, 24, 8))


def test_push_is_accepted_with_realistic_ids(sim: DarajaSimulator, client: DarajaClient) -> None:
    accepted = push(client)
    # 09:00:00 UTC on the manual clock is 12:00:00 EAT; the tail is the national number.
    assert accepted.checkout_request_id == "ws_CO_01032026120000000712345678"
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{6,7}", accepted.merchant_request_id)
    assert accepted.response_description == "Success. Request accepted for processing"
    assert accepted.customer_message == "Success. Request accepted for processing"
    [transaction] = sim.transactions()
    assert (
        transaction.phone,
        transaction.amount,
        transaction.account_reference,
        transaction.description,
        transaction.callback_url,
    ) == (PHONE, 20, "WIFI1H", "1 hour wifi", CALLBACK)
    assert transaction.pending and transaction.prompted


def test_labels_are_trimmed_to_daraja_limits(sim: DarajaSimulator, client: DarajaClient) -> None:
    push(client, account_reference="Wi-Fi: 1 hour!!", description="One hour of fast Wi-Fi")
    [transaction] = sim.transactions()
    assert transaction.account_reference == "WiFi 1 hour"
    assert transaction.description == "One hour of f"


def test_empty_callback_url_means_no_callback(sim: DarajaSimulator, client: DarajaClient) -> None:
    push(client, callback_url="")
    assert sim.transactions()[0].callback_url == NO_CALLBACK_URL


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": 20.5}, "whole number"),
        ({"amount": "20"}, "whole number"),
        ({"amount": True}, "whole number"),
        ({"amount": 0}, "between"),
        ({"amount": -5}, "between"),
        ({"amount": 250_001}, "between"),
        ({"phone": "0712345678"}, "MSISDN"),
        ({"phone": "254812345678"}, "MSISDN"),
        ({"phone": "25471234567٨"}, "MSISDN"),
        ({"phone": "254712345678\n"}, "MSISDN"),
        ({"account_reference": "WIFI–1H"}, "ASCII"),  # en dash
        ({"account_reference": "Kahawa ☕"}, "ASCII"),
        ({"account_reference": "!!!"}, "empty"),
        ({"description": ""}, "empty"),
        ({"callback_url": "https://pay.example.co.ke/hooks /x"}, "without spaces"),
        ({"callback_url": "/hooks/stk/x"}, "absolute"),
        ({"callback_url": "ftp://x.example/cb"}, "absolute"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    sim: DarajaSimulator, client: DarajaClient, changes: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"phone": PHONE, "amount": 20}
    args.update(changes)
    with pytest.raises(ValueError, match=message):
        push(client, **args)
    assert sim.tokens_minted == 0
    assert sim.transactions() == []


def test_till_push(
    clock: ManualClock, make_client: Callable[..., DarajaClient], credentials_for: Callable[..., DarajaCredentials]
) -> None:
    with DarajaSimulator(clock=clock, shortcode="7123456", till_number="5123456") as till_sim:
        client = make_client(credentials_for(till_sim, transaction_type=TILL, party_b="5123456"))
        accepted = push(client)
        clock.advance(3)
        till_sim.process_due()
        result = client.stk_query(accepted.checkout_request_id)
        assert (result.result_code, result.status) == ("0", "paid")
        assert till_sim.transactions()[0].party_b == "5123456"


def test_till_credentials_need_a_till_number() -> None:
    with pytest.raises(ValueError, match="party_b"):
        DarajaCredentials(
            base_url="http://x",
            consumer_key="k",
            consumer_secret="s",
            shortcode="7123456",
            passkey="p",
            transaction_type=TILL,
        )


@pytest.mark.parametrize(("knob", "code"), [("operator_missing", "SFC_IC0003"), ("not_permitted", "2028")])
def test_paybill_push_to_a_till_merchant_fails_in_the_result(
    clock: ManualClock,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
    knob: str,
    code: str,
) -> None:
    with DarajaSimulator(clock=clock, shortcode="7123456", till_number="5123456") as till_sim:
        till_sim.wrong_party_outcome = knob
        client = make_client(credentials_for(till_sim))  # PayBill: PartyB = store number
        accepted = push(client)
        till_sim.process_due()
        result = client.stk_query(accepted.checkout_request_id)
        assert (result.result_code, result.status) == (code, "failed")


def test_wrong_passkey_is_a_merchant_error(
    sim: DarajaSimulator,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    client = make_client(credentials_for(sim, passkey="not-the-passkey"))
    with pytest.raises(DarajaMerchantError) as caught:
        push(client)
    error = caught.value
    assert (error.error_code, error.message, error.http_status) == ("500.001.1001", "Wrong credentials", 500)
    assert error.retryable is False and error.key == "mpesa_merchant_config"


def test_unknown_shortcode_is_a_merchant_error(
    sim: DarajaSimulator,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    client = make_client(credentials_for(sim, shortcode="600000"))
    with pytest.raises(DarajaMerchantError, match="Merchant does not exist"):
        push(client)


def test_amount_over_the_simulated_limit_is_an_invalid_request(sim: DarajaSimulator, client: DarajaClient) -> None:
    sim.max_amount = 100
    with pytest.raises(DarajaRequestInvalid) as caught:
        push(client, amount=150)
    assert (caught.value.error_code, caught.value.message) == ("400.002.02", "Bad Request - Invalid Amount")
    assert caught.value.request_id


def test_second_push_while_a_prompt_is_open_is_subscriber_busy(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock
) -> None:
    push(client)
    with pytest.raises(DarajaSubscriberBusy) as caught:
        push(client, amount=50)
    assert caught.value.message == (
        "Unable to lock subscriber, a transaction is already in process for the current subscriber"
    )
    assert caught.value.retryable and caught.value.retry_after_seconds == 60
    push(client, phone="254712345679")  # other phones are not affected
    clock.advance(3)
    sim.process_due()
    push(client, amount=50)  # the first prompt has ended, the lock is gone


def test_subscriber_lock_reported_in_the_callback_instead(sim: DarajaSimulator, client: DarajaClient) -> None:
    sim.subscriber_lock_in_callback = True
    push(client)
    second = push(client, amount=50)
    sim.process_due()
    assert client.stk_query(second.checkout_request_id).result_code == "1001"


def test_same_amount_within_two_minutes_of_a_payment_is_rule_17(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock
) -> None:
    push(client)
    clock.advance(3)
    sim.process_due()  # paid at t=3
    repeat = push(client)
    sim.process_due()
    assert client.stk_query(repeat.checkout_request_id).result_code == "17"
    other_amount = push(client, amount=50)
    clock.advance(3)
    sim.process_due()
    assert client.stk_query(other_amount.checkout_request_id).result_code == "0"
    clock.advance(121)
    later = push(client)  # the 120 s window after the t=3 payment is over
    clock.advance(3)
    sim.process_due()
    assert client.stk_query(later.checkout_request_id).result_code == "0"


def test_spike_arrest_then_recovery(sim: DarajaSimulator, client: DarajaClient) -> None:
    client.access_token()
    sim.throttle_next_requests = 1
    with pytest.raises(DarajaThrottled) as caught:
        push(client)
    assert caught.value.error_code == "500.003.02" and caught.value.retryable
    assert sim.transactions() == []  # refused before M-Pesa acted: safe to send again
    push(client)


def test_tps_limit_per_clock_second(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    sim.tps_limit = 2
    push(client, phone="254712345670")
    push(client, phone="254712345671")
    with pytest.raises(DarajaThrottled, match="Spike Arrest"):
        push(client, phone="254712345672")
    clock.advance(1)
    push(client, phone="254712345672")


def test_quota_violation(sim: DarajaSimulator, client: DarajaClient) -> None:
    sim.quota_remaining = 1
    push(client)
    with pytest.raises(DarajaThrottled) as caught:
        push(client, phone="254712345679")
    assert caught.value.error_code == "500.003.03"
    assert caught.value.retry_after_seconds == 300


# -- raw requests: envelopes the client never triggers itself ---------------------------------


@pytest.fixture
def raw_push(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> Callable[..., requests.Response]:
    token = client.access_token()

    def send(body: Any = None, *, form: bool = False, **overrides: Any) -> requests.Response:
        timestamp = daraja_timestamp(clock.now())
        payload: dict[str, Any] = {
            "BusinessShortCode": 174379,
            "Password": build_password("174379", sim.merchant.passkey, timestamp),
            "Timestamp": timestamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 20,
            "PartyA": 254712345678,
            "PartyB": 174379,
            "PhoneNumber": 254712345678,
            "CallBackURL": CALLBACK,
            "AccountReference": "WIFI1H",
            "TransactionDesc": "1 hour wifi",
        }
        payload.update(overrides)
        url = sim.base_url + "/mpesa/stkpush/v1/processrequest"
        headers = {"Authorization": f"Bearer {token}"}
        if form:
            return requests.post(url, data=payload, headers=headers, timeout=5)
        return requests.post(url, json=payload if body is None else body, headers=headers, timeout=5)

    return send


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"PhoneNumber": "0712345678"}, "PhoneNumber"),
        ({"PhoneNumber": 25471234567}, "PhoneNumber"),
        ({"PartyA": "254812345678"}, "PartyA"),
        ({"Amount": 20.5}, "Amount"),
        ({"Amount": 20.0}, "Amount"),
        ({"Amount": "20.00"}, "Amount"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": True}, "Amount"),
        ({"Amount": 250_001}, "Amount"),
        ({"BusinessShortCode": "17437a"}, "BusinessShortCode"),
        ({"Timestamp": "2025-03-01 14:30"}, "Timestamp"),
        ({"Timestamp": "20251399143005"}, "Timestamp"),
        ({"TransactionType": "CustomerPayBill"}, "TransactionType"),
        ({"CallBackURL": "https://pay.example.co.ke/hooks /x"}, "CallBackURL"),
        ({"CallBackURL": "pay.example.co.ke/hooks"}, "CallBackURL"),
        ({"AccountReference": None}, "Remarks"),
        ({"TransactionDesc": None}, "Remarks"),
        ({"AccountReference": "WIFI1HOUR2026"}, "AccountReference"),
        ({"TransactionDesc": "fourteen chars"}, "TransactionDesc"),
        ({"Password": None}, "Password"),
    ],
)
def test_invalid_field_envelopes(
    sim: DarajaSimulator,
    raw_push: Callable[..., requests.Response],
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = raw_push(**overrides)
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == "400.002.02"
    assert body["errorMessage"] == f"Bad Request - Invalid {field}"
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d+", body["requestId"])
    assert sim.transactions() == []


def test_form_encoded_body_is_invalid_business_shortcode(
    raw_push: Callable[..., requests.Response],
) -> None:
    response = raw_push(form=True)
    assert response.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


def test_numbers_as_strings_and_strings_as_numbers_are_both_fine(
    raw_push: Callable[..., requests.Response],
) -> None:
    response = raw_push(
        BusinessShortCode="174379", Amount="1", PartyA="254712345678", PartyB="174379", PhoneNumber="254712345678"
    )
    assert response.status_code == 200
    assert response.json()["ResponseCode"] == "0"


def test_password_built_with_another_timestamp_is_wrong_credentials(
    sim: DarajaSimulator, raw_push: Callable[..., requests.Response]
) -> None:
    response = raw_push(Password=build_password("174379", sim.merchant.passkey, "20250101000000"))
    assert response.status_code == 500
    assert response.json()["errorMessage"] == "Wrong credentials"


def test_optional_timestamp_freshness_window(sim: DarajaSimulator, raw_push: Callable[..., requests.Response]) -> None:
    sim.timestamp_window_seconds = 3600
    stale = "20260301080000"  # EAT 08:00 while the clock says 12:00 EAT
    response = raw_push(Timestamp=stale, Password=build_password("174379", sim.merchant.passkey, stale))
    assert response.json()["errorMessage"] == "Bad Request - Invalid Timestamp"


def test_wrong_method_and_unknown_path(sim: DarajaSimulator) -> None:
    wrong_method = requests.get(sim.base_url + "/mpesa/stkpush/v1/processrequest", timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["errorCode"] == "405.001"
    unknown = requests.post(sim.base_url + "/mpesa/stkpush/v2/processrequest", timeout=5)
    assert unknown.status_code == 404
    assert unknown.json()["errorCode"] == "404.001.01"
    assert unknown.json()["errorMessage"] == "Resource not found"


def test_missing_or_bogus_bearer_token(sim: DarajaSimulator) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = requests.post(sim.base_url + "/mpesa/stkpush/v1/processrequest", json={}, headers=headers, timeout=5)
        assert response.status_code == 404
        assert response.json()["errorCode"] == "404.001.03"


# -- timeouts and transport failures -----------------------------------------------------------


def test_read_timeout_on_a_push_is_outcome_unknown(
    broken_daraja: Callable[[str], Any],
    clock: ManualClock,
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    server = broken_daraja("stall")
    creds = DarajaCredentials(
        base_url=server.base_url, consumer_key="k", consumer_secret="s", shortcode="174379", passkey="p"
    )
    client = DarajaClient(creds, clock=clock, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(DarajaTimeout) as caught:
        push(client)
    assert time.monotonic() - started < 3
    assert caught.value.retryable is False
    assert server.api_requests == 1  # sent once, never retried
    client.close()


def test_hung_up_mid_push_is_outcome_unknown_but_a_query_is_just_unavailable(
    broken_daraja: Callable[[str], Any],
    clock: ManualClock,
) -> None:
    server = broken_daraja("drop")
    creds = DarajaCredentials(
        base_url=server.base_url, consumer_key="k", consumer_secret="s", shortcode="174379", passkey="p"
    )
    client = DarajaClient(creds, clock=clock, timeout=2)
    with pytest.raises(DarajaTimeout):
        push(client)
    with pytest.raises(DarajaUnavailable) as caught:
        client.stk_query("ws_CO_01032026120000000712345678")
    assert caught.value.retryable
    assert server.api_requests == 2
    client.close()


def test_simulator_held_answer_shows_why_a_timed_out_push_must_not_be_resent(
    sim: DarajaSimulator,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    client = make_client(credentials_for(sim), timeout=0.3)
    client.access_token()
    sim.hang_push_responses = True
    with pytest.raises(DarajaTimeout):
        push(client)
    sim.hang_push_responses = False
    sim.release_hung_requests()
    [landed] = sim.transactions()
    assert landed.pending  # Daraja got it: the phone is showing a prompt
    with pytest.raises(DarajaSubscriberBusy):
        push(client)  # a blind retry would collide (or double-charge)


def test_connection_refused_is_unavailable(closed_port: int, clock: ManualClock) -> None:
    creds = DarajaCredentials(
        base_url=f"http://127.0.0.1:{closed_port}",
        consumer_key="k",
        consumer_secret="s",
        shortcode="174379",
        passkey="p",
    )
    client = DarajaClient(creds, clock=clock, timeout=2)
    with pytest.raises(DarajaUnavailable) as caught:
        push(client)
    assert caught.value.retryable
    assert "could not connect" in caught.value.message


BASE = "https://daraja.test"


def _mocked_client(clock: ManualClock) -> DarajaClient:
    responses.get(BASE + "/oauth/v1/generate", json={"access_token": "t", "expires_in": "3599"})
    creds = DarajaCredentials(base_url=BASE, consumer_key="k", consumer_secret="s", shortcode="174379", passkey="p")
    return DarajaClient(creds, clock=clock)


@responses.activate
def test_html_200_to_a_push_is_unavailable(clock: ManualClock) -> None:
    client = _mocked_client(clock)
    responses.post(
        BASE + "/mpesa/stkpush/v1/processrequest", body="<html><body>Apigee</body></html>", content_type="text/html"
    )
    with pytest.raises(DarajaUnavailable, match="non-JSON"):
        push(client)


@responses.activate
def test_503_without_envelope_is_unavailable(clock: ManualClock) -> None:
    client = _mocked_client(clock)
    responses.post(BASE + "/mpesa/stkpush/v1/processrequest", status=503, body="upstream down")
    with pytest.raises(DarajaUnavailable) as caught:
        push(client)
    assert caught.value.http_status == 503


@responses.activate
def test_connection_reset_during_a_push_is_outcome_unknown(clock: ManualClock) -> None:
    client = _mocked_client(clock)
    responses.post(BASE + "/mpesa/stkpush/v1/processrequest", body=requests.ConnectionError("Connection reset by peer"))
    with pytest.raises(DarajaTimeout):
        push(client)


@responses.activate
def test_every_call_has_a_timeout(clock: ManualClock) -> None:
    client = _mocked_client(clock)
    responses.post(
        BASE + "/mpesa/stkpush/v1/processrequest",
        json={
            "MerchantRequestID": "m",
            "CheckoutRequestID": "ws_CO_1",
            "ResponseCode": "0",
            "ResponseDescription": "ok",
            "CustomerMessage": "ok",
        },
    )
    push(client)
    assert [call.request.req_kwargs["timeout"] for call in responses.calls] == [15.0, 15.0]


# -- logging -----------------------------------------------------------------------------------


def test_logs_never_hold_secrets_or_full_phone_numbers(
    sim: DarajaSimulator,
    client: DarajaClient,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = build_password("174379", sim.merchant.passkey, daraja_timestamp(clock.now()))
    accepted = push(client)
    client.stk_query(accepted.checkout_request_id)
    with pytest.raises(DarajaSubscriberBusy):
        push(client)
    clock.advance(3)
    sim.process_due()
    token = client.access_token()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "2547****5678" in text  # phones do appear, masked
    for secret in (
        PHONE,
        sim.merchant.passkey,
        sim.merchant.consumer_secret,
        token,
        password,
        "Authorization",
        "Bearer",
    ):
        assert secret not in text
    assert "consumer_secret" not in repr(client.credentials)
    assert sim.merchant.passkey not in repr(client.credentials)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shortcode": 174379}, "shortcode"),
        ({"shortcode": "17437"}, None),
        ({"shortcode": "1743"}, "5 to 8 digits"),
        ({"consumer_secret": ""}, "consumer_secret"),
        ({"passkey": "  "}, "passkey"),
        ({"base_url": "sandbox.safaricom.co.ke"}, "http"),
        ({"transaction_type": "CustomerPayBill"}, "transaction_type"),
    ],
)
def test_credentials_are_checked_when_built(changes: dict[str, Any], message: str | None) -> None:
    values: dict[str, Any] = {
        "base_url": "https://sandbox.safaricom.co.ke/",
        "consumer_key": "k",
        "consumer_secret": "s",
        "shortcode": "174379",
        "passkey": "p",
    }
    values.update(changes)
    if message is None:
        assert DarajaCredentials(**values).base_url == "https://sandbox.safaricom.co.ke"
    else:
        with pytest.raises(ValueError, match=message):
            DarajaCredentials(**values)
