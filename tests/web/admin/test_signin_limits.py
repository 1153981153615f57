"""Admin sign-in limits over real sockets (issue 12): failures only, per address and per
username, growing delays answered with 429 + Retry-After, and an attacker who floods the
owner's username from elsewhere cannot lock the owner out.

Each browser is a ``requests.Session`` whose TCP connections leave from its own loopback
address (127.0.0.2, 127.0.0.3, ...), so the app sees real, different client addresses.
"""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from portal.domain.accounts import create_admin
from portal.ledger.models import AuditLog
from tests.web.admin.conftest import PASSWORD, Browser


@pytest.fixture
def owner(services: Any, clock: Any) -> str:
    create_admin("owner", PASSWORD, clock)
    return "owner"


def test_the_eleventh_correct_sign_in_is_not_refused(base_url: str, owner: str, clock: Any) -> None:
    """Before issue 12 every attempt counted, so the 11th correct sign-in in 15 minutes got 429."""
    owner_browser = Browser(base_url, "127.0.0.2")
    for attempt in range(1, 16):
        answer = owner_browser.sign_in()
        assert answer.status_code == 303, f"correct sign-in number {attempt} got {answer.status_code}"
        assert owner_browser.dashboard() == 200
        assert owner_browser.sign_out() == 303
        clock.advance(30)


def test_an_attacker_flooding_the_username_cannot_lock_the_owner_out(base_url: str, owner: str, clock: Any) -> None:
    """Before issue 12 an attacker's failures were the only thing counted per address... and
    the owner, from the same place or not, waited; now the attacker spends only their own budget."""
    attackers = [Browser(base_url, f"127.0.1.{n}") for n in range(1, 4)]
    refused = 0
    for round_ in range(8):
        for attacker in attackers:
            answer = attacker.sign_in(password=f"guess-{round_}")
            assert answer.status_code in (401, 429), answer.status_code
            refused += answer.status_code == 429
        clock.advance(0.5)
    assert refused > 0, "the flood was never slowed down"
    # The attacker is held back: the next guess from a flooding address waits.
    held = attackers[0].sign_in(password="one more guess")
    assert held.status_code == 429 and int(held.headers["Retry-After"]) >= 1
    # The owner, from a new address, with the right password, gets in at once.
    owner_browser = Browser(base_url, "127.0.0.9")
    answer = owner_browser.sign_in()
    assert answer.status_code == 303, answer.text[:500]
    assert owner_browser.dashboard() == 200


def test_an_attacker_at_the_owners_own_address_cannot_lock_the_owner_out(base_url: str, owner: str, clock: Any) -> None:
    """Behind one NAT (a venue's uplink, a mobile network's shared address) the attacker and
    the owner have the same address. Before issue 12 the attacker's ten guesses locked that
    address, so the owner got 429 with the right password for as long as the flood went on."""
    owner_browser = Browser(base_url, "127.0.0.5")
    assert owner_browser.sign_in().status_code == 303  # yesterday, from this browser
    assert owner_browser.sign_out() == 303
    clock.advance(24 * 3600)
    attacker = Browser(base_url, "127.0.0.5")
    for n in range(30):
        assert attacker.sign_in(password=f"guess-{n}").status_code in (401, 429)
    assert attacker.sign_in(password="guess").status_code == 429  # the attacker is held back
    answer = owner_browser.sign_in()
    assert answer.status_code == 303, answer.text[:500]
    assert owner_browser.dashboard() == 200


def test_failures_grow_the_delay_and_answer_429_with_retry_after(base_url: str, owner: str, clock: Any) -> None:
    guesser = Browser(base_url, "127.0.2.1")
    for _ in range(5):
        assert guesser.sign_in(password="wrong").status_code == 401
    waits = []
    for _ in range(4):
        held = guesser.sign_in(password="wrong")  # straight away: held back, nothing checked
        assert held.status_code == 429
        assert "Try again in" in held.text
        waits.append(int(held.headers["Retry-After"]))
        clock.advance(waits[-1])
        assert guesser.sign_in(password="wrong").status_code == 401  # the wait is over: checked, wrong
    assert waits == [1, 2, 4, 8]  # doubling after each failure
    held = guesser.sign_in()  # even the right password waits at this address (no trusted browser)
    assert held.status_code == 429 and held.headers["Retry-After"] == "16"
    clock.advance(16)
    assert guesser.sign_in().status_code == 303


