"""Admin accounts: server-side sessions, an optional authenticator app, sign-in failures.

``admin_user.totp_secret`` / ``totp_last_step``: the second factor, off (NULL) for every
admin that existed before, so they keep signing in with their password alone.
``admin_session``: one row per signed-in browser (sign-out deletes it, so a copied cookie
stops working). ``admin_recovery_code``: hashed one-time codes. ``sign_in_failure``: the
failures the sign-in delays are counted from (durable, shared by every web process).
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from portal.ledger.migrations.columns import add_not_null_column
from portal.ledger.models import UTCDateTimeField as _UTC

NAME = "admin accounts"


class _Frozen(peewee.Model):
    class Meta:
        legacy_table_names = False


class AdminUser(_Frozen):
    """Only for the foreign keys below (the table exists already)."""

    username = peewee.CharField(max_length=40, unique=True)


class AdminSession(_Frozen):
    token_hash = peewee.CharField(max_length=64, unique=True)
    user = peewee.ForeignKeyField(AdminUser, on_delete="CASCADE")
    created_at = _UTC()
    last_seen_at = _UTC()
    address = peewee.CharField(max_length=45, default="")
    agent = peewee.CharField(max_length=200, default="")


class AdminRecoveryCode(_Frozen):
    user = peewee.ForeignKeyField(AdminUser, on_delete="CASCADE")
    code_hash = peewee.CharField(max_length=64, index=True)
    used_at = _UTC(null=True)


class SignInFailure(_Frozen):
    at = _UTC(index=True)
    address = peewee.CharField(max_length=45)
    username = peewee.CharField(max_length=40)
    device = peewee.CharField(max_length=40, null=True)

    class Meta:
        indexes = ((("address", "at"), False), (("username", "at"), False), (("device", "at"), False))


TABLES: list[type[peewee.Model]] = [AdminSession, AdminRecoveryCode, SignInFailure]


def apply(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    # NOT NULL columns in one plain statement: a table rebuild would break the foreign keys
    # that point at admin_user (voucher agents, sessions).
    add_not_null_column(db, "admin_user", "totp_last_step", "BIGINT", "0")
    migrate(
        migrator.add_column("admin_user", "totp_secret", peewee.CharField(max_length=64, null=True)),
    )
    with db.bind_ctx([AdminUser, *TABLES]):
        db.create_tables(TABLES, safe=True)
