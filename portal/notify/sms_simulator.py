"""`SmsGatewaySimulator`: a real HTTP server that speaks Africa's Talking's SMS API.

``POST /version1/messaging`` checks the ``apiKey`` header and ``username``, validates ``to``
and ``message``, and answers the real JSON shape with HTTP 201. ``GET /`` is the outbox page
for the demo (every SMS "sent", newest first), ``GET /api/messages`` the same as JSON.
Knobs make it fail like the real gateway: a status for every request until cleared
(``fail_with_status``), the next N requests (``fail_next``), or one number's status
(``set_number_status``). Times come from the injected clock.
"""

from __future__ import annotations

import hmac
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from portal.clock import Clock, SystemClock
from portal.loopback import LoopbackServer
from portal.notify._pages import eat_time, render_list_page
from portal.notify._responses import html_response, json_response, text_response
from portal.notify.addresses import GATEWAY_NUMBER, mask_phone
from portal.notify.sms import MESSAGING_PATH, STATUS_NAMES, SUCCESS_STATUSES

log = logging.getLogger(__name__)

AUTH_FAILED = "The supplied authentication is invalid"
PRICE_PER_PART = 0.8  # KES, what a Kenyan SMS roughly costs
MAX_MESSAGE = 1600


@dataclass(frozen=True)
class SimulatedSms:
    """One recipient of one request, as the gateway recorded it."""

    message_id: str | None
    number: str
    message: str
    sender_id: str | None
    status_code: int
    status: str
    cost: str
    parts: int
    at: datetime

    @property
    def accepted(self) -> bool:
        return self.status_code in SUCCESS_STATUSES

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


class _Request(Request):
    max_content_length = 64 * 1024
    max_form_memory_size = 64 * 1024


