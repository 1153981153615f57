"""What every view needs from the running app: the Services, and error answers.

Kept apart from :mod:`portal.web.app` so blueprints import this, and the app imports the
blueprints: no import loop.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, render_template, request

from portal.domain.context import Services


def services() -> Services:
    """The process's :class:`Services` (views only; services never see ``request``)."""
    return current_app.extensions["pay2connect"]


def wants_json() -> bool:
    """API paths, and clients that prefer JSON to HTML, get JSON errors."""
    if request.path.startswith("/api/") or request.path == "/metrics":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, title: str, detail: str) -> Any:
    """An error as JSON or as the plain error page; the page itself can never fail."""
    if wants_json():
        body = {"success": False, "message": detail or title}
        if request.path.startswith("/api/portal/mpesa/callback"):
            body = {"ResultCode": 1, "ResultDesc": title}
        return jsonify(body), status
    try:
        return render_template("error.html", status=status, title=title, detail=detail), status
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        return f"{status} {title}: {detail}", status, {"Content-Type": "text/plain; charset=utf-8"}
