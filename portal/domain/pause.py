"""Stopping M-Pesa prompts: the owner's pause switch, and the automatic pause when Daraja fails.

The owner's switch lives in the ledger (:class:`~portal.ledger.models.OperatorSwitch`), so it
survives restarts and the loss of Redis, and every web process reads it on every request
(one indexed row): it takes effect at once everywhere. While it is on no STK push is sent;
payments already pending are still confirmed by callbacks and the worker's STK Query.

The automatic pause is a circuit breaker over the live store's sliding-window counters:
``pause_after_failures`` Daraja failures that say "M-Pesa is struggling" (5xx, 500.003.x
throttling, timeouts) within ``failure_window_seconds`` stop new pushes for
``pause_cooldown_seconds``; customers read "payments are slow" instead of failing one at a
time. It lifts on its own; the first push after it is a probe, and if that one fails too
the pause starts again at once. Losing Redis forgets it (the next failures trip it again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.clock import Clock
from portal.domain.accounts import audit
from portal.domain.context import Services
from portal.domain.errors import PortalError
from portal.ledger.models import OperatorSwitch
from portal.ledger.prepared import Prepared
from portal.mpesa.errors import DarajaError, DarajaThrottled, DarajaTimeout, DarajaUnavailable

log = logging.getLogger(__name__)

SWITCH = "payments_paused"
FAILURES_KEY = "daraja:failures"
TRIPPED_KEY = "daraja:slow"
SUCCESS_KEY = "daraja:ok"
#: Daraja errors that mean "M-Pesa itself is struggling", not "this request or customer".
STRUGGLING = (DarajaThrottled, DarajaUnavailable, DarajaTimeout)


class PaymentsPaused(PortalError):
    """No prompt is sent: the owner paused payments (``payments_paused``) or M-Pesa is
    failing and the automatic pause is on (``payments_slow``)."""

    key = "payments_paused"
    http_status = 503


@dataclass(frozen=True)
class PauseState:
    """Whether prompts may be sent now, and why not."""

    manual: bool
    reason: str
    changed_by: str
    changed_at: datetime | None
    slow_until: datetime | None  # end of the automatic pause, when one is on
    #: An automatic pause ended less than a failure window ago: a push sent now is one of the
    #: probes whose success lifts it for good (see :func:`note_push_success`).
    after_pause: bool = False

    @property
    def slow(self) -> bool:
        return self.slow_until is not None

    @property
    def paused(self) -> bool:
        return self.manual or self.slow

    @property
    def message_key(self) -> str | None:
        if self.manual:
            return "payments_paused"
        return "payments_slow" if self.slow else None


_SWITCH: Prepared[OperatorSwitch] = Prepared(
    lambda name: OperatorSwitch.select().where(OperatorSwitch.name == name).limit(1)
)


def _switch() -> OperatorSwitch | None:
    return _SWITCH.first(SWITCH)


def manual_state() -> PauseState:
    """The owner's switch alone (for the CLI, which has no Redis to read the automatic pause)."""
    row = _switch()
    return PauseState(
        manual=bool(row and row.on),
        reason=row.reason if row else "",
        changed_by=row.changed_by if row else "",
        changed_at=row.changed_at if row else None,
        slow_until=None,
    )


def state(services: Services) -> PauseState:
    """Read the switch (ledger) and the automatic pause (Redis) now; never cached."""
    row = _switch()
    manual = bool(row and row.on)
    now = services.clock.now()
    m = services.settings.mpesa
    age = _tripped_age(services, now)
    slow_until, after_pause = None, False
    if age is not None and age < m.pause_cooldown_seconds:
        slow_until = now + timedelta(seconds=m.pause_cooldown_seconds - age)
    elif age is not None:
        after_pause = age < m.pause_cooldown_seconds + m.failure_window_seconds
    return PauseState(
        manual=manual,
        reason=row.reason if row else "",
        changed_by=row.changed_by if row else "",
        changed_at=row.changed_at if row else None,
        slow_until=slow_until,
        after_pause=after_pause,
    )


