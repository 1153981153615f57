"""Stuck payments: "Check with M-Pesa now" for one, a bulk re-check with progress, and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from portal.domain import recheck
from portal.ledger.models import AuditLog, Grant, Payment, PaymentEvent, RecheckRun


def stuck(portal, package, simulator, n: int) -> Payment:
    """The customer approved, the callback was lost, and the worker has not asked yet."""
    simulator.drop_callbacks = True
    mac, ip = portal.join(f"AA:BB:CC:00:08:{n:02X}", f"10.5.58.{n + 2}")
    checkout, _ = portal.pay_ids(package.id, phone=f"07{23000000 + n:08d}", mac=mac, ip=ip)
    portal.settle(5)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    assert payment.status == "pending"
    return payment


def test_check_now_asks_m_pesa_records_it_and_grants(portal, package, simulator, services, emulator):
    payment = stuck(portal, package, simulator, 0)
    result = recheck.check_now(services, payment.id, actor="cashier1")
    assert result.outcome == "paid"
    assert Payment.get_by_id(payment.id).status == "paid" and emulator.is_online(payment.mac)
    query = PaymentEvent.get(PaymentEvent.payment == payment, PaymentEvent.kind == "query")
    assert query.detail_data["checked_by"] == "cashier1" and query.detail_data["result_code"] == "0"
    assert recheck.check_now(services, payment.id, actor="cashier1").outcome == "already_paid"
    assert Grant.select().where(Grant.payment == payment).count() == 1
    assert AuditLog.select().where(AuditLog.action == "payment.check").count() == 2


def test_a_bulk_recheck_shows_progress_and_sorts_the_outcomes(portal, package, simulator, services, clock):
    paid = [stuck(portal, package, simulator, n) for n in range(3)]
    simulator.script_outcome("254723000003", "ask")  # this customer never answers the prompt
    waiting = stuck(portal, package, simulator, 3)
    clock.advance(10 * 60)
    fresh = stuck(portal, package, simulator, 4)  # too recent to be called stuck
    run = recheck.start_run(services, older_than_seconds=5 * 60, actor="owner")
    assert run.total == 4 and fresh.id not in recheck.stuck_payment_ids(services, 5 * 60)
    seen = []
    half = recheck.run(services, run.id, limit=2, progress=lambda done, total, r: seen.append((done, total)))
    assert (half.checked, half.finished_at) == (2, None) and seen == [(1, 4), (2, 4)]
    done = recheck.run(services, run.id)
    assert (done.checked, done.paid, done.still_pending, done.failed) == (4, 3, 0, 1) and done.finished_at
    assert {p.id for p in Payment.select().where(Payment.status == "paid")} == {p.id for p in paid}
    assert Payment.get_by_id(waiting.id).status == "timeout"  # M-Pesa: 1037, the prompt was never answered


def test_the_cli_rechecks_and_prints_progress_and_a_summary(portal, package, simulator, services, emulator, tmp_path):
    payment = stuck(portal, package, simulator, 5)
    m = services.settings.mpesa
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[portal]\ndata_dir = "{tmp_path / "cli-data"}"\n'
        f'[database]\nurl = "{services.settings.database_url}"\n'
        f'[mpesa]\nenvironment = "simulator"\nbase_url = "{simulator.base_url}"\nconsumer_key = "{m.consumer_key}"\n'
        f'consumer_secret = "{m.consumer_secret}"\npasskey = "{m.passkey}"\n'
        f'[[routers]]\nname = "main"\nhost = "127.0.0.1"\nport = {emulator.port}\nusername = "pay2connect"\n'
        'password = "secret"\ntimeout = 2.0\n'
    )
    script = Path(sys.executable).parent / "pay2connect"
    done = subprocess.run(
        [str(script), "--config", str(config), "payments", "recheck", "--older-than", "1m"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"[1/1] payment #{payment.id}: paid" in done.stdout
    assert "checked 1: 1 paid, 0 failed, 0 still pending, 0 could not be checked" in done.stdout
    assert Payment.get_by_id(payment.id).status == "paid" and emulator.is_online(payment.mac)
    assert RecheckRun.get().actor.startswith("cli")
    bad = subprocess.run(
        [str(script), "--config", str(config), "payments", "recheck", "--older-than", "soon"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode != 0 and "--older-than" in bad.stderr and "Traceback" not in bad.stderr
