"""M-Pesa Daraja side of pay2connect: HTTP client, callback parser, phone numbers, results.

The Daraja simulator lives in :mod:`portal.mpesa.simulator` and is imported only when needed.
"""

from __future__ import annotations

from portal.mpesa.callbacks import MalformedCallback, StkCallback, parse_stk_callback
from portal.mpesa.client import DarajaClient
from portal.mpesa.errors import (
    DarajaAuthError,
    DarajaError,
    DarajaMerchantError,
    DarajaRequestInvalid,
    DarajaSubscriberBusy,
    DarajaThrottled,
    DarajaTimeout,
    DarajaUnavailable,
)
from portal.mpesa.gateway import MpesaGateway, StkPushAccepted, StkQueryResult
from portal.mpesa.phones import InvalidPhone, NotSafaricom, mask_phone, normalize_phone
from portal.mpesa.request_fields import NO_CALLBACK_URL, DarajaCredentials, build_password, daraja_timestamp
from portal.mpesa.results import classify_result, is_final_result

__all__ = [
    "NO_CALLBACK_URL",
    "DarajaAuthError",
    "DarajaClient",
    "DarajaCredentials",
    "DarajaError",
    "DarajaMerchantError",
    "DarajaRequestInvalid",
    "DarajaSubscriberBusy",
    "DarajaThrottled",
    "DarajaTimeout",
    "DarajaUnavailable",
    "InvalidPhone",
    "MalformedCallback",
    "MpesaGateway",
    "NotSafaricom",
    "StkCallback",
    "StkPushAccepted",
    "StkQueryResult",
    "build_password",
    "classify_result",
    "daraja_timestamp",
    "is_final_result",
    "mask_phone",
    "normalize_phone",
    "parse_stk_callback",
]
