"""The web app: ``create_app`` builds Flask around one :class:`Services`; nothing starts on import."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect
from waitress.proxy_headers import proxy_headers_middleware
from werkzeug.exceptions import HTTPException

from portal import ASSETS
from portal.config import Settings, load_settings
from portal.domain.context import Services
from portal.web import admin, api, i18n, metrics
from portal.web.context import error_response
from portal.web.customer import splash, voucher
from portal.web.request_class import PortalRequest
from portal.wiring import build_services

log = logging.getLogger(__name__)
csrf = CSRFProtect()

#: What a trusted reverse proxy may tell us: the client's address, http or https, the host asked for.
PROXY_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})


def proxy_options(settings: Settings) -> dict[str, Any]:
    """waitress options for ``[portal] trusted_proxies`` / ``proxy_address``.

    waitress removes every ``X-Forwarded-*`` header unless told which peer to believe, so
    without these the callback allow-list and the sign-in limits only ever see the proxy.
    """
    count = settings.portal.trusted_proxies
    if count <= 0:
        return {"clear_untrusted_proxy_headers": True}
    return {
        "trusted_proxy": settings.portal.proxy_address,
        "trusted_proxy_count": count,
        "trusted_proxy_headers": set(PROXY_HEADERS),
        "clear_untrusted_proxy_headers": True,
    }


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
        settings = services.settings if services is not None else load_settings(overrides=config, require_file=False)
    app = Flask(
        "portal",
        template_folder=str(ASSETS / "templates"),
        static_folder=str(ASSETS / "static"),
    )
    app.request_class = PortalRequest
    app.config.update(
        SECRET_KEY=settings.portal.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=max(settings.portal.max_body_bytes, 4096),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Admin cookies travel only over HTTPS when the portal is served over HTTPS.
        SESSION_COOKIE_SECURE=settings.portal.public_url.lower().startswith("https://"),
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
    # The same rule waitress applies under `pay2connect serve` (proxy_options), for any other
    # WSGI server too; applied twice it changes nothing (the second pass sees the client).
    options = proxy_options(settings)
    app.wsgi_app = proxy_headers_middleware(  # type: ignore[method-assign,assignment]
        app.wsgi_app,
        trusted_proxy=options.get("trusted_proxy"),
        trusted_proxy_count=options.get("trusted_proxy_count", 1),
        trusted_proxy_headers=options.get("trusted_proxy_headers"),
        clear_untrusted=True,
        logger=log,
    )
    https_site = settings.portal.public_url.startswith("https://")
    csrf.init_app(app)
    i18n.init_app(app)
    metrics.init_app(app)

    keep_open = services.keeps_connection_between_requests

    @app.before_request
    def _connect_db() -> None:
        services.db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_db(_exc: BaseException | None) -> None:
        if not keep_open and not services.db.is_closed():
            services.db.close()

    @app.after_request
    def _no_store(response: Any) -> Any:
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        _frame_and_transport_headers(response, https_site)
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
    csrf.exempt(voucher.bp)
    app.register_blueprint(splash.bp)
    app.register_blueprint(voucher.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")


#: Customer pages may never be framed (clickjacking the pay form); the admin sets its own,
#: stricter policy first (``portal.web.admin.SECURITY_HEADERS``), which ``setdefault`` keeps.
FRAME_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}
HSTS = "max-age=31536000"


def _frame_and_transport_headers(response: Any, https_site: bool) -> None:
    """No framing anywhere; HSTS when the site is served over HTTPS.

    HTTPS means ``public_url`` is https, or this request came over https (directly, or by
    ``X-Forwarded-Proto`` from a trusted proxy: the proxy-headers middleware honours it only
    from the configured proxy, so a visitor cannot claim it).
    """
    for name, value in FRAME_HEADERS.items():
        response.headers.setdefault(name, value)
    if https_site or request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
