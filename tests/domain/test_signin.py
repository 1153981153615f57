"""The sign-in rules without HTTP: the delay schedule, IPv6 counted per /64, and the gates."""

from __future__ import annotations

from typing import Any

import pytest

from portal.domain.accounts import create_admin
from portal.domain.errors import BadInput, TooManyRequests
from portal.domain.signin import MAX_DELAY, Attempt, address_key, delay_after, sign_in

PASSWORD = "correct horse battery"


def test_the_delay_doubles_after_five_failures_and_is_capped() -> None:
    assert [delay_after(n) for n in range(10)] == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert delay_after(15) == 900 == MAX_DELAY
    assert delay_after(10_000) == MAX_DELAY


def test_addresses_are_counted_per_ipv4_address_and_per_ipv6_network() -> None:
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("2001:db8:1:2::99") == address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:198.51.100.4") == "198.51.100.4"
    assert address_key("not an address") == "not an address"


def attempt(address: str, password: str = "wrong guess", username: str = "owner") -> Attempt:
    return Attempt(username=username, address=address, password=password)


def test_one_ipv6_machine_cannot_rotate_addresses_for_a_fresh_budget(services: Any, clock: Any) -> None:
    create_admin("owner", PASSWORD, clock)
    for n in range(5):
        with pytest.raises(BadInput):
            sign_in(services, attempt(f"2001:db8:5:5::{n + 1:x}"))
    with pytest.raises(TooManyRequests) as held:
        sign_in(services, attempt("2001:db8:5:5::beef"))
    assert held.value.params == {"seconds": 1, "scope": "address"}
    assert sign_in(services, attempt("2001:db8:9:9::1", PASSWORD)).user.username == "owner"


def test_unknown_usernames_fail_like_wrong_passwords(services: Any, clock: Any) -> None:
    create_admin("owner", PASSWORD, clock)
    with pytest.raises(BadInput) as unknown:
        sign_in(services, attempt("198.51.100.1", PASSWORD, username="nobody"))
    with pytest.raises(BadInput) as wrong:
        sign_in(services, attempt("198.51.100.1"))
    assert unknown.value.key == wrong.value.key == "admin_login_failed"


def test_the_limits_survive_losing_redis(services: Any, clock: Any, redis_handle: Any) -> None:
    """The failures are in the ledger: a Redis flush hands the guesser no fresh budget."""
    create_admin("owner", PASSWORD, clock)
    for _ in range(5):
        with pytest.raises(BadInput):
            sign_in(services, attempt("203.0.113.50"))
    redis_handle.client.flushall()
    with pytest.raises(TooManyRequests):
        sign_in(services, attempt("203.0.113.50", PASSWORD))
