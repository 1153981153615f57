"""Vouchers in the admin over the real stack: batches and their printable sheet, single codes
for cashiers, revoking (live sessions cut on the RouterOS emulator), agents with a float and
a commission, the report and its CSV."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
import requests

from portal.domain.accounts import create_admin
from portal.domain.vouchers_codes import ALPHABET
from portal.ledger.models import AdminUser, AgentFloatEntry, Grant, Payment, VoucherBatch
from tests.web.admin.test_admin import PASSWORD, AdminActions, text
from tests.web.conftest import IP_A, MAC_A

CODE = re.compile(f"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")


@pytest.fixture
def login(app: Any) -> Any:
    """Sign in on a fresh browser (its own cookies) and return it."""

    def sign_in(username: str, password: str) -> AdminActions:
        actions = AdminActions(app.test_client())
        assert actions.login(username, password).status_code == 303
        return actions

    return sign_in


@pytest.fixture
def owner(services: Any, login: Any) -> AdminActions:
    create_admin("owner", PASSWORD, services.clock)
    return login("owner", PASSWORD)


def make(admin: AdminActions, pkg: Any, count: int = 3, **fields: str) -> Any:
    form_page = text(admin.get("/admin/vouchers"))
    request_id = re.search(r'name="request_id" value="([^"]+)"', form_page).group(1)
    data = {"package": str(pkg.id), "count": str(count), "layout": "a4", "request_id": request_id, **fields}
    return admin.post("/admin/vouchers", data, token_page="/admin/vouchers"), data


def codes_on(page: str) -> list[str]:
    return CODE.findall(page.split('id="sheet"', 1)[1])


def test_a_batch_is_shown_once_as_a_printable_sheet(owner: AdminActions, package: Any, services: Any) -> None:
    answer, form = make(owner, package, 20, label="Harambee", use_by="2026-12-31")

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    page = text(answer)
    codes = codes_on(page)
    assert len(codes) == 20 and len(set(codes)) == 20
    assert page.count('<svg role="img"') == 20 and "<title>QR code" in page  # inline QR, no image fetched
    assert "@page{size:A4" in page and "@media print" in page
    assert "shown only this once" in page and "Print this page before you leave it" in page
    assert "KSh 20 · 1 hour" in page and "Use by 31 Dec 2026" in page and "Wi-Fi: <strong>Pay2Connect Wi-Fi" in page
    assert not re.search(r'(src|href)="https?://', page.split('id="sheet"', 1)[1])
    batch = VoucherBatch.get()
    assert (batch.count, batch.label, batch.created_by) == (20, "Harambee", "owner")

    again = owner.post("/admin/vouchers", form, token_page="/admin/vouchers")  # a reload re-sends the form
    assert again.status_code == 400 and "This form was already sent: batch 1" in text(again)
    assert 'id="sheet"' not in text(again)
    assert VoucherBatch.select().count() == 1
    listing = text(owner.get("/admin/vouchers"))
    assert not CODE.search(listing)  # the list never shows a code again


def test_a_qr_code_encodes_the_splash_link_with_the_code(owner: AdminActions, package: Any, services: Any) -> None:
    from portal.web.admin.vouchers_print import qr_svg, splash_link

    page = text(make(owner, package, 1)[0])
    code = codes_on(page)[0]
    expected = str(qr_svg(splash_link(services.settings.portal.public_url, code)))
    assert expected in page
    assert splash_link("http://10.5.50.1:8080/", code) == f"http://10.5.50.1:8080/?voucher={code}"


@pytest.mark.parametrize("layout", ["58mm", "80mm"])
def test_thermal_layouts_print_one_card_per_ticket(owner: AdminActions, package: Any, layout: str) -> None:
    page = text(make(owner, package, 2, layout=layout)[0])
    assert f'class="sheet layout-{layout}"' in page and f"@page{{size:{layout} " in page
    assert len(codes_on(page)) == 2


def test_bad_batch_forms_say_what_is_wrong(owner: AdminActions, package: Any) -> None:
    for fields, problem in (
        ({"count": "0"}, "count must be a whole number from 1 to 1000"),
        ({"count": "5000"}, "count must be a whole number from 1 to 1000"),
        ({"use_by": "31/12/2026"}, "use-by date must be a date like 2026-12-31"),
        ({"package": "99"}, "choose a package that exists"),
    ):
        answer, _ = make(owner, package, **fields)
        assert answer.status_code == 400 and problem in text(answer), fields
    assert VoucherBatch.select().count() == 0


def test_a_cashier_sells_single_codes_but_no_batches_and_cannot_revoke(
    owner: AdminActions, services: Any, package: Any, login: Any
) -> None:
    create_admin("cashier1", "cashier-password-1", services.clock)
    AdminUser.update(role="cashier").where(AdminUser.username == "cashier1").execute()
    cashier = login("cashier1", "cashier-password-1")
    page = text(cashier.get("/admin/vouchers"))
    assert "Sell a voucher" in page and 'name="count" value="1"' in page and "Make a batch" not in page

    single, _ = make(cashier, package, 1)
    assert single.status_code == 200 and len(codes_on(text(single))) == 1
    assert make(cashier, package, 5)[0].status_code == 403
    assert cashier.post("/admin/vouchers/1/revoke", token_page="/admin/vouchers").status_code == 403
    assert cashier.get("/admin/vouchers/export.csv").status_code == 403
    assert cashier.get("/admin/vouchers/agents").status_code == 403
    mine = text(cashier.get("/admin/vouchers"))
    make(owner, package, 2)
    assert "Vouchers you made" in mine and text(cashier.get("/admin/vouchers")).count("<td>1 hour</td>") == 1


def test_revoking_a_batch_cuts_off_its_live_sessions(
    owner: AdminActions, package: Any, portal: Any, emulator: Any, base_url: str
) -> None:
    codes = codes_on(text(make(owner, package, 3)[0]))
    portal.join(MAC_A, IP_A)
    body = {"code": codes[0], "macAddress": MAC_A, "ip": IP_A, "router": "main"}
    assert requests.post(f"{base_url}/api/portal/voucher", json=body, timeout=10).json()["status"] == "success"
    assert emulator.is_online(MAC_A)

    answer = owner.post("/admin/vouchers/1/revoke", token_page="/admin/vouchers")

    assert answer.status_code == 303
    assert "Batch 1 revoked: 2 unused vouchers will not work, 1 live sessions ended." in text(
        owner.get("/admin/vouchers")
    )
    assert not emulator.is_online(MAC_A) and Grant.get().status == "revoked"
    assert (
        requests.post(f"{base_url}/api/portal/voucher", json={**body, "code": codes[1]}, timeout=10).status_code == 404
    )
    assert owner.post("/admin/vouchers/99/revoke", token_page="/admin/vouchers").status_code == 404


def test_an_agent_issues_from_a_float_and_sees_only_their_page(
    owner: AdminActions, services: Any, package: Any, login: Any
) -> None:
    added = owner.post(
        "/admin/vouchers/agents",
        {"name": "Kiosk Wanjiku", "username": "wanjiku", "password": "agent-password-1", "commission": "10"},
        token_page="/admin/vouchers/agents",
    )
    assert added.status_code == 303
    assert AdminUser.get(AdminUser.username == "wanjiku").role == "agent"
    owner.post("/admin/vouchers/agents/1/float", {"amount": "50"}, token_page="/admin/vouchers/agents")

    agent = login("wanjiku", "agent-password-1")
    assert agent.get("/admin/").headers["Location"].endswith("/admin/vouchers/agent")
    for closed in (
        "/admin/payments",
        "/admin/sessions",
        "/admin/vouchers",
        "/admin/packages",
        "/admin/vouchers/agents",
    ):
        assert agent.get(closed).status_code == 403, closed
    home = text(agent.get("/admin/vouchers/agent"))
    assert "KSh 50" in home and "Payments" not in home and "My vouchers" in home

    def issue(count: int) -> Any:
        page = text(agent.get("/admin/vouchers/agent"))
        request_id = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
        data = {"package": str(package.id), "count": str(count), "layout": "58mm", "request_id": request_id}
        return agent.post("/admin/vouchers/agent", data, token_page="/admin/vouchers/agent")

    sheet = issue(2)
    assert sheet.status_code == 200 and len(codes_on(text(sheet))) == 2
    refused = issue(2)  # 40 more, 10 left
    assert refused.status_code == 400 and "not enough float: 2 vouchers cost KSh 40, the float has KSh 10" in text(
        refused
    )
    assert "KSh 10" in text(agent.get("/admin/vouchers/agent"))
    batch = VoucherBatch.get()
    assert batch.label == "Kiosk Wanjiku" and batch.agent.admin.username == "wanjiku"

    report = text(owner.get("/admin/vouchers/agents"))
    row = report.split("<td>Kiosk Wanjiku", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]+)</td>', row)[:7] == [
        "10%",
        "2",
        "KSh 40",
        "KSh 4",
        "KSh 36",
        "0",
        "KSh 10",
    ]

    owner.post(f"/admin/vouchers/{batch.id}/revoke", token_page="/admin/vouchers")
    assert [e.kind for e in AgentFloatEntry.select().order_by(AgentFloatEntry.id)] == ["top_up", "issue", "refund"]
    assert "KSh 50" in text(agent.get("/admin/vouchers/agent"))  # the unused vouchers' value came back
    sold = csv.reader(io.StringIO(text(owner.get("/admin/vouchers/export.csv?kind=agents"))))
    assert list(sold)[1][:7] == ["Kiosk Wanjiku", "wanjiku", "10%", "2", "0", "0", "0"]


def test_agent_forms_refuse_bad_values(owner: AdminActions, services: Any) -> None:
    create_admin("taken", "taken-password-1", services.clock)
    for fields, problem in (
        ({"name": "A", "username": "taken", "password": "agent-password-1", "commission": "5"}, "username is taken"),
        ({"name": "A", "username": "newone", "password": "short", "commission": "5"}, "at least 10 characters"),
        ({"name": "A", "username": "newone", "password": "agent-password-1", "commission": "150"}, "from 0 to 100"),
        ({"name": "", "username": "newone", "password": "agent-password-1", "commission": "5"}, "1 to 60 characters"),
    ):
        answer = owner.post("/admin/vouchers/agents", fields, token_page="/admin/vouchers/agents")
        assert answer.status_code == 400 and problem in text(answer), fields
    assert AdminUser.get(AdminUser.username == "taken").role == "owner"  # an existing login is never taken over


def test_the_csv_is_safe_to_open_in_a_spreadsheet(owner: AdminActions, package: Any) -> None:
    make(owner, package, 2, label='=HYPERLINK("http://evil")')
    make(owner, package, 1, label="@SUM(A1)")

    answer = owner.get("/admin/vouchers/export.csv?kind=batches")

    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text(answer))))
    assert rows[0][:5] == ["batch", "created (Nairobi)", "created by", "package", "price KES"]
    labels = {row[0]: row[5] for row in rows[1:]}
    assert labels == {"2": "'@SUM(A1)", "1": '\'=HYPERLINK("http://evil")'}
    assert rows[1][8:14] == ["1", "1", "0", "0", "0", "0"]
    assert owner.get("/admin/vouchers/export.csv?kind=x").status_code == 400


def test_the_dashboard_keeps_mpesa_and_voucher_money_apart(
    owner: AdminActions, package: Any, portal: Any, base_url: str
) -> None:
    portal.join(MAC_A, IP_A)
    portal.pay_ids(package.id, mac=MAC_A, ip=IP_A)
    portal.settle()
    code = codes_on(text(make(owner, package, 1)[0]))[0]
    portal.join("AA:BB:CC:00:00:02", "10.5.50.12")
    body = {"code": code, "macAddress": "AA:BB:CC:00:00:02", "ip": "10.5.50.12"}
    assert requests.post(f"{base_url}/api/portal/voucher", json=body, timeout=10).status_code == 200
    assert [p.method for p in Payment.select().order_by(Payment.id)] == ["mpesa", "voucher"]

    page = text(owner.get("/admin/"))

    assert "Today, M-Pesa" in page and "1 paid; vouchers KSh 20 (1 used)" in page
    assert "Collected by M-Pesa: <strong>KSh 20</strong> from 1 payments" in page
    vouchers_page = text(owner.get("/admin/vouchers"))
    assert vouchers_page.count("KSh 20") >= 3  # M-Pesa 20, vouchers used 20, vouchers made 20
