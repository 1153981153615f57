"""Voucher rules without the web: codes, keyed hashes and key rotation, states, agents'
float and commission, money split by method, spreadsheet-safe CSV (real SQLite and Redis)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from portal.config import ConfigError, load_settings
from portal.domain import reports, vouchers, vouchers_agents, vouchers_codes, vouchers_redeem, vouchers_report
from portal.domain.errors import BadInput, NotFound, TooManyRequests
from portal.ledger.models import AgentFloatEntry, Payment, VoucherAgent
from tests.web.conftest import IP_A, MAC_A


def batch(services: Any, package: Any, count: int = 2, **extra: Any) -> vouchers.NewBatch:
    return vouchers.create_batch(
        services.settings, services.clock, package_id=package.id, count=count, actor="owner", **extra
    )


def test_codes_use_the_unambiguous_alphabet_and_are_grouped() -> None:
    assert set(vouchers_codes.ALPHABET).isdisjoint("0O1I") and len(set(vouchers_codes.ALPHABET)) == 32
    made = [vouchers_codes.new_code(12) for _ in range(2000)]
    assert all(len(c) == 12 and set(c) <= set(vouchers_codes.ALPHABET) for c in made)
    assert len(set(made)) == 2000
    counts = Counter("".join(made))
    assert len(counts) == 32 and max(counts.values()) < 2 * min(counts.values())  # every symbol, roughly evenly
    assert vouchers_codes.grouped("K7QM3XHD9RWT") == "K7QM-3XHD-9RWT"
    assert vouchers_codes.grouped("K7QM3XHD9RWTAB") == "K7QM-3XHD-9RWT-AB"


@pytest.mark.parametrize("typed", ["K7QM-3XHD-9RWT", "k7qm 3xhd 9rwt", " K7QM3XHD9RWT\t", "k7qm.3xhd_9rwt"])
def test_what_people_type_is_read_back(typed: str) -> None:
    assert vouchers_codes.normalize(typed, 12) == "K7QM3XHD9RWT"


@pytest.mark.parametrize(
    "typed", ["", "K7QM-3XHD-9RW", "K7QM-3XHD-9RWTX", "K7QM-3XHD-9RW0", "K7QM-3XHD-9RWI", None, 42]
)
def test_malformed_codes_are_refused_by_format(typed: Any) -> None:
    with pytest.raises(BadInput) as err:
        vouchers_codes.normalize(typed, 12)
    assert err.value.key == "voucher_invalid" and err.value.params == {"length": 12}


def test_the_hash_is_keyed_and_the_key_has_a_fingerprint() -> None:
    one, two = vouchers_codes.derive_key("a-secret-of-16-chars"), vouchers_codes.derive_key("another-secret-16ch")
    assert one.hash("K7QM3XHD9RWT") != two.hash("K7QM3XHD9RWT")
    assert len(one.hash("K7QM3XHD9RWT")) == 64 and one.key_id != two.key_id and len(one.key_id) == 12
    assert one.secret != b"a-secret-of-16-chars"  # a derived key, never the secret itself


def test_a_batch_needs_a_real_secret(services: Any, package: Any) -> None:
    portal_settings = dataclasses.replace(services.settings.portal, secret_key="")
    settings = dataclasses.replace(services.settings, portal=portal_settings)
    with pytest.raises(BadInput) as err:
        vouchers.create_batch(settings, services.clock, package_id=package.id, count=1, actor="x")
    assert err.value.key == "voucher_no_secret"


def test_codes_made_before_a_key_change_still_work_when_the_old_key_is_listed(
    services: Any, package: Any, portal: Any
) -> None:
    old = batch(services, package, 1)
    new_secret = "the-new-secret-key-0123456789"
    rotated = dataclasses.replace(
        services.settings,
        portal=dataclasses.replace(services.settings.portal, secret_key=new_secret),
        vouchers=dataclasses.replace(
            services.settings.vouchers, previous_secret_keys=(services.settings.portal.secret_key,)
        ),
    )
    forgotten = dataclasses.replace(rotated, vouchers=dataclasses.replace(rotated.vouchers, previous_secret_keys=()))
    code = vouchers_codes.normalize(old.codes[0], 12)

    services.settings = forgotten
    assert vouchers_redeem.find_voucher(services, code) is None
    services.settings = rotated
    assert vouchers_redeem.find_voucher(services, code) is not None
    fresh = vouchers.create_batch(rotated, services.clock, package_id=package.id, count=1, actor="x")
    assert fresh.batch.key_id == vouchers_codes.derive_key(new_secret).key_id != old.batch.key_id
    portal.join(MAC_A, IP_A)
    paid = vouchers_redeem.redeem(services, vouchers_redeem.RedeemRequest(code=old.codes[0], mac=MAC_A, ip=IP_A))
    assert paid.status == "paid"


def test_the_config_checks_voucher_settings(tmp_path: Any) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[portal]\nsecret_key = "current-secret-0123"\n[vouchers]\ncode_length = 8\n'
        'max_checks_per_hour = 0\nwifi_name = "'
        + "x" * 33
        + '"\nprevious_secret_keys = ["short", "current-secret-0123"]\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(config, environ={})
    problems = "\n".join(err.value.problems)
    for expected in (
        "vouchers.code_length: expected 10-24",
        "vouchers.max_checks_per_hour: must be 1 or more",
        "vouchers.wifi_name: a Wi-Fi name has at most 32 bytes",
        "vouchers.previous_secret_keys[0]",
        "vouchers.previous_secret_keys[1]",
    ):
        assert expected in problems, problems
    assert (
        load_settings(
            config,
            environ={"PAY2CONNECT_VOUCHERS__CODE_LENGTH": "16"},
            overrides={"vouchers": {"max_checks_per_hour": 5, "wifi_name": "Cafe", "previous_secret_keys": []}},
        ).vouchers.code_length
        == 16
    )


def test_states_follow_first_use_use_by_and_revocation(services: Any, package: Any, portal: Any) -> None:
    now = services.clock.now()
    made = batch(services, package, 4, use_by=vouchers.parse_use_by("2026-03-02", now))
    portal.join(MAC_A, IP_A)
    vouchers_redeem.redeem(services, vouchers_redeem.RedeemRequest(code=made.codes[0], mac=MAC_A, ip=IP_A))

    def states() -> dict[str, int]:
        return vouchers.batch_rows(services.clock.now())[0].states

    assert states() == {"unused": 3, "in_use": 1, "used_up": 0, "expired": 0, "revoked": 0}
    services.clock.advance(3600)
    assert states() == {"unused": 3, "in_use": 0, "used_up": 1, "expired": 0, "revoked": 0}
    services.clock.advance(35 * 3600)  # 2 March 21:00 UTC = midnight in Nairobi: the use-by day is over
    assert states() == {"unused": 0, "in_use": 0, "used_up": 1, "expired": 3, "revoked": 0}
    done = vouchers.revoke_batch(services.clock, made.batch.id, actor="owner")
    assert done.unused == 3 and states()["revoked"] == 4
    assert vouchers.revoke_batch(services.clock, made.batch.id, actor="owner").already
    with pytest.raises(NotFound):
        vouchers.revoke_batch(services.clock, "nope", actor="owner")


def test_a_use_by_day_ends_at_nairobi_midnight(services: Any) -> None:
    moment = vouchers.parse_use_by("2026-03-02", services.clock.now())
    assert moment is not None and moment.isoformat() == "2026-03-02T21:00:00+00:00"
    for bad, problem in (("2026-02-28", "in the past"), ("tomorrow", "like 2026-12-31")):
        with pytest.raises(BadInput) as err:
            vouchers.parse_use_by(bad, services.clock.now())
        assert problem in err.value.params["problems"][0]


def test_an_agent_cannot_issue_beyond_the_float_and_gets_refunds(services: Any, package: Any) -> None:
    agent = vouchers_agents.create_agent(
        services.clock, username="agent1", password="agent-password-1", name="Agent One", commission_bp=1250, actor="o"
    )
    with pytest.raises(BadInput, match="voucher_values"):
        vouchers_agents.issue(services, agent, package_id=package.id, count=1, request_id=None)
    assert vouchers_agents.top_up(services.clock, agent, 100, actor="owner") == 100
    made = vouchers_agents.issue(services, agent, package_id=package.id, count=4, request_id="r1")
    assert vouchers_agents.balance(agent) == 20 and made.batch.agent_id == agent.id
    with pytest.raises(BadInput) as err:
        vouchers_agents.issue(services, agent, package_id=package.id, count=2, request_id="r2")
    assert "not enough float" in err.value.params["problems"][0]
    with pytest.raises(BadInput):
        vouchers_agents.top_up(services.clock, agent, -50, actor="owner")  # never below zero
    vouchers.revoke_batch(services.clock, made.batch.id, actor="owner")
    assert vouchers_agents.balance(agent) == 100
    lo, hi = services.clock.now() - timedelta(days=1), services.clock.now() + timedelta(days=1)
    (sales,) = vouchers_agents.sales(lo, hi)
    assert (sales.issued, sales.sold_value, sales.commission, sales.float_balance) == (4, 0, 0, 100)
    kept = vouchers_agents.issue(services, agent, package_id=package.id, count=3, request_id="r3")
    (sales,) = vouchers_agents.sales(lo, hi)
    assert (sales.sold_value, sales.commission, sales.due_to_venue) == (60, 7, 53)  # 12.5 % of 60, rounded down
    assert sales.commission_percent == "12.5%" and kept.batch.label == "Agent One"
    assert [e.kind for e in AgentFloatEntry.select().order_by(AgentFloatEntry.id)] == [
        "top_up",
        "issue",
        "refund",
        "issue",
    ]
    VoucherAgent.update(active=False).execute()
    with pytest.raises(BadInput, match="voucher_values"):
        vouchers_agents.issue(services, VoucherAgent.get(), package_id=package.id, count=1, request_id=None)


@pytest.mark.parametrize(
    ("raw", "basis_points"), [("10", 1000), ("12.5", 1250), ("0", 0), ("100", 10000), (" 7% ", 700)]
)
def test_commission_is_read_as_a_percentage(raw: str, basis_points: int) -> None:
    assert vouchers_agents.parse_commission(raw) == basis_points


@pytest.mark.parametrize("raw", ["101", "-1", "ten", "", "1.234"])
def test_bad_commissions_are_refused(raw: str) -> None:
    with pytest.raises(BadInput):
        vouchers_agents.parse_commission(raw)


def test_money_is_split_by_method(services: Any, package: Any, portal: Any) -> None:
    now = services.clock.now()
    Payment.create(
        public_id="mp1", package=package, router="main", mac="AA:BB:CC:00:00:09", ip="10.5.50.9",
        phone="254712345678", amount=20, status="paid", created_at=now, updated_at=now, paid_at=now,
    )  # fmt: skip
    made = batch(services, package, 3)
    portal.join(MAC_A, IP_A)
    vouchers_redeem.redeem(services, vouchers_redeem.RedeemRequest(code=made.codes[0], mac=MAC_A, ip=IP_A))
    today = reports.local_today(now)

    split = vouchers_report.money_split(today, today)

    assert split.mpesa == (20, 1) and split.vouchers == (20, 1) and split.vouchers_issued == 60
    assert reports.totals(today, today) == (20, 1)  # M-Pesa unless asked
    assert reports.totals(today, today, methods=None) == (40, 2)
    assert reports.revenue_by_day(today, today)[0].amount == 20
    assert reports.money_check(today, today, now).collected == (20, 1)
    summary = reports.summary(now)
    assert summary.today == (20, 1) and summary.vouchers_today == (20, 1)


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+254", "'+254"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("ok", "ok"),
     (12, "12"), (None, "")],
)  # fmt: skip
def test_csv_cells_never_start_a_formula(value: Any, cell: str) -> None:
    assert vouchers_report.safe_cell(value) == cell


def test_the_take_window_never_lets_more_than_the_limit_through(services: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    now = services.clock.now()
    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(lambda _i: services.live.take("t", now, 60, 25), range(200)))
    assert taken.count(True) == 25 and services.live.count("t", now, 60) == 25  # refused tries add nothing
    assert services.live.take("t", now + timedelta(seconds=61), 60, 25)  # the window slides


def test_mpesa_failing_needs_three_recent_gateway_failures(services: Any, package: Any) -> None:
    now = services.clock.now()
    for n, key in enumerate(("mpesa_unavailable", "mpesa_auth_failed", "mpesa_insufficient_funds")):
        Payment.create(
            public_id=f"f{n}", package=package, router="main", mac="AA:BB:CC:00:00:09", ip="10.5.50.9",
            phone="254712345678", amount=20, status="failed", message_key=key,
            created_at=now - timedelta(minutes=5 - n), updated_at=now,
        )  # fmt: skip
    assert not vouchers_redeem.mpesa_failing(now)  # the newest was the customer's own balance
    Payment.update(message_key="mpesa_throttled").where(Payment.public_id == "f2").execute()
    assert vouchers_redeem.mpesa_failing(now)
    assert vouchers_redeem.lead_with_vouchers(services)
    assert not vouchers_redeem.mpesa_failing(now + timedelta(minutes=20))


def test_the_splash_leads_with_vouchers_while_payments_are_paused(services: Any) -> None:
    from portal.domain import pause

    assert not vouchers_redeem.lead_with_vouchers(services)
    pause.pause_payments(services.clock, actor="owner", reason="Safaricom maintenance tonight")
    assert vouchers_redeem.lead_with_vouchers(services)
    pause.resume_payments(services.clock, actor="owner")
    assert not vouchers_redeem.lead_with_vouchers(services)


def test_a_locked_voucher_answers_try_again(services: Any, package: Any, portal: Any) -> None:
    made = batch(services, package, 1)
    portal.join(MAC_A, IP_A)
    voucher = vouchers_redeem.find_voucher(services, vouchers_codes.normalize(made.codes[0], 12))
    with services.live.try_locks([f"voucher:{voucher.id}"]), pytest.raises(TooManyRequests):
        vouchers_redeem.redeem(services, vouchers_redeem.RedeemRequest(code=made.codes[0], mac=MAC_A, ip=IP_A))
