"""pay2connect: captive-portal Wi-Fi pay-to-connect (M-Pesa STK push + MikroTik hotspot).

``create_app`` builds the Flask app; nothing starts on import.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    settings: Any = None,
    services: Any = None,
) -> Flask:
    """Build the web app.

    ``config`` is a nested mapping of settings overrides (tests); ``settings`` a ready
    :class:`~portal.config.Settings`; ``services`` a ready
    :class:`~portal.services.Services` (shared with a worker or a test).
    """
    from portal.web import app as web
    from portal.config import load_settings
    from portal.wiring import build_services

    if settings is None:
        settings = services.settings if services is not None else load_settings(overrides=config)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
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
    web.init_app(app)
    return app
