"""A server thread's ledger connection: kept from one request to the next on SQLite (opening
one per request was a tenth of a callback's time), opened per request on PostgreSQL (a
network connection can drop in between)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from portal.domain.context import Services
from portal.loopback import LOOPBACK_THREADS

REQUESTS = 2 * LOOPBACK_THREADS


def test_connections_opened_over_many_requests(
    services: Services, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    open_connection = services.db._connect

    def counted() -> Any:
        connection = open_connection()
        opened.append(connection)
        return connection

    monkeypatch.setattr(services.db, "_connect", counted)

    for _ in range(REQUESTS):
        assert requests.get(f"{base_url}/api/portal/status/unknown", timeout=10).status_code == 404

    if services.keeps_connection_between_requests:  # SQLite: once per server thread at most
        assert 1 <= len(opened) <= LOOPBACK_THREADS < REQUESTS
    else:
        assert len(opened) == REQUESTS
