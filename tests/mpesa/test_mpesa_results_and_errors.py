"""ResultCode classification and the error taxonomy (the words are in tests/web/test_messages.py)."""

from __future__ import annotations

import pytest

from portal.mpesa import errors
from portal.mpesa.errors import (
    DarajaAuthError,
    DarajaError,
    DarajaMerchantError,
    DarajaRequestInvalid,
    DarajaSubscriberBusy,
    DarajaThrottled,
    DarajaTimeout,
    DarajaUnavailable,
    error_from_envelope,
    is_query_pending,
)
from portal.mpesa.results import classify_result, is_final_result


@pytest.mark.parametrize(
    ("code", "status", "key"),
    [
        ("0", "paid", "mpesa_paid"),
        ("1032", "cancelled", "mpesa_cancelled"),
        ("1031", "cancelled", "mpesa_cancelled"),
        ("1037", "timeout", "mpesa_timeout"),
        ("1019", "timeout", "mpesa_expired"),
        ("1", "failed", "mpesa_insufficient_funds"),
        ("2001", "failed", "mpesa_wrong_pin"),
        ("17", "failed", "mpesa_rule_limited"),
        ("1001", "failed", "mpesa_subscriber_busy"),
        ("2028", "failed", "mpesa_merchant_config"),
        ("SFC_IC0003", "failed", "mpesa_merchant_config"),
        ("8006", "failed", "mpesa_pin_locked"),
        ("1025", "failed", "mpesa_push_failed"),
        ("4242", "failed", "mpesa_failed"),
        ("WHATEVER", "failed", "mpesa_failed"),
        ("", "failed", "mpesa_failed"),
    ],
)
def test_classify_result(code: str, status: str, key: str) -> None:
    assert classify_result(code) == (status, key)


def test_classify_result_tolerates_ints_spaces_and_leading_zeros() -> None:
    assert classify_result(0)[0] == "paid"  # type: ignore[arg-type]
    assert classify_result(" 1032 ")[0] == "cancelled"
    assert classify_result("00")[0] == "paid"
    assert classify_result("²")[0] == "failed"


def test_only_known_codes_are_final() -> None:
    assert is_final_result("0") and is_final_result(1032) and is_final_result(" 1036 ")
    assert not is_final_result("4999")  # "still under processing": ask again
    assert not is_final_result("4242") and not is_final_result("")


ERROR_CLASSES = [
    DarajaError,
    DarajaAuthError,
    DarajaRequestInvalid,
    DarajaMerchantError,
    DarajaSubscriberBusy,
    DarajaThrottled,
    DarajaUnavailable,
    DarajaTimeout,
]


def test_error_classes_have_unique_keys() -> None:
    keys = [cls.key for cls in ERROR_CLASSES]
    assert len(set(keys)) == len(keys)
    for cls in ERROR_CLASSES:
        error = cls("raw daraja text", error_code="X", request_id="r-1")
        assert error.key == cls.key and "raw daraja text" not in error.key


def test_error_fields_and_str() -> None:
    error = DarajaSubscriberBusy(
        "Unable to lock subscriber", error_code="500.001.1001", request_id="abc-1", http_status=500
    )
    assert (error.error_code, error.message, error.request_id) == ("500.001.1001", "Unable to lock subscriber", "abc-1")
    assert error.retryable is True and error.retry_after_seconds == 60
    assert "requestId=abc-1" in str(error) and "500.001.1001" in str(error)
    assert error.key == "mpesa_subscriber_busy"


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (DarajaAuthError, False),
        (DarajaRequestInvalid, False),
        (DarajaMerchantError, False),
        (DarajaSubscriberBusy, True),
        (DarajaThrottled, True),
        (DarajaUnavailable, True),
        (DarajaTimeout, False),
    ],
)
def test_retryable_defaults(cls: type[DarajaError], retryable: bool) -> None:
    assert cls("x").retryable is retryable
    assert issubclass(cls, DarajaError)


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (400, "400.002.02", "Bad Request - Invalid PhoneNumber", DarajaRequestInvalid),
        (404, "404.001.01", "Resource not found", DarajaRequestInvalid),
        (405, "405.001", "Method Not Allowed", DarajaRequestInvalid),
        (404, "404.001.03", "Invalid Access Token", DarajaAuthError),
        (401, "401.003.01", "Invalid Access Token", DarajaAuthError),
        (400, "400.008.01", "Invalid Authentication passed", DarajaAuthError),
        (500, "500.001.1001", "Merchant does not exist", DarajaMerchantError),
        (500, "500.001.1001", "[MerchantValidate] - Wrong credentials", DarajaMerchantError),
        (
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            DarajaSubscriberBusy,
        ),
        (500, "500.003.02", "Error Occurred: Spike Arrest Violation", DarajaThrottled),
        (500, "500.003.02", "System is busy. Please try again in few minutes.", DarajaThrottled),
        (500, "500.003.03", "Quota Violation", DarajaThrottled),
        (500, "500.003.1001", "Internal Server Error", DarajaUnavailable),
        (503, None, None, DarajaUnavailable),
    ],
)
def test_error_from_envelope(status: int, code: str | None, message: str | None, expected: type[DarajaError]) -> None:
    envelope = None if code is None else {"requestId": "16813-1590513-1", "errorCode": code, "errorMessage": message}
    error = error_from_envelope(status, envelope)
    assert type(error) is expected
    assert error.error_code == code
    assert error.http_status == status
    if message:
        assert error.message == message
        assert error.request_id == "16813-1590513-1"


def test_quota_asks_for_a_longer_wait_than_spike_arrest() -> None:
    quota = error_from_envelope(500, {"errorCode": "500.003.03", "errorMessage": "Quota Violation"})
    spike = error_from_envelope(500, {"errorCode": "500.003.02", "errorMessage": "Spike"})
    assert quota.retry_after_seconds is not None and spike.retry_after_seconds is not None
    assert quota.retry_after_seconds > spike.retry_after_seconds


def test_query_pending_is_recognised_only_for_the_exact_answer() -> None:
    pending = {
        "requestId": "ws_CO_1",
        "errorCode": "500.001.1001",
        "errorMessage": "The transaction is being processed",
    }
    assert is_query_pending(500, pending)
    assert not is_query_pending(500, {**pending, "errorMessage": "Wrong credentials"})
    assert not is_query_pending(500, None)
    assert {"404.001.03"} <= errors.TOKEN_REJECTED_CODES
