"""Issues 5 and 12's attack suite: the people on the Wi-Fi are the attackers.

Every attack runs over real sockets and must end with no new access, no 5xx, the accepted
pushes within the caps, and the real customer unharmed. Each records one line in the ATTACK
REPORT printed at the end of the run (see ``pytest_terminal_summary`` in conftest.py).
Attackers and customers that must be told apart by address send from their own loopback
address (127.0.0.x); plain requests come from 127.0.0.1, the routers' address in these
tests, which counts as shared (no per-address share).
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.ledger.models import Grant, Payment, PaymentEvent, UnmatchedCallback

REAL_LIMITS = {
    "phone_cooldown_seconds": 60,
    "device_cooldown_seconds": 30,
    "phone_daily_cap": 10,
    "device_daily_cap": 20,
    "global_pushes_per_minute": 120,
}
ATTACK_LINES: list[str] = []
ATTACKER, CUSTOMER = "127.0.0.66", "127.0.0.7"  # two people, two addresses
VICTIM_PHONE = "0712345678"


def report(attack: str, outcome: str) -> None:
    ATTACK_LINES.append(f"{attack:<58} -> {outcome}")


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, ledger_url: str) -> dict[str, Any]:
    """Per-test settings (``indirect=True``); a real environment's ledger is migrated first,
    as ``pay2connect migrate`` would (only the simulator upgrades a ledger by itself)."""
    overrides: dict[str, Any] = dict(getattr(request, "param", {}))
    if overrides.get("mpesa", {}).get("environment", "simulator") != "simulator":
        db = open_database(ledger_url)
        migrations.upgrade(db)
        db.close()
    return overrides


class _FromAddress(HTTPAdapter):
    """Connect from a chosen loopback address, so the portal sees one more person."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def from_address(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def pay_from(session: requests.Session, base_url: str, package_id: int, mac: str, ip: str, phone: str) -> Any:
    body = {"phone": phone, "packageId": package_id, "macAddress": mac, "ip": ip, "router": "main"}
    return session.post(f"{base_url}/api/portal/pay", json=body, timeout=10)


def reconnect_from(session: requests.Session, base_url: str, receipt: str, phone: str, mac: str, ip: str) -> Any:
    form = {"receipt": receipt, "phone": phone, "mac": mac, "ip": ip, "router": "main"}
    return session.post(f"{base_url}/reconnect", data=form, allow_redirects=False, timeout=10)


def callback_url(base_url: str) -> str:
    return f"{base_url}/api/portal/mpesa/callback"


def success_body(
    checkout: str, merchant: str, amount: Any, receipt: str = "UC1ABCDEFG", phone: int = 254712345678
) -> dict[str, Any]:
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": merchant,
                "CheckoutRequestID": checkout,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": amount},
                        {"Name": "MpesaReceiptNumber", "Value": receipt},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": 20260301120000},
                        {"Name": "PhoneNumber", "Value": phone},
                    ]
                },
            }
        }
    }


