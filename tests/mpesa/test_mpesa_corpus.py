"""Real-shaped Daraja payloads (tests/mpesa/corpus/) through our parser and our real client.

Every corpus file says where its shape was published (README.md lists them). Callbacks go
through ``parse_stk_callback``; STK Query, STK Push and OAuth answers are served by a real HTTP
server on 127.0.0.1 and read by the real ``DarajaClient``. Bodies are re-encoded exactly as
published: ``1.00`` stays ``1.00`` (floats are loaded as Decimal), strings stay strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from portal.loopback import HttpThread
from portal.mpesa import errors, results
from portal.mpesa.callbacks import parse_stk_callback
from portal.mpesa.client import (
    OAUTH_PATH,
    SANDBOX_PASSKEY,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
    DarajaClient,
)
from portal.mpesa.request_fields import DarajaCredentials

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(path.name for path in CORPUS.glob("*.json"))
KINDS = frozenset({"callback", "query_answer", "push_answer", "oauth_answer"})
TEST_MSISDN = "254708374149"
SERVED_TOKEN = "corpusServedToken0000000001"


def load(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"), parse_float=Decimal)


def of_kind(kind: str) -> list[str]:
    return [name for name in FILES if load(name)["kind"] == kind]


def encode(value: Any) -> str:
    """JSON text that keeps each number as written (Decimal("1.00") -> 1.00)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not JSON: {value!r}")


# -- a Daraja that answers with one corpus file ----------------------------------------------


class CorpusDaraja:
    """OAuth answers with a valid token unless the case under test is an OAuth answer; every
    other request gets the case's status and body. Records (method, path, Authorization)."""

    def __init__(self) -> None:
        self.case: dict[str, Any] = {}
        self.seen: list[tuple[str, str, str]] = []
        self._http = HttpThread(self._app, host="127.0.0.1", port=0, name="corpus-daraja")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}"

    def serve(self, case: dict[str, Any]) -> None:
        self.case, self.seen = case, []

    def calls(self, path: str) -> list[tuple[str, str, str]]:
        return [call for call in self.seen if call[1] == path]

    def stop(self) -> None:
        self._http.stop()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        self.seen.append((request.method, request.path, request.headers.get("Authorization", "")))
        if request.path == OAUTH_PATH and self.case["kind"] != "oauth_answer":
            token = {"access_token": SERVED_TOKEN, "expires_in": "3599"}
            return Response(json.dumps(token), 200, content_type="application/json")(environ, start_response)
        body = self.case["body"]
        if body is None:
            answer = Response(b"", self.case["http_status"])
        elif isinstance(body, str):
            kind = "text/html; charset=UTF-8" if body.lstrip().startswith("<") else "text/plain"
            answer = Response(body, self.case["http_status"], content_type=kind)
        else:
            answer = Response(encode(body), self.case["http_status"], content_type="application/json;charset=UTF-8")
        return answer(environ, start_response)


@pytest.fixture(scope="module")
def daraja() -> Iterator[CorpusDaraja]:
    server = CorpusDaraja()
    yield server
    server.stop()


@pytest.fixture
def client(daraja: CorpusDaraja, make_client: Callable[..., DarajaClient]) -> DarajaClient:
    credentials = DarajaCredentials(
        base_url=daraja.base_url,
        consumer_key="corpus-key",
        consumer_secret="corpus-secret",
        shortcode="174379",
        passkey=SANDBOX_PASSKEY,
    )
    return make_client(credentials)


def is_final(code: str) -> bool:
    check = getattr(results, "is_final_result", None)
    if check is None:
        pytest.fail("portal.mpesa.results.is_final_result does not exist yet")
    return bool(check(code))


def check_error(error: errors.DarajaError, expect: dict[str, Any]) -> None:
    assert type(error).__name__ == expect["raises"], f"{type(error).__name__}: {error}"
    assert error.error_code == expect["error_code"]
    assert error.http_status == expect["http_status"]
    if expect["message"] is not None:
        assert error.message == expect["message"]
    if "retry_after_seconds" in expect:
        assert error.retry_after_seconds == expect["retry_after_seconds"]
        assert error.retryable
    if "request_id" in expect:
        assert error.request_id == expect["request_id"]


def check_traffic(daraja: CorpusDaraja, api_path: str | None, expect: dict[str, Any]) -> None:
    oauth = daraja.calls(OAUTH_PATH)
    assert len(oauth) == expect.get("oauth_calls", 1)
    assert all(method == "GET" and auth.startswith("Basic ") for method, _, auth in oauth)
    if api_path is None:
        assert len(daraja.seen) == len(oauth), "no API call after a failed OAuth"
        return
    api = daraja.calls(api_path)
    assert len(api) == expect.get("api_calls", 1)
    assert all(call == ("POST", api_path, f"Bearer {SERVED_TOKEN}") for call in api)


# -- the corpus itself -------------------------------------------------------------------------


def test_the_corpus_is_there() -> None:
    assert len(FILES) >= 50
    assert {load(name)["kind"] for name in FILES} == KINDS


