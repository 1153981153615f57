"""Building STK callbacks in Daraja's real shapes and delivering them by HTTP POST.

Shapes (Daraja's published samples, tests/mpesa/corpus/): ResultCode an integer (except string codes such as
"SFC_IC0003"); on success Amount as a float-looking number (``20.00``), a date-encoded
receipt, a Balance item with no Value, TransactionDate and PhoneNumber as JSON numbers;
failures carry no CallbackMetadata. No signature header: the real one has none.

Delivery is loopback-only: a callback to any other host (or a ``.invalid`` name) is recorded as
undeliverable and never contacted.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from portal.clock import Clock, to_nairobi
from portal.mpesa.phones import mask_checkout_id
from portal.mpesa.simulator.settings import SimulatorKnobs
from portal.mpesa.simulator.state import TransactionSnapshot

log = logging.getLogger(__name__)

_AMOUNT_PLACEHOLDER = "__p2c_amount_placeholder__"


def styled_phone(msisdn: str, style: str) -> int | str:
    """PhoneNumber as Daraja variants write it (see ``PHONE_STYLES``)."""
    if style == "text":
        return msisdn
    if style == "star_masked":
        return f"{msisdn[:4]}*****{msisdn[-3:]}"
    if style == "x_masked":
        return f"{msisdn[:4]}XXXXX{msisdn[-3:]}"
    if style == "hashed":
        return hashlib.sha256(msisdn.encode("ascii")).hexdigest()
    if style == "local":
        return "0" + msisdn[3:]
    return int(msisdn)


def build_callback_body(
    transaction: TransactionSnapshot, *, include_balance: bool = True, phone_style: str = "number"
) -> bytes:
    """The exact bytes Daraja would POST for a finished transaction."""
    stk: dict[str, Any] = {
        "MerchantRequestID": transaction.merchant_request_id,
        "CheckoutRequestID": transaction.checkout_request_id,
        "ResultCode": transaction.result_code,
        "ResultDesc": transaction.result_desc,
    }
    if transaction.result_code == 0:
        completed_at = transaction.completed_at or transaction.created_at
        transaction_date = int(to_nairobi(completed_at).strftime("%Y%m%d%H%M%S"))
        items: list[dict[str, Any]] = [
            {"Name": "Amount", "Value": _AMOUNT_PLACEHOLDER},
            {"Name": "MpesaReceiptNumber", "Value": transaction.receipt},
        ]
        if include_balance:
            items.append({"Name": "Balance"})
        items.append({"Name": "TransactionDate", "Value": transaction_date})
        items.append({"Name": "PhoneNumber", "Value": styled_phone(transaction.phone, phone_style)})
        stk["CallbackMetadata"] = {"Item": items}
    text = json.dumps({"Body": {"stkCallback": stk}})
    # json.dumps cannot write 20.00; Daraja does, so splice the number in by hand.
    text = text.replace(json.dumps(_AMOUNT_PLACEHOLDER), f"{transaction.amount}.00", 1)
    return text.encode("utf-8")


@functools.lru_cache(maxsize=256)
def is_deliverable(url: str) -> bool:
    """Only loopback http(s) URLs are ever contacted; ``.invalid`` hosts never are.

    Remembered per URL: a run posts to a handful, thousands of times each (parsing the
    URL and the address every time was a twentieth of the simulator's CPU in the soak)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a garbage port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or host.endswith(".invalid"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CallbackNotDelivered(Exception):
    """No HTTP answer came back; ``kind`` names the failure as ``requests`` would
    (``ConnectionError``, ``ConnectTimeout``, ``ReadTimeout``): it goes in the attempt's record."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def post_json(url: str, body: bytes, timeout: float, kept: KeptConnections | None = None) -> int:
    """POST ``body`` as JSON on a connection of its own, as Daraja does; returns the status.

    With ``kept``, on a connection kept open from an earlier callback to the same origin
    when there is one (as the HTTPS proxy in front of the web app keeps its upstream ones);
    one the receiver closed meanwhile is replaced once, before any answer came.
    Plain ``http.client``: a ``requests`` session per callback cost the simulator about
    0.5 ms of CPU more per callback. HTTPS trusts the CA bundle in
    ``PAY2CONNECT_SIMULATOR_CA_BUNDLE`` (a staging proxy's own CA), else the system's.
    """
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    origin = (parts.scheme, parts.hostname or "", parts.port)
    connection = kept.take(origin) if kept is not None else None
    if connection is not None and connection.sock is not None:
        connection.sock.settimeout(timeout)  # this callback's timeout, not the one it was opened with
        try:
            return _post_on(connection, target, body, kept, origin, reused=True)
        except _StaleConnection:
            pass  # the receiver closed it while it was idle: once more on a new one
    connection = _connect(parts.scheme, origin[1], origin[2], timeout)
    return _post_on(connection, target, body, kept, origin, reused=False)


class _StaleConnection(Exception):
    """A kept connection the receiver had closed: no answer, nothing read."""


def _connect(scheme: str, host: str, port: int | None, timeout: float) -> http.client.HTTPConnection:
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("PAY2CONNECT_SIMULATOR_CA_BUNDLE") or None)
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.connect()
    except TimeoutError as err:
        raise CallbackNotDelivered("ConnectTimeout") from err
    except OSError as err:
        raise CallbackNotDelivered("ConnectionError") from err
    return connection


def _post_on(
    connection: http.client.HTTPConnection,
    target: str,
    body: bytes,
    kept: KeptConnections | None,
    origin: tuple[str, str, int | None],
    *,
    reused: bool,
) -> int:
    """One POST on ``connection``; kept for the next callback when ``kept`` and the answer allow."""
    keep = False
    try:
        try:
            connection.request("POST", target, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
        except TimeoutError as err:
            raise CallbackNotDelivered("ReadTimeout") from err
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
            if reused:
                raise _StaleConnection from err
            raise CallbackNotDelivered("ConnectionError") from err
        except (OSError, http.client.HTTPException) as err:
            raise CallbackNotDelivered("ConnectionError") from err
        keep = kept is not None and not response.will_close
        return response.status
    finally:
        if keep and kept is not None:
            kept.give_back(origin, connection)
        else:
            connection.close()


class KeptConnections:
    """Callback connections kept open between callbacks, idle ones per origin (scheme,
    host, port); any thread may take one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int | None], list[http.client.HTTPConnection]] = {}

    def take(self, origin: tuple[str, str, int | None]) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(origin)
            return idle.pop() if idle else None

    def give_back(self, origin: tuple[str, str, int | None], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.setdefault(origin, []).append(connection)

    def close(self) -> None:
        """Close every idle connection (the simulator stops)."""
        with self._lock:
            idle = [connection for connections in self._idle.values() for connection in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()


@dataclass(frozen=True)
class CallbackAttempt:
    """One try at POSTing a callback. ``status`` is None when no HTTP answer came back."""

    url: str
    body: bytes
    kind: str  # "original", "duplicate", "retry", "replay", "forged"
    checkout_request_id: str | None
    status: int | None
    error: str | None
    latency_seconds: float
    attempted_at: datetime

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json_body(self) -> Any:
        """The body decoded as JSON (for assertions); None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kind": self.kind,
            "checkout_request_id": self.checkout_request_id,
            "status": self.status,
            "error": self.error,
            "latency_seconds": round(self.latency_seconds, 4),
            "attempted_at": self.attempted_at.isoformat(),
            "body": self.body.decode("utf-8", errors="replace"),
        }


@dataclass
class _Job:
    due_at: datetime
    url: str
    body: bytes
    kind: str
    checkout_request_id: str | None
    retries_left: int = 0
    sequence: int = field(default=0)


class CallbackDispatcher:
    """Schedules callbacks by the injected clock and delivers them when due."""

    def __init__(self, *, clock: Clock, knobs: SimulatorKnobs) -> None:
        self.clock = clock
        self.knobs = knobs
        self._lock = threading.Lock()
        self._jobs: list[_Job] = []
        self._attempts: list[CallbackAttempt] = []
        self._dropped: list[str] = []
        self._sequence = 0
        self._kept = KeptConnections()

    def schedule(self, transaction: TransactionSnapshot) -> None:
        """Queue the callback for a finished transaction, applying drop/duplicate/delay knobs."""
        knobs = self.knobs
        with self._lock:
            if knobs.drop_callbacks or knobs.drop_next_callbacks > 0:
                if knobs.drop_next_callbacks > 0:
                    knobs.drop_next_callbacks -= 1
                self._dropped.append(transaction.checkout_request_id)
                log.info("Simulator dropped the callback for %s", mask_checkout_id(transaction.checkout_request_id))
                return
            body = build_callback_body(
                transaction, include_balance=knobs.include_balance_item, phone_style=knobs.callback_phone_style
            )
            finished = transaction.completed_at or self.clock.now()
            due = finished + timedelta(seconds=knobs.callback_delay_seconds)
            self._add_locked(due, transaction, body, "original", knobs.callback_retries)
            for copy in range(knobs.duplicate_callbacks):
                later = due + timedelta(seconds=knobs.duplicate_delay_seconds * (copy + 1))
                self._add_locked(later, transaction, body, "duplicate", 0)

    def take_due(self) -> list[_Job]:
        """Remove and return the jobs whose time has come, in order."""
        now = self.clock.now()
        with self._lock:
            due = [job for job in self._jobs if job.due_at <= now]
            self._jobs = [job for job in self._jobs if job.due_at > now]
        return sorted(due, key=lambda job: (job.due_at, job.sequence))

    def deliver(self, job: _Job) -> CallbackAttempt:
        """POST one job now; on failure, queue a retry if the job has retries left."""
        attempt = self._post(job.url, job.body, job.kind, job.checkout_request_id)
        if not attempt.delivered and job.retries_left > 0 and is_deliverable(job.url):
            with self._lock:
                self._sequence += 1
                self._jobs.append(
                    _Job(
                        due_at=self.clock.now() + timedelta(seconds=self.knobs.callback_retry_delay_seconds),
                        url=job.url,
                        body=job.body,
                        kind="retry",
                        checkout_request_id=job.checkout_request_id,
                        retries_left=job.retries_left - 1,
                        sequence=self._sequence,
                    )
                )
        return attempt

    def send_now(self, url: str, body: bytes, *, kind: str, checkout_request_id: str | None = None) -> CallbackAttempt:
        """POST an arbitrary body right away (forged callbacks, replays)."""
        return self._post(url, body, kind, checkout_request_id)

    @property
    def attempts(self) -> list[CallbackAttempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def dropped(self) -> list[str]:
        """CheckoutRequestIDs whose callback was deliberately lost."""
        with self._lock:
            return list(self._dropped)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._jobs)

    def close(self) -> None:
        """Close the connections kept open for callbacks (``callback_keep_alive``)."""
        self._kept.close()

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._attempts.clear()
            self._dropped.clear()

    def _add_locked(
        self, due: datetime, transaction: TransactionSnapshot, body: bytes, kind: str, retries: int
    ) -> None:
        self._sequence += 1
        self._jobs.append(
            _Job(
                due_at=due,
                url=transaction.callback_url,
                body=body,
                kind=kind,
                checkout_request_id=transaction.checkout_request_id,
                retries_left=retries,
                sequence=self._sequence,
            )
        )

    def _post(self, url: str, body: bytes, kind: str, checkout_request_id: str | None) -> CallbackAttempt:
        attempted_at = self.clock.now()
        status: int | None = None
        error: str | None = None
        started = time.monotonic()
        if not is_deliverable(url):
            error = "undeliverable: not a loopback URL, never contacted"
        else:
            try:
                kept = self._kept if self.knobs.callback_keep_alive else None
                status = post_json(url, body, self.knobs.callback_timeout_seconds, kept)
            except CallbackNotDelivered as err:
                error = err.kind
        attempt = CallbackAttempt(
            url=url,
            body=body,
            kind=kind,
            checkout_request_id=checkout_request_id,
            status=status,
            error=error,
            latency_seconds=time.monotonic() - started,
            attempted_at=attempted_at,
        )
        with self._lock:
            self._attempts.append(attempt)
        log.info(
            "Simulator callback %s for %s: %s",
            kind,
            mask_checkout_id(checkout_request_id) if checkout_request_id else "-",
            status if status is not None else error,
        )
        return attempt
