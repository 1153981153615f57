"""What every outbound channel shares: the message, the far side's answer, one exception.

A channel (SMS, email, webhook) turns an :class:`Outgoing` into a :class:`Delivery` or raises
:class:`DeliveryFailed`. Nothing from ``requests``, ``smtplib``, ``ssl`` or ``socket`` escapes a
channel module: the delivery queue above only needs ``retryable`` (try again later, or give
up and show the owner) and ``code`` (a short, stable reason for logs and the admin page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

ChannelName = Literal["sms", "email", "webhook"]
CHANNEL_NAMES: frozenset[str] = frozenset({"sms", "email", "webhook"})

MAX_SUBJECT = 200
MAX_BODY = 10_000
MAX_REFERENCE = 100


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """One message to send. ``to`` is a phone (sms), an address (email), or unused (webhook:
    the URL is the channel's). ``reference`` is our own id, shown in logs instead of the text.
    ``event`` and ``severity`` label alerts for webhooks ("payment_rate_low", "critical")."""

    channel: ChannelName
    to: str
    subject: str
    body: str
    reference: str
    data: Mapping[str, object] = field(default_factory=dict)
    event: str = "message"
    severity: str = "info"

    def __post_init__(self) -> None:
        if self.channel not in CHANNEL_NAMES:
            raise ValueError(f"channel must be one of {sorted(CHANNEL_NAMES)}")
        for name in ("to", "subject", "body", "reference", "event", "severity"):
            value = getattr(self, name)
            if not isinstance(value, str) or "\x00" in value or not _encodable(value):
                raise ValueError(f"{name} must be text")
        if self.channel != "webhook" and not self.to.strip():
            raise ValueError(f"to is required for the {self.channel} channel")
        if not self.body.strip():
            raise ValueError("body is empty")
        if len(self.body) > MAX_BODY:
            raise ValueError(f"body is longer than {MAX_BODY} characters")
        if len(self.subject) > MAX_SUBJECT:
            raise ValueError(f"subject is longer than {MAX_SUBJECT} characters")
        if not self.reference.strip() or len(self.reference) > MAX_REFERENCE:
            raise ValueError(f"reference must be 1 to {MAX_REFERENCE} characters")
        if not self.event.strip() or not self.severity.strip():
            raise ValueError("event and severity must not be empty")
        if not isinstance(self.data, Mapping) or not all(isinstance(k, str) for k in self.data):
            raise ValueError("data must be a mapping with text keys")
        try:
            text = json.dumps(dict(self.data), ensure_ascii=False, allow_nan=False)
            text.encode("utf-8")
        except (TypeError, ValueError, RecursionError) as err:
            raise ValueError(f"data must be JSON-serialisable: {err}") from None
        # A deep, read-only copy, exactly what a webhook will send: the message may sit in a
        # queue while the caller's dict changes.
        object.__setattr__(self, "data", MappingProxyType(json.loads(text)))


@dataclass(frozen=True)
class Delivery:
    """What the far side said when it accepted the message."""

    channel: ChannelName
    provider_id: str | None
    status: str
    detail: str = ""


class DeliveryFailed(Exception):
    """The message was not accepted. ``retryable``: the same message may succeed later
    (gateway down, timeout, 4xx SMTP reply); otherwise sending it again will fail the same
    way (bad key, invalid number, blacklisted, refused mailbox). ``code`` is a short reason:
    a provider status such as ``"405"``/``"InsufficientBalance"``, ``"http_503"``,
    ``"timeout"``, ``"smtp_550"``... Messages never contain a full phone number or secret."""

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code

    def __str__(self) -> str:
        kind = "retryable" if self.retryable else "permanent"
        return f"{self.message} ({kind}{', code=' + self.code if self.code else ''})"


@runtime_checkable
class Channel(Protocol):
    """An outbound channel. ``send`` blocks until the far side answered (each implementation
    has a timeout) and is safe to call from several threads."""

    name: str

    def send(self, message: Outgoing) -> Delivery:
        """Deliver ``message`` or raise :class:`DeliveryFailed`."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


def _encodable(text: str) -> bool:
    """False for lone surrogates, which no channel can encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_channel(message: Outgoing, expected: ChannelName) -> None:
    """Refuse a message addressed to another channel (a wiring mistake, never retryable)."""
    if message.channel != expected:
        raise DeliveryFailed(
            f"{expected} channel was given a {message.channel} message ({message.reference})",
            retryable=False,
            code="wrong_channel",
        )