def _tripped_age(services: Services, now: datetime) -> float | None:
    """Seconds since the automatic pause last started, or None (never, or long forgotten)."""
    try:
        return services.live.last_hit_age(TRIPPED_KEY, now)
    except Exception as err:  # noqa: BLE001 - Redis down: the breaker is forgotten, payments go on
        log.warning("cannot read the automatic pause: %s", err)
        return None


def check_can_push(services: Services) -> PauseState:
    """Raise :class:`PaymentsPaused` when no STK push may be sent now; else the state read."""
    current = state(services)
    if current.message_key:
        raise PaymentsPaused(current.message_key)
    return current


def _set(clock: Clock, on: bool, actor: str, reason: str) -> bool:
    now = clock.now()
    reason = " ".join((reason or "").split())[:200]
    with OperatorSwitch._meta.database.atomic():
        row = _switch()
        if row is not None and row.on == on:
            return False
        if row is None:
            OperatorSwitch.create(name=SWITCH, on=on, reason=reason, changed_by=actor[:40], changed_at=now)
        else:
            OperatorSwitch.update(on=on, reason=reason, changed_by=actor[:40], changed_at=now).where(
                OperatorSwitch.id == row.id
            ).execute()
        audit(actor, "payments.pause" if on else "payments.resume", clock, reason=reason)
    log.warning("M-Pesa payments %s by %s%s", "paused" if on else "resumed", actor, f": {reason}" if reason else "")
    return True


def pause_payments(clock: Clock, *, actor: str, reason: str = "") -> bool:
    """Stop every STK push until resumed (only the ledger is needed: the CLI works with the
    web processes running or not). False when payments were already paused."""
    return _set(clock, True, actor, reason)


def resume_payments(clock: Clock, *, actor: str, reason: str = "") -> bool:
    """Allow STK pushes again. False when payments were not paused."""
    return _set(clock, False, actor, reason)


def note_push_failure(services: Services, err: DarajaError) -> bool:
    """Count a failed push; start the automatic pause when M-Pesa keeps failing. True when it started."""
    if not isinstance(err, STRUGGLING):
        return False
    m = services.settings.mpesa
    now = services.clock.now()
    live = services.live
    failures = live.hit(FAILURES_KEY, now, m.failure_window_seconds)
    tripped_age = live.last_hit_age(TRIPPED_KEY, now)
    if tripped_age is not None and tripped_age < m.pause_cooldown_seconds:
        return False  # already paused (a push that was in flight when it started)
    probing = False  # the first pushes after an automatic pause ended, before any success
    if tripped_age is not None and tripped_age < m.pause_cooldown_seconds + m.failure_window_seconds:
        ok_age = live.mark_age(SUCCESS_KEY, now)
        probing = ok_age is None or ok_age > tripped_age - m.pause_cooldown_seconds
    if failures < m.pause_after_failures and not probing:
        return False
    live.hit(TRIPPED_KEY, now, m.pause_cooldown_seconds + m.failure_window_seconds)
    audit(
        "system",
        "payments.slow",
        services.clock,
        failures=failures,
        window_seconds=m.failure_window_seconds,
        cooldown_seconds=m.pause_cooldown_seconds,
        last_error=err.key,
        probe_failed=probing,
    )
    log.warning(
        "M-Pesa is failing (%d failures in %d s, last %s): no prompts for %d s",
        failures,
        m.failure_window_seconds,
        err.key,
        m.pause_cooldown_seconds,
    )
    return True


def note_push_success(services: Services, sent_in: PauseState) -> None:
    """A push went through: a probe after an automatic pause succeeded. ``sent_in``: the
    state the push was sent in. Only a push sent after a pause is a probe: a failure looks
    at the last success only then (:func:`note_push_failure`), so the pushes of ordinary
    hours write nothing (one Redis round trip fewer on every payment)."""
    if sent_in.after_pause:
        services.live.mark(SUCCESS_KEY, services.clock.now(), services.settings.mpesa.pause_cooldown_seconds * 2 + 60)
