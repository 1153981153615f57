"""parse_stk_callback: documented shapes, hostile bodies, and properties."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.mpesa.callbacks import MalformedCallback, StkCallback, parse_stk_callback

# Daraja's documented sample, byte for byte in the parts that matter (Amount 20.00, numbers, no Balance value).
DOC_SUCCESS = b"""{
  "Body": {
    "stkCallback": {
      "MerchantRequestID": "9f2a-4c1b-8e77-1a2b3c4d5e6f2041337",
      "CheckoutRequestID": "ws_CO_01032025143006123712345678",
      "ResultCode": 0,
      "ResultDesc": "The service request is processed successfully.",
      "CallbackMetadata": {
        "Item": [
          { "Name": "Amount", "Value": 20.00 },
          { "Name": "MpesaReceiptNumber", "Value": "TC13ABC4XY" },
          { "Name": "Balance" },
          { "Name": "TransactionDate", "Value": 20250301143021 },
          { "Name": "PhoneNumber", "Value": 254712345678 }
        ]
      }
    }
  }
}"""

DOC_FAILURE = b"""{"Body": {"stkCallback": {
  "MerchantRequestID": "9f2a-4c1b-8e77-1a2b3c4d5e6f2041337",
  "CheckoutRequestID": "ws_CO_01032025143006123712345678",
  "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}}}"""


def success_body(**item_values: Any) -> dict[str, Any]:
    values = {
        "Amount": 20.00,
        "MpesaReceiptNumber": "TC13ABC4XY",
        "TransactionDate": 20250301143021,
        "PhoneNumber": 254712345678,
    }
    values.update(item_values)
    items = [{"Name": name, "Value": value} for name, value in values.items() if value is not ...]
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {"Item": items},
            }
        }
    }


def test_documented_success_sample() -> None:
    callback = parse_stk_callback(DOC_SUCCESS)
    assert callback == StkCallback(
        merchant_request_id="9f2a-4c1b-8e77-1a2b3c4d5e6f2041337",
        checkout_request_id="ws_CO_01032025143006123712345678",
        result_code="0",
        result_desc="The service request is processed successfully.",
        amount=Decimal("20.00"),
        receipt="TC13ABC4XY",
        transaction_date="20250301143021",
        phone="254712345678",
    )
    assert callback.succeeded
    assert callback.amount == 20


def test_documented_failure_sample() -> None:
    callback = parse_stk_callback(DOC_FAILURE)
    assert callback.result_code == "1032"
    assert not callback.succeeded
    assert (callback.amount, callback.receipt, callback.phone) == (None, None, None)


def test_text_bytes_and_mapping_inputs_agree() -> None:
    as_bytes = parse_stk_callback(DOC_SUCCESS)
    assert parse_stk_callback(DOC_SUCCESS.decode()) == as_bytes
    assert parse_stk_callback(json.loads(DOC_SUCCESS)) == as_bytes


def test_string_result_code_such_as_sfc_ic0003() -> None:
    body = json.loads(DOC_FAILURE)
    body["Body"]["stkCallback"]["ResultCode"] = "SFC_IC0003"
    assert parse_stk_callback(body).result_code == "SFC_IC0003"


def test_result_code_zero_as_string_is_success() -> None:
    body = success_body()
    body["Body"]["stkCallback"]["ResultCode"] = "0"
    assert parse_stk_callback(body).succeeded


@pytest.mark.parametrize(
    "balance",
    [..., "{Amount={CurrencyCode=KES, MinimumAmount=100, BasicAmount=1.00}}", 0, None],
)
def test_balance_in_any_form_is_ignored(balance: Any) -> None:
    body = success_body()
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    if balance is ...:
        items.insert(2, {"Name": "Balance"})
    else:
        items.insert(2, {"Name": "Balance", "Value": balance})
    assert parse_stk_callback(body).receipt == "TC13ABC4XY"


def test_items_are_found_by_name_in_any_order_and_extra_fields_are_tolerated() -> None:
    body = success_body()
    stk = body["Body"]["stkCallback"]
    stk["CallbackMetadata"]["Item"].reverse()
    stk["CallbackMetadata"]["Item"].append({"Name": "SomethingNew", "Value": [1, 2]})
    stk["Extra"] = {"nested": True}
    callback = parse_stk_callback(body)
    assert (callback.amount, callback.receipt) == (Decimal("20.0"), "TC13ABC4XY")


