"""Alerts for the owner, evaluated by the worker (a venue without Prometheus still gets them).

Each condition of :mod:`portal.domain.alert_checks` has a row in ``alert_state``: ``ok``, then
``pending`` while it must still last (a router down for N minutes), then ``firing``. Firing
queues one message per recipient (owner phones, owner emails, the webhook) through the
delivery queue; while it lasts it is repeated at most every ``repeat_hours``; when it clears
"resolved" is queued once. State changes are conditional UPDATEs, so two evaluators never
send the same news twice.

The ledger being down is the one alert that cannot use the ledger: its state lives in Redis
(:class:`~portal.live.meters.Meters` records) and its messages are sent directly, then
recorded in the ledger once it answers again.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from portal.domain.alert_checks import LEDGER_DOWN, Check, all_checks, title_for
from portal.domain.context import Services
from portal.domain.deliveries import Message, enqueue, masked
from portal.domain.observe import LAST_EVALUATION
from portal.ledger.models import AlertState
from portal.notify import ChannelName, DeliveryFailed, Outgoing, to_msisdn

log = logging.getLogger(__name__)

PHASE_WORDS = {"firing": "ALERT", "repeat": "STILL", "resolved": "RESOLVED"}
LEDGER_RECORD = "alert:ledger_down"
_fallback_records: dict[str, dict[str, str]] = {}  # when Redis is down too


def targets(services: Services) -> list[tuple[ChannelName, str]]:
    """``(channel, recipient)`` for every configured owner contact."""
    a = services.settings.alerts
    found: list[tuple[ChannelName, str]] = []
    if "sms" in services.channels:
        found += [("sms", to_msisdn(phone)) for phone in a.owner_phones]
    if "email" in services.channels:
        found += [("email", address) for address in a.owner_emails]
    if "webhook" in services.channels:
        found.append(("webhook", ""))
    return found


def compose(services: Services, check: Check, phase: str, since: datetime | None, channel: str) -> dict[str, Any]:
    """Subject, body, event, severity and data of one alert message."""
    venue = services.settings.portal.venue_name
    word = PHASE_WORDS[phase]
    title = f"{check.title}: resolved" if phase == "resolved" else check.title
    admin = f"{services.settings.portal.public_url.rstrip('/')}/admin/"
    if channel == "sms":
        body = f"[{venue}] {word}: {title}. {check.summary if phase != 'resolved' else ''}".strip()
    else:
        lines = [f"{word}: {title}", "", check.summary if phase != "resolved" else "The condition has cleared."]
        if since is not None:
            lines.append(f"Since: {since.isoformat(timespec='seconds')}")
        if phase != "resolved" and check.advice:
            lines += ["", check.advice]
        lines += ["", f"Admin: {admin}"]
        body = "\n".join(lines)
    return {
        "subject": f"[{venue}] {word}: {title}"[:200],
        "body": body[:1500],
        "event": check.key.split(":")[0],
        "severity": "resolved" if phase == "resolved" else check.severity,
        "data": {
            "alert": check.key,
            "status": phase,
            "summary": check.summary,
            "since": since.isoformat() if since else None,
            "admin": admin,
        },
    }


def _queue_messages(services: Services, check: Check, phase: str, state: AlertState) -> int:
    stamp = int((state.fired_at or services.clock.now()).timestamp())
    queued = 0
    for channel, recipient in targets(services):
        digest = hashlib.sha256(f"{channel}:{recipient}".encode()).hexdigest()[:10]
        parts = compose(services, check, phase, state.since or state.fired_at, channel)
        key = f"alert:{check.key}:{stamp}:{phase}{state.times_sent}:{digest}"
        kind = "resolved" if phase == "resolved" else "alert"
        queued += enqueue(services, Message(key=key, kind=kind, channel=channel, recipient=recipient, **parts))
    return queued


def advance(services: Services, check: Check, now: datetime) -> int:
    """Move one alert's state for what its check says now; returns the messages queued."""
    state, _ = AlertState.get_or_create(key=check.key, defaults={"updated_at": now})
    if check.firing is None:
        return 0
    open_ = state.status in ("ok", "pending")
    fields: dict[str, Any] = {"summary": check.summary[:300], "severity": check.severity, "updated_at": now}
    phase = None
    if check.firing and open_:
        since = state.since if state.status == "pending" and state.since else now
        if (now - since).total_seconds() >= check.hold_seconds:
            fields.update(status="firing", since=since, fired_at=now, last_sent_at=now, times_sent=1, resolved_at=None)
            phase = "firing"
        else:
            fields.update(status="pending", since=since)
    elif check.firing:
        repeat = timedelta(hours=services.settings.alerts.repeat_hours)
        if state.last_sent_at is None or now - state.last_sent_at >= repeat:
            fields.update(last_sent_at=now, times_sent=state.times_sent + 1)
            phase = "repeat"
    elif state.status == "firing":
        fields.update(status="ok", resolved_at=now)
        phase = "resolved"
    elif state.status == "pending":
        fields.update(status="ok", since=None)
    # Conditional on what was read: of two evaluators racing, one moves it and sends.
    changed = (
        AlertState.update(**fields)
        .where(
            AlertState.id == state.id,
            AlertState.status == state.status,
            AlertState.times_sent == state.times_sent,
        )
        .execute()
    )
    if not changed or phase is None:
        return 0
    return _queue_messages(services, check, phase, AlertState.get_by_id(state.id))


