"""SMS through Africa's Talking's messaging API, over plain HTTP with ``requests``.

``POST {base}/version1/messaging`` with header ``apiKey`` and ``Accept: application/json``, a
form body ``username``, ``to`` (``+2547...``), ``message`` and optionally ``from`` (an approved
sender ID). The answer is ``{"SMSMessageData": {"Message": ..., "Recipients": [{"statusCode",
"status", "messageId", "number", "cost"}]}}``, HTTP 201 when accepted. The official SDK is not
used: it hard-codes its hosts (no simulator, no injected session), raises one generic
exception for everything and adds the ``schema`` package; the API is one form POST.

We send to one number per call, so each message has its own status and its own retry.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import requests

from portal.notify._checks import check_text, check_timeout, check_url
from portal.notify.addresses import (
    InvalidRecipient,
    mask_phone,
    scrub_phones,
    to_msisdn,
)
from portal.notify.channel import Delivery, DeliveryFailed, Outgoing, check_channel
from portal.outbound import outbound_session

log = logging.getLogger(__name__)

LIVE_BASE_URL = "https://api.africastalking.com"
SANDBOX_BASE_URL = "https://api.sandbox.africastalking.com"
MESSAGING_PATH = "/version1/messaging"

#: Recipient statusCode values (Africa's Talking SMS API documentation).
SUCCESS_STATUSES: dict[int, str] = {100: "Processed", 101: "Sent", 102: "Queued"}
PERMANENT_STATUSES: dict[int, str] = {
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
}
RETRYABLE_STATUSES: dict[int, str] = {
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
STATUS_NAMES: dict[int, str] = {**SUCCESS_STATUSES, **PERMANENT_STATUSES, **RETRYABLE_STATUSES}
_CODES_BY_NAME = {name: code for code, name in STATUS_NAMES.items()}

_SENDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,10}\Z")


def default_base_url(username: str) -> str:
    """Africa's Talking's own rule: the account called ``sandbox`` talks to the sandbox."""
    return SANDBOX_BASE_URL if username == "sandbox" else LIVE_BASE_URL


class AfricasTalkingSms:
    """The ``sms`` channel. Thread-safe: ``requests.Session`` pools connections."""

    name = "sms"

    def __init__(
        self,
        username: str,
        api_key: str,
        *,
        sender_id: str | None = None,
        base_url: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.username = check_text(username, "username")
        self._api_key = check_text(api_key, "api_key")
        if sender_id is not None and (not isinstance(sender_id, str) or not _SENDER_ID.match(sender_id)):
            raise ValueError("sender_id must be 1 to 11 letters, digits, spaces or ._-")
        self.sender_id = sender_id
        self.base_url = check_url(base_url, "base_url", allow_query=False).rstrip("/")
        self.url = self.base_url + MESSAGING_PATH
        self.timeout = check_timeout(timeout)
        self._owns_session = session is None
        self._session = session or outbound_session(self.url)

    def __repr__(self) -> str:
        return f"AfricasTalkingSms(username={self.username!r}, base_url={self.base_url!r})"

    def send(self, message: Outgoing) -> Delivery:
        check_channel(message, "sms")
        try:
            msisdn = to_msisdn(message.to)
        except InvalidRecipient:
            raise DeliveryFailed(
                f"SMS {message.reference}: recipient is not a Kenyan mobile number",
                retryable=False,
                code="InvalidPhoneNumber",
            ) from None
        masked = mask_phone(msisdn)
        form = {"username": self.username, "to": "+" + msisdn, "message": message.body}
        if self.sender_id:
            form["from"] = self.sender_id
        try:
            delivery = self._post(form, msisdn)
        except DeliveryFailed as err:
            log.warning("SMS %s to %s failed: %s", message.reference, masked, err)
            raise
        log.info(
            "SMS %s to %s accepted: %s, id %s",
            message.reference,
            masked,
            delivery.status,
            delivery.provider_id,
        )
        return delivery

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def _post(self, form: dict[str, str], msisdn: str) -> Delivery:
        headers = {"apiKey": self._api_key, "Accept": "application/json"}
        try:
            response = self._session.post(
                self.url, data=form, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise DeliveryFailed("no answer from Africa's Talking in time", retryable=True, code="timeout") from None
        except requests.RequestException as err:
            raise DeliveryFailed(
                f"could not reach Africa's Talking ({type(err).__name__})",
                retryable=True,
                code="connection",
            ) from None
        return _read_answer(response, msisdn)


def _read_answer(response: requests.Response, msisdn: str) -> Delivery:
    status = response.status_code
    if status in (401, 403):
        raise DeliveryFailed(
            f"Africa's Talking refused the username or API key (HTTP {status})",
            retryable=False,
            code=f"http_{status}",
        )
    data = _sms_message_data(response)
    if data is not None:  # the per-recipient answer counts, whatever the HTTP status
        return _recipient_outcome(data, msisdn)
    if status >= 500 or status == 429:
        raise DeliveryFailed(f"Africa's Talking answered HTTP {status}", retryable=True, code=f"http_{status}")
    if 200 <= status < 300:
        raise DeliveryFailed(
            f"Africa's Talking answered HTTP {status} without the expected JSON",
            retryable=True,
            code="bad_answer",
        )
    snippet = scrub_phones(response.text[:200].strip())
    raise DeliveryFailed(
        f"Africa's Talking refused the request: HTTP {status} {snippet}".rstrip(),
        retryable=False,
        code=f"http_{status}",
    )


def _sms_message_data(response: requests.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    data = body.get("SMSMessageData") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else None


def _recipient_outcome(data: dict[str, Any], msisdn: str) -> Delivery:
    recipients = data.get("Recipients")
    entries = [r for r in recipients if isinstance(r, dict)] if isinstance(recipients, list) else []
    ours = [r for r in entries if str(r.get("number", "")).lstrip("+") == msisdn] or entries
    if not ours:
        # e.g. {"Message": "InvalidSenderId", "Recipients": []}
        summary = str(data.get("Message") or "").strip()
        name = summary.split(" ", 1)[0] if summary else ""
        code = _CODES_BY_NAME.get(name)
        raise DeliveryFailed(
            f"Africa's Talking accepted no recipient: {scrub_phones(summary[:120])}",
            retryable=code in RETRYABLE_STATUSES,
            code=name if code is not None else "no_recipient",
        )
    entry = ours[0]
    code_value = _status_code(entry.get("statusCode"))
    status_text = str(entry.get("status") or STATUS_NAMES.get(code_value or 0, "unknown"))
    if code_value in SUCCESS_STATUSES:
        message_id = entry.get("messageId")
        provider_id = str(message_id) if message_id not in (None, "", "None") else None
        return Delivery("sms", provider_id, status_text, detail=str(entry.get("cost") or ""))
    name = STATUS_NAMES.get(code_value or 0, status_text)
    retryable = code_value in RETRYABLE_STATUSES or (
        code_value is not None and code_value >= 500 and code_value not in STATUS_NAMES
    )
    raise DeliveryFailed(
        f"Africa's Talking did not send it: {code_value} {status_text}",
        retryable=retryable,
        code=name,
    )


def _status_code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None