@pytest.mark.parametrize(
    ("raw", "phone", "uncomparable"),
    [
        (254712345678, "254712345678", False),
        ("254712345678", "254712345678", False),
        ("0712345678", "254712345678", False),  # local form: normalised, then compared
        ("+254712345678", "254712345678", False),
        ("2547****5678", None, True),
        ("2547XXXXX678", None, True),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None, True),
        (25471234567, None, True),  # 11 digits
        ("254712345abc", None, True),
        (..., None, False),  # no PhoneNumber item at all
    ],
)
def test_a_phone_that_cannot_be_compared_does_not_spoil_a_success(
    raw: Any, phone: str | None, uncomparable: bool
) -> None:
    """Masked, hashed or odd numbers parse; the payment side confirms them by STK Query."""
    callback = parse_stk_callback(json.dumps(success_body(PhoneNumber=raw)))
    assert (callback.phone, callback.phone_uncomparable) == (phone, uncomparable)
    assert callback.succeeded and callback.receipt


@pytest.mark.parametrize(
    ("values", "amount", "date", "phone"),
    [
        ({"Amount": 1}, Decimal(1), "20250301143021", "254712345678"),
        ({"Amount": "20"}, Decimal(20), "20250301143021", "254712345678"),
        ({"Amount": "20.50"}, Decimal("20.50"), "20250301143021", "254712345678"),
        ({"TransactionDate": "20250301143021"}, Decimal(20), "20250301143021", "254712345678"),
        ({"PhoneNumber": "254712345678"}, Decimal(20), "20250301143021", "254712345678"),
        ({"PhoneNumber": "2547****5678"}, Decimal(20), "20250301143021", None),
        ({"PhoneNumber": ...}, Decimal(20), "20250301143021", None),
        ({"TransactionDate": ...}, Decimal(20), None, "254712345678"),
    ],
)
def test_numbers_may_arrive_as_numbers_or_strings(
    values: dict[str, Any], amount: Decimal, date: str | None, phone: str | None
) -> None:
    callback = parse_stk_callback(json.dumps(success_body(**values)))
    assert (callback.amount, callback.transaction_date, callback.phone) == (amount, date, phone)


def _stk(**fields: Any) -> dict[str, Any]:
    body = json.loads(DOC_FAILURE)
    body["Body"]["stkCallback"].update(fields)
    return body


def _items(*items: dict[str, Any]) -> dict[str, Any]:
    body = success_body()
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = list(items)
    return body


