"""Errors the portal's services raise. Views turn them into a status and a translated message.

Each carries a stable ``key`` (looked up in :mod:`portal.messages`) and ``params`` for the
message's named placeholders; none of them ever becomes a 500.
"""

from __future__ import annotations

from typing import Any


class PortalError(Exception):
    key = "error"
    http_status = 400

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(self.key if not params else f"{self.key} {params}")


class BadInput(PortalError):
    """A form or JSON field is missing or wrong."""

    key = "bad_input"
    http_status = 400


class NotFound(PortalError):
    key = "not_found"
    http_status = 404


class DeviceNotRecognized(PortalError):
    """The MAC/IP pair is not a device this hotspot knows."""

    key = "device_not_recognized"
    http_status = 403


class TooManyRequests(PortalError):
    """A cool-down or a cap was hit; ``retry_after`` in seconds."""

    key = "too_many_requests"
    http_status = 429


class PaymentPending(PortalError):
    """This phone or device already has a prompt waiting."""

    key = "payment_already_pending"
    http_status = 409


class UpstreamUnavailable(PortalError):
    """M-Pesa or the hotspot router could not be reached."""

    key = "upstream_unavailable"
    http_status = 503


class PaymentRefused(PortalError):
    """Daraja refused the push; ``key`` comes from the Daraja error."""

    key = "payment_refused"
    http_status = 502