def post_callback(base_url: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(
        callback_url(base_url), data=data, timeout=10, headers={"Content-Type": "application/json", **(headers or {})}
    )


def test_forged_success_for_an_unknown_id(portal, package, base_url, emulator):
    mac, _ = portal.join()
    answer = post_callback(base_url, success_body("ws_CO_01032026120000123712345678", "abcd-1234", 20))
    assert answer.status_code == 200 and answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert Grant.select().count() == 0 and not emulator.is_online(mac)
    assert UnmatchedCallback.get().reason == "unknown CheckoutRequestID"
    report("forged success for an unknown CheckoutRequestID", "no grant, 200, logged as unmatched")


def test_forged_success_with_the_wrong_amount(portal, package, base_url, emulator, simulator):
    mac, ip = portal.join()
    simulator.script_outcome("0712345678", "ask")  # the real prompt stays open on the phone
    checkout, _ = portal.pay_ids(package.id, mac=mac, ip=ip)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    answer = post_callback(base_url, success_body(checkout, payment.merchant_request_id, 1))
    assert answer.status_code == 200
    assert Payment.get_by_id(payment.id).status == "pending"
    assert Grant.select().count() == 0 and not emulator.is_online(mac)
    kinds = [e.kind for e in PaymentEvent.select().where(PaymentEvent.payment == payment)]
    assert "callback_rejected" in kinds
    report("forged success for a pending id with the wrong amount", "no grant, rejected on the timeline")


def test_forged_success_with_the_wrong_merchant_id(portal, package, base_url, emulator, simulator):
    mac, ip = portal.join()
    simulator.script_outcome("0712345678", "ask")
    checkout, _ = portal.pay_ids(package.id, mac=mac, ip=ip)
    assert post_callback(base_url, success_body(checkout, "guessed-merchant-id", 20)).status_code == 200
    assert Grant.select().count() == 0 and not emulator.is_online(mac)
    report("forged success with a guessed MerchantRequestID", "no grant")


@pytest.mark.parametrize("settings_overrides", [{"mpesa": {"verify_by_query": True}}])
def test_forged_success_that_matches_exactly_is_stopped_by_stk_query(portal, package, base_url, emulator, simulator):
    mac, ip = portal.join()
    simulator.script_outcome("0712345678", "ask")
    checkout, _ = portal.pay_ids(package.id, mac=mac, ip=ip)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    post_callback(base_url, success_body(checkout, payment.merchant_request_id, 20))
    assert Payment.get_by_id(payment.id).status == "pending"
    assert Grant.select().count() == 0 and not emulator.is_online(mac)
    report("forged success matching ids, amount and phone", "no grant: STK Query says not paid")


def test_replayed_genuine_success_gives_nothing_new(portal, package, base_url, emulator, simulator):
    mac, ip = portal.join()
    checkout, _ = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    grant = Grant.get()
    portal.clock.advance(3700)
    portal.run_worker()
    assert not emulator.is_online(mac)
    for _ in range(3):
        assert simulator.replay_callback(checkout).status == 200
    assert Grant.select().count() == 1 and Grant.get_by_id(grant.id).status == "expired"
    assert not emulator.is_online(mac)
    report("replayed genuine success (x3, after expiry)", "no new grant, device stays offline")


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "routers": [
                {
                    "name": "main",
                    "backend": "emulator",
                    "host": "127.0.0.1",
                    "port": 0,
                    "password": "secret",
                    "timeout": 1.0,
                },
                {
                    "name": "annex",
                    "backend": "emulator",
                    "host": "127.0.0.1",
                    "port": 0,
                    "password": "secret",
                    "timeout": 1.0,
                },
            ]
        }
    ],
)
def test_success_for_another_routers_payment(portal, package, base_url, services, simulator):
    main, annex = services.emulators["main"], services.emulators["annex"]
    main.device_join("AA:BB:CC:00:00:01", "10.5.50.11")
    annex.device_join("AA:BB:CC:00:00:09", "10.5.50.11")  # same IP on the other venue's LAN
    checkout, _ = portal.pay_ids(package.id, mac="AA:BB:CC:00:00:01", ip="10.5.50.11", router="main")
    portal.settle(5)
    assert main.is_online("AA:BB:CC:00:00:01")
    simulator.script_outcome("0722000111", "ask")
    other, _ = portal.pay_ids(package.id, mac="AA:BB:CC:00:00:09", ip="10.5.50.11", router="annex", phone="0722000111")
    genuine = Payment.get(Payment.checkout_request_id == checkout)
    pending = Payment.get(Payment.checkout_request_id == other)
    body = success_body(other, pending.merchant_request_id, 20, receipt=genuine.receipt, phone=254722000111)
    post_callback(base_url, body)
    simulator.replay_callback(checkout)
    assert not annex.is_online("AA:BB:CC:00:00:09")
    assert Payment.get_by_id(pending.id).status == "pending"
    assert Grant.select().count() == 1 and Grant.get().router == "main"
    report("a success (receipt) from another router's payment", "no grant on the other router")


