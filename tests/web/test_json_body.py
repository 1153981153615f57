"""JSON bodies however deep or odd get a 4xx over a real socket, never a 500 (issue 12).

Before ``portal.web.json_body``, ``POST /api/portal/pay`` with ``[[[...]]]`` nested 1,000 deep
answered 500: Python's JSON parser raised RecursionError, which Flask does not catch.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from portal.ledger.models import Payment, UnmatchedCallback
from portal.web.json_body import MAX_DEPTH

JSON = {"Content-Type": "application/json"}


def nested(depth: int, kind: str) -> str:
    """A JSON text nested ``depth`` deep: lists ``[[[1]]]`` or objects ``{"a":{"a":1}}``."""
    if kind == "list":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("kind", ["list", "object"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 1000, 2000])
def test_pay_refuses_a_deeply_nested_body_with_400(base_url: str, package: Any, depth: int, kind: str) -> None:
    answer = requests.post(f"{base_url}/api/portal/pay", data=nested(depth, kind), headers=JSON, timeout=10)
    assert answer.status_code == 400, answer.text[:200]
    assert answer.json()["error"] == "bad_input"
    assert Payment.select().count() == 0


def test_pay_takes_a_body_as_deep_as_the_limit(portal: Any, package: Any) -> None:
    """The guard does not refuse what a client may send: a valid body with one wrapped field."""
    mac, ip = portal.join()
    wrapper = nested(MAX_DEPTH - 1, "object").replace("1", '"x"', 1)  # depth MAX_DEPTH - 1 as a value
    body = f'{{"phone":"0712345678","packageId":{package.id},"macAddress":"{mac}","ip":"{ip}","extra":{wrapper}}}'
    answer = requests.post(f"{portal.base_url}/api/portal/pay", data=body, headers=JSON, timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["success"] is True


@pytest.mark.parametrize(
    "body, content_type",
    [
        ('{"packageId": NaN}', "application/json"),
        ('{"packageId": Infinity}', "application/json"),
        ('{"packageId": 1e999}', "application/json"),
        ('{"packageId": ' + "9" * 5000 + "}", "application/json"),  # past Python's int-from-text limit
        ('{"packageId": "²"}', "application/json"),  # a digit to str.isdigit, not to int()
        ('{"packageId": "٣"}', "application/json"),  # an Arabic-Indic three
        ('{"packageId": "1\\u0000"}', "application/json"),
        (b'{"packageId": "\xff"}', "application/json"),  # not UTF-8
        ('\ufeff{"packageId": 1}', "application/json"),  # a byte-order mark
        ('{"packageId": 1', "application/json"),
        ("", "application/json"),
        ('{"packageId": 1}', "text/plain"),
        ('{"packageId": 1}', "application/x-www-form-urlencoded"),
        ("[1, 2, 3]", "application/json"),
        ('"just a string"', "application/json"),
    ],
)
def test_pay_answers_odd_bodies_with_a_4xx_and_a_message(
    base_url: str, package: Any, body: str | bytes, content_type: str
) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    answer = requests.post(f"{base_url}/api/portal/pay", data=data, headers={"Content-Type": content_type}, timeout=10)
    assert 400 <= answer.status_code < 500, answer.text[:200]
    assert answer.json()["success"] is False and answer.json()["message"]


def test_a_body_over_the_size_limit_is_413(base_url: str, services: Any) -> None:
    too_big = services.settings.portal.max_body_bytes + 1
    answer = requests.post(f"{base_url}/api/portal/pay", data="[" * too_big, headers=JSON, timeout=10)
    assert answer.status_code == 413


@pytest.mark.parametrize("depth", [1000, 2000])
def test_callback_accepts_and_records_a_deeply_nested_body(base_url: str, depth: int) -> None:
    answer = requests.post(
        f"{base_url}/api/portal/mpesa/callback", data=nested(depth, "object"), headers=JSON, timeout=10
    )
    assert answer.status_code == 200 and answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert UnmatchedCallback.get().reason.startswith("malformed")


def test_status_with_a_nested_body_or_odd_reference_is_a_4xx(base_url: str, app: Any) -> None:
    deep = nested(2000, "list")
    for reference in ("x", "ws_CO_" + "9" * 500, "%00", "²", "..%2F..%2Fadmin"):
        answer = requests.get(f"{base_url}/api/portal/status/{reference}", data=deep, headers=JSON, timeout=10)
        assert 400 <= answer.status_code < 500, (reference, answer.status_code)
