"""Importing an M-Pesa statement file: its money-in lines into the ledger, one row per receipt.

The same file again changes nothing; an overlapping file adds only the receipts not yet held,
and a receipt seen before with another amount or time is reported, not stored. What the lines
are matched against is :mod:`portal.domain.statement`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import IO

from portal.clock import Clock
from portal.config import Settings
from portal.domain.accounts import audit
from portal.domain.statement import counts
from portal.ledger.models import StatementImport, StatementLine, UTCDateTimeField
from portal.mpesa.statement import StatementRow, open_statement

BATCH = 500


@dataclass
class ImportResult:
    statement: StatementImport
    already_imported: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        return list(json.loads(self.statement.problems or "[]"))


def _sha256(binary: IO[bytes]) -> str:
    digest = hashlib.sha256()
    binary.seek(0)
    for chunk in iter(lambda: binary.read(1 << 16), b""):
        digest.update(chunk)
    binary.seek(0)
    return digest.hexdigest()


def import_statement(
    binary: IO[bytes], *, filename: str, actor: str, settings: Settings, clock: Clock, with_counts: bool = True
) -> ImportResult:
    """Import a statement file (seekable, binary). Raises StatementFormatError when it cannot be read.

    Needs only the ledger (no Redis, no M-Pesa): the CLI runs it beside a live portal.

    The same file again changes nothing and returns the earlier import; lines whose
    receipt an earlier import already holds are counted, not stored again.
    """
    sha = _sha256(binary)
    earlier = StatementImport.get_or_none(StatementImport.sha256 == sha)
    if earlier is not None:
        return ImportResult(earlier, True, counts(settings) if with_counts else {})
    reader = open_statement(binary)
    try:
        now = clock.now()
        with StatementImport._meta.database.atomic():
            row = StatementImport.create(imported_at=now, actor=actor[:40], filename=filename[:200], sha256=sha)
            added = known = conflicting = ignored = 0
            first = last = None
            problems: list[str] = []
            batch: list[StatementRow] = []

            def flush() -> None:
                nonlocal added, known, conflicting
                known_rows = StatementLine.select(
                    StatementLine.receipt, StatementLine.completed_at, StatementLine.paid_in_cents
                ).where(StatementLine.receipt.in_([r.receipt for r in batch]))
                existing = {receipt: (at, cents) for receipt, at, cents in known_rows.tuples()}
                fresh: dict[str, StatementRow] = {}
                for r in batch:
                    old = existing.get(r.receipt)
                    if old is None and r.receipt in fresh:
                        old = (fresh[r.receipt].completed_at, fresh[r.receipt].paid_in_cents)
                    if old is None:
                        fresh[r.receipt] = r
                    elif old == (r.completed_at, r.paid_in_cents):
                        known += 1
                    else:
                        conflicting += 1
                        problems.append(
                            f"line {r.line_no}: receipt {r.receipt} was imported before with another amount or time"
                        )
                if fresh:
                    _insert_lines(list(fresh.values()), row.id)
                    added += len(fresh)
                batch.clear()

            for r in reader:
                if not r.money_in:
                    ignored += 1
                    continue
                first = r.completed_at if first is None or r.completed_at < first else first
                last = r.completed_at if last is None or r.completed_at > last else last
                batch.append(r)
                if len(batch) >= BATCH:
                    flush()
            if batch:
                flush()
            period = reader.period or ((first, last) if first and last else (None, None))
            StatementImport.update(
                rows_read=reader.rows_read,
                lines_added=added,
                lines_known=known,
                lines_conflicting=conflicting,
                rows_ignored=ignored,
                rows_skipped=reader.problem_count,
                problems=json.dumps((reader.problems + problems)[:100]),
                period_from=period[0],
                period_to=period[1],
            ).where(StatementImport.id == row.id).execute()
            audit(actor, "statement.import", clock, file=filename[:100], added=added, known=known)
    finally:
        reader.release()  # the caller's file stays open: the caller closes it
    return ImportResult(StatementImport.get_by_id(row.id), False, counts(settings) if with_counts else {})


_INSERTED = (
    "receipt", "statement_import", "completed_at", "initiated_at", "details", "status", "paid_in_cents",
    "withdrawn_cents", "reason_type", "party", "account_ref", "resolution", "resolution_note", "resolved_by",
)  # fmt: skip


def _insert_lines(rows: list[StatementRow], import_id: int) -> None:
    """One prepared INSERT run for the whole batch: peewee's insert_many builds SQL text per
    value, which costs more than parsing the file (bench/statement.py)."""
    db = StatementLine._meta.database
    fields = [StatementLine._meta.fields[name] for name in _INSERTED]
    sql = (
        f"INSERT INTO {StatementLine._meta.table_name} ({', '.join(f.column_name for f in fields)}) "
        f"VALUES ({', '.join([db.param] * len(fields))})"
    )
    values = [
        (
            r.receipt,
            import_id,
            r.completed_at,
            r.initiated_at,
            r.details[:200],
            r.status[:30],
            r.paid_in_cents,
            r.withdrawn_cents,
            r.reason_type[:80],
            r.party[:120],
            r.account_ref[:60],
            "",
            "",
            "",
        )
        for r in rows
    ]
    times = [i for i, f in enumerate(fields) if isinstance(f, UTCDateTimeField)]
    prepared = []
    for row in values:
        cells = list(row)
        for i in times:
            cells[i] = fields[i].db_value(cells[i])
        prepared.append(cells)
    db.cursor().executemany(sql, prepared)


def imports(limit: int = 20) -> list[StatementImport]:
    return list(StatementImport.select().order_by(StatementImport.imported_at.desc()).limit(limit))