BAD_BODIES: list[tuple[str, Any]] = [
    ("not json", b"not json"),
    ("empty", b""),
    ("array", b"[]"),
    ("string", b'"Body"'),
    ("no Body", b'{"body": {}}'),
    ("Body not object", b'{"Body": []}'),
    ("no stkCallback", b'{"Body": {"stkcallback": {}}}'),
    ("ResultCode true", _stk(ResultCode=True)),
    ("ResultCode missing", {"Body": {"stkCallback": {"MerchantRequestID": "a", "CheckoutRequestID": "b"}}}),
    (
        "ResultCode float",
        b'{"Body":{"stkCallback":{"MerchantRequestID":"a","CheckoutRequestID":"b","ResultCode":0.0}}}',
    ),
    ("ResultCode null", _stk(ResultCode=None)),
    ("ResultCode huge", _stk(ResultCode=10**12)),
    ("ResultCode with spaces", _stk(ResultCode="0 OR 1")),
    ("ResultDesc number", _stk(ResultDesc=5)),
    ("MerchantRequestID empty", _stk(MerchantRequestID="")),
    ("MerchantRequestID number", _stk(MerchantRequestID=29115)),
    ("CheckoutRequestID html", _stk(CheckoutRequestID="<script>x</script>")),
    ("CheckoutRequestID too long", _stk(CheckoutRequestID="ws_CO_" + "1" * 80)),
    ("CheckoutRequestID newline", _stk(CheckoutRequestID="ws_CO_1\n")),
    ("success without receipt", success_body(MpesaReceiptNumber=...)),
    ("success without amount", success_body(Amount=...)),
    ("success without metadata", _stk(ResultCode=0)),
    ("receipt lowercase", success_body(MpesaReceiptNumber="tc13abc4xy")),
    ("receipt too long", success_body(MpesaReceiptNumber="TC13ABC4XYZ")),
    ("receipt number", success_body(MpesaReceiptNumber=1234567890)),
    ("amount zero", success_body(Amount=0)),
    ("amount negative", success_body(Amount=-20)),
    ("amount bool", success_body(Amount=True)),
    ("amount absurd", success_body(Amount=10**12)),
    ("amount fraction of cent", success_body(Amount="20.001")),
    ("amount text", success_body(Amount="twenty")),
    ("amount list", success_body(Amount=[20])),
    ("date not a date", success_body(TransactionDate=20251345999999)),
    ("date too short", success_body(TransactionDate=2025030114)),
    ("date float", success_body(TransactionDate=20250301143021.5)),
    ("phone a list", success_body(PhoneNumber=[254712345678])),
    ("phone an essay", success_body(PhoneNumber="7" * 200)),
    ("phone a float", success_body(PhoneNumber=254712345678.5)),
    ("Item not list", _stk(CallbackMetadata={"Item": {"Name": "Amount"}})),
    ("item without Name", _stk(CallbackMetadata={"Item": [{"Value": 1}]})),
    ("item not object", _stk(CallbackMetadata={"Item": ["Amount", 20]})),
    ("metadata not object", _stk(CallbackMetadata="x")),
    ("too many items", _stk(CallbackMetadata={"Item": [{"Name": f"n{i}"} for i in range(40)]})),
    ("NaN", DOC_SUCCESS.replace(b"20.00", b"NaN")),
    ("Infinity", DOC_SUCCESS.replace(b"20.00", b"Infinity")),
    ("-Infinity", DOC_SUCCESS.replace(b"20.00", b"-Infinity")),
    ("huge integer", DOC_SUCCESS.replace(b"20.00", b"9" * 5000)),
    ("huge exponent", DOC_SUCCESS.replace(b"20.00", b"1e999999")),
    ("nesting bomb", b"[" * 5000 + b"]" * 5000),
    ("object bomb", b'{"a":' * 200 + b"1" + b"}" * 200),
    ("not utf-8", DOC_FAILURE.replace(b"Request", b"Req\xff\xfeuest")),
    ("utf-16", DOC_FAILURE.decode().encode("utf-16")),
    (
        "duplicate key",
        b'{"Body":{"stkCallback":{"MerchantRequestID":"a","CheckoutRequestID":"b","ResultCode":1032,"ResultCode":0}}}',
    ),
    (
        "duplicate item",
        _items(
            {"Name": "Amount", "Value": 20},
            {"Name": "Amount", "Value": 1},
            {"Name": "MpesaReceiptNumber", "Value": "TC13ABC4XY"},
        ),
    ),
    ("oversize", b'{"Body":{"stkCallback":{"x":"' + b"a" * 20000 + b'"}}}'),
    ("mapping NaN", success_body(Amount=float("nan"))),
    ("mapping inf", success_body(Amount=float("inf"))),
    ("mapping odd type", success_body(Amount=object())),
    ("mapping int key", {1: "x"}),
    ("not a body type", 42),
    ("None", None),
]


# The reason must name the real problem, not just "something failed".
EXPECTED_REASONS = {
    "nesting bomb": "nested",
    "object bomb": "nested",
    "oversize": "too large",
    "not utf-8": "UTF-8",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "huge integer": "number too long",
    "duplicate key": "duplicate key",
    "duplicate item": "duplicate item",
    "success without receipt": "success without",
    "success without amount": "success without",
    "ResultCode true": "ResultCode",
    "receipt lowercase": "MpesaReceiptNumber",
    "amount zero": "Amount",
    "date not a date": "TransactionDate",
}


