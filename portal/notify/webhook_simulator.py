"""`WebhookReceiver`: a real HTTP server that records every POST, for tests and the demo.

Any path takes a POST (use :attr:`WebhookReceiver.url`); the headers, raw body and parsed JSON
are recorded with the injected clock's time. Given the shared secret it checks
``X-Pay2connect-Signature`` over the raw body, as an owner's endpoint should, and answers 401
to a bad one. ``fail_with_status`` makes it answer e.g. 503 until set back to None.
``GET /`` lists what arrived (HTML, newest first), ``GET /api/received`` the same as JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from portal.clock import Clock, SystemClock
from portal.loopback import LoopbackServer
from portal.notify._pages import eat_time, render_list_page
from portal.notify._responses import html_response, json_response, text_response
from portal.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

log = logging.getLogger(__name__)

HOOK_PATH = "/hooks/pay2connect"


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST as it arrived."""

    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    json: Any
    signature_valid: bool | None  # None: no secret configured, nothing checked
    answered: int
    at: datetime

    @property
    def signature(self) -> str | None:
        return self.headers.get(SIGNATURE_HEADER.lower())

    @property
    def timestamp(self) -> str | None:
        return self.headers.get(TIMESTAMP_HEADER.lower())

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "headers": self.headers,
            "json": self.json,
            "body": self.body.decode("utf-8", "replace"),
            "signature_valid": self.signature_valid,
            "answered": self.answered,
            "at": self.at.isoformat(),
        }


class _Request(Request):
    max_content_length = 256 * 1024


class WebhookReceiver(LoopbackServer):
    """Records POSTs on 127.0.0.1; see the module docstring."""

    thread_name = "webhook-receiver"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: str | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.clock: Clock = clock or SystemClock()
        self.secret = secret
        #: Answer every POST with this status (e.g. 429, 500, 503) until set to None.
        self.fail_with_status: int | None = None
        #: Answer the next N POSTs with ``fail_next_status``.
        self.fail_next = 0
        self.fail_next_status = 503
        self._lock = threading.Lock()
        self._received: list[ReceivedWebhook] = []

    @property
    def url(self) -> str:
        """Where to point a :class:`~portal.notify.webhook.JsonWebhook`."""
        return self.base_url + HOOK_PATH

    def received(self) -> list[ReceivedWebhook]:
        """Every POST so far (also the refused ones), oldest first."""
        with self._lock:
            return list(self._received)

    def reset(self) -> None:
        """Forget what arrived. The failure knobs stay."""
        with self._lock:
            self._received.clear()

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = _Request(environ)
        try:
            response = self._route(request)
        except Exception:
            log.exception("Webhook receiver failed on %s %s", request.method, request.path)
            response = text_response("Internal Server Error", 500)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.method == "POST":
            return self._receive(request)
        if request.method != "GET":
            return text_response("Method Not Allowed", 405)
        if request.path == "/":
            return html_response(self._page())
        if request.path == "/api/received":
            return json_response({"received": [r.to_json() for r in self.received()]})
        return text_response("Not Found", 404)

    def _receive(self, request: Request) -> Response:
        try:
            body = request.get_data(cache=False)
        except HTTPException:  # over max_content_length
            return text_response("Payload Too Large", 413)
        headers = {key.lower(): value for key, value in request.headers.items()}
        valid: bool | None = None
        if self.secret is not None:
            valid = verify_signature(self.secret, body, request.headers.get(SIGNATURE_HEADER))
        with self._lock:
            status = 200
            if self.fail_next > 0:
                self.fail_next -= 1
                status = self.fail_next_status
            elif self.fail_with_status is not None:
                status = self.fail_with_status
            elif valid is False:
                status = 401
            self._received.append(
                ReceivedWebhook(
                    path=request.path,
                    headers=headers,
                    body=body,
                    json=_parse(body),
                    signature_valid=valid,
                    answered=status,
                    at=self.clock.now(),
                )
            )
        if status == 401:
            return text_response("bad signature", 401)
        return text_response("ok" if status < 300 else "unavailable", status)

    def _page(self) -> str:
        rows = []
        for r in reversed(self.received()):
            payload = r.json if isinstance(r.json, dict) else {}
            title = str(payload.get("title") or payload.get("event") or "")
            text = str(payload.get("text") or r.body.decode("utf-8", "replace"))
            signed = {None: "not checked", True: "valid", False: "INVALID"}[r.signature_valid]
            rows.append((eat_time(r.at), r.path, str(r.answered), signed, title, text))
        return render_list_page(
            title="Webhook receiver",
            hint="Every POST the portal sent here, newest first (EAT). The page refreshes every 5 seconds.",
            columns=("Time (EAT)", "Path", "Answered", "Signature", "Title", "Text"),
            rows=rows,
            empty="Nothing received yet.",
            wide_column=5,
        )


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None
