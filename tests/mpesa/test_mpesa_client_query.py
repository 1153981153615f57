"""STK Query through the client, and the simulator's raw query answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from portal.clock import ManualClock
from portal.mpesa.client import DarajaClient
from portal.mpesa.errors import DarajaRequestInvalid
from portal.mpesa.request_fields import build_password, daraja_timestamp
from portal.mpesa.simulator import DarajaSimulator
from tests.mpesa.conftest import PHONE, push


def test_pending_then_paid(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    checkout_id = push(client)
    pending = client.stk_query(checkout_id)
    assert pending.pending and pending.status == "pending"
    assert (pending.result_code, pending.result_desc, pending.checkout_request_id) == (None, None, checkout_id)
    clock.advance(2.9)
    assert sim.process_due() == 0
    assert client.stk_query(checkout_id).pending
    clock.advance(0.1)
    assert sim.process_due() == 2  # the prompt ended and its callback was attempted
    final = client.stk_query(checkout_id)
    assert not final.pending
    assert (final.result_code, final.status) == ("0", "paid")
    assert final.result_desc == "The service request is processed successfully."
    assert final.merchant_request_id == sim.transactions()[0].merchant_request_id


@pytest.mark.parametrize(
    ("outcome", "code", "status"),
    [
        ("cancel", "1032", "cancelled"),
        ("timeout", "1037", "timeout"),
        ("insufficient", "1", "failed"),
        ("wrong_pin", "2001", "failed"),
        ("expired", "1019", "timeout"),
        ("pin_locked", "8006", "failed"),
    ],
)
def test_query_reports_each_failure(
    sim: DarajaSimulator,
    client: DarajaClient,
    clock: ManualClock,
    outcome: str,
    code: str,
    status: str,
) -> None:
    sim.script_outcome(PHONE, outcome)
    checkout_id = push(client)
    clock.advance(60)
    sim.process_due()
    result = client.stk_query(checkout_id)
    assert (result.result_code, result.status) == (code, status)


def test_query_still_works_when_every_callback_is_lost(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock
) -> None:
    sim.drop_callbacks = True
    checkout_id = push(client)
    clock.advance(3)
    sim.process_due()
    assert sim.callback_attempts == []
    assert sim.dropped_callbacks == [checkout_id]
    assert client.stk_query(checkout_id).status == "paid"


def test_unknown_checkout_id_is_an_invalid_request(client: DarajaClient) -> None:
    with pytest.raises(DarajaRequestInvalid) as caught:
        client.stk_query("ws_CO_01012020000000000700000000")
    assert caught.value.message == "Bad Request - Invalid CheckoutRequestID"


def test_malformed_checkout_id_is_refused_locally(sim: DarajaSimulator, client: DarajaClient) -> None:
    for bad in ("", "ws CO", "x" * 65, "ws_CO_1\n"):
        with pytest.raises(ValueError):
            client.stk_query(bad)
    assert sim.tokens_minted == 0


def test_sandbox_lies_mode(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    sim.sandbox_lies = True
    checkout_id = push(client)
    clock.advance(3)
    sim.process_due()
    assert client.stk_query(checkout_id).result_code == "1032"
    assert sim.transactions()[0].result_code == 0  # the money did move


@pytest.fixture
def raw_query(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> Callable[[str], requests.Response]:
    token = client.access_token()

    def send(checkout_id: str, **overrides: Any) -> requests.Response:
        timestamp = daraja_timestamp(clock.now())
        body = {
            "BusinessShortCode": "174379",
            "Password": build_password("174379", sim.merchant.passkey, timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_id,
        }
        body.update(overrides)
        return requests.post(
            sim.base_url + "/mpesa/stkpushquery/v1/query",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )

    return send


def test_raw_pending_answer(client: DarajaClient, raw_query: Callable[..., requests.Response]) -> None:
    checkout_id = push(client)
    response = raw_query(checkout_id)
    assert response.status_code == 500
    assert response.json() == {
        "requestId": checkout_id,
        "errorCode": "500.001.1001",
        "errorMessage": "The transaction is being processed",
    }


def test_raw_final_answer_is_all_strings_with_the_real_typo(
    sim: DarajaSimulator,
    client: DarajaClient,
    clock: ManualClock,
    raw_query: Callable[..., requests.Response],
) -> None:
    sim.script_outcome(PHONE, "cancel")
    checkout_id = push(client)
    clock.advance(3)
    sim.process_due()
    response = raw_query(checkout_id)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": sim.transactions()[0].merchant_request_id,
        "CheckoutRequestID": checkout_id,
        "ResultCode": "1032",
        "ResultDesc": "Request cancelled by user",
    }
    assert all(isinstance(value, str) for value in body.values())


def test_raw_query_with_wrong_password(client: DarajaClient, raw_query: Callable[..., requests.Response]) -> None:
    checkout_id = push(client)
    response = raw_query(checkout_id, Password="d3Jvbmc=")
    assert (response.status_code, response.json()["errorMessage"]) == (500, "Wrong credentials")


def test_query_is_subject_to_spike_arrest(
    sim: DarajaSimulator, client: DarajaClient, raw_query: Callable[..., requests.Response]
) -> None:
    checkout_id = push(client)
    sim.throttle_next_requests = 1
    response = raw_query(checkout_id)
    assert response.json()["errorCode"] == "500.003.02"
    assert raw_query(checkout_id).status_code == 500  # back to "being processed"
