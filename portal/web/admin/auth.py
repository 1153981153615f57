"""Admin sign-in (password, then the authenticator code when the owner turned one on),
sign-out and "sign out everywhere". The limits against guessing live in
:mod:`portal.domain.signin`; this module turns its answers into pages.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from portal.domain import admin_sessions
from portal.domain.accounts import audit
from portal.domain.errors import PortalError, TooManyRequests
from portal.domain.signin import TRUSTED_BROWSER_DAYS, Attempt, Outcome, sign_in, sign_in_code
from portal.domain.signin_report import failed_sign_ins
from portal.web.admin import back_to, bp, login_required, now, render, safe_next, signed_in
from portal.web.context import services

BROWSER_COOKIE = "p2c_admin_browser"
CODE_STEP_SECONDS = 5 * 60  # the code must follow the password within five minutes
CODE_STEP_TRIES = 5
WRONG = "Wrong username or password."
WRONG_WITH_CODE = "Wrong username, password or code."


def wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{(seconds + 59) // 60} minutes"


def held_text(err: TooManyRequests) -> str:
    wait = wait_text(int(err.params.get("seconds", 1)))
    if err.params.get("scope") == "username":
        return (
            f"Too many failed sign-ins for this username. Try again in {wait}, sign in from a browser or "
            "network you have used before, or enter the code from your authenticator app with your password."
        )
    return f"Too many failed sign-ins from here. Try again in {wait}."


def _attempt(username: str, **values: str) -> Attempt:
    return Attempt(
        username=username,
        address=(request.remote_addr or "unknown")[:45],
        browser_token=request.cookies.get(BROWSER_COOKIE, "")[:200],
        **values,
    )


def _start_session(outcome: Outcome, next_url: str) -> Response:
    """A full sign-in: a new server-side session in a fresh cookie (nothing from before survives)."""
    user = outcome.user
    token = admin_sessions.start(user.id, _attempt(user.username).address, request.user_agent.string, now())
    session.clear()  # drop anything from before the sign-in (and the old CSRF secret)
    session["admin_sid"] = token
    answer = redirect(next_url, code=303)
    if outcome.browser_token:
        answer.set_cookie(
            BROWSER_COOKIE,
            outcome.browser_token,
            max_age=TRUSTED_BROWSER_DAYS * 86400,
            path="/admin",
            httponly=True,
            samesite="Lax",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    return answer


@bp.context_processor
def _sign_in_panel() -> dict[str, Any]:
    """``failed_sign_ins()`` for the dashboard's panel (computed only where a page asks)."""
    return {"failed_sign_ins": lambda: failed_sign_ins(now())}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if signed_in() is not None:
            return redirect(next_url)
        return render("login.html", next_url=next_url, username="", ask_code=False)
    username = request.form.get("username", "").strip()[:40]
    code = request.form.get("code", "").strip()[:40]
    try:
        outcome = sign_in(services(), _attempt(username, password=request.form.get("password", "")[:1000], code=code))
    except TooManyRequests as err:
        headers = {"Retry-After": str(err.params.get("seconds", 1))}
        ask_code = err.params.get("scope") == "username"
        return render(
            "login.html", 429, headers, next_url=next_url, username=username, error=held_text(err), ask_code=ask_code
        )
    except PortalError:
        error = WRONG_WITH_CODE if code else WRONG
        return render("login.html", 401, next_url=next_url, username=username, error=error, ask_code=bool(code))
    if outcome.needs_code:
        session.clear()
        session["admin_pending"] = {"user": outcome.user.username, "at": now().timestamp(), "tries": 0}
        return redirect(url_for("admin.login_code", next=next_url), code=303)
    return _start_session(outcome, next_url)


def _pending() -> dict[str, Any] | None:
    pending = session.get("admin_pending")
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), (int, float)):
        return None
    if not 0 <= now().timestamp() - pending["at"] < CODE_STEP_SECONDS:
        return None
    if not isinstance(pending.get("user"), str) or int(pending.get("tries", 0)) >= CODE_STEP_TRIES:
        return None
    return pending


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Any:
    next_url = safe_next(request.values.get("next"))
    pending = _pending()
    if pending is None:
        session.pop("admin_pending", None)
        return redirect(url_for("admin.login", next=next_url))
    if request.method == "GET":
        return render("login_code.html", next_url=next_url, username=pending["user"])
    code = request.form.get("code", "").strip()[:40]
    try:
        outcome = sign_in_code(services(), _attempt(pending["user"], code=code))
    except TooManyRequests as err:
        headers = {"Retry-After": str(err.params.get("seconds", 1))}
        error = held_text(err)
        return render("login_code.html", 429, headers, next_url=next_url, username=pending["user"], error=error)
    except PortalError:
        session["admin_pending"] = {**pending, "tries": int(pending.get("tries", 0)) + 1}
        error = "That code is not right. Enter the newest code from the app, or a recovery code."
        return render("login_code.html", 401, next_url=next_url, username=pending["user"], error=error)
    return _start_session(outcome, next_url)


@bp.post("/logout")
@login_required
def logout() -> Any:
    admin_sessions.end(session.get("admin_sid"))
    audit(g.admin, "admin.logout", services().clock)
    session.clear()
    return back_to("admin.login")


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Any:
    """End every session of this admin: on this browser and wherever a cookie was copied to."""
    ended = admin_sessions.end_all(g.admin_id)
    audit(g.admin, "admin.logout_everywhere", services().clock, sessions=ended)
    session.clear()
    return back_to("admin.login")


@bp.get("/logout")
def logout_page() -> Any:
    """A GET cannot log out (a link on another site could); show the dashboard instead."""
    return redirect(url_for("admin.dashboard"))
