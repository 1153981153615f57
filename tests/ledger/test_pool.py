"""PostgreSQL connections come from a pool: kept from one request to the next, pinged before
being handed out again, replaced when the server dropped them (runs in the PostgreSQL pass)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import peewee
import pytest

from portal.ledger.database import PooledLedger, close_connections, open_database
from tests import backends

pytestmark = pytest.mark.skipif(not backends.DATABASE_URL, reason="PostgreSQL only: set PAY2CONNECT_TEST_DATABASE_URL")


@pytest.fixture
def pooled(ledger_url: str) -> Iterator[peewee.Database]:
    db = open_database(ledger_url)
    yield db
    close_connections(db)


def backend_pid(db: peewee.Database) -> int:
    """The server process serving this thread's connection (one per connection)."""
    db.connect(reuse_if_open=True)
    pid: int = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    db.close()  # back to the pool, as after a request
    return pid


def on_the_server(sql: str, pid: int) -> Any:
    """``sql`` about one server process, run on a connection of its own (not the pool's)."""
    admin = backends.admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql, (pid,))
            return cursor.fetchone()[0]
    finally:
        admin.close()


def server_sessions(pid: int) -> int:
    count: int = on_the_server("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid)
    return count


def end_session_on_the_server(pid: int) -> None:
    """What a server restart or an idle timeout does to one connection."""
    assert on_the_server("SELECT pg_terminate_backend(%s)", pid) is True


def test_a_postgresql_ledger_keeps_its_connection_from_one_request_to_the_next(pooled):
    assert isinstance(pooled, PooledLedger)
    first = backend_pid(pooled)
    assert [backend_pid(pooled) for _ in range(5)] == [first] * 5  # no new connection, no new server process


def test_a_connection_the_server_dropped_is_replaced_not_failed_on(pooled):
    first = backend_pid(pooled)
    end_session_on_the_server(first)
    second = backend_pid(pooled)  # the ping finds it dead: a new one, and no error
    assert second != first
    assert backend_pid(pooled) == second


def test_closing_the_services_closes_the_idle_connections(pooled):
    pid = backend_pid(pooled)
    assert server_sessions(pid) == 1
    close_connections(pooled)
    assert server_sessions(pid) == 0
