"""The metric families behind ``GET /metrics`` for issue 14, built at scrape time.

Two sources, both shared by every web process and the worker, so any process's ``/metrics``
tells the same story however many run:

- the ledger, read now: payment success rate over the last N pushes, outbox depth and oldest
  age, the delivery queue, live sessions per router, alert state, pushes without a callback;
- the meters in Redis (:mod:`portal.live.meters`): Daraja and router latency and failures,
  push outcomes, callback delay, payment-to-login, deliveries (defined in
  :mod:`portal.domain.observe`).

A part that cannot be read is left out of this scrape (``pay2connect_ledger_up`` says 0 for
the ledger), never turned into a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from portal.domain import signals
from portal.domain.context import Services
from portal.domain.observe import COUNTERS, GAUGES, HISTOGRAMS
from portal.ledger.models import AlertState

log = logging.getLogger(__name__)


def _gauge(name: str, text: str, value: float | None = None, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=list(labels) or None)
    if value is not None:
        family.add_metric([], value)
    return family


def from_meters(services: Services) -> Iterator[Metric]:
    meters = services.meters
    for spec in COUNTERS:
        counter = CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        for labels, value in sorted(meters.counters(spec.name).items()):
            counter.add_metric([dict(labels).get(n, "") for n in spec.labels], value)
        yield counter
    for spec in HISTOGRAMS:
        histogram = HistogramMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        for labels, data in sorted(meters.histograms(spec.name).items()):
            values = [dict(labels).get(n, "") for n in spec.labels]
            histogram.add_metric(values, data.cumulative(spec.buckets), data.total)
        yield histogram
    for spec in GAUGES:
        gauge = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        for labels, value in sorted(meters.gauges(spec.name).items()):
            gauge.add_metric([dict(labels).get(n, "") for n in spec.labels], value)
        yield gauge
    a = services.settings.alerts
    calls = signals.daraja_calls(services, a.daraja_window_minutes)
    window = f" over the last {a.daraja_window_minutes} minutes"
    yield _gauge("pay2connect_daraja_calls_recent", "Daraja pushes and queries" + window, calls.total)
    yield _gauge(
        "pay2connect_daraja_error_ratio",
        "Share of Daraja calls that failed" + window + " (0 with no calls)",
        calls.errors / calls.total if calls.total else 0.0,
    )
    yield _gauge(
        "pay2connect_daraja_slow_ratio",
        f"Share of Daraja calls slower than {a.slow_response_seconds:g} s" + window + " (0 with no calls)",
        calls.slow / calls.total if calls.total else 0.0,
    )


def from_ledger(services: Services) -> Iterator[Metric]:
    now = services.clock.now()
    a = services.settings.alerts
    share = signals.payment_success(a.payment_window)
    yield _gauge(
        "pay2connect_payment_success_ratio",
        f"Paid share of the last {a.payment_window} M-Pesa pushes that ended (1 with none yet)",
        share.ratio if share.ratio is not None else 1.0,
    )
    yield _gauge("pay2connect_payment_success_window", "How many ended pushes the success ratio is over", share.total)
    outbox = signals.router_outbox(now)
    yield _gauge("pay2connect_outbox_depth", "Router operations waiting in the outbox", outbox.waiting)
    yield _gauge(
        "pay2connect_outbox_oldest_age_seconds", "Age of the oldest waiting router operation", outbox.oldest_age_seconds
    )
    queue = signals.delivery_queue(now)
    yield _gauge("pay2connect_deliveries_waiting", "Alerts, receipts and reminders due and not yet sent", queue.waiting)
    yield _gauge(
        "pay2connect_delivery_oldest_age_seconds",
        "Age of the oldest message due and not yet sent",
        queue.oldest_age_seconds,
    )
    sessions = _gauge("pay2connect_live_sessions", "Sessions with time left, per router", labels=("router",))
    counts = signals.live_sessions(now)
    for name in sorted(set(services.routers) | set(counts)):
        sessions.add_metric([name], counts.get(name, 0))
    yield sessions
    missing = signals.pushes_without_callback(services, a) if services.settings.mpesa.callback_url else None
    yield _gauge(
        "pay2connect_pushes_without_callback",
        f"Of the last {a.callback_window} pushes settled by STK Query, how many got no callback",
        missing.part if missing else 0,
    )
    firing = _gauge("pay2connect_alert_firing", "1 while the worker's alert is firing", labels=("alert",))
    for key, status in AlertState.select(AlertState.key, AlertState.status).tuples():
        firing.add_metric([key], 1.0 if status == "firing" else 0.0)
    yield firing


def collect(services: Services) -> Iterator[Metric]:
    """Everything above; a part that fails is logged and skipped."""
    try:
        services.db.execute_sql("SELECT 1").fetchone()
        ledger_up = True
    except Exception as err:  # noqa: BLE001 - any driver error means "down"
        log.warning("metrics: ledger does not answer: %s", err)
        ledger_up = False
    yield _gauge("pay2connect_ledger_up", "1 when the ledger answered this scrape", 1.0 if ledger_up else 0.0)
    parts = [("meters", from_meters)] + ([("ledger", from_ledger)] if ledger_up else [])
    for name, part in parts:
        try:
            families = list(part(services))
        except Exception as err:  # noqa: BLE001 - a scrape shows what it can
            log.warning("metrics: %s not readable: %s", name, err)
            continue
        yield from families
