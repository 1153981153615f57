"""One Daraja token for several processes: clients sharing the Redis token store do not
invalidate each other's tokens (Daraja, and the simulator in its default "rotate" mode,
invalidate the old token when a new one is minted). Real Redis, real simulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from portal.clock import ManualClock
from portal.live.tokens import RedisTokenStore
from portal.mpesa.client import DarajaClient
from portal.mpesa.request_fields import DarajaCredentials
from portal.mpesa.simulator import DarajaSimulator

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[DarajaSimulator]:
    with DarajaSimulator(clock=ManualClock(START), seed=7) as simulator:
        yield simulator


def client(sim: DarajaSimulator, store: RedisTokenStore | None) -> DarajaClient:
    m = sim.merchant
    credentials = DarajaCredentials(
        base_url=sim.base_url,
        consumer_key=m.consumer_key,
        consumer_secret=m.consumer_secret,
        shortcode=m.shortcode,
        passkey=m.passkey,
    )
    return DarajaClient(credentials, clock=sim.clock, token_store=store)


def push(c: DarajaClient, n: int) -> None:
    c.stk_push(
        phone=f"25471234567{n}",
        amount=10,
        account_reference="WIFI",
        description="Wi-Fi",
        callback_url="https://pay.invalid/hooks/stk",
    )


def store_for(sim: DarajaSimulator, redis_handle) -> RedisTokenStore:
    return RedisTokenStore(redis_handle.client, sim.base_url, sim.merchant.consumer_key)


def test_processes_sharing_the_store_use_one_token(sim, redis_handle):
    web1, web2, worker = (client(sim, store_for(sim, redis_handle)) for _ in range(3))
    tokens = {c.access_token() for c in (web1, web2, worker)}
    assert len(tokens) == 1 and sim.tokens_minted == 1
    for n, c in enumerate((web1, web2, worker, web1)):  # each works with the one token: nothing refreshed
        push(c, n)
    assert sim.tokens_minted == 1


def test_without_the_store_each_process_mints_and_invalidates_the_others(sim):
    web1, web2 = client(sim, None), client(sim, None)
    first = web1.access_token()
    web2.access_token()
    assert sim.tokens_minted == 2 and web1.access_token() == first  # web1 still holds a dead token


def test_a_refused_token_is_replaced_once_for_everyone(sim, redis_handle):
    web1, web2 = client(sim, store_for(sim, redis_handle)), client(sim, store_for(sim, redis_handle))
    old = web1.access_token()
    sim.expire_tokens()  # Daraja forgot every token
    push(web1, 0)  # refused, refreshed once, replayed
    new = web1.access_token()
    assert new != old and web2.access_token() == new and sim.tokens_minted == 2


def test_without_redis_each_process_still_works(sim, redis_handle):
    import redis

    dead = RedisTokenStore(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), sim.base_url, "k")
    lone = client(sim, dead)
    assert lone.access_token() and sim.tokens_minted == 1
