"""A JSON webhook: one POST per message, to the owner's own endpoint or a chat bridge.

``style="json"`` sends ``{"event", "severity", "title", "text", "data", "reference"}``;
``style="slack"`` sends ``{"text": ...}``, which Slack incoming webhooks and most chat bridges
(Mattermost, Rocket.Chat, Discord's ``/slack`` URL, Telegram relays) accept.

With a secret, ``X-Pay2connect-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``
and ``X-Pay2connect-Timestamp: <unix seconds>`` are added; a receiver checks the signature
with :func:`verify_signature` over the raw body before parsing it.

Webhook URLs often embed a token (Slack's do), so only the scheme and host are ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

from portal.clock import Clock, SystemClock
from portal.notify._checks import check_timeout, check_url
from portal.notify.channel import Delivery, DeliveryFailed, Outgoing, check_channel
from portal.outbound import outbound_session

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Pay2connect-Signature"
TIMESTAMP_HEADER = "X-Pay2connect-Timestamp"
STYLES = frozenset({"json", "slack"})
WebhookStyle = Literal["json", "slack"]
#: Statuses worth sending again: the receiver is overloaded, slow or restarting.
_RETRYABLE_4XX = frozenset({408, 425, 429})


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the value of the signature header for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of these exact bytes (constant-time compare)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def build_payload(message: Outgoing, style: WebhookStyle) -> dict[str, Any]:
    if style == "slack":
        text = f"{message.subject}\n{message.body}" if message.subject else message.body
        return {"text": text}
    return {
        "event": message.event,
        "severity": message.severity,
        "title": message.subject,
        "text": message.body,
        "data": dict(message.data),
        "reference": message.reference,
    }


class JsonWebhook:
    """The ``webhook`` channel. Thread-safe."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        style: WebhookStyle = "json",
        timeout: float = 5.0,
        session: requests.Session | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.url = check_url(url, "url", allow_query=True)
        if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
            raise ValueError("secret must be at least 16 characters (or None)")
        if style not in STYLES:
            raise ValueError(f"style must be one of {sorted(STYLES)}")
        self._secret = secret
        self.style: WebhookStyle = style
        self.timeout = check_timeout(timeout)
        self._clock: Clock = clock or SystemClock()
        self._owns_session = session is None
        self._session = session or outbound_session(self.url)
        parts = urlsplit(self.url)
        self.where = f"{parts.scheme}://{parts.netloc}"  # safe to log: no path, no token

    def __repr__(self) -> str:
        return f"JsonWebhook(where={self.where!r}, style={self.style!r})"

    def send(self, message: Outgoing) -> Delivery:
        check_channel(message, "webhook")
        body = json.dumps(build_payload(message, self.style), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
            headers[TIMESTAMP_HEADER] = str(int(self._clock.now().timestamp()))
        try:
            delivery = self._post(body, headers)
        except DeliveryFailed as err:
            log.warning("Webhook %s to %s failed: %s", message.reference, self.where, err)
            raise
        log.info("Webhook %s to %s: %s", message.reference, self.where, delivery.status)
        return delivery

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def _post(self, body: bytes, headers: dict[str, str]) -> Delivery:
        try:
            response = self._session.post(
                self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise DeliveryFailed("no answer from the webhook in time", retryable=True, code="timeout") from None
        except requests.RequestException as err:
            raise DeliveryFailed(
                f"could not reach the webhook ({type(err).__name__})",
                retryable=True,
                code="connection",
            ) from None
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            request_id = response.headers.get("X-Request-Id")
            return Delivery("webhook", request_id or None, f"HTTP {status}")
        retryable = status >= 500 or status in _RETRYABLE_4XX
        reason = "redirected (not followed)" if 300 <= status < 400 else "refused"
        raise DeliveryFailed(
            f"webhook answered HTTP {status}: {reason}" if not retryable else f"webhook answered HTTP {status}",
            retryable=retryable,
            code=f"http_{status}",
        )
