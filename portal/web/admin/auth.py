"""Admin login and logout, with a per-address limit against password guessing."""
from __future__ import annotations

from typing import Any

from flask import redirect, request, session, url_for

from portal.domain.accounts import audit, authenticate
from portal.web.admin import back_to, bp, login_required, render, safe_next
from portal.web.app import services

LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_MAX_ATTEMPTS = 10
TOO_MANY = "Too many login attempts from this address. Wait 15 minutes and try again."


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if session.get("admin"):
            return redirect(next_url)
        return render("login.html", next_url=next_url, username="")
    svc = services()
    now = svc.clock.now()
    address = request.remote_addr or "unknown"
    username = request.form.get("username", "").strip()[:40]
    attempts = svc.live.hit(f"admin-login:{address}", now, LOGIN_WINDOW_SECONDS)
    if attempts > LOGIN_MAX_ATTEMPTS:
        return render("login.html", 429, {"Retry-After": str(LOGIN_WINDOW_SECONDS)},
                      next_url=next_url, username=username, error=TOO_MANY)
    user = authenticate(username, request.form.get("password", ""), svc.clock)
    if user is None:
        audit("-", "admin.login_failed", svc.clock, username=username, ip=address)
        return render("login.html", 401, next_url=next_url, username=username,
                      error="Wrong username or password.")
    session.clear()  # drop anything from before the login (and the old CSRF secret)
    session["admin"] = user.username
    session["admin_since"] = now.timestamp()
    audit(user.username, "admin.login", svc.clock, ip=address)
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
