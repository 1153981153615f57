"""The durable ledger: packages, payments and their timelines, grants, outbox, admins, audit.

The database is the truth. Redis only mirrors live grants for speed and is rebuilt from
here after a loss. One module per group of tables (``core``: the money path; ``accounts``,
``money``, ``vouchers``, ``deliveries``); everything is imported from here,
``from portal.ledger.models import Payment``.
"""

from __future__ import annotations

from portal.ledger.database import database
from portal.ledger.models.accounts import ROLES, AdminRecoveryCode, AdminSession, AdminUser, AuditLog, SignInFailure
from portal.ledger.models.base import BaseModel, UTCDateTimeField
from portal.ledger.models.core import (
    FINAL_FAILURES,
    PAYMENT_METHODS,
    PAYMENT_STATES,
    Grant,
    OutboxItem,
    Package,
    Payment,
    PaymentEvent,
    RouterLink,
    UnmatchedCallback,
)
from portal.ledger.models.deliveries import DELIVERY_KINDS, DELIVERY_STATES, AlertState, Delivery
from portal.ledger.models.money import STATEMENT_RESOLUTIONS, OperatorSwitch, RecheckRun, StatementImport, StatementLine
from portal.ledger.models.vouchers import (
    VOUCHER_MODELS,
    AgentFloatEntry,
    Voucher,
    VoucherAgent,
    VoucherBatch,
    VoucherUse,
)

#: Every table, in an order they can be created in (a table after those its foreign keys name).
MODELS: list[type[BaseModel]] = [
    Package,
    Payment,
    PaymentEvent,
    Grant,
    OutboxItem,
    RouterLink,
    UnmatchedCallback,
    AdminUser,
    AuditLog,
    OperatorSwitch,
    StatementImport,
    StatementLine,
    RecheckRun,
    *VOUCHER_MODELS,
    AdminSession,
    AdminRecoveryCode,
    SignInFailure,
    Delivery,
    AlertState,
]

__all__ = [
    "DELIVERY_KINDS",
    "DELIVERY_STATES",
    "FINAL_FAILURES",
    "MODELS",
    "PAYMENT_METHODS",
    "PAYMENT_STATES",
    "ROLES",
    "STATEMENT_RESOLUTIONS",
    "VOUCHER_MODELS",
    "AdminRecoveryCode",
    "AdminSession",
    "AdminUser",
    "AgentFloatEntry",
    "AlertState",
    "AuditLog",
    "BaseModel",
    "Delivery",
    "Grant",
    "OperatorSwitch",
    "OutboxItem",
    "Package",
    "Payment",
    "PaymentEvent",
    "RecheckRun",
    "RouterLink",
    "SignInFailure",
    "StatementImport",
    "StatementLine",
    "UTCDateTimeField",
    "UnmatchedCallback",
    "Voucher",
    "VoucherAgent",
    "VoucherBatch",
    "VoucherUse",
    "create_tables",
]


def create_tables() -> None:
    """Bring the ledger to this release's schema (new or old ledger alike); safe to repeat."""
    from portal.ledger import migrations

    migrations.upgrade(database.obj)
