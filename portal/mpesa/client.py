"""Daraja HTTP client: OAuth token, STK Push ("M-Pesa Express") and STK Query.

One :class:`DarajaClient` per process owns the access token: Daraja documents that minting a
token invalidates the previous one, so tokens are cached, minted single-flight under a lock,
and refreshed once (then the call replayed once) when Daraja says "Invalid Access Token".
Several processes on one account (web processes and workers) share the token through a
:class:`TokenStore` (Redis): one mints under a cross-process lock, the others use its token,
instead of each minting and invalidating the others' tokens.
Every request has a timeout. Nothing secret (Password, Authorization header, consumer secret,
passkey) is ever logged, and phone numbers are masked. What a request carries is built in
:mod:`portal.mpesa.request_fields`; what comes back is read in :mod:`portal.mpesa.answers`.

One module a little over 300 lines because it is one class: three calls sharing one token cache.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests

from portal.clock import Clock
from portal.mpesa.answers import answer_error, code_text, json_object, lifetime_seconds, transport_error
from portal.mpesa.errors import (
    DarajaAuthError,
    DarajaError,
    DarajaUnavailable,
    error_from_envelope,
    is_query_pending,
    is_token_rejection,
)
from portal.mpesa.gateway import StkPushAccepted, StkQueryResult
from portal.mpesa.phones import MSISDN_PATTERN, mask_checkout_id, mask_phone
from portal.mpesa.request_fields import (
    DarajaCredentials,
    build_password,
    checked_callback_url,
    clean_reference,
    daraja_timestamp,
)
from portal.mpesa.results import is_final_result
from portal.outbound import outbound_session

log = logging.getLogger(__name__)

SANDBOX_BASE_URL = "https://sandbox.safaricom.co.ke"
PRODUCTION_BASE_URL = "https://api.safaricom.co.ke"
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"

OAUTH_PATH = "/oauth/v1/generate"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"

MAX_ACCOUNT_REFERENCE = 12
MAX_TRANSACTION_DESC = 13
MAX_AMOUNT = 250_000

_CHECKOUT_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")


class TokenStore(Protocol):
    """The access token shared by every process using one Daraja account."""

    def load(self) -> tuple[str, datetime] | None: ...

    def save(self, token: str, valid_until: datetime) -> None: ...

    def mint_lock(self) -> AbstractContextManager[object]:
        """Held while one process mints: the others wait, then use its token."""
        ...


class DarajaClient:
    """Talks to one Daraja environment (sandbox, production, or our simulator)."""

    def __init__(
        self,
        credentials: DarajaCredentials,
        *,
        clock: Clock,
        timeout: float = 15.0,
        token_margin_seconds: int = 120,
        session: requests.Session | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        self.credentials = credentials
        self._token_store = token_store
        self._clock = clock
        self._timeout = timeout
        self._token_margin = token_margin_seconds
        self._owns_session = session is None
        self._session = session or outbound_session(credentials.base_url)
        self._token: str | None = None
        self._token_valid_until: datetime | None = None
        self._token_lock = threading.Lock()
        self._prepared_posts: dict[str, requests.PreparedRequest] = {}

    # -- token ------------------------------------------------------------------------------

    def access_token(self, force_refresh: bool = False) -> str:
        """Return a valid access token, minting one only when the cached one is stale."""
        with self._token_lock:
            cached = None if force_refresh else self._cached_token_locked()
            return cached if cached is not None else self._mint_token_locked(fresh=force_refresh)

    def _token_after_rejection(self, rejected: str) -> str:
        """Replace a token Daraja refused, unless another thread (or process) already did."""
        with self._token_lock:
            cached = self._cached_token_locked()
            if cached is not None and cached != rejected:
                return cached
            return self._mint_token_locked(refused=rejected)

    def _cached_token_locked(self) -> str | None:
        valid_until = self._token_valid_until
        if self._token is not None and valid_until is not None and self._clock.now() < valid_until:
            return self._token
        return self._shared_token(refused=None)

    def _shared_token(self, refused: str | None) -> str | None:
        """The token another process minted, if it is still good (and not the one refused)."""
        shared = self._token_store.load() if self._token_store is not None else None
        if shared is None or shared[0] == refused or self._clock.now() >= shared[1]:
            return None
        self._token, self._token_valid_until = shared
        return shared[0]

    def _mint_token_locked(self, refused: str | None = None, *, fresh: bool = False) -> str:
        if self._token_store is None:
            return self._mint_now()
        with self._token_store.mint_lock():
            shared = None if fresh else self._shared_token(refused)  # minted while we waited?
            if shared is not None:
                return shared
            token = self._mint_now()
            if self._token_valid_until is not None:
                self._token_store.save(token, self._token_valid_until)
            return token

    def _mint_now(self) -> str:
        url = self.credentials.base_url + OAUTH_PATH
        try:
            response = self._session.get(
                url,
                params={"grant_type": "client_credentials"},
                auth=(self.credentials.consumer_key, self.credentials.consumer_secret),
                timeout=self._timeout,
            )
        except requests.RequestException as err:
            raise transport_error(err, "oauth", push=False) from err

        body = json_object(response)
        if response.status_code == 200 and body is not None:
            token = body.get("access_token")
            lifetime = lifetime_seconds(body.get("expires_in"))
            if isinstance(token, str) and token and lifetime is not None:
                cache_for = max(lifetime - self._token_margin, lifetime // 2, 0)
                self._token = token
                self._token_valid_until = self._clock.now() + timedelta(seconds=cache_for)
                log.info("Daraja access token minted (cached %d s)", cache_for)
                return token
        self._token = None
        self._token_valid_until = None
        if response.status_code in (400, 401, 403) and body is None:
            error: DarajaError = DarajaAuthError(
                "Daraja refused the consumer key or secret", http_status=response.status_code
            )
        elif body is None or response.status_code == 200:
            error = DarajaUnavailable("Daraja OAuth answer was not the expected JSON", http_status=response.status_code)
        else:
            error = error_from_envelope(response.status_code, body)
        log.warning("Daraja OAuth failed: %s", error)
        raise error

    # -- API calls --------------------------------------------------------------------------

    def stk_push(
        self,
        *,
        phone: str,
        amount: int,
        account_reference: str,
        description: str,
        callback_url: str,
    ) -> StkPushAccepted:
        """Ask Daraja to prompt ``phone`` to pay ``amount`` whole shillings.

        Not retried, except once after a token refresh: a push that may have reached Daraja
        must never be sent twice. A lost answer raises :class:`DarajaTimeout` (outcome unknown).
        """
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError("amount must be a whole number of shillings")
        if not 1 <= amount <= MAX_AMOUNT:
            raise ValueError(f"amount must be between 1 and {MAX_AMOUNT}")
        if not isinstance(phone, str) or not MSISDN_PATTERN.match(phone):
            raise ValueError("phone must be a normalised MSISDN like 254712345678")
        reference = clean_reference(account_reference, MAX_ACCOUNT_REFERENCE, "account_reference")
        remarks = clean_reference(description, MAX_TRANSACTION_DESC, "description")
        callback = checked_callback_url(callback_url)

        creds = self.credentials
        timestamp = daraja_timestamp(self._clock.now())
        payload = {
            "BusinessShortCode": creds.shortcode,
            "Password": build_password(creds.shortcode, creds.passkey, timestamp),
            "Timestamp": timestamp,
            "TransactionType": creds.transaction_type,
            "Amount": amount,
            "PartyA": phone,
            "PartyB": creds.stk_party_b,
            "PhoneNumber": phone,
            "CallBackURL": callback,
            "AccountReference": reference,
            "TransactionDesc": remarks,
        }
        log.info("STK push to %s for KES %d, ref %s", mask_phone(phone), amount, reference)
        response, body = self._call_api(STK_PUSH_PATH, payload, push=True)
        if response.status_code == 200 and body is not None and code_text(body.get("ResponseCode")) == "0":
            merchant_id = body.get("MerchantRequestID")
            checkout_id = body.get("CheckoutRequestID")
            if isinstance(merchant_id, str) and isinstance(checkout_id, str) and checkout_id:
                log.info("STK push to %s accepted: %s", mask_phone(phone), mask_checkout_id(checkout_id))
                return StkPushAccepted(
                    merchant_request_id=merchant_id,
                    checkout_request_id=checkout_id,
                    customer_message=str(body.get("CustomerMessage") or ""),
                    response_description=str(body.get("ResponseDescription") or ""),
                )
        error = answer_error(response, body)
        log.warning("STK push to %s refused: %s", mask_phone(phone), error)
        raise error

    def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        """Ask Daraja how a push ended. "Still being processed" is ``pending=True``."""
        if not isinstance(checkout_request_id, str) or not _CHECKOUT_ID.match(checkout_request_id):
            raise ValueError("checkout_request_id is not a CheckoutRequestID")
        creds = self.credentials
        timestamp = daraja_timestamp(self._clock.now())
        payload = {
            "BusinessShortCode": creds.shortcode,
            "Password": build_password(creds.shortcode, creds.passkey, timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        }
        response, body = self._call_api(STK_QUERY_PATH, payload, push=False)
        if is_query_pending(response.status_code, body):
            return StkQueryResult(
                pending=True,
                result_code=None,
                result_desc=None,
                merchant_request_id=None,
                checkout_request_id=checkout_request_id,
            )
        if response.status_code == 200 and body is not None:
            code = code_text(body.get("ResultCode"))
            if code:
                merchant_id = body.get("MerchantRequestID")
                result = StkQueryResult(
                    # 4999 "still under processing" and codes never seen: not an outcome yet.
                    pending=not is_final_result(code),
                    result_code=code,
                    result_desc=str(body.get("ResultDesc") or ""),
                    merchant_request_id=str(merchant_id) if merchant_id else None,
                    checkout_request_id=str(body.get("CheckoutRequestID") or checkout_request_id),
                )
                log.info("STK query %s: ResultCode %s", mask_checkout_id(checkout_request_id), code)
                return result
        error = answer_error(response, body)
        log.warning("STK query %s failed: %s", mask_checkout_id(checkout_request_id), error)
        raise error

    def close(self) -> None:
        """Release pooled connections (only when this client created the session)."""
        if self._owns_session:
            self._session.close()

    def _call_api(
        self, path: str, payload: dict[str, Any], *, push: bool
    ) -> tuple[requests.Response, dict[str, Any] | None]:
        """POST with the cached token; on a token rejection refresh once and replay once."""
        token = self.access_token()
        response, body = self._post(path, payload, token, push=push)
        if not is_token_rejection(response.status_code, body):
            return response, body
        log.info("Daraja rejected the access token; refreshing once")
        token = self._token_after_rejection(token)
        response, body = self._post(path, payload, token, push=push)
        if is_token_rejection(response.status_code, body):
            error = error_from_envelope(response.status_code, body)
            raise DarajaAuthError(
                "Daraja rejected a freshly minted access token",
                error_code=error.error_code,
                request_id=error.request_id,
                http_status=response.status_code,
            )
        return response, body

    def _post(
        self, path: str, payload: dict[str, Any], token: str, *, push: bool
    ) -> tuple[requests.Response, dict[str, Any] | None]:
        request = self._prepared(path).copy()
        request.headers["Authorization"] = f"Bearer {token}"
        request.prepare_body(None, None, json=payload)
        try:
            response = self._session.send(request, timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as err:
            raise transport_error(err, path, push=push) from err
        return response, json_object(response)

    def _prepared(self, path: str) -> requests.PreparedRequest:
        """The POST to ``path`` prepared once and copied per call: ``Session.post`` merges
        the session's headers, cookies, hooks and settings and parses the URL anew every
        time, a tenth of an STK push's CPU in the soak, for a request that never changes
        but for its token and body. Daraja answers API calls without redirects."""
        prepared = self._prepared_posts.get(path)
        if prepared is None:
            prepared = self._session.prepare_request(requests.Request("POST", self.credentials.base_url + path))
            self._prepared_posts[path] = prepared
        return prepared