def test_spoofed_mac_or_ip_is_refused_before_any_push(portal, package, simulator, emulator):
    portal.join("AA:BB:CC:00:00:01", "10.5.50.11")
    spoofs = [
        ("AA:BB:CC:00:00:02", "10.5.50.11"),
        ("AA:BB:CC:00:00:01", "10.5.50.99"),
        ("AA:BB:CC:00:00:77", "10.9.9.9"),
    ]
    for mac, ip in spoofs:
        answer = portal.pay(package.id, mac=mac, ip=ip)
        assert answer.status_code == 403, answer.text
        assert "not connected to our Wi-Fi" in answer.json()["message"]
    assert simulator.transactions() == []
    assert Payment.select().count() == 0
    report("spoofed MAC/IP not in the router's host table (x3)", "403, no STK push sent")


@pytest.mark.parametrize("settings_overrides", [{"limits": REAL_LIMITS}])
def test_one_hundred_pushes_to_one_phone_in_a_minute(portal, package, simulator):
    statuses = []
    for n in range(100):
        mac, ip = portal.join(f"AA:BB:CC:00:01:{n:02X}", f"10.5.51.{n + 2}")
        statuses.append(portal.pay(package.id, mac=mac, ip=ip, phone="0712345678").status_code)
        portal.clock.advance(0.6)
        portal.simulator.process_due()
    accepted = len(simulator.transactions())
    assert accepted <= 2, accepted  # one pending prompt per phone, then a 60 s cool-down
    assert statuses.count(200) == accepted and all(code in (200, 409, 429) for code in statuses)
    report("100 pushes to one phone within a minute", f"{accepted} accepted, the rest 409/429")


@pytest.mark.parametrize("settings_overrides", [{"limits": REAL_LIMITS}])
def test_one_hundred_pushes_from_one_device(portal, package, simulator):
    mac, ip = portal.join()
    statuses = []
    for n in range(100):
        statuses.append(portal.pay(package.id, mac=mac, ip=ip, phone=f"07{20000000 + n:08d}").status_code)
        portal.clock.advance(0.6)
        portal.simulator.process_due()
    accepted = len(simulator.transactions())
    assert accepted <= 2, accepted  # one pending per device, then a 30 s cool-down
    assert all(code in (200, 409, 429) for code in statuses)
    report("100 pushes from one device within a minute", f"{accepted} accepted, the rest 409/429")


@pytest.mark.parametrize(
    "settings_overrides", [{"limits": {**REAL_LIMITS, "global_pushes_per_minute": 5, "source_pushes_per_minute": 2}}]
)
def test_global_cap(portal, package, simulator):
    codes = []
    for n in range(20):
        mac, ip = portal.join(f"AA:BB:CC:00:02:{n:02X}", f"10.5.52.{n + 2}")
        codes.append(portal.pay(package.id, mac=mac, ip=ip, phone=f"079{n:07d}").status_code)
    assert len(simulator.transactions()) == 5 and codes.count(429) == 15, codes
    report("20 devices x 20 phones against a global cap of 5/min", "5 accepted, 15 refused with 429")


MALFORMED = [
    b"",
    b"not json",
    b"[]",
    b"null",
    b'{"Body": 1}',
    b'{"Body": {"stkCallback": []}}',
    b'{"Body": {"stkCallback": {"CheckoutRequestID": 5, "ResultCode": 0}}}',
    b'{"Body": {"stkCallback": {"MerchantRequestID": "a", "CheckoutRequestID": "b", "ResultCode": true}}}',
    b'{"Body": {"stkCallback": {"MerchantRequestID": "a", "CheckoutRequestID": "b", "ResultCode": 1e999}}}',
    b'{"Body": {"stkCallback": {"MerchantRequestID": "a", "CheckoutRequestID": "b", "ResultCode": NaN}}}',
    b"[" * 5000 + b"]" * 5000,
    '{"Body": "\udcff"}'.encode("utf-8", "surrogatepass"),
    b"\xff\xfe\x00garbage",
]


