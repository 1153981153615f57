"""Wires the web layer: extensions, error pages, blueprints. Called by ``create_app``."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.ledger.database import database
from portal.wiring import Services

log = logging.getLogger(__name__)
csrf = CSRFProtect()


def services() -> Services:
    """The process's :class:`Services` (views only; services never see ``request``)."""
    return current_app.extensions["pay2connect"]


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/metrics":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def init_app(app: Flask) -> None:
    from portal.web import admin, api, i18n, metrics
    from portal.web.customer import splash

    settings = app.config["PAY2CONNECT_SETTINGS"]
    if settings.portal.trusted_proxies:
        n = settings.portal.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    csrf.init_app(app)
    i18n.init_app(app)
    metrics.init_app(app)

    @app.before_request
    def _connect_db() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_db(_exc: BaseException | None) -> None:
        if not database.is_closed():
            database.close()

    @app.after_request
    def _no_store(response: Any) -> Any:
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        return error_response(err.code or 500, err.name, err.description or "")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:  # last line of defence: log it, never show a trace
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong", "Please try again in a moment.")

    csrf.exempt(api.bp)
    csrf.exempt(splash.bp)
    app.register_blueprint(splash.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")


def error_response(status: int, title: str, detail: str) -> Any:
    if wants_json():
        body = {"success": False, "message": detail or title}
        if request.path.startswith("/api/portal/mpesa/callback"):
            body = {"ResultCode": 1, "ResultDesc": title}
        return jsonify(body), status
    try:
        return render_template("error.html", status=status, title=title, detail=detail), status
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        return f"{status} {title}: {detail}", status, {"Content-Type": "text/plain; charset=utf-8"}
