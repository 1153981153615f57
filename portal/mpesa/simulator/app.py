"""HTTP surface of the simulator: Daraja's endpoints, the virtual phone page, and a small JSON
admin API under ``/simulator/``. A plain werkzeug WSGI app; all logic lives in the state and
dispatcher modules, reached through the :class:`DarajaSimulator` facade.

One module over 300 lines because it is one URL map and its handlers, each a few lines that
read a request and call the facade.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from portal.mpesa.phones import InvalidPhone, normalize_phone
from portal.mpesa.simulator.phone_page import ANSWER_OUTCOMES, render_phone_page
from portal.mpesa.simulator.settings import (
    FORCEABLE_OUTCOMES,
    TOKEN_LIFETIME_SECONDS,
)
from portal.mpesa.simulator.validation import (
    MERCHANT_ERROR,
    ApiError,
    bad_request,
    json_body,
    validate_push,
    validate_query,
)

if TYPE_CHECKING:
    from portal.mpesa.simulator.server import DarajaSimulator

log = logging.getLogger(__name__)

QUERY_OK_DESCRIPTION = "The service request has been accepted successsfully"  # sic, as sent
PUSH_OK_DESCRIPTION = "Success. Request accepted for processing"
RECENT_RESULTS = 10

_URLS = Map(
    [
        Rule("/oauth/v1/generate", endpoint="oauth", methods=["GET"]),
        Rule("/mpesa/stkpush/v1/processrequest", endpoint="push", methods=["POST"]),
        Rule("/mpesa/stkpushquery/v1/query", endpoint="query", methods=["POST"]),
        Rule("/", endpoint="index", methods=["GET"]),
        Rule("/phone", endpoint="phone", methods=["GET"]),
        Rule("/phone/answer", endpoint="phone_answer", methods=["POST"]),
        Rule("/simulator/transactions", endpoint="admin_transactions", methods=["GET"]),
        Rule("/simulator/transactions/<checkout_id>", endpoint="admin_transaction", methods=["GET"]),
        Rule("/simulator/transactions/<checkout_id>/outcome", endpoint="admin_outcome", methods=["POST"]),
        Rule("/simulator/transactions/<checkout_id>/replay", endpoint="admin_replay", methods=["POST"]),
        Rule("/simulator/scripts", endpoint="admin_script", methods=["POST"]),
        Rule("/simulator/callbacks", endpoint="admin_callbacks", methods=["GET"]),
        Rule("/simulator/callbacks/forge", endpoint="admin_forge", methods=["POST"]),
        Rule("/simulator/knobs", endpoint="admin_knobs", methods=["GET", "POST"]),
        Rule("/simulator/process", endpoint="admin_process", methods=["POST"]),
        Rule("/simulator/reset", endpoint="admin_reset", methods=["POST"]),
    ]
)


class _Request(Request):
    max_content_length = 256 * 1024
    max_form_memory_size = 64 * 1024


class SimulatorApp:
    """The WSGI application. Every failure becomes a Daraja-style answer, never a traceback."""

    def __init__(self, simulator: DarajaSimulator) -> None:
        self.sim = simulator

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = _Request(environ)
        try:
            response = self._dispatch(request)
        except ApiError as err:
            response = self._error(err)
        except Exception:
            log.exception("Simulator failed on %s %s", request.method, request.path)
            response = self._error(ApiError(500, "500.003.1001", "Internal Server Error"))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        adapter = _URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            raise ApiError(405, "405.001", "Method Not Allowed") from None
        except NotFound:
            raise ApiError(404, "404.001.01", "Resource not found") from None
        except HTTPException as err:
            raise ApiError(err.code or 400, "400.002.02", "Bad Request") from None
        handler = getattr(self, f"_{endpoint}")
        try:
            return handler(request, **args)
        except HTTPException as err:  # e.g. a body over max_content_length
            raise ApiError(err.code or 400, "400.002.02", "Bad Request") from None

    # -- Daraja -----------------------------------------------------------------------------

    def _oauth(self, request: Request) -> Response:
        if request.args.get("grant_type") != "client_credentials":
            raise ApiError(400, "400.008.02", "Invalid grant type passed")
        key, secret = _basic_credentials(request.headers.get("Authorization", ""))
        merchant = self.sim.merchant
        key_ok = hmac.compare_digest(key.encode(), merchant.consumer_key.encode())
        secret_ok = hmac.compare_digest(secret.encode(), merchant.consumer_secret.encode())
        if not (key_ok and secret_ok):
            if self.sim.knobs.wrong_credentials_envelope:
                raise ApiError(400, "400.008.01", "Invalid Authentication passed")
            raise ApiError(400, "", "", body=b"")  # the usual answer: 400, empty body
        expires_in: int | str = TOKEN_LIFETIME_SECONDS
        if not self.sim.knobs.expires_in_as_number:
            expires_in = str(TOKEN_LIFETIME_SECONDS)
        token = self.sim.state.mint_token()
        return _json({"access_token": token, "expires_in": expires_in})

    def _push(self, request: Request) -> Response:
        self._require_token(request)
        self.sim.state.check_throttle("processrequest")
        push = validate_push(
            json_body(request.get_data()),
            merchant=self.sim.merchant,
            knobs=self.sim.knobs,
            now=self.sim.clock.now(),
        )
        transaction = self.sim.state.accept_push(push)
        if self.sim.knobs.hang_push_responses:
            self.sim.wait_while_hung()
        return _json(
            {
                "MerchantRequestID": transaction.merchant_request_id,
                "CheckoutRequestID": transaction.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": PUSH_OK_DESCRIPTION,
                "CustomerMessage": PUSH_OK_DESCRIPTION,
            }
        )

    def _query(self, request: Request) -> Response:
        self._require_token(request)
        self.sim.state.check_throttle("query")
        checkout_id = validate_query(
            json_body(request.get_data()),
            merchant=self.sim.merchant,
            knobs=self.sim.knobs,
            now=self.sim.clock.now(),
        )
        transaction = self.sim.state.get(checkout_id)
        if transaction is None:
            raise bad_request("CheckoutRequestID")
        if self.sim.state.take_still_processing():
            return _json(
                {
                    "ResponseCode": "0",
                    "ResponseDescription": QUERY_OK_DESCRIPTION,
                    "MerchantRequestID": transaction.merchant_request_id,
                    "CheckoutRequestID": transaction.checkout_request_id,
                    "ResultCode": "4999",
                    "ResultDesc": "The transaction is still under processing",
                }
            )
        if transaction.pending:
            raise ApiError(500, MERCHANT_ERROR, "The transaction is being processed", request_id=checkout_id)
        code, desc = transaction.result_code, transaction.result_desc
        if self.sim.knobs.sandbox_lies and code == 0:
            code, desc = 1032, "Request cancelled by user"
        return _json(
            {
                "ResponseCode": "0",
                "ResponseDescription": QUERY_OK_DESCRIPTION,
                "MerchantRequestID": transaction.merchant_request_id,
                "CheckoutRequestID": transaction.checkout_request_id,
                "ResultCode": str(code),
                "ResultDesc": desc,
            }
        )

    def _require_token(self, request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        valid = scheme.lower() == "bearer" and self.sim.state.token_is_valid(token.strip())
        # An app without the M-Pesa Express product gets the same answer as a bad token.
        if not valid or not self.sim.knobs.product_enabled:
            raise ApiError(404, "404.001.03", "Invalid Access Token")

    # -- virtual phone ----------------------------------------------------------------------

    def _index(self, request: Request) -> Response:
        return Response(status=303, headers={"Location": "/phone"})

    def _phone(self, request: Request) -> Response:
        wanted = _phone_filter(request.args.get("msisdn", ""))
        prompts = [p for p in self.sim.pending_prompts() if not wanted or p.phone == wanted]
        finished = [t for t in self.sim.transactions() if not t.pending and (not wanted or t.phone == wanted)]
        html = render_phone_page(
            prompts=prompts,
            recent=list(reversed(finished))[:RECENT_RESULTS],
            payee=self.sim.payee,
            now=self.sim.clock.now(),
            msisdn_filter=request.args.get("msisdn", "")[:20],
        )
        return Response(html, content_type="text/html; charset=utf-8")

    def _phone_answer(self, request: Request) -> Response:
        outcome = ANSWER_OUTCOMES.get(request.form.get("answer", ""))
        checkout_id = request.form.get("checkout_request_id", "")
        if outcome is None:
            return Response("Unknown answer", status=400, content_type="text/plain")
        try:
            self.sim.force_outcome(checkout_id, outcome)
        except (KeyError, ValueError):
            pass  # already answered or timed out; the page shows the result
        location = "/phone"
        msisdn = request.args.get("msisdn", "")
        if msisdn:
            location += "?" + urlencode({"msisdn": msisdn[:20]})
        return Response(status=303, headers={"Location": location})

    # -- admin / test API -------------------------------------------------------------------

    def _admin_transactions(self, request: Request) -> Response:
        return _json({"transactions": [t.to_json() for t in self.sim.transactions()]})

    def _admin_transaction(self, request: Request, checkout_id: str) -> Response:
        transaction = self.sim.state.get(checkout_id)
        if transaction is None:
            return _json({"error": "unknown CheckoutRequestID"}, status=404)
        return _json({"transaction": transaction.to_json()})

    def _admin_outcome(self, request: Request, checkout_id: str) -> Response:
        outcome = _json_object(request).get("outcome")
        if outcome not in FORCEABLE_OUTCOMES:
            return _json({"error": f"outcome must be one of {sorted(FORCEABLE_OUTCOMES)}"}, 400)
        try:
            transaction = self.sim.force_outcome(checkout_id, outcome)
        except KeyError:
            return _json({"error": "unknown CheckoutRequestID"}, status=404)
        except ValueError as err:
            return _json({"error": str(err)}, status=409)
        return _json({"transaction": transaction.to_json()})

    def _admin_replay(self, request: Request, checkout_id: str) -> Response:
        try:
            attempt = self.sim.replay_callback(checkout_id)
        except KeyError:
            return _json({"error": "unknown CheckoutRequestID"}, status=404)
        except ValueError as err:
            return _json({"error": str(err)}, status=409)
        return _json({"attempt": attempt.to_json()})

    def _admin_script(self, request: Request) -> Response:
        data = _json_object(request)
        try:
            self.sim.script_outcome(
                str(data.get("phone", "")),
                str(data.get("outcome", "")),
                after_seconds=data.get("after_seconds"),
                times=data.get("times"),
            )
        except (ValueError, TypeError) as err:
            return _json({"error": str(err)}, status=400)
        return _json({"ok": True})

    def _admin_callbacks(self, request: Request) -> Response:
        return _json(
            {
                "attempts": [a.to_json() for a in self.sim.callback_attempts],
                "dropped": self.sim.dropped_callbacks,
            }
        )

    def _admin_forge(self, request: Request) -> Response:
        data = _json_object(request)
        url, body = data.get("url"), data.get("body")
        if not isinstance(url, str) or body is None:
            return _json({"error": "need url and body"}, status=400)
        raw = body if isinstance(body, str) else json.dumps(body)
        attempt = self.sim.send_raw_callback(url, raw)
        return _json({"attempt": attempt.to_json()})

    def _admin_knobs(self, request: Request) -> Response:
        if request.method == "POST":
            for name, value in _json_object(request).items():
                try:
                    setattr(self.sim.knobs, name, value)
                except (ValueError, AttributeError) as err:
                    return _json({"error": str(err)}, status=400)
        return _json({"knobs": self.sim.knobs.to_json()})

    def _admin_process(self, request: Request) -> Response:
        return _json({"handled": self.sim.process_due()})

    def _admin_reset(self, request: Request) -> Response:
        self.sim.reset()
        return _json({"ok": True})

    # -- answers ----------------------------------------------------------------------------

    def _error(self, err: ApiError) -> Response:
        if err.body is not None:
            return Response(err.body, status=err.status)
        return _json(
            {
                "requestId": err.request_id or self.sim.ids.request_id(),
                "errorCode": err.error_code,
                "errorMessage": err.message,
            },
            status=err.status,
        )


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _json_object(request: Request) -> dict[str, Any]:
    data = json_body(request.get_data())
    return data if isinstance(data, dict) else {}


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise ApiError(400, "400.008.01", "Invalid Authentication passed")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        raise ApiError(400, "400.008.01", "Invalid Authentication passed") from None
    key, separator, secret = decoded.partition(":")
    if not separator:
        raise ApiError(400, "400.008.01", "Invalid Authentication passed")
    return key, secret


def _phone_filter(raw: str) -> str:
    if not raw.strip():
        return ""
    try:
        return normalize_phone(raw, safaricom_prefixes=())
    except InvalidPhone:
        return raw.strip()