@pytest.mark.parametrize(("label", "body"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_hostile_or_broken_bodies_are_rejected(label: str, body: Any) -> None:
    with pytest.raises(MalformedCallback) as caught:
        parse_stk_callback(body)
    assert caught.value.reason
    assert len(caught.value.reason) < 80
    assert EXPECTED_REASONS.get(label, "") in caught.value.reason


def test_self_referencing_mapping_is_rejected() -> None:
    loop: dict[str, Any] = {}
    loop["Body"] = loop
    with pytest.raises(MalformedCallback):
        parse_stk_callback(loop)


def test_max_bytes_is_configurable() -> None:
    assert parse_stk_callback(DOC_SUCCESS, max_bytes=len(DOC_SUCCESS)).succeeded
    with pytest.raises(MalformedCallback, match="too large"):
        parse_stk_callback(DOC_SUCCESS, max_bytes=len(DOC_SUCCESS) - 1)
    multibyte = DOC_FAILURE.decode().replace("Request", "Ombi—limeghairiwa")
    with pytest.raises(MalformedCallback, match="too large"):
        parse_stk_callback(multibyte, max_bytes=len(multibyte))  # more bytes than characters


def test_lone_surrogate_in_text_is_rejected() -> None:
    with pytest.raises(MalformedCallback):
        parse_stk_callback(DOC_FAILURE.decode().replace("Request", "\ud800"))


# -- properties --------------------------------------------------------------------------------

json_leaves = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    with contextlib.suppress(MalformedCallback):
        parse_stk_callback(raw)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises_anything_else(value: Any) -> None:
    for form in (value, json.dumps(value)):
        with contextlib.suppress(MalformedCallback):
            parse_stk_callback(form)


@settings(max_examples=300, deadline=None)
@given(
    path=st.lists(
        st.sampled_from(
            [
                "Body",
                "stkCallback",
                "CallbackMetadata",
                "Item",
                0,
                1,
                2,
                "Value",
                "Name",
                "ResultCode",
                "MerchantRequestID",
            ]
        ),
        min_size=1,
        max_size=6,
    ),
    replacement=json_values,
)
def test_mutated_valid_bodies_never_raise_anything_else(path: list[Any], replacement: Any) -> None:
    body = json.loads(DOC_SUCCESS)
    node: Any = body
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
    with contextlib.suppress(KeyError, IndexError, TypeError):
        node[path[-1]] = replacement
    for form in (body, json.dumps(body)):
        with contextlib.suppress(MalformedCallback):
            parse_stk_callback(form)


ids_strategy = st.from_regex(r"^[A-Za-z0-9_\-]{1,40}$", fullmatch=True)
receipts = st.from_regex(r"^[A-Z0-9]{10}$", fullmatch=True)
dates = st.datetimes(min_value=datetime(2017, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda moment: moment.strftime("%Y%m%d%H%M%S")
)
phones = st.from_regex(r"^254[17][0-9]{8}$", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    merchant_id=ids_strategy,
    checkout_id=ids_strategy,
    shillings=st.integers(1, 250_000),
    amount_style=st.sampled_from(["int", "decimal", "string"]),
    receipt=receipts,
    date=dates,
    date_as_text=st.booleans(),
    phone=phones,
    phone_as_text=st.booleans(),
    with_balance=st.booleans(),
    order=st.permutations(range(4)),
)
def test_valid_success_bodies_round_trip(
    merchant_id: str,
    checkout_id: str,
    shillings: int,
    amount_style: str,
    receipt: str,
    date: str,
    date_as_text: bool,
    phone: str,
    phone_as_text: bool,
    with_balance: bool,
    order: list[int],
) -> None:
    amount_json = {"int": str(shillings), "decimal": f"{shillings}.00", "string": json.dumps(str(shillings))}[
        amount_style
    ]
    items = [
        f'{{"Name": "Amount", "Value": {amount_json}}}',
        f'{{"Name": "MpesaReceiptNumber", "Value": "{receipt}"}}',
        '{"Name": "TransactionDate", "Value": %s}' % (f'"{date}"' if date_as_text else date),
        '{"Name": "PhoneNumber", "Value": %s}' % (f'"{phone}"' if phone_as_text else phone),
    ]
    ordered = [items[i] for i in order] + (['{"Name": "Balance"}'] if with_balance else [])
    raw = (
        '{{"Body": {{"stkCallback": {{"MerchantRequestID": "{}", "CheckoutRequestID": "{}", '
        '"ResultCode": 0, "ResultDesc": "ok", "CallbackMetadata": {{"Item": [{}]}}}}}}}}'.format(
            merchant_id, checkout_id, ", ".join(ordered)
        )
    )
    callback = parse_stk_callback(raw.encode())
    assert callback == StkCallback(
        merchant_request_id=merchant_id,
        checkout_request_id=checkout_id,
        result_code="0",
        result_desc="ok",
        amount=callback.amount,
        receipt=receipt,
        transaction_date=date,
        phone=phone,
    )
    assert callback.amount == shillings
    assert callback.succeeded
