"""The money pages over the real stack: the pause switch, re-checks, statements, exports, care,
and what a cashier may not reach."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from portal.domain.accounts import create_admin
from portal.ledger.models import AdminUser, AuditLog, Grant, Payment
from tests.statement_files import from_simulator, org_portal_csv

from .test_admin import PASSWORD, AdminActions, text


@pytest.fixture
def cashier(app: Any, services: Any, clock: Any) -> AdminActions:
    create_admin("cashier1", PASSWORD, clock)
    AdminUser.update(role="cashier").where(AdminUser.username == "cashier1").execute()
    actions = AdminActions(app.test_client())
    assert actions.login("cashier1").status_code == 303
    return actions


def test_a_cashier_cannot_reach_prices_the_pause_switch_statements_or_exports(cashier, package):
    for path in (
        "/admin/packages/new",
        f"/admin/packages/{package.id}/edit",
        "/admin/payments/pause",
        "/admin/statements",
        "/admin/statements/daily",
        "/admin/payments.csv",
        "/admin/revenue.csv",
        "/admin/sessions/complimentary",
    ):
        assert cashier.get(path).status_code == 403, path  # fmt: skip
    for path in ("/admin/payments/pause", "/admin/payments/resume", "/admin/payments/recheck"):
        answer = cashier.post(path, {"reason": "x", "minutes": "30"})
        assert answer.status_code == 403, path
    assert "Pause payments" not in text(cashier.get("/admin/sessions"))
    assert AuditLog.select().where(AuditLog.action == "payments.pause").count() == 0


def test_the_owner_pauses_from_the_admin_and_the_splash_says_so(admin, portal, package):
    page = admin.get("/admin/payments/pause")
    assert "Payments are on." in text(page)
    assert admin.post("/admin/payments/pause", {"reason": ""}, token_page="/admin/payments/pause").status_code == 400
    assert admin.post("/admin/payments/pause", {"reason": "Safaricom down"}, "/admin/payments/pause").status_code == 303
    assert 'id="pause-banner"' in text(admin.get("/admin/payments"))
    mac, ip = portal.join()
    splash = admin.client.get(f"/?mac={mac}&ip={ip}")
    assert "M-Pesa payments are paused" in text(splash) and "Pay with M-Pesa" not in text(splash)
    assert portal.pay(package.id, mac=mac, ip=ip).status_code == 503
    assert admin.post("/admin/payments/resume", {}, "/admin/payments/pause").status_code == 303
    assert "Pay with M-Pesa" in text(admin.client.get(f"/?mac={mac}&ip={ip}"))


def test_check_with_m_pesa_from_the_payment_page(admin, portal, package, simulator, emulator):
    simulator.drop_callbacks = True
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    payment = Payment.get()
    page = text(admin.get(f"/admin/payments/{payment.id}"))
    assert "Check with M-Pesa now" in page
    answer = admin.post(f"/admin/payments/{payment.id}/check", token_page=f"/admin/payments/{payment.id}")
    assert answer.status_code == 303
    page = text(admin.get(f"/admin/payments/{payment.id}"))
    assert "Asked M-Pesa for the result (STK Query)" in page and "session was granted" in page
    assert Payment.get_by_id(payment.id).status == "paid" and emulator.is_online(mac)
    answer = admin.post("/admin/payments/recheck", {"minutes": "1"}, token_page="/admin/payments")
    assert answer.status_code == 303 and "/admin/payments/recheck/" in answer.headers["Location"]
    assert "Checked 0 of 0" in text(admin.get(answer.headers["Location"]))


def test_statement_upload_lists_and_exports(admin, portal, package, simulator, clock):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    data = org_portal_csv(from_simulator(simulator.transactions()), clock.now().replace(hour=0), clock.now())
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(admin.get("/admin/statements"))).group(1)
    answer = admin.client.post(
        "/admin/statements/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), "statement.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200 and "1 new lines" in text(answer)
    exported = admin.get("/admin/statements.csv?list=matched")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["receipt"] for r in rows] == [Payment.get().receipt]
    assert 'class="agree"' in text(admin.get("/admin/statements/daily"))
    bad = admin.client.post(
        "/admin/statements/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"name,price\nx,1\n"), "prices.csv")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "no header row" in text(bad)


def test_kick_asks_first_and_complimentary_time_is_audited(admin, portal, package, emulator):
    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    grant = Grant.get()
    sessions = text(admin.get("/admin/sessions"))
    assert f"/admin/sessions/{grant.id}/kick" in sessions and "Yes, log this device out" not in sessions
    assert "Yes, log this device out" in text(admin.get(f"/admin/sessions/{grant.id}/kick"))
    other, _ip = portal.join("AA:BB:CC:00:09:01", "10.5.59.2")
    answer = admin.post(
        "/admin/sessions/complimentary",
        {"mac": other, "router": "main", "package": str(package.id), "reason": "router was down"},
        token_page="/admin/sessions/complimentary",
    )
    assert answer.status_code == 303
    free = Payment.get(Payment.method == "complimentary")
    assert free.amount == 0 and free.status == "paid" and emulator.is_online(other)
    assert AuditLog.get(AuditLog.action == "session.complimentary").actor == "owner"
    missing = admin.post(
        "/admin/sessions/complimentary",
        {"mac": "AA:BB:CC:0F:0F:0F", "router": "main", "package": str(package.id), "reason": "goodwill"},
        token_page="/admin/sessions/complimentary",
    )
    assert missing.status_code == 403 and "not on the main hotspot" in text(missing)


def test_after_a_move_the_payment_page_shows_both_devices_and_real_attempts(admin, portal, package, services):
    from portal.domain.reconnect import move_purchase

    mac, ip = portal.join()
    portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    payment = Payment.get()
    new_mac, new_ip = portal.join("AA:BB:CC:00:09:02", "10.5.59.3")
    move_purchase(services, receipt=payment.receipt, phone="0712345678", router="main", mac=new_mac, ip=new_ip)
    page = text(admin.get(f"/admin/payments/{payment.id}"))
    assert "Paid from device" in page and mac in page and "Session now on" in page and new_mac in page
    assert "Session moved to another device" in page and "(moved)" not in page
    attempts = re.findall(r'<td class="num">(\d+)</td>', page)
    assert attempts and all(int(n) >= 1 for n in attempts)  # each router call that was made is counted
