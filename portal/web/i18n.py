"""English and Swahili through Flask-Babel.

The language travels in the URL (``?lang=sw``) or a form field, never in a cookie: the
captive mini-browser throws cookies away. The compiled catalogs (``.mo``) are read from
``translations/`` under :data:`portal.ASSETS`; they are built with the package (``setup.py``)
or, in a checkout, by ``scripts/translations compile`` (``scripts/setup`` runs it), never here:
an installed app's folder may be read-only (systemd's ``ProtectSystem=strict``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel
from werkzeug.exceptions import HTTPException

from portal import ASSETS

log = logging.getLogger(__name__)
LANGUAGES = ("en", "sw")
TRANSLATIONS = ASSETS / "translations"
babel = Babel()


def current_language() -> str:
    if has_request_context():
        chosen = request.args.get("lang") or ""
        if not chosen and request.method == "POST":
            try:
                chosen = request.form.get("lang") or ""
            except HTTPException:  # e.g. a body over the size limit: keep the default
                chosen = ""
        if chosen in LANGUAGES:
            return chosen
        settings = current_app.config.get("PAY2CONNECT_SETTINGS")
        if settings is not None:
            return settings.portal.default_language
    return "en"


def catalog_problems(folder: Path = TRANSLATIONS) -> list[str]:
    """What keeps a language other than English from being served: a missing or stale ``.mo``."""
    problems = []
    for lang in LANGUAGES[1:]:
        mo_path = folder / lang / "LC_MESSAGES" / "messages.mo"
        po_path = mo_path.with_suffix(".po")
        if not mo_path.is_file():
            problems.append(f"{mo_path} is missing: {lang} pages will be in English")
        elif po_path.is_file() and po_path.stat().st_mtime > mo_path.stat().st_mtime:
            problems.append(f"{mo_path} is older than {po_path.name}")
    return problems


def init_app(app: Flask) -> None:
    for problem in catalog_problems():
        log.warning("%s (in a checkout: scripts/translations compile)", problem)
    babel.init_app(app, locale_selector=current_language, default_translation_directories=str(TRANSLATIONS))

    @app.context_processor
    def _language() -> dict[str, object]:
        return {"lang": current_language(), "languages": LANGUAGES}
