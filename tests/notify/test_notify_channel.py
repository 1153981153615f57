"""The shared message type, the one exception, and recipient helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from portal.notify import (
    AfricasTalkingSms,
    Channel,
    DeliveryFailed,
    JsonWebhook,
    Outgoing,
    SmtpEmail,
    mask_email,
    mask_phone,
    to_msisdn,
)
from portal.notify.addresses import InvalidRecipient, check_email, scrub_phones


def test_outgoing_keeps_a_read_only_copy_of_data(message: Callable[..., Outgoing]) -> None:
    nested: dict[str, object] = {"receipt": "SC12AB34CD"}
    data: dict[str, object] = {"amount": 50, "payment": nested}
    outgoing = message("webhook", data=data)
    data["amount"] = 5000
    nested["receipt"] = "changed"
    assert outgoing.data == {"amount": 50, "payment": {"receipt": "SC12AB34CD"}}
    with pytest.raises(TypeError):
        outgoing.data["amount"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"channel": "fax"}, "channel"),
        ({"to": "  "}, "to"),
        ({"channel": "email", "to": ""}, "to"),
        ({"body": ""}, "body"),
        ({"body": "x" * 10_001}, "body"),
        ({"subject": "s" * 201}, "subject"),
        ({"reference": ""}, "reference"),
        ({"subject": None}, "subject"),
        ({"data": {"when": object()}}, "data"),
        ({"data": {1: "numeric key"}}, "data"),
        ({"data": {"rate": float("nan")}}, "data"),
        ({"data": {"text": "\ud800"}}, "data"),
        ({"body": "broken \udc80 text"}, "body"),
        ({"severity": " "}, "severity"),
    ],
)
def test_outgoing_refuses_nonsense(message: Callable[..., Outgoing], overrides: dict[str, Any], named: str) -> None:
    values = {"channel": "sms", **overrides}
    with pytest.raises(ValueError, match=named):
        message(**values)


def test_a_webhook_message_needs_no_recipient(message: Callable[..., Outgoing]) -> None:
    assert message("webhook").to == ""


def test_delivery_failed_says_what_and_whether_to_retry() -> None:
    err = DeliveryFailed("gateway down", retryable=True, code="http_503")
    assert (err.retryable, err.code, err.message) == (True, "http_503", "gateway down")
    assert str(err) == "gateway down (retryable, code=http_503)"
    assert str(DeliveryFailed("bad key", retryable=False)) == "bad key (permanent)"


def test_every_channel_satisfies_the_protocol() -> None:
    channels: list[Channel] = [
        AfricasTalkingSms("sandbox", "key", base_url="http://127.0.0.1:9"),
        SmtpEmail("127.0.0.1", 25, sender="alerts@venue.co.ke", security="none"),
        JsonWebhook("http://127.0.0.1:9/hook"),
    ]
    assert [c.name for c in channels] == ["sms", "email", "webhook"]
    for channel in channels:
        assert isinstance(channel, Channel)
        channel.close()


def test_a_channel_refuses_another_channels_message(message: Callable[..., Outgoing]) -> None:
    sms = AfricasTalkingSms("sandbox", "key", base_url="http://127.0.0.1:9")
    with pytest.raises(DeliveryFailed) as info:
        sms.send(message("email"))
    assert (info.value.retryable, info.value.code) == (False, "wrong_channel")


@pytest.mark.parametrize("raw", ["0712345678", "0712 345 678", "+254712345678", "254712345678", "712-345-678"])
def test_kenyan_numbers_normalise(raw: str) -> None:
    assert to_msisdn(raw) == "254712345678"


@pytest.mark.parametrize("raw", ["", "12345", "+255712345678", "0812345678", "07123456789"])
def test_other_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRecipient):
        to_msisdn(raw)


def test_masking_hides_the_middle() -> None:
    assert mask_phone("254712345678") == "2547****5678"
    assert mask_phone("123") == "****"
    assert mask_email("owner@venue.co.ke") == "o***@venue.co.ke"
    assert mask_email("nonsense") == "***"
    scrubbed = scrub_phones("No route to +254712345678 or 0712 345 678; cost KES 0.8000")
    assert "712345678" not in scrubbed.replace(" ", "")
    assert "KES 0.8000" in scrubbed


@pytest.mark.parametrize("raw", ["a@b", "two words@venue.co.ke", "<o@venue.co.ke>", "a@x.com, b@y.com", "x\n@y.com"])
def test_only_one_plain_mail_address_is_accepted(raw: str) -> None:
    with pytest.raises(InvalidRecipient):
        check_email(raw)
    assert check_email(" owner@venue.co.ke ") == "owner@venue.co.ke"