class SmsGatewaySimulator(LoopbackServer):
    """A scriptable stand-in for ``api.africastalking.com`` on 127.0.0.1."""

    thread_name = "sms-gateway-sim"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "sandbox",
        api_key: str = "sim-at-api-key",
        allowed_sender_ids: frozenset[str] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.clock: Clock = clock or SystemClock()
        self.username = username
        self.api_key = api_key
        #: None accepts any ``from``; otherwise others get 402 InvalidSenderId.
        self.allowed_sender_ids = allowed_sender_ids
        #: Answer every request with this HTTP status (e.g. 500, 503) until set to None.
        self.fail_with_status: int | None = None
        #: Answer the next N requests with ``fail_next_status``.
        self.fail_next = 0
        self.fail_next_status = 500
        self._number_status: dict[str, int] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._records: list[SimulatedSms] = []
        self.requests_seen = 0

    # -- control ----------------------------------------------------------------------------

    def set_number_status(self, number: str, status_code: int | None) -> None:
        """Answer ``status_code`` (e.g. 406 UserInBlacklist, 500) for this number until set
        back to None. ``number`` in any of +2547..., 2547... form."""
        if status_code is not None and status_code not in STATUS_NAMES:
            raise ValueError(f"status_code must be one of {sorted(STATUS_NAMES)}")
        key = number.strip().lstrip("+")
        with self._lock:
            if status_code is None:
                self._number_status.pop(key, None)
            else:
                self._number_status[key] = status_code

    def messages(self) -> list[SimulatedSms]:
        """Every SMS the gateway accepted, oldest first."""
        with self._lock:
            return [r for r in self._records if r.accepted]

    def rejected(self) -> list[SimulatedSms]:
        """Recipients the gateway refused (per-recipient status), oldest first."""
        with self._lock:
            return [r for r in self._records if not r.accepted]

    def reset(self) -> None:
        """Forget messages, the request counter and per-number statuses. The failure knobs
        (``fail_with_status``, ``fail_next``) stay, as the Daraja simulator's knobs do."""
        with self._lock:
            self._records.clear()
            self._number_status.clear()
            self.requests_seen = 0

    @property
    def outbox_url(self) -> str:
        return self.base_url + "/"

    # -- HTTP -------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = _Request(environ)
        try:
            response = self._route(request)
        except Exception:
            log.exception("SMS simulator failed on %s %s", request.method, request.path)
            response = text_response("Internal Server Error", 500)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.path == MESSAGING_PATH:
            if request.method != "POST":
                return text_response("Method Not Allowed", 405)
            return self._messaging(request)
        if request.method != "GET":
            return text_response("Method Not Allowed", 405)
        if request.path == "/":
            return html_response(self._outbox_page())
        if request.path == "/api/messages":
            with self._lock:
                records = [r.to_json() for r in self._records]
            return json_response({"messages": records})
        return text_response("Not Found", 404)

    def _messaging(self, request: Request) -> Response:
        with self._lock:
            self.requests_seen += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return _gateway_error(self.fail_next_status)
            if self.fail_with_status is not None:
                return _gateway_error(self.fail_with_status)
        key = request.headers.get("apiKey", "")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return text_response(AUTH_FAILED, 401)
        if "application/json" not in request.headers.get("Accept", ""):
            return text_response("This simulator answers JSON only: send Accept: application/json", 406)
        try:
            form = request.form
        except HTTPException:  # body over the limit
            return text_response("Bad Request", 400)
        if not hmac.compare_digest(form.get("username", "").encode(), self.username.encode()):
            return text_response(AUTH_FAILED, 401)
        for name in ("to", "message"):
            if not form.get(name, "").strip():
                return text_response(f"Request is missing required form field '{name}'", 400)
        text = form["message"]
        if len(text) > MAX_MESSAGE:
            return text_response(f"message is longer than {MAX_MESSAGE} characters", 400)
        sender = form.get("from") or None
        numbers = [n.strip() for n in form["to"].split(",") if n.strip()]
        records = [self._record(number, text, sender) for number in numbers[:100]]
        sent = [r for r in records if r.accepted]
        total = sum(float(r.cost.split()[-1]) for r in sent)
        return json_response(
            {
                "SMSMessageData": {
                    "Message": f"Sent to {len(sent)}/{len(records)} Total Cost: KES {total:.4f}",
                    "Recipients": [_recipient_json(r) for r in records],
                }
            },
            status=201,
        )

    def _record(self, number: str, text: str, sender: str | None) -> SimulatedSms:
        now = self.clock.now()
        parts = _parts(text)
        with self._lock:
            code = 101
            if not GATEWAY_NUMBER.match(number):
                code, number = 403, number[:20]
            elif self.allowed_sender_ids is not None and sender not in self.allowed_sender_ids:
                code = 402
            else:
                code = self._number_status.get(number.lstrip("+"), 101)
            accepted = code in SUCCESS_STATUSES
            record = SimulatedSms(
                message_id=f"ATXid_{self._random.getrandbits(128):032x}" if accepted else None,
                number=("+" + number.lstrip("+")) if code != 403 else number,
                message=text,
                sender_id=sender,
                status_code=code,
                status="Success" if code == 101 else STATUS_NAMES[code],
                cost=f"KES {PRICE_PER_PART * parts:.4f}" if accepted else "0",
                parts=parts if accepted else 0,
                at=now,
            )
            self._records.append(record)
        log.info("SMS simulator: %s -> %s", mask_phone(record.number.lstrip("+")), record.status)
        return record

    def _outbox_page(self) -> str:
        with self._lock:
            records = list(reversed(self._records))
        rows = [
            (eat_time(r.at), r.number, r.sender_id or "", f"{r.status_code} {r.status}", r.message) for r in records
        ]
        return render_list_page(
            title="SMS outbox - Africa's Talking simulator",
            hint="Every SMS the portal sent through this simulator, newest first (EAT). "
            "Nothing leaves this machine. The page refreshes every 5 seconds.",
            columns=("Time (EAT)", "To", "From", "Status", "Message"),
            rows=rows,
            empty="No SMS sent yet.",
            wide_column=4,
        )


def _recipient_json(record: SimulatedSms) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "statusCode": record.status_code,
        "number": record.number,
        "status": record.status,
        "cost": record.cost,
        "messageId": record.message_id or "None",
    }
    if record.accepted:
        entry["messageParts"] = record.parts
    return entry


def _gateway_error(status: int) -> Response:
    """What a load balancer in front of a sick gateway sends: an HTML page, not JSON."""
    page = f"<html><body><h1>{status} Error</h1><p>The gateway is unavailable.</p></body></html>"
    return Response(page, status=status, content_type="text/html")


def _parts(text: str) -> int:
    """SMS parts: 160/153 characters for plain text, 70/67 for anything else (UCS-2)."""
    single, multi = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)
