"""Reading what Daraja answered, or why it did not: the JSON body, the error to raise for an
answer we cannot use, a transport failure translated (sent or never sent), result codes as
text and token lifetimes as seconds. Nothing from ``requests`` travels above this package."""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError

from portal.mpesa.errors import DarajaError, DarajaTimeout, DarajaUnavailable, error_from_envelope


def json_object(response: requests.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None for an empty, non-JSON (HTML) or non-object body."""
    if not response.content:
        return None
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def answer_error(response: requests.Response, body: dict[str, Any] | None) -> DarajaError:
    if body is not None and "errorCode" in body:
        return error_from_envelope(response.status_code, body)
    if body is None:
        content_type = response.headers.get("Content-Type", "?")
        return DarajaUnavailable(
            f"Daraja answered HTTP {response.status_code} with a non-JSON body ({content_type})",
            http_status=response.status_code,
        )
    return DarajaUnavailable(
        f"Daraja answered HTTP {response.status_code} with JSON we do not understand",
        http_status=response.status_code,
    )


def transport_error(err: requests.RequestException, what: str, *, push: bool) -> DarajaError:
    """Translate a requests failure. For a push, anything after the request may have been
    sent means the outcome is unknown (DarajaTimeout), never "safe to resend"."""
    name = type(err).__name__
    if never_sent(err):
        return DarajaUnavailable(f"could not connect to Daraja ({what}: {name})")
    if push:
        return DarajaTimeout(f"no answer from Daraja to the STK push ({name})")
    return DarajaUnavailable(f"no answer from Daraja ({what}: {name})")


def never_sent(err: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (connect/TLS/DNS/URL failure)."""
    if isinstance(
        err,
        (
            requests.ConnectTimeout,
            requests.exceptions.SSLError,
            requests.exceptions.ProxyError,
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ),
    ):
        return True
    if isinstance(err, requests.ConnectionError) and err.args:
        cause = err.args[0]
        reason = getattr(cause, "reason", cause)
        return isinstance(reason, ConnectTimeoutError)  # NewConnectionError is a subclass
    return False


def code_text(value: object) -> str | None:
    """A ResultCode/ResponseCode as text: 0 and "0" are both "0"."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        return str(int(text))
    return text or None


def lifetime_seconds(value: object) -> int | None:
    """``expires_in`` arrives as "3599" or 3599; anything else is unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if 0 < value < 10**9 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip()) or None
    return None
