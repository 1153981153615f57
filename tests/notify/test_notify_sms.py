"""AfricasTalkingSms against the gateway simulator over real loopback HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from portal.clock import ManualClock
from portal.notify import AfricasTalkingSms, DeliveryFailed, Outgoing
from portal.notify.sms import (
    LIVE_BASE_URL,
    PERMANENT_STATUSES,
    RETRYABLE_STATUSES,
    SANDBOX_BASE_URL,
    default_base_url,
)
from portal.notify.sms_simulator import SmsGatewaySimulator
from tests.notify.conftest import failure

PHONE = "254712345678"

MakeSms = Callable[..., AfricasTalkingSms]


@pytest.fixture
def make_sms(sms_gateway: SmsGatewaySimulator) -> Iterator[MakeSms]:
    made: list[AfricasTalkingSms] = []

    def build(**overrides: object) -> AfricasTalkingSms:
        values: dict[str, object] = {
            "username": sms_gateway.username,
            "api_key": sms_gateway.api_key,
            "base_url": sms_gateway.base_url,
            "sender_id": "VENUE",
            "timeout": 5.0,
        }
        values.update(overrides)
        channel = AfricasTalkingSms(**values)  # type: ignore[arg-type]
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


def test_an_sms_is_sent_and_recorded(
    sms_gateway: SmsGatewaySimulator,
    make_sms: MakeSms,
    message: Callable[..., Outgoing],
    clock: ManualClock,
) -> None:
    delivery = make_sms().send(message("sms", to="0712 345 678"))
    assert delivery.channel == "sms"
    assert delivery.status == "Success"
    assert delivery.provider_id is not None and delivery.provider_id.startswith("ATXid_")
    assert delivery.detail == "KES 0.8000"
    [sent] = sms_gateway.messages()
    assert sent.number == "+" + PHONE
    assert sent.sender_id == "VENUE"
    assert sent.message == message("sms").body
    assert sent.message_id == delivery.provider_id
    assert sent.at == clock.now()


def test_without_a_sender_id_no_from_field_is_sent(
    sms_gateway: SmsGatewaySimulator, make_sms: MakeSms, message: Callable[..., Outgoing]
) -> None:
    make_sms(sender_id=None).send(message("sms"))
    assert sms_gateway.messages()[0].sender_id is None


@pytest.mark.parametrize("status_code", [100, 101, 102])
def test_processed_sent_and_queued_are_success(
    sms_gateway: SmsGatewaySimulator,
    make_sms: MakeSms,
    message: Callable[..., Outgoing],
    status_code: int,
) -> None:
    sms_gateway.set_number_status(PHONE, status_code)
    assert make_sms().send(message("sms")).provider_id


@pytest.mark.parametrize("status_code", sorted(PERMANENT_STATUSES))
def test_a_refused_recipient_is_permanent(
    sms_gateway: SmsGatewaySimulator,
    make_sms: MakeSms,
    message: Callable[..., Outgoing],
    status_code: int,
) -> None:
    sms_gateway.set_number_status(PHONE, status_code)
    err = failure(make_sms(), message("sms"))
    assert err.retryable is False
    assert err.code == PERMANENT_STATUSES[status_code]
    assert sms_gateway.messages() == []


@pytest.mark.parametrize("status_code", sorted(RETRYABLE_STATUSES))
def test_a_gateway_side_recipient_failure_is_retryable(
    sms_gateway: SmsGatewaySimulator,
    make_sms: MakeSms,
    message: Callable[..., Outgoing],
    status_code: int,
) -> None:
    sms_gateway.set_number_status("+" + PHONE, status_code)
    err = failure(make_sms(), message("sms"))
    assert (err.retryable, err.code) == (True, RETRYABLE_STATUSES[status_code])
    sms_gateway.set_number_status(PHONE, None)
    assert make_sms().send(message("sms")).status == "Success"


def test_an_unapproved_sender_id_is_permanent(
    sms_gateway: SmsGatewaySimulator, make_sms: MakeSms, message: Callable[..., Outgoing]
) -> None:
    sms_gateway.allowed_sender_ids = frozenset({"VENUE"})
    err = failure(make_sms(sender_id="OTHERNAME"), message("sms"))
    assert (err.retryable, err.code) == (False, "InvalidSenderId")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_is_retryable_until_the_gateway_recovers(
    sms_gateway: SmsGatewaySimulator,
    make_sms: MakeSms,
    message: Callable[..., Outgoing],
    status: int,
) -> None:
    sms = make_sms()
    sms_gateway.fail_with_status = status
    for _ in range(3):
        err = failure(sms, message("sms"))
        assert (err.retryable, err.code) == (True, f"http_{status}")
    sms_gateway.fail_with_status = None
    assert sms.send(message("sms")).status == "Success"
    assert sms_gateway.requests_seen == 4
    assert len(sms_gateway.messages()) == 1


def test_fail_next_fails_exactly_n_requests(
    sms_gateway: SmsGatewaySimulator, make_sms: MakeSms, message: Callable[..., Outgoing]
) -> None:
    sms = make_sms()
    sms_gateway.fail_next = 2
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(sms.send(message("sms")).status)
        except DeliveryFailed as err:
            outcomes.append(err.code or "")
    assert outcomes == ["http_500", "http_500", "Success"]


def test_a_2xx_page_that_is_not_the_api_answer_is_retryable(
    sms_gateway: SmsGatewaySimulator, make_sms: MakeSms, message: Callable[..., Outgoing]
) -> None:
    sms_gateway.fail_with_status = 200  # an HTML page with 200, as a captive proxy sends
    err = failure(make_sms(), message("sms"))
    assert (err.retryable, err.code) == (True, "bad_answer")


def test_a_wrong_api_key_is_permanent(make_sms: MakeSms, message: Callable[..., Outgoing]) -> None:
    err = failure(make_sms(api_key="not-the-key"), message("sms"))
    assert (err.retryable, err.code) == (False, "http_401")


def test_a_wrong_username_is_permanent(make_sms: MakeSms, message: Callable[..., Outgoing]) -> None:
    err = failure(make_sms(username="someone-else"), message("sms"))
    assert (err.retryable, err.code) == (False, "http_401")


def test_a_number_that_is_not_kenyan_is_refused_before_any_request(
    sms_gateway: SmsGatewaySimulator, make_sms: MakeSms, message: Callable[..., Outgoing]
) -> None:
    err = failure(make_sms(), message("sms", to="+44 7700 900123"))
    assert (err.retryable, err.code) == (False, "InvalidPhoneNumber")
    assert sms_gateway.requests_seen == 0


def test_connection_refused_is_retryable(closed_port: int, message: Callable[..., Outgoing]) -> None:
    sms = AfricasTalkingSms("sandbox", "k", base_url=f"http://127.0.0.1:{closed_port}")
    err = failure(sms, message("sms"))
    assert (err.retryable, err.code) == (True, "connection")


def test_no_answer_in_time_is_retryable(silent_port: int, message: Callable[..., Outgoing]) -> None:
    sms = AfricasTalkingSms("sandbox", "k", base_url=f"http://127.0.0.1:{silent_port}", timeout=0.3)
    err = failure(sms, message("sms"))
    assert (err.retryable, err.code) == (True, "timeout")


def test_no_full_phone_number_in_any_log_record(
    sms_gateway: SmsGatewaySimulator,
    make_sms: MakeSms,
    message: Callable[..., Outgoing],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sms = make_sms()
    sms.send(message("sms", to="0712345678"))
    sms_gateway.set_number_status(PHONE, 406)
    failure(sms, message("sms"))
    sms_gateway.fail_with_status = 503
    failure(sms, message("sms"))
    failure(sms, message("sms", to="+255712345678"))
    texts = [record.getMessage() for record in caplog.records]
    assert any("2547****5678" in text for text in texts)
    for text in texts:
        assert "712345678" not in text, text
        assert "test-at-key" not in text, text


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"api_key": ""}, "api_key"),
        ({"api_key": "   "}, "api_key"),
        ({"username": ""}, "username"),
        ({"base_url": "api.africastalking.com"}, "base_url"),
        ({"base_url": "ftp://api.africastalking.com"}, "base_url"),
        ({"base_url": "https://api.africastalking.com:99999"}, "base_url"),
        ({"base_url": "https://api.africastalking.com?x=1"}, "base_url"),
        ({"sender_id": "A sender id that is far too long"}, "sender_id"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
    ],
)
def test_constructor_refuses_nonsense(overrides: dict[str, object], named: str) -> None:
    values: dict[str, object] = {
        "username": "sandbox",
        "api_key": "key",
        "base_url": SANDBOX_BASE_URL,
    }
    values.update(overrides)
    with pytest.raises(ValueError, match=named):
        AfricasTalkingSms(**values)  # type: ignore[arg-type]


def test_the_api_key_is_not_in_the_repr() -> None:
    sms = AfricasTalkingSms("venue", "very-secret-key", base_url=LIVE_BASE_URL + "/")
    assert "very-secret-key" not in repr(sms)
    assert sms.url == "https://api.africastalking.com/version1/messaging"


def test_the_sandbox_account_talks_to_the_sandbox_host() -> None:
    assert default_base_url("sandbox") == "https://api.sandbox.africastalking.com"
    assert default_base_url("venue-ltd") == "https://api.africastalking.com"