def evaluate(services: Services) -> int:
    """The worker's alert job: every check, every state change. Returns messages queued or sent.

    Connects to the ledger itself (and survives it being down), so the worker runs it
    without opening the database first (``Job(..., ledger=False)``).
    """
    now = services.clock.now()
    services.meters.set_gauge(LAST_EVALUATION.name, {}, now.timestamp())  # the worker is alive
    if not services.settings.alerts.enabled:
        return 0
    if not _ledger_answers(services):
        return _ledger_down(services, now)
    try:
        sent = _ledger_back(services, now)
        checks = all_checks(services, now)
        for check in checks:
            sent += advance(services, check, now)
        sent += _forget(services, {c.key for c in checks} | {LEDGER_DOWN.key}, now)
        return sent
    finally:
        if not services.db.is_closed():
            services.db.close()


def _forget(services: Services, current: set[str], now: datetime) -> int:
    """Resolve alerts nobody checks any more (a router taken out of the config)."""
    sent = 0
    for state in AlertState.select().where(AlertState.status != "ok", AlertState.key.not_in(list(current))):
        check = Check(state.key, title_for(state.key), False, "No longer checked (removed from the configuration).")
        sent += advance(services, check, now)
    return sent


def firing_alerts() -> list[AlertState]:
    """What the admin banner shows, most severe first."""
    rows = list(AlertState.select().where(AlertState.status == "firing").order_by(AlertState.fired_at))
    return sorted(rows, key=lambda s: s.severity != "critical")


# -- the ledger itself ----------------------------------------------------------------------


def _ledger_answers(services: Services) -> bool:
    try:
        services.db.connect(reuse_if_open=True)
        services.db.execute_sql("SELECT 1").fetchone()
        return True
    except Exception as err:  # noqa: BLE001 - any driver error means "not answering"
        log.error("ledger does not answer: %s", err)
        try:
            services.db.close()
        except Exception:  # noqa: BLE001 - already broken
            pass
        return False


def _record(services: Services) -> dict[str, str]:
    try:
        return services.meters.get_record(LEDGER_RECORD)
    except Exception:  # noqa: BLE001 - Redis down as well: remember in this process
        return dict(_fallback_records.get(LEDGER_RECORD, {}))


def _save(services: Services, record: dict[str, str]) -> None:
    _fallback_records[LEDGER_RECORD] = dict(record)
    try:
        services.meters.put_record(LEDGER_RECORD, record)
    except Exception as err:  # noqa: BLE001 - kept in this process meanwhile
        log.warning("ledger alert state kept in memory only: %s", err)


def _ledger_down(services: Services, now: datetime) -> int:
    """Tell every target directly (no queue without a ledger), once per round; a new round
    after ``repeat_hours``. A target that failed is tried again on the next evaluation."""
    record = _record(services) or {"since": now.isoformat(), "round_at": now.isoformat(), "round": "1", "sent": ""}
    round_at = datetime.fromisoformat(record["round_at"])
    if now - round_at >= timedelta(hours=services.settings.alerts.repeat_hours):
        record.update(round_at=now.isoformat(), round=str(int(record["round"]) + 1), sent="")
    done = set(filter(None, record["sent"].split(",")))
    phase = "firing" if record["round"] == "1" else "repeat"
    since = datetime.fromisoformat(record["since"])
    sent = 0
    for channel, recipient in targets(services):
        digest = hashlib.sha256(f"{channel}:{recipient}".encode()).hexdigest()[:10]
        if digest in done:
            continue
        parts = compose(services, LEDGER_DOWN, phase, since, channel)
        message = Outgoing(channel=channel, to=recipient, reference=f"ledger-down-{record['round']}", **parts)
        try:
            services.channels[channel].send(message)
        except DeliveryFailed as err:
            log.warning("ledger alert to %s not sent: %s", masked(channel, recipient), err)
            continue
        done.add(digest)
        sent += 1
    record["sent"] = ",".join(sorted(done))
    _save(services, record)
    return sent


def _ledger_back(services: Services, now: datetime) -> int:
    """The ledger answers again: record the outage as an alert that fired and resolved, and
    queue "resolved" to everyone."""
    record = _record(services)
    if not record:
        return 0
    since = datetime.fromisoformat(record["since"])
    AlertState.get_or_create(key=LEDGER_DOWN.key, defaults={"updated_at": now})
    AlertState.update(
        status="firing", since=since, fired_at=since, last_sent_at=now, times_sent=int(record["round"]), updated_at=now
    ).where(AlertState.key == LEDGER_DOWN.key).execute()
    check = Check(
        LEDGER_DOWN.key, LEDGER_DOWN.title, False, f"The ledger answers again (down since {since:%H:%M} UTC)."
    )
    queued = advance(services, check, now)
    _fallback_records.pop(LEDGER_RECORD, None)
    try:
        services.meters.drop_record(LEDGER_RECORD)
    except Exception as err:  # noqa: BLE001 - dropped from memory; Redis will be asked again
        log.warning("ledger alert record not cleared: %s", err)
    return queued
