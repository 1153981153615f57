"""What the owner reads about vouchers: batches by state, voucher money beside M-Pesa money,
agents' sales with commission, and the same as CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import peewee

from portal.clock import NAIROBI
from portal.domain import reports, vouchers, vouchers_agents
from portal.ledger.models import VoucherBatch

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (CSV injection); tab and carriage return can smuggle one in after a separator.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A value as CSV text that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: list[str], rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


@dataclass(frozen=True)
class MoneySplit:
    """Money in a period by how it came: M-Pesa beside vouchers (never added up unseen)."""

    start: date
    end: date
    mpesa: reports.Totals
    vouchers: reports.Totals  # face value of vouchers first used in the period
    vouchers_issued: int  # face value of vouchers made in the period (sold at the counter or by agents)


def money_split(start: date, end: date) -> MoneySplit:
    lo, hi = reports.day_bounds(start, end)
    issued = (
        VoucherBatch.select(peewee.fn.SUM(VoucherBatch.price * VoucherBatch.count))
        .where(VoucherBatch.created_at >= lo, VoucherBatch.created_at < hi)
        .scalar()
    )
    return MoneySplit(
        start,
        end,
        reports.totals(start, end, methods=reports.MPESA_METHODS),
        reports.totals(start, end, methods=reports.VOUCHER_METHODS),
        int(issued or 0),
    )


def _local(moment: datetime | None) -> str:
    return moment.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M") if moment else ""


BATCH_HEADER = [
    "batch",
    "created (Nairobi)",
    "created by",
    "package",
    "price KES",
    "label",
    "agent",
    "use by",
    "count",
    *[vouchers.STATE_LABELS[s] for s in vouchers.STATES],
    "revoked at",
    "key",
]


def batches_csv(now: datetime) -> str:
    rows = []
    for row in vouchers.batch_rows(now, limit=100_000):
        b = row.batch
        rows.append(
            [
                b.id,
                _local(b.created_at),
                b.created_by,
                b.package.name,
                b.price,
                b.label,
                b.agent.name if b.agent_id else "",
                _local(b.use_by),
                b.count,
                *[row.states[s] for s in vouchers.STATES],
                _local(b.revoked_at),
                b.key_id,
            ]
        )
    return to_csv(BATCH_HEADER, rows)


AGENT_HEADER = [
    "agent",
    "username",
    "commission",
    "vouchers issued",
    "sold KES",
    "commission KES",
    "due to venue KES",
    "redeemed",
    "float now KES",
]


def agents_csv(start: date, end: date) -> str:
    lo, hi = reports.day_bounds(start, end)
    rows = [
        [
            s.agent.name,
            s.agent.admin.username,
            s.commission_percent,
            s.issued,
            s.sold_value,
            s.commission,
            s.due_to_venue,
            s.redeemed,
            s.float_balance,
        ]
        for s in vouchers_agents.sales(lo, hi)
    ]
    return to_csv(AGENT_HEADER, rows)
