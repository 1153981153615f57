"""What the product measures as it runs, and the wrappers that measure it.

Every metric counted in flight is defined here once (:data:`COUNTERS`, :data:`HISTOGRAMS`,
:data:`GAUGES`), recorded through :class:`~portal.live.meters.Meters` (shared by every process
through Redis) and exposed by :mod:`portal.domain.metrics` at ``/metrics``. Figures that the
ledger already holds (outbox depth, live sessions, success rate) are not counted here: they are
read at scrape time. ``docs/monitoring/`` uses these names.

:class:`ObservedGateway` and :class:`ObservedRouter` wrap the real M-Pesa gateway and routers
(:mod:`portal.wiring` applies them), so every Daraja call and router operation is timed and its
failures counted, wherever it happens (web process or worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.domain.context import Services
from portal.ledger.models import Grant, Payment, PaymentEvent
from portal.ledger.prepared import Prepared
from portal.ledger.queries import among
from portal.live.meters import Meters
from portal.mpesa.errors import DarajaError
from portal.mpesa.gateway import MpesaGateway, StkPushAccepted, StkQueryResult
from router import ActiveSession, DeviceGrant, HostEntry, ManagedUser, Router, RouterError, RouterHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricDef:
    """A metric's exposed name (counters get ``_total`` added), help text and label names."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


