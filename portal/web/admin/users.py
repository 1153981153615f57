"""Accounts: your own (password, authenticator app, where you are signed in) and, for owners,
everyone's (add, remove, role, reset a password, sign someone out).

One-time secrets (a new admin's password, recovery codes) are rendered straight into the
answer to the POST that made them: never put in a flash message or the (readable, signed,
not encrypted) session cookie, never stored in plain text.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import flash, g, request, session
from markupsafe import Markup

from portal.domain import accounts, admin_sessions, signin, totp
from portal.domain.errors import PortalError
from portal.web.admin import ROW_ID, back_to, bp, login_required, now, owner_required, render
from portal.web.admin.auth import wait_text
from portal.web.context import services

REASONS = {
    "username_invalid": "The username must be 3-40 letters, digits or . _ @ -",
    "username_taken": "There is already an admin with that username.",
    "role_invalid": "The role must be owner or cashier.",
    "password_too_short": f"The new password must be at least {accounts.MIN_PASSWORD} characters.",
    "password_too_long": f"The new password may be at most {accounts.MAX_PASSWORD} characters.",
    "password_unchanged": "The new password is the same as the current one.",
    "current_password_wrong": "Your current password is not right.",
    "last_owner": "This is the only owner. Make someone else an owner first.",
    "admin_not_found": "There is no such admin (any more).",
    "code_wrong": "That code is not right. Check the phone's time and enter the newest code.",
    "totp_owners_only": "Only owners can turn on an authenticator app.",
    "totp_already_on": "The authenticator app is already on.",
    "totp_not_on": "The authenticator app is not on.",
    "totp_setup_expired": "This setup page has expired. Start again.",
}


def reason(err: PortalError) -> str:
    return REASONS.get(err.key, "That did not work. Check the form and try again.")


def _form(name: str, limit: int = 200) -> str:
    return request.form.get(name, "")[:limit]


# -- your own account --------------------------------------------------------------------------


def _account_page(status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    user = accounts.admin_by_id(g.admin_id)
    return render(
        "account.html",
        status,
        headers,
        user=user,
        totp_on=bool(user.totp_secret),
        codes_left=totp.recovery_codes_left(user.id) if user.totp_secret else 0,
        my_sessions=admin_sessions.sessions_of(user.id, now(), session.get("admin_sid")),
        **{"error": "", **extra},
    )


def _recheck_held() -> Any | None:
    """The answer when this address must wait before a password is checked again (else None)."""
    wait = signin.recheck_wait(services(), request.remote_addr or "unknown")
    if not wait:
        return None
    error = f"Too many wrong passwords from here. Try again in {wait_text(wait)}."
    return _account_page(429, {"Retry-After": str(wait)}, error=error)


def _refused(err: PortalError) -> Any:
    if err.key == "current_password_wrong":  # counts like a failed sign-in (see _recheck_held)
        signin.recheck_failed(services(), g.admin, request.remote_addr or "unknown")
    return _account_page(400, error=reason(err))


@bp.get("/account")
@login_required
def account() -> Any:
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    if _form("new") != _form("again"):
        return _account_page(400, error="The two new passwords differ.")
    held = _recheck_held()
    if held is not None:
        return held
    try:
        ended = accounts.change_password(
            g.admin_id, _form("current", 1000), _form("new", 1000), session.get("admin_sid"), services().clock
        )
    except PortalError as err:
        return _refused(err)
    flash(f"Password changed. Signed out {ended} other session{'s' if ended != 1 else ''}.", "ok")
    return back_to("admin.account")


@bp.post(f"/account/sessions/<{ROW_ID}:session_id>/end")
@login_required
def end_my_session(session_id: int) -> Any:
    if admin_sessions.end_one(g.admin_id, session_id):
        accounts.audit(g.admin, "admin.session_end", services().clock, session=session_id)
        flash("That session has ended.", "ok")
    return back_to("admin.account")


def _qr(uri: str) -> Markup:
    # segno draws the QR code as SVG paths: the URI is encoded in the modules, never written as text.
    return Markup(segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff"))


@bp.route("/account/totp", methods=["GET", "POST"])
@owner_required
def totp_setup() -> Any:
    user = accounts.admin_by_id(g.admin_id)
    if user.totp_secret:
        return back_to("admin.account")
    secret = session.get("totp_setup")
    if request.method == "GET" or not totp.valid_secret(secret):
        secret = totp.new_secret()
        session["totp_setup"] = secret
    error, status = "", 200
    if request.method == "POST":
        try:
            codes = totp.enable(g.admin_id, str(secret), _form("code", 40), services().clock)
        except PortalError as err:
            error, status = reason(err), 400
        else:
            session.pop("totp_setup", None)
            return render("one_time.html", title="Authenticator app is on", codes=codes, password="", username="")
    uri = totp.provisioning_uri(str(secret), user.username, services().settings.portal.venue_name)
    return render("totp_setup.html", status, qr=_qr(uri), secret=secret, uri=uri, error=error)


@bp.post("/account/totp/off")
@owner_required
def totp_off() -> Any:
    held = _recheck_held()
    if held is not None:
        return held
    try:
        totp.disable(g.admin_id, _form("password", 1000), services().clock)
    except PortalError as err:
        return _refused(err)
    flash("The authenticator app is off: your password alone signs you in.", "ok")
    return back_to("admin.account")


@bp.post("/account/recovery-codes")
@owner_required
def new_recovery_codes() -> Any:
    held = _recheck_held()
    if held is not None:
        return held
    try:
        codes = totp.replace_recovery_codes(g.admin_id, _form("password", 1000), services().clock)
    except PortalError as err:
        return _refused(err)
    return render("one_time.html", title="New recovery codes", codes=codes, password="", username="")


# -- everyone's accounts (owners) --------------------------------------------------------------


def _users_page(status: int = 200, **extra: Any) -> Any:
    admins = accounts.list_admins(now())
    return render("users.html", status, admins=admins, roles=accounts.ROLES, **{"error": "", **extra})


@bp.get("/users")
@owner_required
def users() -> Any:
    return _users_page()


@bp.post("/users/new")
@owner_required
def add_user() -> Any:
    username, role = _form("username", 60).strip(), _form("role", 20)
    try:
        user, password = accounts.add_admin(g.admin, username, role, services().clock)
    except PortalError as err:
        return _users_page(400, error=reason(err), new_username=username, new_role=role)
    return render("one_time.html", title=f"{user.username} added", password=password, username=user.username, codes=[])


@bp.post(f"/users/<{ROW_ID}:admin_id>/role")
@owner_required
def set_role(admin_id: int) -> Any:
    try:
        user = accounts.set_role(g.admin, admin_id, _form("role", 20), services().clock)
    except PortalError as err:
        return _users_page(404 if err.key == "admin_not_found" else 400, error=reason(err))
    flash(f"{user.username} is now {'an owner' if user.role == 'owner' else 'a cashier'}.", "ok")
    return back_to("admin.users")


@bp.route(f"/users/<{ROW_ID}:admin_id>/remove", methods=["GET", "POST"])
@owner_required
def remove_user(admin_id: int) -> Any:
    try:
        user = accounts.admin_by_id(admin_id)
        if request.method == "GET":
            return render("user_remove.html", user=user)
        username = accounts.remove_admin(g.admin, admin_id, services().clock)
    except PortalError as err:
        return _users_page(404 if err.key == "admin_not_found" else 400, error=reason(err))
    flash(f"{username} removed; their sessions have ended.", "ok")
    return back_to("admin.users")


@bp.post(f"/users/<{ROW_ID}:admin_id>/reset")
@owner_required
def reset_password(admin_id: int) -> Any:
    try:
        username, password = accounts.reset_password(g.admin, admin_id, services().clock)
    except PortalError as err:
        return _users_page(404, error=reason(err))
    title = f"New password for {username}"
    return render("one_time.html", title=title, password=password, username=username, codes=[])


@bp.post(f"/users/<{ROW_ID}:admin_id>/sign-out")
@owner_required
def sign_out_user(admin_id: int) -> Any:
    try:
        user = accounts.admin_by_id(admin_id)
    except PortalError as err:
        return _users_page(404, error=reason(err))
    ended = admin_sessions.end_all(user.id)
    accounts.audit(g.admin, "admin.logout_everywhere", services().clock, username=user.username, sessions=ended)
    flash(f"{user.username} is signed out everywhere ({ended} session{'s' if ended != 1 else ''}).", "ok")
    return back_to("admin.users")
