"""Version 3: paid time runs from the router's confirmation, and router faults are credited.

``grant.online_at``: when the router first confirmed the device online (NULL: paid, still
connecting; the grant's clock has not started). ``grant.granted_seconds``: the time the
grant gives (the package's time, plus any admin extension). ``grant.credited_seconds``:
time given back because the router could not serve the customer (reboot, outage).
``grant.offline_since``: set while a router fault keeps a running grant's device off the
router; the grant's clock is stopped until it is back. So ``expires_at`` is always
``starts_at + granted_seconds + credited_seconds``.

An index on ``grant(status, expires_at)`` finds the next grant to end without scanning
the ended ones; one on ``grant(router, mac, status)`` finds a device's grants (SQLite would
otherwise walk every active grant to answer "does this device still have time?").
``router_link`` remembers per router what the worker last saw of it (last answer, boot
time, since when it has been unreachable), so a reboot or an outage can be told apart
from a device that simply left.

Grants from before this version keep their times: ``granted_seconds`` is their length,
and those the router had confirmed are online since they started.
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from portal.ledger.migrations.columns import add_not_null_column
from portal.ledger.models import UTCDateTimeField as _UTC

NAME = "grant clock and router link"


class _Grant(peewee.Model):
    starts_at = _UTC()
    expires_at = _UTC()
    router_state = peewee.CharField(max_length=12)
    online_at = _UTC(null=True)
    granted_seconds = peewee.IntegerField(default=0)

    class Meta:
        table_name = "grant"


class RouterLink(peewee.Model):
    router = peewee.CharField(max_length=32, primary_key=True)
    last_ok_at = _UTC(null=True)
    boot_at = _UTC(null=True)
    down_since = _UTC(null=True)
    recovered_at = _UTC(null=True)

    class Meta:
        table_name = "router_link"


def apply(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("grant", "online_at", _UTC(null=True)),
        migrator.add_column("grant", "offline_since", _UTC(null=True)),
        migrator.add_index("grant", ("status", "expires_at"), False),
        migrator.add_index("grant", ("router", "mac", "status"), False),
    )
    add_not_null_column(db, "grant", "granted_seconds", "INTEGER", "0")
    add_not_null_column(db, "grant", "credited_seconds", "INTEGER", "0")
    with db.bind_ctx([_Grant, RouterLink]):
        db.create_tables([RouterLink])
        for grant in _Grant.select(_Grant.id, _Grant.starts_at, _Grant.expires_at, _Grant.router_state):
            length = round((grant.expires_at - grant.starts_at).total_seconds())
            online = grant.starts_at if grant.router_state in ("online", "removed") else None
            _Grant.update(granted_seconds=length, online_at=online).where(_Grant.id == grant.id).execute()
