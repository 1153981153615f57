"""The admin UI over the real stack: login, CSRF, packages, live sessions (kick/extend against
the RouterOS emulator), payments with filters and timelines, callbacks, routers, audit."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from portal.domain.accounts import create_admin
from portal.ledger.models import AuditLog, Grant, OutboxItem, Package, Payment, UnmatchedCallback
from tests.conftest import ADMIN_PASSWORD as PASSWORD
from tests.conftest import AdminActions, free_port


def audit_actions() -> list[str]:
    return [entry.action for entry in AuditLog.select().order_by(AuditLog.id)]


def text(response: Any) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def paid(portal: Any, package: Any, emulator: Any) -> Grant:
    """One customer who paid over the real stack and is online on the emulated router."""
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    grant = Grant.get(Grant.mac == mac)
    assert grant.status == "active" and emulator.is_online(mac)
    return grant


# -- login ------------------------------------------------------------------------------


PAGES = [
    "/admin/",
    "/admin/packages",
    "/admin/packages/new",
    "/admin/sessions",
    "/admin/payments?status=paid",
    "/admin/payments/1",
    "/admin/callbacks",
    "/admin/routers",
    "/admin/audit",
]


def test_every_page_redirects_to_login_with_a_local_next(client: Any, owner: str) -> None:
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 302, path
        location = answer.headers["Location"]
        assert location.startswith("/admin/login?next="), path
        assert "/admin" in location.split("next=", 1)[1].replace("%2F", "/"), path


def test_post_without_login_changes_nothing(client: Any, owner: str, package: Any) -> None:
    token = AdminActions(client).token()  # a valid CSRF token, but nobody logged in
    answer = client.post(f"/admin/packages/{package.id}/active", data={"active": "0", "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/login"
    assert Package.get_by_id(package.id).active is True


def test_login_then_lands_on_next_and_logout_ends_the_session(client: Any, owner: str) -> None:
    admin = AdminActions(client)
    answer = admin.login(next_url="/admin/payments?status=paid")
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/payments?status=paid"
    page = admin.get("/admin/")
    assert page.status_code == 200 and "Dashboard" in text(page)
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert admin.get("/admin/logout").status_code == 302  # a GET cannot log anyone out
    assert admin.get("/admin/").status_code == 200
    assert admin.post("/admin/logout", token_page="/admin/").status_code == 303
    assert admin.get("/admin/").status_code == 302
    assert audit_actions()[-2:] == ["admin.login", "admin.logout"]


def test_login_never_redirects_off_the_admin(app: Any, owner: str) -> None:
    for target in [
        "https://evil.example/x",
        "//evil.example/admin",
        "/\\evil.example",
        "/splash",
        "javascript:alert(1)",
        "/admin/login?next=//evil.example",
    ]:
        answer = AdminActions(app.test_client()).login(next_url=target)
        assert answer.status_code == 303, target
        assert answer.headers["Location"] == "/admin/", target


def test_wrong_password_is_refused_and_audited(client: Any, owner: str) -> None:
    admin = AdminActions(client)
    answer = admin.login(password="not the password")
    assert answer.status_code == 401
    assert "Wrong username or password." in text(answer)
    assert 'value="owner"' in text(answer)  # the username is kept, the password is not
    assert admin.get("/admin/").status_code == 302
    assert admin.login(username="nobody").status_code == 401
    failures = AuditLog.select().where(AuditLog.action == "admin.login_failed")
    assert [json.loads(f.detail)["username"] for f in failures] == ["owner", "nobody"]
    assert PASSWORD not in " ".join(f.detail for f in AuditLog.select())


def test_login_failures_make_this_address_wait(client: Any, owner: str, clock: Any) -> None:
    """Five free failures, then a growing wait answered at once with 429 (details and the
    lock-out cases over real sockets: test_signin_limits.py)."""
    admin = AdminActions(client)
    for _ in range(5):
        assert admin.login(password="guess").status_code == 401
    blocked = admin.login()  # even the right password waits once the address is held back
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "1"
    assert "Too many failed sign-ins from here. Try again in 1 second." in text(blocked)
    assert admin.get("/admin/").status_code == 302
    clock.advance(1)
    assert admin.login().status_code == 303
    assert admin.get("/admin/").status_code == 200


def test_a_login_expires_after_a_working_day(admin: AdminActions, clock: Any) -> None:
    assert admin.get("/admin/").status_code == 200
    clock.advance(13 * 3600)
    assert admin.get("/admin/").status_code == 302


def test_csrf_token_is_required_on_every_form(app: Any, client: Any, admin: AdminActions, package: Any) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True  # TESTING alone does not turn it off
    before = Package.select().count()
    answer = client.post("/admin/packages/new", data={"name": "Sneaky", "price": "5", "duration": "1h"})
    assert answer.status_code == 400
    assert "This form has expired or did not come from this admin" in text(answer)
    assert Package.select().count() == before
    forged = client.post(f"/admin/packages/{package.id}/active", data={"active": "0", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert Package.get_by_id(package.id).active is True
    fresh = AdminActions(app.test_client())
    assert fresh.client.post("/admin/login", data={"username": "owner", "password": PASSWORD}).status_code == 400


# -- packages ---------------------------------------------------------------------------


def test_add_a_package(admin: AdminActions) -> None:
    form = {
        "name": "Day pass",
        "name_sw": "Siku nzima",
        "price": "50",
        "duration": "1d",
        "data_cap": "2GB",
        "rate_limit": "5M/5M",
        "devices": "2",
        "sort_order": "3",
    }
    answer = admin.post("/admin/packages/new", form, token_page="/admin/packages/new")
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/packages"
    package = Package.get(Package.name == "Day pass")
    assert (
        package.price,
        package.duration_seconds,
        package.data_cap_bytes,
        package.rate_limit,
        package.devices,
        package.sort_order,
        package.name_sw,
        package.active,
    ) == (50, 86400, 2_000_000_000, "5M/5M", 2, 3, "Siku nzima", True)
    listing = text(admin.get("/admin/packages"))
    assert "Day pass" in listing and "KSh 50" in listing and "2GB" in listing
    assert "Package “Day pass” added." in listing
    entry = AuditLog.select().where(AuditLog.action == "package.add").get()
    assert entry.actor == "owner" and json.loads(entry.detail)["price"] == "50"


BAD_PACKAGE_VALUES = [
    ("price", "ten", "must be a whole number of shillings"),
    ("price", "0", "price must be between 1 and"),
    ("duration", "forever", "duration 'forever' not understood"),
    ("data_cap", "lots", "data cap 'lots' not understood"),
    ("rate_limit", "fast", "speed limit 'fast' not understood"),
    ("devices", "99", "devices must be a whole number from 1 to 20"),
    ("sort_order", "first", "order must be a whole number"),
    ("name", "", "name is required"),
    ("sort_order", "9" * 30, "order must be between"),
    ("data_cap", "9" * 60 + "GB", "data cap must be at most 1000TB"),
    ("rate_limit", "9" * 60 + "M", "speed limit is too long"),
]


def test_bad_package_values_are_shown_with_the_input_kept(admin: AdminActions) -> None:
    for field, value, message in BAD_PACKAGE_VALUES:
        form = {"name": "Evening", "price": "30", "duration": "3h", field: value}
        answer = admin.post("/admin/packages/new", form, token_page="/admin/packages/new")
        assert answer.status_code == 400, field
        body = text(answer)
        assert message in body.replace("&#39;", "'"), field
        assert 'class="problems"' in body
        if value:
            assert f'value="{value}"' in body, field
        kept = 'value="3h"' if field == "name" else 'value="Evening"'
        assert kept in body, field  # the good fields stay filled in
    assert Package.select().count() == 0
    assert "package.add" not in audit_actions()


def test_several_problems_are_listed_together(admin: AdminActions) -> None:
    answer = admin.post(
        "/admin/packages/new", {"name": "X", "price": "-3", "duration": "1y"}, token_page="/admin/packages/new"
    )
    assert answer.status_code == 400
    problems = re.findall(r"<li>(.*?)</li>", text(answer).split('class="problems"', 1)[1].split("</ul>")[0])
    assert len(problems) == 2


def test_edit_a_package(admin: AdminActions, package: Any) -> None:
    page = text(admin.get(f"/admin/packages/{package.id}/edit"))
    assert 'value="1h"' in page and 'value="2M/2M"' in page and 'value="Saa 1"' in page
    form = {
        "name": "1 hour",
        "name_sw": "",
        "price": "25",
        "duration": "1h",
        "data_cap": "500MB",
        "rate_limit": "",
        "devices": "1",
        "sort_order": "0",
    }
    answer = admin.post(f"/admin/packages/{package.id}/edit", form, token_page="/admin/packages")
    assert answer.status_code == 303
    saved = Package.get_by_id(package.id)
    assert (saved.price, saved.data_cap_bytes, saved.rate_limit, saved.name_sw) == (25, 500_000_000, None, "")
    changes = json.loads(AuditLog.get(AuditLog.action == "package.update").detail)["changes"]
    assert changes["price"] == ["20", "25"] and changes["rate_limit"] == ["2M/2M", "none"]
    assert changes["data_cap"] == ["none", "500MB"]


def test_a_bad_edit_saves_nothing(admin: AdminActions, package: Any) -> None:
    form = {"name": "1 hour", "price": "lots", "duration": "1h"}
    answer = admin.post(f"/admin/packages/{package.id}/edit", form, token_page="/admin/packages")
    assert answer.status_code == 400
    assert "price &#39;lots&#39; must be a whole number" in text(answer)
    assert Package.get_by_id(package.id).price == 20
    assert "package.update" not in audit_actions()
    assert admin.get("/admin/packages/999/edit").status_code == 404
    assert admin.get("/admin/packages/" + "9" * 30 + "/edit").status_code == 404


def test_disable_and_enable_a_package(admin: AdminActions, package: Any, client: Any) -> None:
    assert admin.post(f"/admin/packages/{package.id}/active", {"active": "0"}).status_code == 303
    assert Package.get_by_id(package.id).active is False
    listing = text(admin.get("/admin/packages"))
    assert "disabled" in listing and ">Enable<" in listing
    assert admin.post(f"/admin/packages/{package.id}/active", {"active": "1"}).status_code == 303
    assert Package.get_by_id(package.id).active is True
    assert admin.post(f"/admin/packages/{package.id}/active", {"active": "maybe"}).status_code == 400
    assert audit_actions()[-2:] == ["package.disable", "package.enable"]


# -- live sessions ----------------------------------------------------------------------


def test_kick_logs_the_device_out_on_the_router(admin: AdminActions, paid: Grant, emulator: Any) -> None:
    page = text(admin.get("/admin/sessions"))
    assert paid.mac in page and "0712 345 678" in page and "1 hour" in page
    answer = admin.post(f"/admin/sessions/{paid.id}/kick")
    assert answer.status_code == 303
    grant = Grant.get_by_id(paid.id)
    assert grant.status == "revoked" and grant.router_state == "removed"
    assert not emulator.is_online(paid.mac)
    assert all(u["name"] != paid.mac for u in emulator.users())
    assert "Nobody is online" in text(admin.get("/admin/sessions"))
    kick = AuditLog.get(AuditLog.action == "session.kick")
    assert json.loads(kick.detail)["mac"] == paid.mac and kick.actor == "owner"
    again = admin.post(f"/admin/sessions/{paid.id}/kick")
    assert again.status_code == 409 and "had already ended" in text(again)
    assert admin.post("/admin/sessions/9999/kick").status_code == 404
    assert admin.post("/admin/sessions/" + "9" * 30 + "/kick").status_code == 404


def test_extend_adds_time_and_keeps_the_device_online(admin: AdminActions, paid: Grant, emulator: Any) -> None:
    answer = admin.post(f"/admin/sessions/{paid.id}/extend", {"minutes": "60"})
    assert answer.status_code == 303
    grant = Grant.get_by_id(paid.id)
    assert grant.expires_at == paid.expires_at + timedelta(hours=1)
    assert grant.status == "active" and emulator.is_online(paid.mac)
    assert json.loads(AuditLog.get(AuditLog.action == "session.extend").detail)["seconds"] == 3600
    assert admin.post(f"/admin/sessions/{paid.id}/extend", {"minutes": "15"}).status_code == 303
    assert Grant.get_by_id(paid.id).expires_at == paid.expires_at + timedelta(minutes=75)
    bad = admin.post(f"/admin/sessions/{paid.id}/extend", {"minutes": "100000"})
    assert bad.status_code == 400 and "15 minutes or 1 hour" in text(bad)
    assert Grant.get_by_id(paid.id).expires_at == paid.expires_at + timedelta(minutes=75)
    kinds = [e.kind for e in Payment.get_by_id(paid.payment_id).events]
    assert kinds.count("extended_by_admin") == 2


def test_an_extension_reaches_the_live_router_session(
    admin: AdminActions, paid: Grant, emulator: Any, clock: Any
) -> None:
    assert admin.post(f"/admin/sessions/{paid.id}/extend", {"minutes": "60"}).status_code == 303
    clock.advance(3600 + 600)  # past the purchase's own hour and the router's 2-minute backstop margin
    assert Grant.get_by_id(paid.id).expires_at > clock.now()
    assert emulator.is_online(paid.mac), "the router's own limit must follow the extension"


def test_an_ended_session_cannot_be_extended(admin: AdminActions, paid: Grant) -> None:
    admin.post(f"/admin/sessions/{paid.id}/kick")
    answer = admin.post(f"/admin/sessions/{paid.id}/extend", {"minutes": "60"})
    assert answer.status_code == 409
    assert Grant.get_by_id(paid.id).expires_at == paid.expires_at


# -- payments ---------------------------------------------------------------------------


def _failed_payment(package: Any, clock: Any, phone: str = "254799000111") -> Payment:
    now = clock.now()
    return Payment.create(
        public_id=f"pub-{phone}",
        package=package,
        router="main",
        mac="AA:BB:CC:00:00:09",
        ip="10.5.50.19",
        phone=phone,
        amount=package.price,
        status="failed",
        created_at=now,
        updated_at=now,
        result_code="1032",
        result_desc="Request cancelled by user",
    )


def test_payments_list_and_filters(admin: AdminActions, paid: Grant, package: Any, clock: Any) -> None:
    failed = _failed_payment(package, clock)
    receipt = Payment.get_by_id(paid.payment_id).receipt
    everything = text(admin.get("/admin/payments"))
    assert everything.index(f">{failed.id}</a>") < everything.index(f">{paid.payment_id}</a>")  # newest first
    only_paid = text(admin.get("/admin/payments?status=paid"))
    assert receipt in only_paid and "0799 000 111" not in only_paid
    by_phone = text(admin.get("/admin/payments?phone=0799"))
    assert "0799 000 111" in by_phone and "0712 345 678" not in by_phone
    by_receipt = text(admin.get(f"/admin/payments?receipt={receipt.lower()}"))
    assert receipt in by_receipt and "0799 000 111" not in by_receipt
    assert "AA:BB:CC:00:00:09" in text(admin.get("/admin/payments?mac=aa-bb-cc-00-00-09"))
    nairobi_day = (clock.now() + timedelta(hours=3)).date()
    in_range = text(admin.get(f"/admin/payments?from={nairobi_day}&to={nairobi_day}"))
    assert receipt in in_range
    before = text(admin.get(f"/admin/payments?to={nairobi_day - timedelta(days=1)}"))
    assert "No payments match." in before


BAD_FILTERS = [
    ("status=bogus", "status must be one of"),
    ("from=2026-13-45", "from date must be a date like 2026-03-01"),
    ("from=2026-03-05&to=2026-03-01", "from date is after to date"),
    ("page=0", "page must be a whole number from 1"),
    ("page=abc", "page must be a whole number from 1"),
    ("page=99999999999999999999", "page must be a whole number from 1"),
    ("phone=%3Cscript%3E", "phone may only contain digits"),
    ("receipt=ab%27--", "receipt may only contain letters and digits"),
    ("mac=zz:zz", "device MAC may only contain hex digits"),
    ("status=%00paid", "status must be one of"),
    ("from=%E2%98%83", "from date must be a date like 2026-03-01"),
    ("phone=" + "9" * 500, "phone may have at most 12 digits"),
    ("page=" + "1" * 5000, "page must be a whole number from 1"),
    ("page=%C2%B2", "page must be a whole number from 1"),  # "²" is a digit to str.isdigit, not to int()
    ("phone=%D9%A3", "phone may only contain digits"),
]


def test_bad_filters_get_a_clear_400(admin: AdminActions) -> None:
    for query, message in BAD_FILTERS:
        answer = admin.get(f"/admin/payments?{query}")
        assert answer.status_code == 400, query[:80]
        body = text(answer)
        assert message in body, query[:80]
        assert "<script>" not in body
    both = text(admin.get("/admin/payments?status=nope&from=yesterday"))
    assert "status must be one of" in both and "from date must be a date" in both


def test_payment_page_shows_the_whole_timeline(admin: AdminActions, paid: Grant) -> None:
    payment = Payment.get_by_id(paid.payment_id)
    answer = admin.get(f"/admin/payments/{payment.id}")
    assert answer.status_code == 200
    body = text(answer)
    labels = [
        "Payment started",
        "M-Pesa prompt sent to the phone",
        "M-Pesa callback received",
        "Paid: session created",
        "Router let the device in",
    ]
    positions = [body.index(label) for label in labels]
    assert positions == sorted(positions), "events must be listed in the order they happened"
    assert body.count('class="event ') == len(list(payment.events))
    assert payment.receipt in body and "0712 345 678" in body
    assert "logged in" in body  # asked the router just now
    assert "online" in body
    missing = admin.get("/admin/payments/999999")
    assert missing.status_code == 404 and "There is no payment with that number." in text(missing)
    assert admin.get("/admin/payments/" + "9" * 30).status_code == 404  # never reaches the database


def test_unmatched_callbacks_are_escaped_and_cut(admin: AdminActions, clock: Any) -> None:
    body = '{"Body": "<script>alert(1)</script>"}' + "x" * 5000
    UnmatchedCallback.create(
        received_at=clock.now(),
        source_ip="203.0.113.9",
        reason="no pending payment with that CheckoutRequestID",
        checkout_request_id="<img src=x onerror=alert(2)>",
        body=body,
    )
    page = text(admin.get("/admin/callbacks"))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "203.0.113.9" in page and "no pending payment" in page
    assert "x" * 1000 not in page and "(cut)" in page
    assert admin.get("/admin/callbacks?page=-1").status_code == 400
    assert admin.get("/admin/callbacks?page=" + "9" * 5000).status_code == 400


# -- dashboard, routers, audit -----------------------------------------------------------


def test_dashboard_shows_money_sessions_backlog_and_charts(admin: AdminActions, paid: Grant, clock: Any) -> None:
    body = text(admin.get("/admin/"))
    assert body.count("KSh 20") >= 3  # today, 7 days, 30 days
    assert body.count("<svg") == 2 and 'role="img"' in body and "<script" not in body
    assert "Revenue per day" in body and "Revenue per package" in body
    assert "Every paid payment has its session" in body
    assert "router is up to date" in body
    # The router misses one device: the dashboard must raise the "paid, not connected" alarm.
    Grant.update(router_state="pending").where(Grant.id == paid.id).execute()
    OutboxItem.create(
        grant=paid,
        action="authorize",
        router="main",
        mac=paid.mac,
        next_attempt_at=clock.now(),
        created_at=clock.now(),
        last_error="timeout",
    )
    alarm = text(admin.get("/admin/"))
    assert f'href="/admin/payments/{paid.payment_id}">#{paid.payment_id}</a> (pending)' in alarm
    assert "router is up to date" not in alarm


def test_routers_page_shows_a_dead_router_without_failing(admin: AdminActions, services: Any) -> None:
    from router.mikrotik import MikrotikRouter

    services.routers["backroom"] = MikrotikRouter("backroom", "127.0.0.1", free_port(), "api", "pw", timeout=1.0)
    answer = admin.get("/admin/routers")
    assert answer.status_code == 200
    body = text(answer)
    main, backroom = body.split("backroom", 1)
    assert "main" in main and "OK" in main
    assert "needs attention" in backroom and "Reachable</dt><dd>no" in backroom
    assert 'class="problems"' in backroom
    assert "problem" in text(admin.get("/admin/"))


def test_audit_log_lists_what_admins_did(admin: AdminActions, package: Any) -> None:
    admin.post(f"/admin/packages/{package.id}/active", {"active": "0"})
    body = text(admin.get("/admin/audit"))
    assert body.index("package.disable") < body.index("admin.login")  # newest first
    assert "owner" in body and "1 hour" in body
    assert admin.get("/admin/audit?page=x").status_code == 400
    assert admin.get("/admin/audit?page=%C2%B2").status_code == 400


def test_a_cashier_sees_sessions_and_payments_but_not_the_owner_pages(app: Any, services: Any) -> None:
    from portal.ledger.models import AdminUser

    create_admin("cashier1", "cashier-password-1", services.clock)
    AdminUser.update(role="cashier").where(AdminUser.username == "cashier1").execute()
    cashier = AdminActions(app.test_client())
    assert cashier.login("cashier1", "cashier-password-1").status_code == 303
    assert cashier.get("/admin/").headers["Location"].endswith("/admin/sessions")
    for allowed in ("/admin/sessions", "/admin/payments"):
        assert cashier.get(allowed).status_code == 200, allowed
    for owner_only in ("/admin/packages", "/admin/packages/new", "/admin/routers", "/admin/audit", "/admin/callbacks"):
        assert cashier.get(owner_only).status_code == 403, owner_only
    page = text(cashier.get("/admin/sessions"))
    assert "Packages" not in page and "Audit log" not in page
