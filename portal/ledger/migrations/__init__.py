"""Versioned schema migrations: the ledger's shape, upgraded in place with its data kept.

Each migration is a module ``mNNNN_<name>.py`` with ``NAME`` and ``apply(db)`` (peewee's
:mod:`playhouse.migrate` for columns, ``create_tables`` for new tables), listed in
:data:`MIGRATIONS` in order. The ``schema_migration`` table records what ran. A ledger made
before migrations existed (tables present, no record) is adopted as version 1.

``pay2connect migrate`` (and the systemd units before they start) runs :func:`upgrade`;
a process that finds the schema behind refuses to start instead of guessing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType

import peewee

#: Every migration, oldest first. Version N is ``MIGRATIONS[N - 1]``.
MODULES: tuple[str, ...] = (
    "m0001_baseline",
    "m0002_roles_and_payment_methods",
    "m0003_push_limits_from_the_ledger",
    "m0004_money_operations",
    "m0005_vouchers",
    "m0006_admin_accounts",
    "m0007_deliveries",
    "m0008_grant_clock",
)


class SchemaMigration(peewee.Model):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField(max_length=80)
    applied_at = peewee.DateTimeField()

    class Meta:
        table_name = "schema_migration"


class SchemaBehind(Exception):
    """The ledger is older than this release: run ``pay2connect migrate``."""


class SchemaAhead(Exception):
    """The ledger was upgraded by a newer release than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[peewee.Database], None]


def _load(index: int, module_name: str) -> Migration:
    module: ModuleType = importlib.import_module(f"{__name__}.{module_name}")
    return Migration(version=index + 1, name=str(module.NAME), apply=module.apply)


def all_migrations() -> list[Migration]:
    return [_load(i, name) for i, name in enumerate(MODULES)]


def latest_version() -> int:
    return len(MODULES)


def current_version(db: peewee.Database) -> int:
    """The version the ledger is at; 0 for an empty database."""
    with db.bind_ctx([SchemaMigration]):
        if not db.table_exists("schema_migration"):
            return 1 if db.table_exists("payment") else 0
        newest = SchemaMigration.select(peewee.fn.MAX(SchemaMigration.version)).scalar()
        return int(newest or 0)


def upgrade(db: peewee.Database, report: Callable[[str], None] | None = None) -> list[Migration]:
    """Apply every migration the ledger has not had yet, each in its own transaction."""
    done = current_version(db)
    if done > latest_version():
        raise SchemaAhead(f"the ledger is at schema version {done}; this release knows up to {latest_version()}")
    applied: list[Migration] = []
    with db.bind_ctx([SchemaMigration]):
        with db.atomic():
            db.create_tables([SchemaMigration], safe=True)
            if done and not SchemaMigration.select().exists():
                _mark(Migration(1, "baseline", lambda _db: None))  # adopt a pre-migration ledger
        for migration in all_migrations()[done:]:
            if report:
                report(f"migrating to schema version {migration.version} ({migration.name})")
            with db.atomic():
                migration.apply(db)
                _mark(migration)
            applied.append(migration)
    return applied


def _mark(migration: Migration) -> None:
    SchemaMigration.create(version=migration.version, name=migration.name, applied_at=datetime.now(UTC))


def check_current(db: peewee.Database) -> None:
    """Raise SchemaBehind or SchemaAhead unless the ledger is exactly at this release's version."""
    done = current_version(db)
    if done < latest_version():
        raise SchemaBehind(
            f"the ledger is at schema version {done}, this release needs {latest_version()}: "
            "run `pay2connect migrate` (it keeps your data)"
        )
    if done > latest_version():
        raise SchemaAhead(f"the ledger is at schema version {done}; this release knows up to {latest_version()}")
