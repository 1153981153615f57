"""Vouchers under attack: the people on the Wi-Fi guess codes, reuse them, and read a stolen
database. Real stack: RouterOS emulator over TCP, real Redis, real SQLite, the app's
HTTP handlers (Flask test client, one request per guess)."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from portal.domain import vouchers
from portal.domain.vouchers_codes import ALPHABET, derive_key
from portal.ledger.models import Grant, Payment, Voucher, VoucherUse
from tests.web.conftest import parse

GUESSES = 10_000
PER_DEVICE, GLOBAL = 10, 300  # the shipped defaults of [vouchers]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"vouchers": {"max_checks_per_device_per_hour": PER_DEVICE, "max_checks_per_hour": GLOBAL}}


def make_batch(services: Any, package: Any, count: int) -> vouchers.NewBatch:
    return vouchers.create_batch(services.settings, services.clock, package_id=package.id, count=count, actor="owner")


def mac_of(n: int) -> str:
    return "02:00:" + ":".join(f"{(n >> shift) & 0xFF:02X}" for shift in (24, 16, 8, 0))


def ip_of(n: int) -> str:
    return f"10.{6 + n // 62500}.{(n // 250) % 250}.{n % 250 + 2}"


def guess(client: Any, code: str, mac: str, ip: str) -> Any:
    return client.post("/api/portal/voucher", json={"code": code, "macAddress": mac, "ip": ip, "router": "main"})


def random_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(12))


def test_codes_are_never_in_the_database_in_clear(services: Any, package: Any, tmp_path: Path) -> None:
    made = make_batch(services, package, 50)
    # Every row of every table, as text (SQLite or PostgreSQL alike) ...
    everything = " ".join(
        str(row) for table in services.db.get_tables() for row in services.db.execute_sql(f'SELECT * FROM "{table}"')
    ).encode()
    stored = {row[0] for row in services.db.execute_sql("SELECT code_hash FROM voucher")}
    services.db.close()  # flush everything to the file
    # ... and for SQLite the raw file bytes too (free pages and the WAL keep old values).
    raw = everything + b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    for code in made.codes:
        for form in (code, code.replace("-", ""), code.lower(), code.replace("-", "").lower()):
            assert form.encode() not in raw
        plain_sha = hashlib.sha256(code.replace("-", "").encode()).hexdigest()
        assert plain_sha.encode() not in raw  # not an unkeyed hash either
    key = derive_key(services.settings.portal.secret_key)
    assert stored == {key.hash(c.replace("-", "")) for c in made.codes}
    other = derive_key("another-secret-of-some-length")
    assert not stored & {other.hash(c.replace("-", "")) for c in made.codes}  # the hash needs the secret


def test_ten_thousand_wrong_guesses_get_at_most_the_allowed_checks_and_find_nothing(
    client: Any, services: Any, package: Any, emulator: Any, portal: Any
) -> None:
    real = make_batch(services, package, 200)  # live codes an attacker would love to hit
    devices = [(mac_of(n), ip_of(n)) for n in range(1, 997)]
    for mac, ip in devices:
        emulator.device_join(mac, ip)
    plan = [devices[0]] * 50  # one device hammering
    plan += [d for d in devices[1:] for _ in range(10)]  # then ~1,000 devices, ten guesses each
    assert len(plan) == GUESSES

    outcomes: Counter[str] = Counter()
    checked_per_device: Counter[str] = Counter()
    for mac, ip in plan:
        answer = guess(client, random_code(), mac, ip)
        assert answer.status_code in (404, 429), answer.get_data(as_text=True)
        error = answer.get_json()["error"]
        outcomes[error] += 1
        if error == "voucher_not_valid":
            checked_per_device[mac] += 1

    assert outcomes == {"voucher_not_valid": GLOBAL, "voucher_rate_limited": 40, "voucher_busy": GUESSES - GLOBAL - 40}
    assert max(checked_per_device.values()) == PER_DEVICE
    assert Grant.select().count() == 0 and VoucherUse.select().count() == 0 and Payment.select().count() == 0
    assert Voucher.select().where(Voucher.first_used_at.is_null(False)).count() == 0
    assert services.live.count("voucher:global", portal.clock.now(), 3600) == GLOBAL

    # While the cap holds, even a right code gets the same "busy" answer (no oracle) ...
    mac, ip = devices[-1]
    assert guess(client, real.codes[0], mac, ip).get_json()["error"] == "voucher_busy"
    # ... and an hour later real customers get through again.
    portal.clock.advance(3601)
    assert guess(client, real.codes[0], mac, ip).get_json()["status"] == "success"


def test_used_expired_revoked_and_unknown_codes_get_the_same_answer(
    client: Any, services: Any, package: Any, emulator: Any, portal: Any
) -> None:
    used = make_batch(services, package, 1).codes[0]
    expiring = vouchers.create_batch(
        services.settings,
        services.clock,
        package_id=package.id,
        count=1,
        actor="owner",
        use_by=vouchers.parse_use_by("2026-03-01", services.clock.now()),
    ).codes[0]
    revoked_batch = make_batch(services, package, 1)
    vouchers.revoke_batch(services.clock, revoked_batch.batch.id, actor="owner")
    emulator.device_join("AA:BB:CC:00:00:01", "10.5.50.11")
    emulator.device_join("AA:BB:CC:00:00:02", "10.5.50.12")
    assert guess(client, used, "AA:BB:CC:00:00:01", "10.5.50.11").status_code == 200
    portal.clock.advance(86400)  # the use-by day is over; the used voucher's hour too
    cases = {"used": used, "expired": expiring, "revoked": revoked_batch.codes[0], "unknown": random_code()}

    json_answers = {
        name: (r.status_code, r.get_json()) for name, r in ((n, guess(client, c, *DEVICE_B)) for n, c in cases.items())
    }
    form_answers = {}
    for name, code in cases.items():
        page = client.post("/voucher", data={"code": code, "mac": DEVICE_B[0], "ip": DEVICE_B[1], "router": "main"})
        form_answers[name] = (page.status_code, page.get_data(as_text=True).replace(code, "CODE"))

    assert len(set(map(repr, json_answers.values()))) == 1, json_answers
    assert json_answers["unknown"][0] == 404 and json_answers["unknown"][1]["error"] == "voucher_not_valid"
    assert len(set(form_answers.values())) == 1
    assert "That voucher code does not work" in parse(form_answers["unknown"][1]).text


DEVICE_B = ("AA:BB:CC:00:00:02", "10.5.50.12")


def test_the_same_voucher_cannot_be_raced_onto_two_devices(
    services: Any, package: Any, emulator: Any, client: Any
) -> None:
    """The voucher's lock and the conditional first-use update: one winner, whatever the order."""
    from concurrent.futures import ThreadPoolExecutor

    code = make_batch(services, package, 1).codes[0]
    devices = [(mac_of(n), ip_of(n)) for n in range(1, 9)]
    for mac, ip in devices:
        emulator.device_join(mac, ip)
    app = client.application

    def attempt(dev: tuple[str, str]) -> int:
        with app.test_client() as own:
            return guess(own, code, *dev).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(attempt, devices))

    assert codes.count(200) == 1 and set(codes) <= {200, 404, 429}
    assert VoucherUse.select().count() == 1 and Grant.select().count() == 1