def test_malformed_and_oversized_callbacks(portal, base_url, package, emulator):
    mac, _ip = portal.join()
    codes = [post_callback(base_url, body).status_code for body in MALFORMED]
    oversized = post_callback(base_url, b'{"Body": "' + b"x" * 200_000 + b'"}')
    assert all(code == 200 for code in codes), codes
    assert oversized.status_code == 413
    assert Grant.select().count() == 0 and not emulator.is_online(mac)
    assert UnmatchedCallback.select().count() == len(MALFORMED)
    report(f"malformed callback bodies (x{len(MALFORMED)}) and a 200 KB body", "200 / 413, nothing granted, logged")


@pytest.mark.parametrize("settings_overrides", [{"mpesa": {"callback_token": "s3cret-path-token-0123"}}])
def test_callback_without_the_secret_token(portal, base_url, package, simulator, emulator):
    mac, ip = portal.join()
    answer = post_callback(base_url, success_body("ws_CO_x", "m", 20))
    assert answer.status_code == 404
    _checkout, _status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)  # the genuine callback carries the token and still works
    assert emulator.is_online(mac)
    report("callback to the URL without the secret token", "404, genuine callbacks still work")


@pytest.mark.parametrize(
    "settings_overrides", [{"mpesa": {"callback_allow_ips": ["196.201.214.0/24"]}, "portal": {"trusted_proxies": 1}}]
)
def test_callback_ip_allow_list_behind_one_trusted_proxy(portal, base_url, package, emulator):
    body = success_body("ws_CO_y", "m", 20)
    spoofed = post_callback(base_url, body, headers={"X-Forwarded-For": "196.201.214.200, 10.5.50.11"})
    allowed = post_callback(base_url, body, headers={"X-Forwarded-For": "10.5.50.11, 196.201.214.200"})
    assert spoofed.status_code == 403  # the proxy appended the real client, 10.5.50.11
    assert allowed.status_code == 200
    report("X-Forwarded-For spoofing the Safaricom range", "403: only the trusted proxy's hop counts")


def test_status_by_checkout_id_hides_the_session_from_others(portal, package, base_url):
    mac, ip = portal.join()
    checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    portal.settle(5)
    by_checkout = portal.status(checkout)
    assert by_checkout["status"] == "success" and by_checkout["session"] is None
    assert portal.status(status_id)["session"]["remainingSeconds"] > 0
    report("guessing CheckoutRequestIDs on the status API", "status only; session needs the statusId")


# -- issue 12: denial of service against real customers, trust settings ----------------


def test_wrong_receipts_with_a_victims_phone_do_not_lock_the_victim_out(portal, package, base_url, emulator):
    portal.join("AA:BB:CC:00:00:01", "10.5.50.11")
    portal.pay_ids(package.id, phone=VICTIM_PHONE)
    portal.settle()
    receipt = Payment.get().receipt
    attacker = from_address(ATTACKER)
    mac, ip = portal.join("AA:BB:CC:00:66:01", "10.5.50.66")
    own_device = [reconnect_from(attacker, base_url, f"QZZ{n:03d}ZZZZ", VICTIM_PHONE, mac, ip) for n in range(12)]
    rotated = []  # then ten spoofed MACs, five tries each, from the same address
    for n in range(10):
        mac, ip = portal.join(f"AA:BB:CC:00:66:{n + 2:02X}", f"10.5.50.{100 + n}")
        rotated += [reconnect_from(attacker, base_url, f"QZY{n}{k}0ZZZZ", VICTIM_PHONE, mac, ip) for k in range(5)]

    assert [r.status_code for r in own_device] == [404] * 10 + [429] * 2  # the device's own 10 tries
    assert [r.status_code for r in rotated] == [404] * 20 + [429] * 30  # the address's 30 tries
    new_mac, new_ip = portal.join("AA:BB:CC:00:00:02", "10.5.50.12")  # the victim's phone changed its MAC
    answer = reconnect_from(from_address(CUSTOMER), base_url, receipt, VICTIM_PHONE, new_mac, new_ip)
    assert answer.status_code == 303, answer.text
    assert emulator.is_online(new_mac) and Grant.get().mac == new_mac
    report(
        "62 wrong codes + a victim's phone from 11 MACs, 1 address",
        "attacker 429 after 10/device, 30/address; victim's code works",
    )


