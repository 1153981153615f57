"""Prometheus metrics at ``GET /metrics`` (prometheus-client, a registry per app), and who may
read them: loopback, ``[portal] monitoring_networks``, or ``Authorization: Bearer
<monitoring_token>``. The hotspot's customers see the venue's revenue otherwise.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Flask, Response, abort, request
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from portal.domain import metrics as issue14_metrics
from portal.domain.context import Services
from portal.domain.figures import ledger_figures
from portal.web.context import services


def monitoring_allowed() -> bool:
    """True for loopback, a configured monitoring network, or the bearer token.

    ``request.remote_addr`` is the real client here: behind a trusted proxy the proxy's own
    loopback address has already been replaced by the one it forwarded for.
    """
    portal = services().settings.portal
    header = request.headers.get("Authorization", "")
    if portal.monitoring_token and header.startswith("Bearer "):
        offered = header[len("Bearer ") :].strip().encode()
        if hmac.compare_digest(offered, portal.monitoring_token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if address.is_loopback:
        return True
    return any(address in ipaddress.ip_network(net, strict=False) for net in portal.monitoring_networks)


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
        if not monitoring_allowed():
            abort(404)  # not 403: nothing here for the hotspot's customers to find
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
