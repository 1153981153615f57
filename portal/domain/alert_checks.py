"""The conditions the owner is alerted about, each judged from the ledger, the shared meters
or a probe, with the thresholds of ``[alerts]``. :mod:`portal.domain.alerts` turns them into
"fired", "still firing" and "resolved" messages; ``docs/monitoring/`` has the same rules for
Prometheus.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from portal.domain import signals
from portal.domain.context import Services
from portal.domain.observe import ROUTER_UP

log = logging.getLogger(__name__)


TITLES = {
    "payment_success_low": "M-Pesa payment success rate is low",
    "daraja_errors": "M-Pesa (Daraja) calls are failing",
    "daraja_slow": "M-Pesa (Daraja) is answering slowly",
    "router_down": "Router is unreachable",
    "outbox_stuck": "Router operations are stuck in the outbox",
    "callbacks_missing": "M-Pesa callbacks are not arriving",
    "ledger_down": "The database (ledger) is not answering",
}


def title_for(key: str) -> str:
    """``router_down:main`` -> ``Router is unreachable: main``."""
    base, _, detail = key.partition(":")
    title = TITLES.get(base, key)
    return f"{title}: {detail}" if detail else title


@dataclass(frozen=True)
class Check:
    """One alert's condition now. ``firing`` None: not enough to judge (state unchanged).
    ``hold_seconds``: how long it must last before the owner is told."""

    key: str
    title: str
    firing: bool | None
    summary: str
    severity: str = "warning"
    hold_seconds: float = 0.0
    advice: str = ""


def payment_success(services: Services) -> Check:
    a = services.settings.alerts
    share = signals.payment_success(a.payment_window)
    judged = share.total >= a.payment_window
    return Check(
        "payment_success_low",
        TITLES["payment_success_low"],
        (share.percent < a.payment_success_percent) if judged else None,
        f"{share.part} of the last {share.total} M-Pesa payments succeeded ({share.percent:.0f}%; "
        f"alert under {a.payment_success_percent:g}%).",
        advice="The Payments page shows why each one failed (cancelled, wrong PIN, no answer, refused).",
    )


def daraja(services: Services) -> list[Check]:
    a = services.settings.alerts
    try:
        calls = signals.daraja_calls(services, a.daraja_window_minutes)
    except Exception as err:  # noqa: BLE001 - Redis down: cannot judge, keep the state
        log.warning("Daraja figures unavailable: %s", err)
        unknown = "Daraja figures are unavailable (Redis does not answer)."
        return [Check(key, TITLES[key], None, unknown) for key in ("daraja_errors", "daraja_slow")]

    def judge(count: int, percent: float, threshold: float) -> bool | None:
        if count == 0:
            return False  # nothing failing (or no calls at all): nothing to alert about
        return percent > threshold if calls.total >= a.daraja_min_calls else None

    errors = 100.0 * calls.errors / calls.total if calls.total else 0.0
    slow = 100.0 * calls.slow / calls.total if calls.total else 0.0
    window = f"in the last {a.daraja_window_minutes} minutes"
    return [
        Check(
            "daraja_errors",
            TITLES["daraja_errors"],
            judge(calls.errors, errors, a.daraja_error_percent),
            f"{calls.errors} of {calls.total} Daraja calls failed {window} ({errors:.0f}%; "
            f"alert over {a.daraja_error_percent:g}%).",
            severity="critical",
            advice="Customers may not get the M-Pesa prompt. Check the Daraja keys and Safaricom's status; "
            "pause M-Pesa payments if it lasts.",
        ),
        Check(
            "daraja_slow",
            TITLES["daraja_slow"],
            judge(calls.slow, slow, a.slow_response_percent),
            f"{calls.slow} of {calls.total} Daraja calls took over {a.slow_response_seconds:g} s {window} "
            f"({slow:.0f}%; alert over {a.slow_response_percent:g}%).",
            advice="Customers wait longer for the prompt. Usually Safaricom's side; check the venue's internet too.",
        ),
    ]


def routers(services: Services) -> list[Check]:
    a = services.settings.alerts
    checks = []
    for name, router in services.routers.items():
        health = router.health()  # never raises
        services.meters.set_gauge(ROUTER_UP.name, {"router": name}, 1.0 if health.reachable else 0.0)
        problem = "; ".join(health.problems).rstrip(".") or "no answer"
        checks.append(
            Check(
                f"router_down:{name}",
                title_for(f"router_down:{name}"),
                not health.reachable,
                f"Router {name} has not answered for {a.router_down_minutes}+ minutes ({problem[:150]})."
                if not health.reachable
                else f"Router {name} answers.",
                severity="critical",
                hold_seconds=a.router_down_minutes * 60,
                advice="New customers cannot get online on it. Check its power and network cable; "
                "paid sessions wait in the outbox and start when it answers.",
            )
        )
    return checks


def outbox(services: Services, now: datetime) -> Check:
    a = services.settings.alerts
    backlog = signals.router_outbox(now)
    minutes = backlog.oldest_age_seconds / 60
    return Check(
        "outbox_stuck",
        TITLES["outbox_stuck"],
        minutes >= a.outbox_stuck_minutes,
        f"{backlog.waiting} router operations are waiting; the oldest for {minutes:.0f} minutes "
        f"(alert after {a.outbox_stuck_minutes}).",
        advice="Paid customers may be waiting to get online (or to be cut off). The Routers page shows the error.",
    )


def callbacks(services: Services) -> Check | None:
    """Only when a callback URL is set: without one, STK Query is the plan, not a fault."""
    if not services.settings.mpesa.callback_url:
        return None
    a = services.settings.alerts
    share = signals.pushes_without_callback(services, a)
    judged = share.total >= a.callback_window
    return Check(
        "callbacks_missing",
        TITLES["callbacks_missing"],
        (share.part >= a.callback_window) if judged else None,
        f"The last {share.total} payments that STK Query settled got no callback from M-Pesa "
        f"({share.part} without one).",
        advice="Payments still go through, more slowly (confirmed by STK Query). Check that mpesa.callback_url "
        "is reachable from the internet (DNS, certificate, firewall, the token in the URL).",
    )


def all_checks(services: Services, now: datetime) -> list[Check]:
    found = [payment_success(services), *daraja(services), *routers(services), outbox(services, now)]
    callback_check = callbacks(services)
    if callback_check is not None:
        found.append(callback_check)
    return found


LEDGER_DOWN = Check(
    "ledger_down",
    TITLES["ledger_down"],
    True,
    "The ledger database did not answer the worker. Payments cannot be recorded and nobody new gets online.",
    severity="critical",
    advice="Check the disk space and the database server, then restart pay2connect.",
)
