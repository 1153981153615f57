"""Callbacks from the simulator to a local receiver: real shapes, timing, and the delivery
knobs (delay, drop, duplicate, retry, undeliverable, forged, replay)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from portal.clock import ManualClock, SystemClock
from portal.mpesa.callbacks import parse_stk_callback
from portal.mpesa.client import DarajaClient
from portal.mpesa.request_fields import DarajaCredentials
from portal.mpesa.simulator import DarajaSimulator
from portal.mpesa.simulator.callbacks import CallbackNotDelivered, KeptConnections, is_deliverable, post_json
from tests.mpesa.conftest import PHONE, push, read_request


def items_by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    return {item["Name"]: item for item in items}


def test_success_callback_has_the_real_shape(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    checkout_id = push(client, receiver.url)
    clock.advance(3)
    assert sim.process_due() == 2
    [received] = receiver.received
    assert received.path == "/hooks/stk/secret-token"
    assert received.headers["Content-Type"] == "application/json"
    assert not any("signature" in name.lower() for name in received.headers)
    assert b'"Value": 20.00}' in received.body  # float-looking, exactly as Daraja writes it

    body = received.json()
    stk = body["Body"]["stkCallback"]
    assert stk["CheckoutRequestID"] == checkout_id
    assert stk["ResultCode"] == 0 and type(stk["ResultCode"]) is int
    assert stk["ResultDesc"] == "The service request is processed successfully."
    items = items_by_name(body)
    assert "Value" not in items["Balance"]
    assert type(items["TransactionDate"]["Value"]) is int
    assert items["TransactionDate"]["Value"] == 20260301120003  # t=3 s, in EAT
    assert type(items["PhoneNumber"]["Value"]) is int
    assert items["PhoneNumber"]["Value"] == 254712345678
    receipt = items["MpesaReceiptNumber"]["Value"]
    assert re.fullmatch(r"UC1[A-Z0-9]{7}", receipt)  # 2026 -> U, March -> C, 1st -> 1
    assert json.loads(received.body, parse_float=Decimal)["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0][
        "Value"
    ] == Decimal("20.00")

    parsed = parse_stk_callback(received.body)
    assert parsed.succeeded and parsed.amount == 20 and parsed.receipt == receipt
    assert parsed.phone == PHONE and parsed.transaction_date == "20260301120003"
    assert sim.transactions()[0].receipt == receipt


@pytest.mark.parametrize(
    ("outcome", "code", "seconds"),
    [
        ("cancel", 1032, 3),
        ("timeout", 1037, 60),
        ("insufficient", 1, 3),
        ("wrong_pin", 2001, 3),
        ("expired", 1019, 60),
        ("push_failed", 1025, 0),
    ],
)
def test_failure_callbacks_carry_no_metadata(
    sim: DarajaSimulator,
    client: DarajaClient,
    clock: ManualClock,
    receiver: Any,
    outcome: str,
    code: int,
    seconds: int,
) -> None:
    sim.script_outcome("0712 345 678", outcome)
    checkout_id = push(client, receiver.url)
    if seconds:
        clock.advance(seconds - 0.5)
        assert sim.process_due() == 0 and receiver.received == []
        clock.advance(0.5)
    assert sim.process_due() == 2
    [received] = receiver.received
    stk = received.json()["Body"]["stkCallback"]
    assert stk["ResultCode"] == code and type(stk["ResultCode"]) is int
    assert "CallbackMetadata" not in stk
    assert stk["CheckoutRequestID"] == checkout_id
    parsed = parse_stk_callback(received.body)
    assert parsed.result_code == str(code) and parsed.amount is None


def test_string_result_code_callback(
    clock: ManualClock,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
    receiver: Any,
) -> None:
    with DarajaSimulator(clock=clock, shortcode="7123456", till_number="5123456") as till_sim:
        push(make_client(credentials_for(till_sim)), receiver.url)
        till_sim.process_due()
    stk = receiver.received[0].json()["Body"]["stkCallback"]
    assert stk["ResultCode"] == "SFC_IC0003"
    assert stk["ResultDesc"] == "The operator does not exist."


def test_callback_delay(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any) -> None:
    sim.callback_delay_seconds = 10
    push(client, receiver.url)
    clock.advance(3)
    assert sim.process_due() == 1  # the prompt ended, the callback is not due yet
    clock.advance(9.9)
    assert sim.process_due() == 0 and receiver.received == []
    clock.advance(0.1)
    assert sim.process_due() == 1
    assert len(receiver.received) == 1


def test_drop_next_callbacks(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any) -> None:
    sim.drop_next_callbacks = 1
    first = push(client, receiver.url, phone="254712345670")
    second = push(client, receiver.url, phone="254712345671")
    clock.advance(3)
    sim.process_due()
    assert sim.dropped_callbacks == [first]
    assert [r.json()["Body"]["stkCallback"]["CheckoutRequestID"] for r in receiver.received] == [second]


def test_duplicates_are_identical_and_can_come_later(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    sim.duplicate_callbacks = 2
    sim.duplicate_delay_seconds = 30
    push(client, receiver.url)
    clock.advance(3)
    sim.process_due()
    assert len(receiver.received) == 1
    clock.advance(30)
    sim.process_due()
    clock.advance(30)
    sim.process_due()
    bodies = [r.body for r in receiver.received]
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert [a.kind for a in sim.callback_attempts] == ["original", "duplicate", "duplicate"]


def test_no_retry_by_default_and_optional_retries(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    receiver.status = 500
    push(client, receiver.url, phone="254712345670")
    clock.advance(3)
    sim.process_due()
    clock.advance(600)
    sim.process_due()
    assert [a.status for a in sim.callback_attempts] == [500]

    sim.callback_retries = 2
    sim.callback_retry_delay_seconds = 10
    push(client, receiver.url, phone="254712345671")
    clock.advance(3)
    sim.process_due()
    receiver.status = 200
    clock.advance(10)
    sim.process_due()
    clock.advance(10)
    sim.process_due()
    attempts = sim.callback_attempts[1:]
    assert [(a.kind, a.status) for a in attempts] == [("original", 500), ("retry", 200)]
    assert attempts[1].delivered and not attempts[0].delivered


@pytest.mark.parametrize(
    "url",
    [
        "https://portal.invalid/hooks/stk/x",
        "http://example.com/hooks/stk/x",
        "http://10.5.50.1:8080/hooks/stk/x",
        "http://127.0.0.1.nip.io/x",
    ],
)
def test_non_loopback_callbacks_are_never_contacted(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, url: str
) -> None:
    push(client, url)
    clock.advance(3)
    sim.process_due()
    [attempt] = sim.callback_attempts
    assert attempt.status is None and not attempt.delivered
    assert attempt.error is not None and "never contacted" in attempt.error
    assert attempt.url == url


def test_forged_callback_reaches_the_receiver_byte_for_byte(sim: DarajaSimulator, receiver: Any) -> None:
    forged = b'{"Body":{"stkCallback":{"ResultCode":0,"CheckoutRequestID":"ws_CO_guess"}}}'
    attempt = sim.send_raw_callback(receiver.url, forged)
    assert attempt.delivered and attempt.kind == "forged"
    assert receiver.received[0].body == forged
    sim.send_raw_callback(receiver.url, {"hello": "world"})
    assert receiver.received[1].json() == {"hello": "world"}


def test_replay_sends_the_same_bytes_again(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    checkout_id = push(client, receiver.url)
    with pytest.raises(ValueError):
        sim.replay_callback(checkout_id)  # not finished yet
    clock.advance(3)
    sim.process_due()
    attempt = sim.replay_callback(checkout_id)
    assert attempt.kind == "replay" and attempt.delivered
    assert receiver.received[0].body == receiver.received[1].body
    with pytest.raises(KeyError):
        sim.replay_callback("ws_CO_unknown")


def test_attempts_record_status_latency_and_body(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    push(client, receiver.url)
    clock.advance(3)
    sim.process_due()
    [attempt] = sim.callback_attempts
    assert attempt.status == 200 and attempt.error is None
    assert 0 <= attempt.latency_seconds < 5
    assert attempt.body == receiver.received[0].body
    assert attempt.attempted_at == clock.now()
    assert attempt.json_body()["Body"]["stkCallback"]["ResultCode"] == 0


def test_unreachable_loopback_receiver_is_recorded_as_an_error(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, closed_port: int
) -> None:
    push(client, f"http://127.0.0.1:{closed_port}/cb")
    clock.advance(3)
    sim.process_due()
    [attempt] = sim.callback_attempts
    assert attempt.status is None and attempt.error == "ConnectionError"


def test_with_a_real_clock_the_ticker_delivers_on_its_own(
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
    receiver: Any,
    wait_until: Callable[..., bool],
) -> None:
    with DarajaSimulator(clock=SystemClock(), approve_after_seconds=0.0) as live:
        assert live.auto_process
        client = DarajaClient(credentials_for(live), clock=SystemClock(), timeout=5)
        checkout_id = push(client, receiver.url)
        assert wait_until(lambda: len(receiver.received) == 1)
        assert client.stk_query(checkout_id).status == "paid"
        client.close()


def test_callback_delivery_survives_a_receiver_that_answers_slowly(
    sim: DarajaSimulator,
    client: DarajaClient,
    clock: ManualClock,
    broken_daraja: Callable,
) -> None:
    stalled = broken_daraja("stall")
    sim.callback_timeout_seconds = 0.2
    push(client, stalled.base_url + "/cb")
    clock.advance(3)
    assert sim.process_due() == 2
    [attempt] = sim.callback_attempts
    assert attempt.status is None and attempt.error == "ReadTimeout"


@pytest.mark.parametrize(
    ("url", "deliverable"),
    [
        ("http://127.0.0.1:8080/hooks/stk/x", True),
        ("https://127.0.0.1/hooks", True),
        ("http://127.9.9.9:1/x", True),
        ("http://localhost:8080/x", True),
        ("http://[::1]:8080/x", True),
        ("ftp://127.0.0.1/x", False),
        ("https://portal.invalid/x", False),
        ("http://localhost.invalid/x", False),
        ("http://example.com/x", False),
        ("http://10.5.50.1:8080/x", False),
        ("http://127.0.0.1:notaport/x", False),
        ("http://[::1/x", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_only_loopback_urls_are_deliverable(url: str, deliverable: bool) -> None:
    assert is_deliverable(url) is deliverable


def test_forged_callback_to_a_non_loopback_host_is_not_sent(sim: DarajaSimulator) -> None:
    attempt = sim.send_raw_callback("ftp://127.0.0.1/x", b"{}")
    assert attempt.status is None and "never contacted" in (attempt.error or "")


def _push_three_and_deliver(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any) -> list[int]:
    for n in range(3):
        push(client, receiver.url, phone=f"25470000000{n}")
    clock.advance(3)
    sim.process_due()
    assert [attempt.status for attempt in sim.callback_attempts] == [200, 200, 200]
    return [callback.peer_port for callback in receiver.received]


def test_each_callback_comes_on_a_connection_of_its_own_by_default(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    assert len(set(_push_three_and_deliver(sim, client, clock, receiver))) == 3


def test_kept_alive_callbacks_come_on_one_connection(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock, receiver: Any
) -> None:
    sim.callback_keep_alive = True
    assert len(set(_push_three_and_deliver(sim, client, clock, receiver))) == 1


class _OneAnswerAConnection:
    """Answers the first request of each connection with a keep-alive 200; then closes the
    connection (as a receiver does with an idle one) or, with ``stall``, holds it without
    answering again. Counts connections and requests."""

    def __init__(self, *, stall: bool = False) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stall = stall
        self._held: list[socket.socket] = []
        self.connections = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/cb"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if read_request(conn):
                self.requests += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            if self._stall:
                self._held.append(conn)
            else:
                conn.close()

    def close(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


def test_a_kept_connection_the_receiver_closed_is_replaced_and_the_callback_sent_once() -> None:
    receiver = _OneAnswerAConnection()
    kept = KeptConnections()
    try:
        assert post_json(receiver.url, b"{}", 5.0, kept) == 200
        assert post_json(receiver.url, b"{}", 5.0, kept) == 200  # the kept one was closed: a new one
        assert (receiver.connections, receiver.requests) == (2, 2)
    finally:
        kept.close()
        receiver.close()


def test_a_kept_connection_waits_by_this_callbacks_timeout() -> None:
    receiver = _OneAnswerAConnection(stall=True)
    kept = KeptConnections()
    try:
        assert post_json(receiver.url, b"{}", 30.0, kept) == 200
        started = time.monotonic()
        with pytest.raises(CallbackNotDelivered) as failed:
            post_json(receiver.url, b"{}", 0.2, kept)  # on the kept connection, opened with 30 s
        assert failed.value.kind == "ReadTimeout" and time.monotonic() - started < 5
        assert receiver.connections == 1
    finally:
        kept.close()
        receiver.close()
