"""Prometheus metrics at ``GET /metrics`` (prometheus-client, a registry per app)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.domain import metrics as issue14_metrics
from portal.domain.context import Services
from portal.domain.figures import ledger_figures


class LedgerCollector:
    """Turns the ledger's figures into Prometheus metric families at scrape time."""

    def collect(self) -> Any:
        figures = ledger_figures()
        payments = CounterMetricFamily("pay2connect_payments", "Payments by state", labels=["status"])
        for status, count in figures.payments_by_status.items():
            payments.add_metric([status], count)
        yield payments
        revenue = CounterMetricFamily("pay2connect_revenue_kes", "Paid amounts in KES")
        revenue.add_metric([], figures.revenue_kes)
        yield revenue
        live = GaugeMetricFamily("pay2connect_active_grants", "Grants with time left")
        live.add_metric([], figures.active_grants)
        yield live
        outbox = GaugeMetricFamily("pay2connect_outbox_pending", "Router operations waiting for retry")
        outbox.add_metric([], figures.outbox_waiting)
        yield outbox


class PortalCollector:
    """Alerts, receipts and the figures behind them (issue 14): the ledger read at scrape time
    and the meters every process shares through Redis (:mod:`portal.domain.metrics`)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Any:
        services: Services = self.app.extensions["pay2connect"]
        yield from issue14_metrics.collect(services)


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    registry.register(LedgerCollector())
    registry.register(PortalCollector(app))
    up = Gauge("pay2connect_up", "1 while the web app runs", registry=registry)
    up.set(1)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