FLOOD_LIMITS = {**REAL_LIMITS, "global_pushes_per_minute": 30, "source_pushes_per_minute": 10}


@pytest.mark.parametrize("settings_overrides", [{"limits": FLOOD_LIMITS}])
def test_fifty_spoofed_devices_cannot_stop_a_real_customer(portal, package, base_url, simulator, emulator):
    simulator.default_outcome = "cancel"  # the flood's prompts go to numbers that never pay
    spoofed = [portal.join(f"02:00:00:00:01:{n:02X}", f"10.5.60.{n + 2}") for n in range(50)]
    attacker, customer = from_address(ATTACKER), from_address(CUSTOMER)
    serial = itertools.count()
    flood: list[int] = []
    customers: list[tuple[str, int]] = []
    for tick in range(18):  # three minutes; every spoofed device asks again every 10 seconds
        for mac, ip in spoofed:
            flood.append(pay_from(attacker, base_url, package.id, mac, ip, f"0711{next(serial):06d}").status_code)
        if tick % 6 == 2:  # a real customer arrives in the middle of each minute's flood
            n = len(customers)
            mac, ip = portal.join(f"AA:BB:CC:00:07:{n:02X}", f"10.5.50.{200 + n}")
            simulator.script_outcome(f"07220007{n:02d}", "success")
            customers.append((mac, pay_from(customer, base_url, package.id, mac, ip, f"07220007{n:02d}").status_code))
        portal.settle(10)
    portal.settle(5)

    assert set(flood) <= {200, 409, 429}
    assert [code for _mac, code in customers] == [200, 200, 200], f"{flood.count(200)} flood pushes"
    assert all(emulator.is_online(mac) for mac, _code in customers)
    pushed = [p.created_at for p in Payment.select().where(Payment.source == ATTACKER)]
    busiest = max(sum(1 for t in pushed if start <= t < start + timedelta(seconds=60)) for start in pushed)
    assert len(pushed) == flood.count(200) and busiest <= 10
    report(
        f"50 spoofed devices, 1 address: {len(flood)} pay requests in 3 min",
        f"{len(pushed)} pushed (max {busiest}/min of 30); real customers 3/3 paid",
    )


@pytest.mark.parametrize("settings_overrides", [{"limits": REAL_LIMITS}])
def test_cooldowns_and_daily_caps_hold_across_a_redis_flush(portal, package, services, simulator):
    simulator.script_outcome(VICTIM_PHONE, "cancel", after_seconds=1)
    burst = []
    for n in range(3):  # three devices, one phone, five seconds, Redis wiped after each prompt
        mac, ip = portal.join(f"AA:BB:CC:00:03:{n:02X}", f"10.5.53.{n + 2}")
        burst.append(portal.pay(package.id, mac=mac, ip=ip, phone=VICTIM_PHONE).status_code)
        portal.settle(1.5)
        services.live.redis.flushall()
    in_burst = Payment.select().count()
    day = []
    for _ in range(12):  # the rest of the day: one push a minute and a bit, Redis wiped every time
        portal.settle(61)
        day.append(portal.pay(package.id, mac=mac, ip=ip, phone=VICTIM_PHONE).status_code)
        services.live.redis.flushall()

    assert burst == [200, 429, 429] and in_burst == 1
    assert day == [200] * 9 + [429] * 3 and Payment.select().count() == 10  # phone_daily_cap = 10
    report("FLUSHALL between pushes to one phone", "1 prompt in 5 s (cool-down held); daily cap 10 held")


