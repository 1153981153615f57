"""Which ledger database and which Redis the tests use.

By default each test gets its own SQLite file and the session shares one embedded Redis.
With ``PAY2CONNECT_TEST_DATABASE_URL`` (a ``postgresql://`` URL) each test gets a fresh,
empty PostgreSQL schema instead; with ``PAY2CONNECT_TEST_REDIS_URL`` the session uses that
stand-alone Redis server. ``scripts/test --backends postgres`` sets both (CI's second pass).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

DATABASE_URL = os.environ.get("PAY2CONNECT_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("PAY2CONNECT_TEST_REDIS_URL", "")


def describe() -> str:
    db = urlsplit(DATABASE_URL)._replace(netloc=urlsplit(DATABASE_URL).hostname or "").geturl() if DATABASE_URL else ""
    return f"ledger: {db or 'SQLite file per test'}; redis: {REDIS_URL or 'embedded'}"


def admin_connection():  # type: ignore[no-untyped-def]
    """A connection of its own to the PostgreSQL test database, in autocommit."""
    import psycopg2

    connection = psycopg2.connect(DATABASE_URL)
    connection.autocommit = True
    return connection


@contextmanager
def ledger_url(tmp_path: Path) -> Iterator[str]:
    """A database URL for one test: a new SQLite file, or the PostgreSQL test database emptied.

    Emptied at the start (a failed test's rows stay for a look): other sessions on that
    database are ended first (a test that leaked a connection must not block the next), then
    the ``public`` schema is dropped and made again. peewee looks for tables in ``public``.
    """
    if not DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    connection = admin_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid()"
            )
            cursor.execute("DROP SCHEMA IF EXISTS public CASCADE")
            cursor.execute("CREATE SCHEMA public")
    finally:
        connection.close()
    yield DATABASE_URL


def query_plan(db: object, sql: str, params: tuple[object, ...] | list[object]) -> str:
    """How the database would run ``sql``, as one line of text.

    SQLite: ``EXPLAIN QUERY PLAN`` (SEARCH = an index range, SCAN = every row). PostgreSQL:
    ``EXPLAIN`` with sequential scans priced out, so a usable index shows up even on the
    few rows a test holds ("Index ... Scan using <name>"); without one it stays "Seq Scan".
    """
    import peewee

    assert isinstance(db, peewee.Database)
    if isinstance(db, peewee.PostgresqlDatabase):
        with db.atomic():
            db.execute_sql("SET LOCAL enable_seqscan = off")
            rows = db.execute_sql("EXPLAIN " + sql.replace("?", "%s"), params).fetchall()
        return " ".join(str(row[0]) for row in rows)
    return " ".join(str(row) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
