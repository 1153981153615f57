"""Admin accounts over the real stack (issues 11 and 13): sessions that end on the server,
owners managing admins, passwords, the authenticator app and recovery codes, the audit."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pyotp
import pytest

from portal import create_app
from portal.domain.accounts import create_admin
from portal.ledger.models import AdminSession, AdminUser, AuditLog
from tests.web.admin.conftest import PASSWORD, Browser
from tests.web.admin.test_admin import AdminActions, audit_actions, text

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def owner(services: Any, clock: Any) -> str:
    create_admin("owner", PASSWORD, clock)
    return "owner"


@pytest.fixture
def admin(client: Any, owner: str) -> AdminActions:
    actions = AdminActions(client)
    assert actions.login().status_code == 303
    return actions


def one_time_password(page: str) -> str:
    match = re.search(r'id="one-time-password">([^<]+)<', page)
    assert match, page[:500]
    return match.group(1)


def admin_id(username: str) -> int:
    return int(AdminUser.get(AdminUser.username == username).id)


# -- sessions end on the server ---------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_sign_out(base_url: str, owner: str) -> None:
    owner_browser = Browser(base_url, "127.0.0.2")
    assert owner_browser.sign_in().status_code == 303
    thief = Browser(base_url, "127.0.0.3")
    thief.http.cookies.update(owner_browser.http.cookies)  # the session cookie, copied
    assert thief.dashboard() == 200
    assert owner_browser.sign_out() == 303
    assert thief.dashboard() == 302  # the server ended the session: the copy is worthless
    assert owner_browser.dashboard() == 302
    assert AdminSession.select().count() == 0


def test_sign_out_everywhere_ends_every_session_of_that_admin(base_url: str, owner: str, clock: Any) -> None:
    office, phone = Browser(base_url, "127.0.0.2"), Browser(base_url, "127.0.0.3")
    assert office.sign_in().status_code == 303 and phone.sign_in().status_code == 303
    page = office.get("/admin/account").text
    assert page.count("127.0.0.") >= 2 and "this browser" in page
    answer = phone.post("/admin/account/sign-out-everywhere")
    assert answer.status_code == 303
    assert office.dashboard() == 302 and phone.dashboard() == 302
    entry = AuditLog.get(AuditLog.action == "admin.logout_everywhere")
    assert entry.actor == "owner" and json.loads(entry.detail)["sessions"] == 2


def test_an_owner_signs_another_admin_out_everywhere(admin: AdminActions, base_url: str, clock: Any) -> None:
    create_admin("cashier1", "cashier-password-1", clock, role="cashier")
    cashier = Browser(base_url, "127.0.0.4")
    assert cashier.sign_in("cashier1", "cashier-password-1").status_code == 303
    assert cashier.get("/admin/sessions").status_code == 200
    answer = admin.post(f"/admin/users/{admin_id('cashier1')}/sign-out", token_page="/admin/users")
    assert answer.status_code == 303
    assert cashier.get("/admin/sessions").status_code == 302


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(base_url: str, owner: str) -> None:
    here, elsewhere = Browser(base_url, "127.0.0.2"), Browser(base_url, "127.0.0.3")
    assert here.sign_in().status_code == 303 and elsewhere.sign_in().status_code == 303
    form = {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert here.post("/admin/account/password", form).status_code == 303
    assert "Signed out 1 other session." in here.get("/admin/account").text
    assert here.dashboard() == 200
    assert elsewhere.dashboard() == 302
    assert Browser(base_url, "127.0.0.5").sign_in().status_code == 401  # the old password is gone
    assert Browser(base_url, "127.0.0.6").sign_in(password=NEW_PASSWORD).status_code == 303


def test_a_password_change_needs_the_current_password_and_a_good_new_one(admin: AdminActions) -> None:
    cases = [
        ({"current": "wrong password", "new": NEW_PASSWORD, "again": NEW_PASSWORD}, "current password is not right"),
        ({"current": PASSWORD, "new": "short", "again": "short"}, "at least 10 characters"),
        ({"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "x"}, "two new passwords differ"),
        ({"current": PASSWORD, "new": PASSWORD, "again": PASSWORD}, "same as the current one"),
        ({"current": PASSWORD, "new": "x" * 300, "again": "x" * 300}, "at most 200 characters"),
    ]
    for form, message in cases:
        answer = admin.post("/admin/account/password", form, token_page="/admin/account")
        assert answer.status_code == 400, message
        assert message in text(answer), message
    assert "admin.password_change" not in audit_actions()
    assert admin.get("/admin/").status_code == 200


def test_removing_an_admin_ends_their_sessions(admin: AdminActions, base_url: str, clock: Any) -> None:
    create_admin("helper", "helper-password-1", clock, role="cashier")
    helper = Browser(base_url, "127.0.0.4")
    assert helper.sign_in("helper", "helper-password-1").status_code == 303
    confirm = admin.get(f"/admin/users/{admin_id('helper')}/remove")
    assert confirm.status_code == 200 and "Remove helper?" in text(confirm)
    answer = admin.post(f"/admin/users/{admin_id('helper')}/remove", token_page="/admin/users")
    assert answer.status_code == 303
    assert helper.get("/admin/sessions").status_code == 302
    assert helper.sign_in("helper", "helper-password-1").status_code == 401
    entry = AuditLog.get(AuditLog.action == "admin.remove")
    assert entry.actor == "owner" and json.loads(entry.detail)["username"] == "helper"


def test_admin_cookies_are_secure_when_the_public_url_is_https(services: Any, owner: str) -> None:
    settings = services.settings
    services.settings = dataclasses.replace(
        settings, portal=dataclasses.replace(settings.portal, public_url="https://wifi.example.co.ke")
    )
    app = create_app(services=services)
    answer = AdminActions(app.test_client()).login()
    assert answer.status_code == 303
    cookies = answer.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies), cookies
    services.settings = settings
    plain = AdminActions(create_app(services=services).test_client()).login()
    assert all("Secure" not in c for c in plain.headers.getlist("Set-Cookie"))


# -- owners manage admins ---------------------------------------------------------------------


def test_an_owner_adds_a_cashier_who_signs_in_with_the_one_time_password(
    admin: AdminActions, app: Any, base_url: str
) -> None:
    answer = admin.post("/admin/users/new", {"username": "wanjiru", "role": "cashier"}, token_page="/admin/users")
    assert answer.status_code == 200 and "shown <strong>only this once</strong>" in text(answer)
    password = one_time_password(text(answer))
    assert AdminUser.get(AdminUser.username == "wanjiru").role == "cashier"
    assert password not in " ".join(e.detail for e in AuditLog.select())
    assert password not in text(admin.get("/admin/users"))  # never shown again
    cashier = Browser(base_url, "127.0.0.4")
    assert cashier.sign_in("wanjiru", password).status_code == 303
    assert cashier.get("/admin/users").status_code == 403
    assert cashier.get("/admin/account").status_code == 200
    assert 'id="totp"' not in cashier.get("/admin/account").text  # the app is for owners
    assert cashier.get("/admin/account/totp").status_code == 403
    form = {"current": password, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    assert cashier.post("/admin/account/password", form).status_code == 303
    again = admin.post("/admin/users/new", {"username": "wanjiru", "role": "owner"}, token_page="/admin/users")
    assert again.status_code == 400 and "already an admin with that username" in text(again)
    bad = admin.post("/admin/users/new", {"username": "<x>", "role": "boss"}, token_page="/admin/users")
    assert bad.status_code == 400 and "3-40 letters" in text(bad)
    actions = audit_actions()
    assert "admin.create" in actions and "admin.password_change" in actions


def test_the_last_owner_cannot_be_removed_or_demoted(admin: AdminActions, clock: Any) -> None:
    me = admin_id("owner")
    demote = admin.post(f"/admin/users/{me}/role", {"role": "cashier"}, token_page="/admin/users")
    assert demote.status_code == 400 and "only owner" in text(demote)
    remove = admin.post(f"/admin/users/{me}/remove", token_page="/admin/users")
    assert remove.status_code == 400 and "only owner" in text(remove)
    assert AdminUser.get_by_id(me).role == "owner"
    create_admin("partner", "partner-password", clock)  # a second owner
    partner = admin_id("partner")
    assert admin.post(f"/admin/users/{partner}/role", {"role": "cashier"}, token_page="/admin/users").status_code == 303
    assert AdminUser.get_by_id(partner).role == "cashier"
    assert admin.post(f"/admin/users/{me}/role", {"role": "cashier"}, token_page="/admin/users").status_code == 400
    assert admin.post(f"/admin/users/{partner}/role", {"role": "owner"}, token_page="/admin/users").status_code == 303
    king = admin.post(f"/admin/users/{partner}/role", {"role": "king"}, token_page="/admin/users")
    assert king.status_code == 400 and "owner or cashier" in text(king)
    assert admin.post("/admin/users/99999/remove", token_page="/admin/users").status_code == 404
    assert admin.post(f"/admin/users/{me}/remove", token_page="/admin/users").status_code == 303  # now allowed
    assert admin.get("/admin/").status_code == 302  # and it ended my own session
    roles = [json.loads(e.detail)["role"] for e in AuditLog.select().where(AuditLog.action == "admin.role")]
    assert roles == [["owner", "cashier"], ["cashier", "owner"]]


def test_an_owner_resets_a_password_shown_once(admin: AdminActions, base_url: str, clock: Any) -> None:
    create_admin("cashier1", "cashier-password-1", clock, role="cashier")
    cashier = Browser(base_url, "127.0.0.4")
    assert cashier.sign_in("cashier1", "cashier-password-1").status_code == 303
    answer = admin.post(f"/admin/users/{admin_id('cashier1')}/reset", token_page="/admin/users")
    assert answer.status_code == 200
    password = one_time_password(text(answer))
    assert cashier.get("/admin/sessions").status_code == 302  # their sessions ended
    assert Browser(base_url, "127.0.0.5").sign_in("cashier1", password).status_code == 303
    assert admin.post("/admin/users/424242/reset", token_page="/admin/users").status_code == 404
    assert admin.post("/admin/users/" + "9" * 30 + "/reset", token_page="/admin/users").status_code == 404
    entry = AuditLog.get(AuditLog.action == "admin.password_reset", AuditLog.actor == "owner")
    assert json.loads(entry.detail) == {"sessions": 1, "username": "cashier1"}


# -- the authenticator app --------------------------------------------------------------------


def turn_on_totp(admin: AdminActions, clock: Any) -> tuple[pyotp.TOTP, list[str]]:
    page = text(admin.get("/admin/account/totp"))
    assert "<svg" in page and "<script" not in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret
    app_on_phone = pyotp.TOTP(secret.group(1))
    wrong = admin.post("/admin/account/totp", {"code": "000000"}, token_page="/admin/account")
    assert wrong.status_code == 400 and "code is not right" in text(wrong)
    answer = admin.post("/admin/account/totp", {"code": app_on_phone.at(clock.now())}, token_page="/admin/account")
    assert answer.status_code == 200 and "Authenticator app is on" in text(answer)
    codes = re.findall(r"<li>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</li>", text(answer))
    assert len(codes) == 10
    return app_on_phone, codes


def test_totp_sign_in_with_the_app_and_with_recovery_codes(admin: AdminActions, app: Any, clock: Any) -> None:
    app_on_phone, codes = turn_on_totp(admin, clock)
    user = AdminUser.get(AdminUser.username == "owner")
    assert user.totp_secret == app_on_phone.secret
    stored = [c.code_hash for c in user.recovery_codes]
    assert len(stored) == 10 and not set(codes) & set(stored)  # stored hashed

    clock.advance(30)
    browser = AdminActions(app.test_client())
    first = browser.login()
    assert first.status_code == 303 and first.headers["Location"].startswith("/admin/login/code")
    assert browser.get("/admin/").status_code == 302  # the password alone is not enough
    code_page = first.headers["Location"]
    wrong = browser.client.post(code_page, data={"code": "123456", "csrf_token": browser.token(code_page)})
    assert wrong.status_code == 401 and "code is not right" in text(wrong)
    code = app_on_phone.at(clock.now())
    right = browser.client.post(code_page, data={"code": code, "csrf_token": browser.token(code_page)})
    assert right.status_code == 303 and browser.get("/admin/").status_code == 200

    replay = AdminActions(app.test_client())
    assert replay.login().status_code == 303
    again = replay.client.post(code_page, data={"code": code, "csrf_token": replay.token(code_page)})
    assert again.status_code == 401  # a code works once
    recovery = {"code": codes[0].lower(), "csrf_token": replay.token(code_page)}
    assert replay.client.post(code_page, data=recovery).status_code == 303
    reuse = AdminActions(app.test_client())
    reuse.login()
    reused = {"code": codes[0], "csrf_token": reuse.token(code_page)}
    assert reuse.client.post(code_page, data=reused).status_code == 401
    one_step = AdminActions(app.test_client())  # password and code in one form also works
    form = {"username": "owner", "password": PASSWORD, "code": codes[1], "csrf_token": one_step.token()}
    assert one_step.client.post("/admin/login", data=form).status_code == 303
    assert "Recovery codes left: <strong>8</strong>" in text(admin.get("/admin/account"))
    for action in ("admin.totp_enable", "admin.recovery_code_used"):
        assert action in audit_actions()


def test_the_code_step_expires_and_allows_few_tries(admin: AdminActions, app: Any, clock: Any) -> None:
    turn_on_totp(admin, clock)
    browser = AdminActions(app.test_client())
    code_page = browser.login().headers["Location"]
    for _ in range(5):
        answer = browser.client.post(code_page, data={"code": "111111", "csrf_token": browser.token(code_page)})
        assert answer.status_code == 401
    assert browser.get(code_page).status_code == 302  # back to the password after five wrong codes
    held = AdminActions(app.test_client()).login()
    assert held.status_code == 429  # wrong codes count like wrong passwords
    clock.advance(int(held.headers["Retry-After"]))
    late = AdminActions(app.test_client())
    late_page = late.login().headers["Location"]
    clock.advance(5 * 60 + 1)
    assert late.get(late_page).status_code == 302  # the password was five minutes ago


def test_turning_totp_off_needs_the_password(admin: AdminActions, app: Any, clock: Any) -> None:
    turn_on_totp(admin, clock)
    refused = admin.post("/admin/account/totp/off", {"password": "not it"}, token_page="/admin/account")
    assert refused.status_code == 400 and AdminUser.get(AdminUser.username == "owner").totp_secret
    assert admin.post("/admin/account/totp/off", {"password": PASSWORD}, token_page="/admin/account").status_code == 303
    assert AdminUser.get(AdminUser.username == "owner").totp_secret is None
    assert AdminActions(app.test_client()).login().status_code == 303
    assert audit_actions()[-2] == "admin.totp_disable"


ODD_VALUES = ["", " ", "0", "-1", "9" * 40, "x" * 5000, "<script>", "\x00", "ü" * 50, "owner\r\nX: y", "%s%n"]


def test_account_forms_answer_odd_input_without_a_server_error(admin: AdminActions, app: Any, clock: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # the handlers themselves, not the CSRF wall
    me = admin_id("owner")
    paths = [
        "/admin/account/password",
        "/admin/account/totp",
        "/admin/account/totp/off",
        "/admin/account/recovery-codes",
        f"/admin/account/sessions/{'9' * 30}/end",
        "/admin/users/new",
        f"/admin/users/{me}/role",
        f"/admin/users/{'9' * 30}/role",
        f"/admin/users/{'9' * 30}/remove",
        "/admin/login",
        "/admin/login/code",
    ]
    for path in paths:
        for value in ODD_VALUES:
            form = dict.fromkeys(("current", "new", "again", "code", "password", "username", "role"), value)
            answer = admin.client.post(path, data=form)
            assert answer.status_code < 500, (path, value[:20], answer.status_code)
    assert AdminUser.get_by_id(me).role == "owner"
    assert admin.get(f"/admin/account/sessions/{'9' * 30}/end").status_code == 405


def test_a_stolen_session_cannot_guess_the_password_on_the_account_page(admin: AdminActions, clock: Any) -> None:
    for n in range(5):
        form = {"current": f"guess-{n}", "new": NEW_PASSWORD, "again": NEW_PASSWORD}
        assert admin.post("/admin/account/password", form, token_page="/admin/account").status_code == 400
    form = {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    held = admin.post("/admin/account/password", form, token_page="/admin/account")
    assert held.status_code == 429 and held.headers["Retry-After"] == "1"
    assert "Too many wrong passwords from here" in text(held)
    clock.advance(1)
    assert admin.post("/admin/account/password", form, token_page="/admin/account").status_code == 303
    failures = AuditLog.select().where(AuditLog.action == "admin.login_failed").count()
    assert failures == 5  # and the owner sees them on the dashboard
