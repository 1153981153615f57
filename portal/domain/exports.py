"""CSV exports for the owner's spreadsheet: payments, the statement reconciliation lists, revenue.

Streamed: rows are written a chunk at a time from a database cursor, so a year of
payments never sits in memory. Spreadsheet-safe: a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice and Google
Sheets, so it gets a leading apostrophe (phone numbers, names and callback text come from
customers). Numbers we computed are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from portal.clock import NAIROBI
from portal.config import Settings
from portal.domain import daily_review, statement
from portal.domain.admin_lists import PaymentFilters, payments_query
from portal.domain.reports import day_bounds
from portal.ledger.models import Package, Payment

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 500
BOM = "\ufeff"  # so a spreadsheet reads the file as UTF-8 (names with accents)


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet will show, never run."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, datetime):
        return value.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text, a chunk of rows at a time (for a streamed HTTP answer or a file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([safe_cell(h) for h in header])
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(v) for v in row])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


PAYMENT_HEADER = (
    "id", "started (Nairobi)", "paid (Nairobi)", "status", "method", "phone", "package", "amount KSh",
    "M-Pesa receipt", "device MAC", "router", "M-Pesa said",
)  # fmt: skip


def payments(filters: PaymentFilters) -> Iterator[str]:
    """Payments matching the admin list's filters (every page), newest first."""

    def rows() -> Iterator[Sequence[Any]]:
        for p in payments_query(filters).iterator():
            yield (
                p.id, p.created_at, p.paid_at, p.status, p.method, p.phone, p.package.name, p.amount,
                p.receipt, p.mac, p.router, f"{p.result_code or ''} {p.result_desc or ''}".strip(),
            )  # fmt: skip

    return csv_stream(PAYMENT_HEADER, rows())


RECON_HEADER = (
    "list", "receipt", "statement completed (Nairobi)", "statement KSh", "other party", "payment id",
    "payment status", "ledger KSh", "prompt sent (Nairobi)", "paid (Nairobi)", "phone", "note",
)  # fmt: skip


def statement_lists(settings: Settings, kind: str | None = None) -> Iterator[str]:
    """The statement reconciliation lists (one, or all with a ``list`` column), as they stand now."""

    def rows() -> Iterator[Sequence[Any]]:
        for item in statement.walk(settings):
            if kind and item.kind != kind:
                continue
            line, pay = item.line, item.payment
            yield (
                item.kind,
                line.receipt if line else (pay.receipt if pay else ""),
                line.completed_at if line else None,
                Decimal(line.paid_in_cents) / 100 if line else None,
                line.party if line else None,
                pay.id if pay else None,
                pay.status if pay else None,
                pay.amount if pay else None,
                pay.created_at if pay else None,
                pay.paid_at if pay else None,
                pay.phone if pay else None,
                item.note,
            )

    return csv_stream(RECON_HEADER, rows())


def revenue(start: date, end: date) -> Iterator[str]:
    """Money taken per Nairobi day and package (and how it was paid), ``start``..``end``."""
    lo, hi = day_bounds(start, end)
    totals: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    query = (
        Payment.select(Payment.paid_at, Package.name, Payment.method, Payment.amount)
        .join(Package)
        .where(Payment.status == "paid", Payment.paid_at >= lo, Payment.paid_at < hi)
        .tuples()
    )
    for paid_at, name, method, amount in query.iterator():
        bucket = totals[(paid_at.astimezone(NAIROBI).date(), name, method)]
        bucket[0] += 1
        bucket[1] += amount
    rows = ((day.isoformat(), name, method, n, amount) for (day, name, method), (n, amount) in sorted(totals.items()))
    return csv_stream(("day (Nairobi)", "package", "method", "sessions", "KSh"), rows)


def review(start: date, end: date) -> Iterator[str]:
    rows = daily_review.as_rows(daily_review.review(start, end))
    header = ("day", "ledger_ksh", "ledger_payments", "statement_ksh", "statement_lines", "agrees")
    return csv_stream(header, ([r[h] for h in header] for r in rows))
