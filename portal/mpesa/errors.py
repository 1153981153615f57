"""Our M-Pesa exceptions. Nothing from requests, urllib3 or socket leaks above `portal/mpesa/`.

Every Daraja error envelope (``{"requestId", "errorCode", "errorMessage"}``) and every transport
failure becomes exactly one of these classes. Callers branch on the class (or ``retryable``);
customers read the words for ``key`` (:mod:`portal.web.messages`); logs and admin pages
show ``key``, ``error_code``, ``message`` and ``request_id``.
"""

from __future__ import annotations

from typing import Any


class DarajaError(Exception):
    """Base class for every failure talking to Daraja."""

    key = "mpesa_error"
    default_retryable = False
    #: Seconds a caller should wait before trying again, when Daraja's rules say so.
    retry_after_seconds: int | None = None

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.request_id = request_id
        self.http_status = http_status
        self.retryable = self.default_retryable if retryable is None else retryable

    def __str__(self) -> str:
        parts = [self.message]
        if self.error_code:
            parts.append(f"errorCode={self.error_code}")
        if self.request_id:
            parts.append(f"requestId={self.request_id}")
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        return " ".join(parts)


class DarajaAuthError(DarajaError):
    """OAuth refused us (wrong key/secret, bad grant) or a fresh token was still rejected."""

    key = "mpesa_auth_failed"


class DarajaRequestInvalid(DarajaError):
    """Daraja rejected the request itself (400.002.02 "Invalid <Field>", 404.001.01, 405.001).

    Sending the same request again gives the same answer: never retry as-is.
    """

    key = "mpesa_request_invalid"


class DarajaMerchantError(DarajaError):
    """500.001.1001 "Merchant does not exist" or "Wrong credentials": the operator must fix
    the shortcode, passkey or environment in the config."""

    key = "mpesa_merchant_config"


class DarajaSubscriberBusy(DarajaError):
    """500.001.1001 "Unable to lock subscriber": the phone already has a prompt in progress."""

    key = "mpesa_subscriber_busy"
    default_retryable = True
    retry_after_seconds = 60


class DarajaThrottled(DarajaError):
    """500.003.02 (spike arrest, system busy) or 500.003.03 (quota): refused before M-Pesa
    acted, so sending again later is safe."""

    key = "mpesa_throttled"
    default_retryable = True
    retry_after_seconds = 30


class DarajaUnavailable(DarajaError):
    """Could not get a usable answer: connection refused, DNS failure, an unknown 5xx, or a
    body that is not the JSON Daraja sends (an HTML gateway page, say)."""

    key = "mpesa_unavailable"
    default_retryable = True


class DarajaTimeout(DarajaError):
    """A push was sent but no answer came back (read timeout, connection dropped mid-reply).

    Daraja may well have accepted it and prompted the phone, so the outcome is UNKNOWN:
    never push again automatically; reconcile later (STK Query, callback) instead.
    """

    key = "mpesa_timeout_unknown"
    default_retryable = False
    retry_after_seconds = 120


#: Error codes that mean "the access token was not accepted".
TOKEN_REJECTED_CODES = frozenset({"404.001.03", "401.003.01"})

_SUBSCRIBER_BUSY_HINT = "unable to lock subscriber"
_MERCHANT_HINTS = ("merchant does not exist", "wrong credentials")
_PENDING_HINT = "being processed"


def is_token_rejection(http_status: int, envelope: dict[str, Any] | None) -> bool:
    """True when Daraja says our bearer token is expired, unknown or not allowed."""
    code = str((envelope or {}).get("errorCode") or "")
    return http_status == 401 or code in TOKEN_REJECTED_CODES or code.startswith("401.")


def is_query_pending(http_status: int, envelope: dict[str, Any] | None) -> bool:
    """True for the STK Query answer "500.001.1001 The transaction is being processed"."""
    if not envelope:
        return False
    code = str(envelope.get("errorCode") or "")
    text = str(envelope.get("errorMessage") or "").lower()
    return code == "500.001.1001" and _PENDING_HINT in text


def error_from_envelope(http_status: int, envelope: dict[str, Any] | None) -> DarajaError:
    """Map one Daraja error answer to our exception class.

    ``envelope`` is the parsed ``{"requestId", "errorCode", "errorMessage"}`` object, or None
    when the body was empty or not JSON. The 500.001.1001 code is shared by several unrelated
    errors, so that one is told apart by its message text.
    """
    envelope = envelope or {}
    code = envelope.get("errorCode")
    code = str(code) if code is not None else None
    raw_message = envelope.get("errorMessage")
    message = str(raw_message) if raw_message else f"HTTP {http_status} from Daraja"
    request_id = envelope.get("requestId")
    request_id = str(request_id) if request_id is not None else None
    lowered = message.lower()
    kind: type[DarajaError] = DarajaUnavailable
    if is_token_rejection(http_status, envelope) or (code or "").startswith("400.008."):
        kind = DarajaAuthError
    elif code == "500.001.1001" and _SUBSCRIBER_BUSY_HINT in lowered:
        kind = DarajaSubscriberBusy
    elif code == "500.001.1001" and any(hint in lowered for hint in _MERCHANT_HINTS):
        kind = DarajaMerchantError
    elif code in ("500.003.02", "500.003.03") or http_status == 429:
        kind = DarajaThrottled
    elif http_status == 403:
        kind = DarajaAuthError
    elif 400 <= http_status < 500:
        kind = DarajaRequestInvalid
    error = kind(message, error_code=code, request_id=request_id, http_status=http_status)
    if code == "500.003.03":  # quota: Daraja's window is longer than a spike arrest's
        error.retry_after_seconds = 300
    return error