SANDBOX = {"mpesa": {"environment": "sandbox", "verify_by_query": None}}  # None: the default


@pytest.mark.parametrize("settings_overrides", [SANDBOX], indirect=True)
def test_forged_success_on_a_sandbox_install_needs_stk_query(services, portal, package, base_url, emulator, simulator):
    assert services.settings.mpesa.environment == "sandbox" and services.settings.mpesa.verify_by_query is None
    mac, ip = portal.join()
    simulator.script_outcome(VICTIM_PHONE, "ask")
    checkout, _ = portal.pay_ids(package.id, mac=mac, ip=ip)
    payment = Payment.get(Payment.checkout_request_id == checkout)
    forged = success_body(checkout, payment.merchant_request_id, 20)
    while_open = post_callback(base_url, forged)
    status_while_open = Payment.get_by_id(payment.id).status
    simulator.force_outcome(checkout, "cancel")  # the customer says no on the phone
    portal.settle(1)
    assert Payment.get_by_id(payment.id).status == "cancelled"
    after_cancel = post_callback(base_url, forged)

    assert while_open.status_code == after_cancel.status_code == 200
    assert status_while_open == "pending" and Payment.get_by_id(payment.id).status == "cancelled"
    assert Grant.select().count() == 0 and not emulator.is_online(mac)
    queries = [e.detail_data for e in PaymentEvent.select().where(PaymentEvent.kind == "query")]
    assert [q["purpose"] for q in queries] == ["confirm callback"] * 2 and queries[-1]["result_code"] == "1032"
    report("forged exact success on sandbox, prompt open / cancelled", "no grant: STK Query says not paid")


@pytest.mark.parametrize("settings_overrides", [{"portal": {"public_url": "https://wifi.example.co.ke"}}])
def test_customer_pages_cannot_be_framed(portal, package, base_url):
    mac, ip = portal.join()
    _checkout, status_id = portal.pay_ids(package.id, mac=mac, ip=ip)
    paths = ["/?mac=AA:BB:CC:00:00:01&ip=10.5.50.11", "/reconnect", f"/pay/{status_id}", "/pay/unknown", "/nowhere"]
    answers = [requests.get(base_url + path, timeout=10, allow_redirects=False) for path in paths]

    assert [a.status_code for a in answers] == [200, 200, 200, 404, 404]
    for answer in answers:
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
    report(f"framing customer pages (clickjacking), {len(paths)} pages", "DENY, frame-ancestors 'none', HSTS on https")


def test_admin_password_flood_cannot_lock_the_owner_out(base_url, clock, services):
    """Issue 12: three addresses guess the owner's password for ten minutes; one of them is
    the owner's own (shared NAT). The owner still signs in, from a new address and from the
    browser they used before at the shared address."""
    from portal.domain.accounts import create_admin
    from tests.web.admin.conftest import PASSWORD, Browser

    create_admin("owner", PASSWORD, clock)
    owner_at_home = Browser(base_url, "127.0.0.5")
    assert owner_at_home.sign_in().status_code == 303 and owner_at_home.sign_out() == 303
    attackers = [Browser(base_url, address) for address in ("127.0.1.1", "127.0.1.2", "127.0.0.5")]
    answers = {401: 0, 429: 0}
    for second in range(100):
        for n, attacker in enumerate(attackers):
            answer = attacker.sign_in(password=f"guess-{second}-{n}")
            answers[answer.status_code] += 1
        clock.advance(6)
    assert answers[401] + answers[429] == 300 and answers[429] > answers[401]
    assert Browser(base_url, "127.0.0.9").sign_in().status_code == 303
    assert owner_at_home.sign_in().status_code == 303
    report(
        "admin password flood: 300 guesses from 3 addresses in 10 min",
        f"{answers[401]} checked, {answers[429]} told to wait; the owner signs in (new and shared address)",
    )