def test_the_dashboard_shows_failed_sign_ins(base_url: str, owner: str, clock: Any) -> None:
    Browser(base_url, "127.0.3.1").sign_in(username="owner", password="nope")
    Browser(base_url, "127.0.3.2").sign_in(username="root<b>", password="nope")
    owner_browser = Browser(base_url, "127.0.0.2")
    assert owner_browser.sign_in().status_code == 303
    page = owner_browser.http.get(f"{base_url}/admin/", timeout=10).text
    panel = page.split('id="failed-sign-ins"', 1)[1].split("</section>", 1)[0]
    assert "2 failed sign-ins" in panel
    assert "127.0.3.1" in panel and "127.0.3.2" in panel
    assert "owner" in panel and "root&lt;b&gt;" in panel and "root<b>" not in panel
    failures = AuditLog.select().where(AuditLog.action == "admin.login_failed").count()
    assert failures == 2


def flood(base_url: str, clock: Any, username: str = "owner", addresses: int = 3, rounds: int = 8) -> None:
    """Attackers at several addresses guess ``username`` until each of them is held back."""
    attackers = [Browser(base_url, f"127.0.1.{n}") for n in range(1, addresses + 1)]
    for round_ in range(rounds):
        for attacker in attackers:
            assert attacker.sign_in(username, f"guess-{round_}").status_code in (401, 429)
        clock.advance(0.5)


def test_while_the_username_is_held_the_authenticator_code_still_gets_the_owner_in(
    base_url: str, owner: str, clock: Any
) -> None:
    from portal.domain import totp
    from portal.ledger.models import AdminUser

    user = AdminUser.get(AdminUser.username == "owner")
    app_on_phone = pyotp.TOTP(totp.new_secret())
    totp.enable(user.id, app_on_phone.secret, app_on_phone.at(clock.now()), clock)
    clock.advance(30)
    owner_browser = Browser(base_url, "127.0.0.7")
    assert owner_browser.sign_in(password="a typo").status_code == 401  # this address is no longer clean
    flood(base_url, clock)
    held = owner_browser.sign_in()
    assert held.status_code == 429 and 'name="code"' in held.text  # the page offers the code field
    assert "enter the code from your authenticator app" in held.text
    # A wrong code is a plain failure (no hint whether the password was right) ...
    assert owner_browser.sign_in(code="000000").status_code == 401
    # ... and the password with the app's code gets in at once.
    answer = owner_browser.sign_in(code=app_on_phone.at(clock.now()))
    assert answer.status_code == 303, answer.text[:300]
    assert owner_browser.dashboard() == 200


def test_an_account_without_an_app_gains_nothing_from_a_code_while_held(base_url: str, owner: str, clock: Any) -> None:
    guesser = Browser(base_url, "127.0.0.8")
    assert guesser.sign_in(password="first guess").status_code == 401
    flood(base_url, clock)
    assert guesser.sign_in().status_code == 429
    assert guesser.sign_in(code="123456").status_code == 401  # checked, and can never succeed
    assert Browser(base_url, "127.0.0.9").sign_in().status_code == 303  # a clean address still can


def test_changing_the_password_revokes_trusted_browsers(base_url: str, owner: str, clock: Any) -> None:
    from portal.domain.accounts import change_password
    from portal.ledger.models import AdminUser

    owner_browser = Browser(base_url, "127.0.0.5")
    assert owner_browser.sign_in().status_code == 303
    assert owner_browser.sign_out() == 303
    change_password(AdminUser.get(AdminUser.username == "owner").id, PASSWORD, "another long password", None, clock)
    for n in range(6):
        Browser(base_url, "127.0.0.5").sign_in(password=f"guess-{n}")
    assert owner_browser.sign_in(password="another long password").status_code == 429  # trusted no more
    clock.advance(1)
    assert owner_browser.sign_in(password="another long password").status_code == 303


def test_a_forged_trusted_browser_cookie_is_ignored(base_url: str, owner: str, clock: Any) -> None:
    from portal.ledger.models import AdminUser

    user_id = AdminUser.get(AdminUser.username == "owner").id
    attacker = Browser(base_url, "127.0.0.5")
    attacker.http.cookies.set("p2c_admin_browser", f"{user_id}.{int(clock.now().timestamp())}.abcd.{'0' * 32}")
    for n in range(5):
        assert attacker.sign_in(password=f"guess-{n}").status_code == 401
    assert attacker.sign_in(password="guess").status_code == 429  # held like anyone at this address
