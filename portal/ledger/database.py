"""The durable ledger's database handle: one proxy, bound once at start.

SQLite by default (WAL, foreign keys, a busy timeout so the web process and the worker
can share the file); any peewee URL (postgresql://...) is accepted. PostgreSQL connections
come from a pool (:class:`PooledLedger`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
from playhouse.db_url import connect, parse
from playhouse.pool import PooledPostgresqlDatabase

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "busy_timeout": 10000,
    "cache_size": -16000,
}


#: A pooled PostgreSQL connection is closed and opened afresh after this many seconds.
POOL_RECYCLE_SECONDS = 300


class DatabaseUnavailable(Exception):
    """The ledger could not be opened or reached."""


class PooledLedger(PooledPostgresqlDatabase):
    """PostgreSQL with its connections kept between requests and jobs.

    Opening one cost 7 ms of the client's time (and a server process forked, and the password
    exchange) on every web request: two thirds of a voucher check's time. A connection handed
    out again is pinged first (``SELECT 1``, a tenth of a millisecond over loopback), so one
    the server dropped (a restart, an idle timeout) is replaced, not failed on: a pool
    without the ping would fail the first request of each of its connections after a restart.
    No cap on connections: as before, one per request or job running at once.
    """

    def _is_closed(self, conn: Any) -> bool:
        if super()._is_closed(conn):
            return True
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure: the connection is not worth keeping
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            return True
        return False


def open_database(url: str) -> peewee.Database:
    """Open ``url`` and bind the proxy to it; creates the SQLite folder when needed."""
    # peewee logs every query with its parameters at DEBUG, phone numbers included.
    logging.getLogger("peewee").setLevel(logging.INFO)
    try:
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
        elif url.startswith(("postgres://", "postgresql://")):
            params = parse(url)
            db = PooledLedger(
                params.pop("database"), max_connections=None, stale_timeout=POOL_RECYCLE_SECONDS, **params
            )
            _store_nul_as_replacement_character()
        else:
            db = connect(url)
            if url.startswith("postgresext://"):
                _store_nul_as_replacement_character()
    except (peewee.PeeweeException, ValueError, RuntimeError, OSError) as err:
        raise DatabaseUnavailable(f"cannot open database {redact_url(url)}: {err}") from err
    database.initialize(db)
    return db


def close_connections(db: peewee.Database) -> None:
    """Close this thread's connection and, for a pool, every idle one (at shutdown)."""
    if not db.is_closed():
        db.close()
    if isinstance(db, PooledLedger):
        db.close_idle()


def is_postgres(db: peewee.Database) -> bool:
    """Whether ``db`` (or the database behind the ledger's proxy) is PostgreSQL: where a list
    of thousands is bound as an array, not as SQLite's JSON text."""
    return isinstance(getattr(db, "obj", db), peewee.PostgresqlDatabase)


def connection_outlives_request(db: peewee.Database) -> bool:
    """Whether a server thread keeps its connection from one request to the next.

    SQLite: yes. Opening a connection and setting its pragmas was a tenth of a callback's
    time, and its page cache started cold every time; a file cannot drop the connection
    (``pay2connect restore`` wants the services stopped, and copies into the same file).
    A network database's connection can drop in between (a server restart): it goes back
    to the pool after each request, and the pool pings it before handing it out again.
    """
    return isinstance(db, peewee.SqliteDatabase)


def _store_nul_as_replacement_character() -> None:
    """PostgreSQL text cannot hold NUL (0x00): psycopg2 raises on it, so a forged callback body
    or a status reference with ``%00`` in it was a 500 there (and fine on SQLite). Text reaching
    PostgreSQL has each NUL as U+FFFD instead: stored as evidence, never matching a real id."""
    import psycopg2.extensions as pg

    class _Text:
        def __init__(self, value: str) -> None:
            self.quoted = pg.QuotedString(value.replace("\x00", "\ufffd"))

        def prepare(self, connection: object) -> None:
            self.quoted.prepare(connection)

        def getquoted(self) -> bytes:
            return bytes(self.quoted.getquoted())

    pg.register_adapter(str, _Text)


def redact_url(url: str) -> str:
    """Hide the password part of a database URL for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


_SQLITE_WRITERS = threading.RLock()


@contextmanager
def write_transaction(db: peewee.Database) -> Iterator[None]:
    """A transaction that takes the write lock at once on SQLite (``BEGIN IMMEDIATE``).

    A deferred SQLite transaction that reads and then writes fails with "database is
    locked" if another process wrote in between; taking the lock first makes it wait its
    turn (busy timeout) instead. The threads of one process also queue on a lock of their
    own first: SQLite's busy handler polls, and under a burst (a router's customers all
    restored at once) a polling thread can starve past the busy timeout. Other databases
    get a plain transaction.
    """
    if not isinstance(db, peewee.SqliteDatabase):
        with db.atomic():
            yield
        return
    with _SQLITE_WRITERS, db.atomic("IMMEDIATE"):
        yield
