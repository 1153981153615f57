"""JsonWebhook against the webhook receiver over real loopback HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
import requests

from portal.clock import ManualClock
from portal.notify import DeliveryFailed, JsonWebhook, Outgoing, sign, verify_signature
from portal.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from portal.notify.webhook_simulator import WebhookReceiver
from tests.notify.conftest import failure

SECRET = "s3cret-for-the-owner-endpoint"


def alert(message: Callable[..., Outgoing], **overrides: object) -> Outgoing:
    values: dict[str, object] = {
        "subject": "M-Pesa success rate 80% (under 95%)",
        "body": "12 of the last 60 pushes failed. Karibu — check Daraja.",
        "event": "payment_success_rate_low",
        "severity": "critical",
        "reference": "alert-7",
        "data": {"rate": 0.8, "threshold": 0.95, "window": 60},
    }
    values.update(overrides)
    return message("webhook", **values)


def test_a_signed_json_alert_arrives_and_verifies(
    receiver: WebhookReceiver, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    channel = JsonWebhook(receiver.url, secret=SECRET, clock=clock)
    delivery = channel.send(alert(message))
    assert (delivery.channel, delivery.status) == ("webhook", "HTTP 200")
    [got] = receiver.received()
    assert got.json == {
        "event": "payment_success_rate_low",
        "severity": "critical",
        "title": "M-Pesa success rate 80% (under 95%)",
        "text": "12 of the last 60 pushes failed. Karibu — check Daraja.",
        "data": {"rate": 0.8, "threshold": 0.95, "window": 60},
        "reference": "alert-7",
    }
    assert got.signature_valid is True
    assert got.signature == sign(SECRET, got.body)
    assert got.timestamp == str(int(clock.now().timestamp()))
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert got.path == "/hooks/pay2connect" and got.at == clock.now()


def test_a_tampered_body_does_not_verify(
    receiver: WebhookReceiver, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    JsonWebhook(receiver.url, secret=SECRET, clock=clock).send(alert(message))
    [got] = receiver.received()
    tampered = got.body.replace(b'"critical"', b'"info"')
    assert tampered != got.body
    assert verify_signature(SECRET, got.body, got.signature)
    assert not verify_signature(SECRET, tampered, got.signature)
    assert not verify_signature("another-secret-of-16", got.body, got.signature)
    assert not verify_signature(SECRET, got.body, None)
    # The receiver refuses the tampered copy, as an owner's endpoint should.
    headers = {SIGNATURE_HEADER: got.signature or "", TIMESTAMP_HEADER: got.timestamp or ""}
    answer = requests.post(receiver.url, data=tampered, headers=headers, timeout=5)
    assert answer.status_code == 401
    assert receiver.received()[-1].signature_valid is False


def test_a_wrong_secret_is_refused_and_permanent(receiver: WebhookReceiver, message: Callable[..., Outgoing]) -> None:
    err = failure(JsonWebhook(receiver.url, secret="not-the-right-secret"), alert(message))
    assert (err.retryable, err.code) == (False, "http_401")


def test_without_a_secret_nothing_is_signed(clock: ManualClock, message: Callable[..., Outgoing]) -> None:
    with WebhookReceiver(clock=clock) as open_receiver:
        JsonWebhook(open_receiver.url).send(alert(message))
        [got] = open_receiver.received()
    assert got.signature is None and got.timestamp is None and got.signature_valid is None


def test_slack_style_sends_only_text(receiver: WebhookReceiver, message: Callable[..., Outgoing]) -> None:
    JsonWebhook(receiver.url, secret=SECRET, style="slack").send(alert(message))
    [got] = receiver.received()
    assert got.json == {
        "text": "M-Pesa success rate 80% (under 95%)\n12 of the last 60 pushes failed. Karibu — check Daraja."
    }
    assert json.loads(got.body.decode("utf-8")) == got.json  # UTF-8, not \\u escapes only


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (403, False),
        (404, False),
        (410, False),
        (302, False),
    ],
)
def test_status_classes(
    receiver: WebhookReceiver, message: Callable[..., Outgoing], status: int, retryable: bool
) -> None:
    receiver.fail_with_status = status
    err = failure(JsonWebhook(receiver.url, secret=SECRET), alert(message))
    assert (err.retryable, err.code) == (retryable, f"http_{status}")


def test_a_receiver_back_from_an_outage_gets_the_retry(
    receiver: WebhookReceiver, message: Callable[..., Outgoing]
) -> None:
    channel = JsonWebhook(receiver.url, secret=SECRET)
    receiver.fail_next = 2
    codes = []
    for _ in range(3):
        try:
            codes.append(channel.send(alert(message)).status)
        except DeliveryFailed as err:
            codes.append(err.code or "")
    assert codes == ["http_503", "http_503", "HTTP 200"]
    assert [r.answered for r in receiver.received()] == [503, 503, 200]


def test_connection_refused_and_timeout_are_retryable(
    closed_port: int, silent_port: int, message: Callable[..., Outgoing]
) -> None:
    refused = failure(JsonWebhook(f"http://127.0.0.1:{closed_port}/h"), alert(message))
    assert (refused.retryable, refused.code) == (True, "connection")
    slow = failure(JsonWebhook(f"http://127.0.0.1:{silent_port}/h", timeout=0.3), alert(message))
    assert (slow.retryable, slow.code) == (True, "timeout")


def test_the_url_token_never_reaches_the_logs(
    receiver: WebhookReceiver,
    message: Callable[..., Outgoing],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = receiver.base_url + "/services/T000/B000/tok3nInThePath?key=tok3nInTheQuery"
    channel = JsonWebhook(url, secret=SECRET)
    channel.send(alert(message))
    receiver.fail_with_status = 500
    failure(channel, alert(message))
    assert "tok3n" not in repr(channel)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("portal.notify.webhook")]
    assert len(ours) == 2
    assert all("tok3n" not in text for text in ours)


@pytest.mark.parametrize(
    ("url", "overrides", "named"),
    [
        ("", {}, "url"),
        ("hooks.slack.com/services/x", {}, "url"),
        ("ftp://example.com/hook", {}, "url"),
        ("https://example.com:0/hook", {}, "url"),
        ("https://example.com:70000/hook", {}, "url"),
        ("https://example.com/hook#frag", {}, "url"),
        ("https://example.com/hook", {"secret": "short"}, "secret"),
        ("https://example.com/hook", {"style": "teams"}, "style"),
        ("https://example.com/hook", {"timeout": 0}, "timeout"),
    ],
)
def test_constructor_refuses_nonsense(url: str, overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        JsonWebhook(url, **overrides)  # type: ignore[arg-type]
