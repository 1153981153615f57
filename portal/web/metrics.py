"""Prometheus metrics at ``GET /metrics`` (prometheus-client, a registry per app)."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response
from peewee import fn
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.ledger.models import Grant, OutboxItem, Payment


class LedgerCollector:
    """Reads counts from the ledger at scrape time, so every process reports the truth."""

    def collect(self) -> Any:
        payments = CounterMetricFamily("pay2connect_payments", "Payments by state", labels=["status"])
        rows = Payment.select(Payment.status, fn.COUNT(Payment.id).alias("n")).group_by(Payment.status).dicts()
        for row in rows:
            payments.add_metric([row["status"]], row["n"])
        yield payments
        revenue = CounterMetricFamily("pay2connect_revenue_kes", "Paid amounts in KES")
        paid_total = Payment.select(fn.SUM(Payment.amount)).where(Payment.status == "paid").scalar()
        revenue.add_metric([], paid_total or 0)
        yield revenue
        live = GaugeMetricFamily("pay2connect_active_grants", "Grants with time left")
        live.add_metric([], Grant.select().where(Grant.status == "active").count())
        yield live
        outbox = GaugeMetricFamily("pay2connect_outbox_pending", "Router operations waiting for retry")
        outbox.add_metric([], OutboxItem.select().where(OutboxItem.done_at.is_null()).count())
        yield outbox


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    registry.register(LedgerCollector())
    up = Gauge("pay2connect_up", "1 while the web app runs", registry=registry)
    up.set(1)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
