"""Admin login and logout, with a per-address limit against password guessing."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, session, url_for

from portal.domain.accounts import LOGIN_WINDOW_SECONDS, audit, sign_in
from portal.domain.errors import PortalError, TooManyRequests
from portal.web.admin import back_to, bp, login_required, render, safe_next
from portal.web.context import services

TOO_MANY = "Too many login attempts from this address. Wait 15 minutes and try again."


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if session.get("admin"):
            return redirect(next_url)
        return render("login.html", next_url=next_url, username="")
    svc = services()
    address = request.remote_addr or "unknown"
    username = request.form.get("username", "").strip()[:40]
    try:
        user = sign_in(svc, username=username, password=request.form.get("password", ""), address=address)
    except TooManyRequests:
        return render(
            "login.html",
            429,
            {"Retry-After": str(LOGIN_WINDOW_SECONDS)},
            next_url=next_url,
            username=username,
            error=TOO_MANY,
        )
    except PortalError:
        return render("login.html", 401, next_url=next_url, username=username, error="Wrong username or password.")
    session.clear()  # drop anything from before the login (and the old CSRF secret)
    session["admin"] = user.username
    session["admin_since"] = svc.clock.now().timestamp()
    return redirect(next_url, code=303)


@bp.post("/logout")
@login_required
def logout() -> Any:
    audit(session["admin"], "admin.logout", services().clock)
    session.clear()
    return back_to("admin.login")


@bp.get("/logout")
def logout_page() -> Any:
    """A GET cannot log out (a link on another site could); show the dashboard instead."""
    return redirect(url_for("admin.dashboard"))
