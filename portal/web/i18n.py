"""English and Swahili through Flask-Babel.

The language travels in the URL (``?lang=sw``) or a form field, never in a cookie: the
captive mini-browser throws cookies away. Catalogs live in ``translations/``; the
``.mo`` files are compiled from the ``.po`` sources at start when missing or older.
"""

from __future__ import annotations

import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel
from werkzeug.exceptions import HTTPException

from portal import ROOT

log = logging.getLogger(__name__)
LANGUAGES = ("en", "sw")
TRANSLATIONS = ROOT / "translations"
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


def compile_catalogs(folder: Path = TRANSLATIONS) -> int:
    """Compile every ``messages.po`` whose ``.mo`` is missing or stale. Returns the count."""
    compiled = 0
    for po_path in folder.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        compiled += 1
    return compiled


def init_app(app: Flask) -> None:
    try:
        compile_catalogs()
    except OSError as err:  # read-only install: use whatever .mo files exist
        log.warning("could not compile translations: %s", err)
    babel.init_app(app, locale_selector=current_language, default_translation_directories=str(TRANSLATIONS))

    @app.context_processor
    def _language() -> dict[str, object]:
        return {"lang": current_language(), "languages": LANGUAGES}
