"""The web app: ``create_app`` builds Flask around one :class:`Services`; nothing starts on import."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import ROOT
from portal.config import Settings, load_settings
from portal.domain.context import Services
from portal.web import admin, api, i18n, metrics
from portal.web.context import error_response
from portal.web.customer import splash
from portal.web.request_class import PortalRequest
from portal.wiring import build_services

log = logging.getLogger(__name__)
csrf = CSRFProtect()


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    services: Services | None = None,
) -> Flask:
    """Build the web app.

    ``config`` is a nested mapping of settings overrides (tests); ``settings`` ready
    :class:`~portal.config.Settings`; ``services`` ready :class:`Services` (shared with a
    worker or a test). Without ``services`` the ledger, Redis and outside systems are opened
    from the settings.
    """
    if settings is None:
        settings = services.settings if services is not None else load_settings(overrides=config)
    app = Flask(
        "portal",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.request_class = PortalRequest
    app.config.update(
        SECRET_KEY=settings.portal.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=max(settings.portal.max_body_bytes, 4096),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        PAY2CONNECT_SETTINGS=settings,
    )
    if services is None:
        services = build_services(settings)
    app.extensions["pay2connect"] = services
    init_app(app, services)
    return app


def init_app(app: Flask, services: Services) -> None:
    """Wire extensions, per-request hooks, error pages and blueprints."""
    settings = app.config["PAY2CONNECT_SETTINGS"]
    if settings.portal.trusted_proxies:
        n = settings.portal.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    csrf.init_app(app)
    i18n.init_app(app)
    metrics.init_app(app)

    @app.before_request
    def _connect_db() -> None:
        services.db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_db(_exc: BaseException | None) -> None:
        if not services.db.is_closed():
            services.db.close()

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