@pytest.mark.parametrize("name", FILES)
def test_every_file_says_where_its_shape_was_published(name: str) -> None:
    case = load(name)
    assert isinstance(case["source"], str) and len(case["source"].strip()) > 20
    assert case["kind"] in KINDS
    assert isinstance(case["http_status"], int) and 100 <= case["http_status"] <= 599
    assert "body" in case
    assert case["body"] is None or isinstance(case["body"], (dict, str))
    assert isinstance(case["expect"], dict) and case["expect"]


def test_readme_lists_every_file_and_nothing_else() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"[\w.-]+\.json", readme))
    assert listed == set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_no_real_looking_personal_number_is_left(name: str) -> None:
    text = (CORPUS / name).read_text(encoding="utf-8")
    assert set(re.findall(r"(?<!\d)254[17]\d{8}(?!\d)", text)) <= {TEST_MSISDN}
    assert set(re.findall(r"(?<![\d+])0[17]\d{8}(?!\d)", text)) <= {"0708374149"}
    # New-format CheckoutRequestIDs end with the payer's 9-digit national number.
    tails = {digits[-9:] for digits in re.findall(r"ws_CO_(\d{23,})", text)}
    assert tails <= {TEST_MSISDN[3:]}


# -- callbacks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", of_kind("callback"))
def test_callback(name: str) -> None:
    case = load(name)
    expect = case["expect"]
    callback = parse_stk_callback(encode(case["body"]).encode("utf-8"))
    assert (callback.merchant_request_id, callback.checkout_request_id) == (
        expect["merchant_request_id"],
        expect["checkout_request_id"],
    )
    assert (callback.result_code, callback.result_desc) == (expect["result_code"], expect["result_desc"])
    amount = None if expect["amount"] is None else Decimal(expect["amount"])
    assert callback.amount == amount and type(callback.amount) is type(amount)
    assert (callback.receipt, callback.transaction_date) == (expect["receipt"], expect["transaction_date"])
    assert callback.phone == expect["phone"]
    assert getattr(callback, "phone_uncomparable", "<missing>") == expect["phone_uncomparable"]
    assert callback.succeeded is (expect["status"] == "paid")
    assert results.classify_result(callback.result_code) == (expect["status"], expect["message_key"])
    assert is_final(callback.result_code) is expect["final"]
    # An already-decoded body (what a JSON framework hands over) reads the same.
    assert parse_stk_callback(case["body"]) == callback


# -- STK Query, STK Push and OAuth through the real client -------------------------------------


@pytest.mark.parametrize("name", of_kind("query_answer"))
def test_query_answer(name: str, daraja: CorpusDaraja, client: DarajaClient) -> None:
    case = load(name)
    expect = case["expect"]
    daraja.serve(case)
    checkout_id = expect.get("checkout_request_id") or "ws_CO_01032025143006123708374149"
    if "raises" in expect:
        with pytest.raises(errors.DarajaError) as caught:
            client.stk_query(checkout_id)
        check_error(caught.value, expect)
    else:
        result = client.stk_query(checkout_id)
        assert result.pending is expect["pending"], result
        assert (result.result_code, result.result_desc) == (expect["result_code"], expect["result_desc"])
        assert result.status == expect["status"]
        assert result.checkout_request_id == checkout_id
        assert result.merchant_request_id == expect["merchant_request_id"]
        if not result.pending:
            assert results.classify_result(result.result_code)[0] == expect["status"]
    check_traffic(daraja, STK_QUERY_PATH, expect)


@pytest.mark.parametrize("name", of_kind("push_answer"))
def test_push_answer(name: str, daraja: CorpusDaraja, client: DarajaClient) -> None:
    case = load(name)
    expect = case["expect"]
    daraja.serve(case)

    def push() -> Any:
        return client.stk_push(
            phone=TEST_MSISDN,
            amount=1,
            account_reference="WIFI1H",
            description="1 hour wifi",
            callback_url="http://127.0.0.1:9/hooks/stk/x",
        )

    if "raises" in expect:
        with pytest.raises(errors.DarajaError) as caught:
            push()
        check_error(caught.value, expect)
    else:
        accepted = push()
        assert (accepted.merchant_request_id, accepted.checkout_request_id) == (
            expect["merchant_request_id"],
            expect["checkout_request_id"],
        )
        assert accepted.customer_message == expect["customer_message"]
    check_traffic(daraja, STK_PUSH_PATH, expect)


@pytest.mark.parametrize("name", of_kind("oauth_answer"))
def test_oauth_answer(name: str, daraja: CorpusDaraja, client: DarajaClient) -> None:
    case = load(name)
    expect = case["expect"]
    daraja.serve(case)
    if "raises" in expect:
        with pytest.raises(errors.DarajaError) as caught:
            client.access_token()
        check_error(caught.value, expect)
    else:
        assert client.access_token() == expect["token"]
        assert client.access_token() == expect["token"]  # cached: still one OAuth call
    check_traffic(daraja, None, expect)
