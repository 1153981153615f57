"""The venue owner's admin UI (``/admin``): money, packages, live sessions, routers, audit.

Every page needs a logged-in admin; every form carries a CSRF token (Flask-WTF's
``CSRFProtect`` is on for this blueprint); every change is written to the audit log.
Views here only parse input, call :mod:`portal.reports`, :mod:`portal.catalog` or
:mod:`portal.grants`, and render ``templates/admin/``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from portal.domain import admin_sessions
from portal.web.admin import formatting
from portal.web.context import services

bp = Blueprint("admin", __name__)
SECURITY_HEADERS = {
    # Admin pages show attacker-controlled text (phones, callback bodies): even if escaping
    # ever slipped, no script may run, no frame may embed the page, no form may post away.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
}
# Row ids in URLs: bounded, so a 30-digit id is a 404 and never reaches the database driver.
ROW_ID = "int(max=9223372036854775807)"
F = TypeVar("F", bound=Callable[..., Any])


def now() -> datetime:
    return services().clock.now()


def actor() -> str:
    """The logged-in admin's username (for the audit log)."""
    return str(g.admin)


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path inside /admin, never another site."""
    target = (target or "").strip()
    parts = urlsplit(target)
    if (
        target.startswith("/admin")
        and not parts.scheme
        and not parts.netloc
        and "\\" not in target
        and not any(ord(ch) < 32 for ch in target)
        and not target.startswith("/admin/login")
    ):
        return target
    return url_for("admin.dashboard")


def signed_in() -> admin_sessions.SignedIn | None:
    """The admin whose session cookie this request carries, if that session is still open."""
    return admin_sessions.current(session.get("admin_sid"), now())


def login_required(view: F) -> F:
    """Send anyone without a live admin session to the login page (with a local ``next``).

    The session is looked up on the server on every request (:mod:`portal.domain.admin_sessions`),
    so sign-out, a password change or removing the admin ends it even where the cookie was copied.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        who = signed_in()
        if who is None:
            session.pop("admin_sid", None)
            target = request.full_path.rstrip("?") if request.method == "GET" else ""
            return redirect(url_for("admin.login", next=target or None))
        g.admin = who.username
        g.admin_role = who.role
        g.admin_id = who.user_id
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def owner_required(view: F) -> F:
    """Only an owner: prices, packages, routers, users, settings, the pause switch, the money.

    A cashier (sessions and payments, kick and extend) gets a plain 403 page.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("admin_role") != "owner":
            abort(403, description="Only the owner can open this page. Ask the owner, or go back.")
        return view(*args, **kwargs)

    return login_required(wrapper)  # type: ignore[return-value]


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Any:
    return render_template(f"admin/{template}", **context), status, headers or {}


def back_to(endpoint: str, **values: Any) -> Response:
    """Redirect after a POST (303: the browser follows with a GET)."""
    return redirect(url_for(endpoint, **values), code=303)


def whole_number(raw: object, low: int, high: int) -> int | None:
    """A number typed into a form or URL, or None unless it is ASCII digits from ``low`` to ``high``.

    Use it for every number the admin reads: ``str.isdigit`` also accepts "²" and "٣", which
    ``int`` then refuses (a 500), and a 5,000-digit string is past what ``int`` will read.
    """
    text = str(raw if raw is not None else "").strip()
    if not re.fullmatch(r"[0-9]{1,18}", text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def page_arg(raw: str | None) -> int | None:
    """A ``?page=`` value, or None when it is not a sensible page number."""
    return whole_number(raw or "1", 1, 100_000)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "admin_user": g.get("admin"),
        "admin_role": g.get("admin_role"),
        "fmt_time": formatting.time_text,
        "fmt_money": formatting.money,
        "fmt_left": formatting.duration_left,
        "fmt_phone": formatting.phone,
        "fmt_size": formatting.size,
        "fmt_duration": formatting.duration,
    }


@bp.errorhandler(HTTPException)
def _admin_error(err: HTTPException) -> Any:
    """Errors on admin pages keep the admin layout (and never show a trace)."""
    detail = err.description or ""
    if isinstance(err, CSRFError):
        detail = "This form has expired or did not come from this admin. Go back, reload the page and try again."
    return render("error.html", err.code or 500, title=err.name, detail=detail, code=err.code)


@bp.after_request
def _harden(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


# Routes register themselves on ``bp`` when imported (after ``bp`` exists).
from portal.web.admin import (  # noqa: E402,F401 - routes register themselves on bp
    alerts_banner,
    auth,
    money,
    operations,
    packages,
    sessions,
    statements,
    system,
    users,
    vouchers,
)