DARAJA_SECONDS = MetricDef(
    "pay2connect_daraja_request_seconds",
    "Time for one Daraja STK push or STK query (its token included), failures included",
    ("operation",),
    (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0),
)
DARAJA_ERRORS = MetricDef(
    "pay2connect_daraja_errors", "Daraja calls that failed, by operation and error", ("operation", "error")
)
ROUTER_SECONDS = MetricDef(
    "pay2connect_router_operation_seconds",
    "Time for one router operation, failures included",
    ("router", "operation"),
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ROUTER_FAILURES = MetricDef(
    "pay2connect_router_operation_failures",
    "Router operations that failed, by router, operation and error",
    ("router", "operation", "error"),
)
PUSH_OUTCOMES = MetricDef(
    "pay2connect_stk_push_outcomes",
    "M-Pesa pushes that ended, by final status and result code (refused: Daraja refused the push)",
    ("status", "result"),
)
CALLBACK_DELAY = MetricDef(
    "pay2connect_callback_delay_seconds",
    "From Daraja accepting a push to its callback arriving (first callback of each push)",
    (),
    (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0),
)
LOGIN_LATENCY = MetricDef(
    "pay2connect_payment_to_login_seconds",
    "From a payment becoming paid to the router logging the device in",
    (),
    (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
DELIVERIES = MetricDef(
    "pay2connect_deliveries",
    "Alert, receipt and reminder send attempts, by channel, kind and result (sent, retry, gave_up)",
    ("channel", "kind", "result"),
)
ROUTER_UP = MetricDef(
    "pay2connect_router_up", "1 when the router answered the worker's last probe, 0 when it did not", ("router",)
)
LAST_EVALUATION = MetricDef(
    "pay2connect_alerts_last_evaluation_timestamp_seconds", "When the worker last evaluated the alerts (unix time)"
)
COUNTERS = (DARAJA_ERRORS, ROUTER_FAILURES, PUSH_OUTCOMES, DELIVERIES)
HISTOGRAMS = (DARAJA_SECONDS, ROUTER_SECONDS, CALLBACK_DELAY, LOGIN_LATENCY)
GAUGES = (ROUTER_UP, LAST_EVALUATION)
#: The recent-outcome window of Daraja calls the alerts judge by ("ok", "error", "slow").
DARAJA_SERIES = "daraja"


def record_push_outcome(meters: Meters, status: str, result: str | None) -> None:
    meters.inc(PUSH_OUTCOMES.name, {"status": status, "result": (result or "none")[:20]})


_PUSH_ACCEPTED: Prepared[PaymentEvent] = Prepared(
    lambda payment_id: (
        PaymentEvent.select(PaymentEvent.at)
        .where(PaymentEvent.payment == payment_id, PaymentEvent.kind == "push_accepted")
        .order_by(PaymentEvent.id)
        .limit(1)
    )
)
#: The payment of a grant not yet logged in, for its time (one read for the login latency;
#: a subquery, not a join, so the row is a plain read of the payment's own columns).
_PENDING_LOGIN_PAYMENT: Prepared[Payment] = Prepared(
    lambda grant_id: (
        Payment.select(Payment.id, Payment.paid_at)
        .where(Payment.id.in_(Grant.select(Grant.payment).where(Grant.id == grant_id, Grant.router_state == "pending")))
        .limit(1)
    )
)


def record_callback_delay(services: Services, payment_id: int) -> None:
    """From Daraja accepting the push (its timeline) to now, when its callback arrived."""
    accepted = _PUSH_ACCEPTED.first(payment_id)
    if accepted is not None:
        seconds = (services.clock.now() - accepted.at).total_seconds()
        services.meters.observe(CALLBACK_DELAY.name, {}, max(seconds, 0.0), CALLBACK_DELAY.buckets)


def record_first_login(services: Services, grant_id: str) -> None:
    """Payment-to-login for a grant the router just logged in, once: only while the ledger
    still has the grant as not yet online (later logins are reconnects and reconciliation)."""
    if not grant_id.isdigit():
        return
    payment = _PENDING_LOGIN_PAYMENT.first(int(grant_id))
    if payment is None:
        return
    _observe_login_latency(services, payment.paid_at, services.clock.now())


def record_first_logins(services: Services, payment_ids: Sequence[int]) -> None:
    """:func:`record_first_login` for purchases a reconciliation logged in for the first time
    (paid while the router booted), from their payments' times in one read."""
    if not payment_ids:
        return
    now = services.clock.now()
    for (paid_at,) in Payment.select(Payment.paid_at).where(among(Payment.id, payment_ids)).tuples():
        _observe_login_latency(services, paid_at, now)


def _observe_login_latency(services: Services, paid_at: object, now: datetime) -> None:
    if isinstance(paid_at, datetime):
        seconds = (now - paid_at).total_seconds()
        services.meters.observe(LOGIN_LATENCY.name, {}, max(seconds, 0.0), LOGIN_LATENCY.buckets)


class ObservedGateway:
    """An :class:`MpesaGateway` that times each call and counts its failures."""

    def __init__(
        self,
        inner: MpesaGateway,
        meters: Meters,
        *,
        clock_now: Callable[[], datetime],
        slow_seconds: Callable[[], float],
        keep_seconds: int,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.inner = inner
        self._meters = meters
        self._now = clock_now
        self._slow = slow_seconds
        self._keep = keep_seconds
        self._timer = timer

    def _timed(self, operation: str, call: Callable[[], Any]) -> Any:
        started = self._timer()
        try:
            result = call()
        except DarajaError as err:
            self._done(operation, self._timer() - started, err.error_code or err.key)
            raise
        self._done(operation, self._timer() - started, None)
        return result

    def _done(self, operation: str, seconds: float, error: str | None) -> None:
        self._meters.observe(DARAJA_SECONDS.name, {"operation": operation}, seconds, DARAJA_SECONDS.buckets)
        outcome = "error" if error else ("slow" if seconds > self._slow() else "ok")
        if error:
            self._meters.inc(DARAJA_ERRORS.name, {"operation": operation, "error": error[:40]})
        self._meters.note(DARAJA_SERIES, outcome, self._now(), self._keep)

    def access_token(self, force_refresh: bool = False) -> str:
        # Not timed: mostly a cached token (no request at all). A token minted for a push or a
        # query is inside that call's time.
        return self.inner.access_token(force_refresh)

    def stk_push(
        self, *, phone: str, amount: int, account_reference: str, description: str, callback_url: str
    ) -> StkPushAccepted:
        def push() -> StkPushAccepted:
            return self.inner.stk_push(
                phone=phone,
                amount=amount,
                account_reference=account_reference,
                description=description,
                callback_url=callback_url,
            )

        result: StkPushAccepted = self._timed("stk_push", push)
        return result

    def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        result: StkQueryResult = self._timed("stk_query", lambda: self.inner.stk_query(checkout_request_id))
        return result

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # anything else the client offers (tests, tools)
        return getattr(self.inner, name)


class ObservedRouter:
    """A :class:`Router` that times each operation, counts failures, and reports the first
    login of each grant (``on_authorized``) for the payment-to-login histogram."""

    def __init__(
        self,
        inner: Router,
        meters: Meters,
        *,
        on_authorized: Callable[[str], None] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self._meters = meters
        self._on_authorized = on_authorized
        self._timer = timer

    def _timed(self, operation: str, call: Callable[[], Any], ours: Callable[[], float] = lambda: 0.0) -> Any:
        """Run ``call`` and record how long the router took: its real time less ``ours()``,
        the seconds spent meanwhile in our own code (a restore's recording of its parts)."""
        started = self._timer()
        labels = {"router": self.name, "operation": operation}
        try:
            result = call()
        except RouterError as err:
            self._meters.observe(ROUTER_SECONDS.name, labels, self._timer() - started - ours(), ROUTER_SECONDS.buckets)
            self._meters.inc(ROUTER_FAILURES.name, {**labels, "error": err.key})
            raise
        self._meters.observe(ROUTER_SECONDS.name, labels, self._timer() - started - ours(), ROUTER_SECONDS.buckets)
        return result

    def authorize(self, grant: DeviceGrant) -> int:
        kept_uptime: int = self._timed("authorize", lambda: self.inner.authorize(grant))
        if self._on_authorized is not None:
            try:
                self._on_authorized(grant.grant_id)
            except Exception as err:  # noqa: BLE001 - a metric must never fail a login
                log.debug("payment-to-login not recorded: %s", err)
        return kept_uptime

    def restore_many(
        self, grants: Sequence[DeviceGrant], on_restored: Callable[[list[str]], None] | None = None
    ) -> list[str]:
        if on_restored is None:
            restored: list[str] = self._timed("restore", lambda: self.inner.restore_many(grants))
            return restored
        recording = [0.0]  # seconds in on_restored: the ledger's, not the router's

        def timed_recording(macs: list[str]) -> None:
            started = self._timer()
            try:
                on_restored(macs)
            finally:
                recording[0] += self._timer() - started

        restored = self._timed(
            "restore", lambda: self.inner.restore_many(grants, timed_recording), ours=lambda: recording[0]
        )
        return restored

    def revoke(self, mac: str) -> None:
        self._timed("revoke", lambda: self.inner.revoke(mac))

    def host_for_ip(self, ip: str) -> HostEntry | None:
        entry: HostEntry | None = self._timed("host_lookup", lambda: self.inner.host_for_ip(ip))
        return entry

    def host_for_mac(self, mac: str) -> HostEntry | None:
        entry: HostEntry | None = self._timed("host_lookup", lambda: self.inner.host_for_mac(mac))
        return entry

    def active_sessions(self) -> list[ActiveSession]:
        sessions: list[ActiveSession] = self._timed("active_sessions", self.inner.active_sessions)
        return sessions

    def session_uptimes(self) -> dict[str, int]:
        uptimes: dict[str, int] = self._timed("active_sessions", self.inner.session_uptimes)
        return uptimes

    def managed_users(self) -> list[ManagedUser]:
        users: list[ManagedUser] = self._timed("managed_users", self.inner.managed_users)
        return users

    def health(self) -> RouterHealth:
        started = self._timer()
        result = self.inner.health()  # never raises; an unreachable router is a failed probe
        labels = {"router": self.name, "operation": "health"}
        self._meters.observe(ROUTER_SECONDS.name, labels, self._timer() - started, ROUTER_SECONDS.buckets)
        if not result.reachable:
            self._meters.inc(ROUTER_FAILURES.name, {**labels, "error": "router_unreachable"})
        return result

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # operations added to the Router protocol later
        return getattr(self.inner, name)
