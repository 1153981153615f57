"""Read the M-Pesa statement CSV an owner downloads from the M-Pesa business (org) portal.

Pure and streaming: rows are read one at a time, so a 100,000-row statement costs the
memory of one row. What real statements look like (tests/mpesa/statements/README.md):
a few preamble lines (Account Holder, Short Code, Time Period, Opening Balance ...), then a
header row such as ``Receipt No., Completion Time, Initiation Time, Details, Transaction
Status, Paid In, Withdrawn, Balance, Balance Confirmed, Reason Type, Other Party Info,
Linked Transaction ID, A/C No.``, then one row per transaction. Column order and header
spelling vary between portal versions and spreadsheet programs; amounts look like
``1,000.00``; times are East Africa Time, day first; the customer's phone in Other Party
Info is usually masked (``2547******678 - JANE DOE``).

One module over 300 lines because it is one file format: the reader and its cell parsers
(headers, amounts, times, phone hints) change together when the portal's CSV changes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, TextIO

from portal.clock import NAIROBI

MAX_PREAMBLE_LINES = 60
MAX_PROBLEMS_KEPT = 50
MAX_CELL = 200
RECEIPT = re.compile(r"^[A-Z0-9]{8,20}$")

#: Our field -> header spellings accepted (normalized: lower case, letters and digits only),
#: best first. The first three are required.
COLUMNS: dict[str, tuple[str, ...]] = {
    "receipt": ("receipt no", "receipt number", "receipt", "mpesa receipt number", "mpesa receipt",
                "transaction id", "transaction code", "trans id", "transaction reference"),
    "completed_at": ("completion time", "completed time", "completion date", "completion date time",
                     "transaction time", "transaction date", "date time", "date", "time"),
    "paid_in": ("paid in", "paidin", "money in", "amount in", "credit", "credit amount", "deposit",
                "amount received", "received"),
    "initiated_at": ("initiation time", "initiated time", "initiation date"),
    "details": ("details", "description", "narration", "particulars", "transaction details"),
    "status": ("transaction status", "status"),
    "withdrawn": ("withdrawn", "withdrawal", "withdrawals", "paid out", "money out", "amount out", "debit",
                  "debit amount"),
    "balance": ("balance", "running balance", "account balance"),
    "reason_type": ("reason type", "transaction type", "type"),
    "party": ("other party info", "other party information", "other party details", "other party",
              "party info", "counterparty"),
    "account_ref": ("a c no", "ac no", "account no", "account number", "acc no", "bill ref number",
                    "bill reference", "account reference", "transaction party details"),
}  # fmt: skip
REQUIRED = ("receipt", "completed_at", "paid_in")
SHOWN_NAMES = {"receipt": "Receipt No.", "completed_at": "Completion Time", "paid_in": "Paid In"}
TIME_FORMATS = (
    "%d-%m-%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d-%b-%Y %H:%M:%S",
    "%d %b %Y %H:%M:%S",
    "%d/%m/%Y %I:%M:%S %p",
    "%d/%m/%Y %I:%M %p",
    "%d-%m-%Y %I:%M:%S %p",
    "%Y-%m-%dT%H:%M:%S",
)


_PLAIN_AMOUNT = re.compile(r"^-?\d{1,3}(?:,?\d{3})*\.\d\d$")
_ISO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$")
_DAY_FIRST_TIME = re.compile(r"^(\d{2})[-/](\d{2})[-/](\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?$")


class StatementFormatError(Exception):
    """The file is not a statement we can read; the message says why, in plain words."""


@dataclass(frozen=True)
class StatementRow:
    """One transaction line; money in whole cents, times as aware UTC."""

    line_no: int
    receipt: str
    completed_at: datetime
    initiated_at: datetime | None
    details: str
    status: str
    paid_in_cents: int
    withdrawn_cents: int
    reason_type: str
    party: str
    account_ref: str

    @property
    def completed(self) -> bool:
        """True unless the statement says it did not complete (no status column: completed)."""
        return self.status.strip().lower() in ("", "completed", "complete", "success", "successful")

    @property
    def money_in(self) -> bool:
        return self.completed and self.paid_in_cents > 0 and self.withdrawn_cents == 0

    @property
    def phone_hint(self) -> str:
        return phone_hint(self.party)


@dataclass
class StatementReader:
    """Iterate over a statement's rows; :attr:`problems` collects rows that could not be read."""

    stream: TextIO
    columns: dict[str, int]
    header_line: int
    delimiter: str
    period: tuple[datetime, datetime] | None = None
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    rows_read: int = 0
    _formats: list[str] = field(default_factory=lambda: list(TIME_FORMATS))

    def release(self) -> None:
        """Let go of the caller's file without closing it (the caller opened it, the caller
        closes it); reading stops here."""
        if isinstance(self.stream, io.TextIOWrapper):
            self.stream.detach()

    def __iter__(self) -> Iterator[StatementRow]:
        reader = csv.reader(self.stream, delimiter=self.delimiter)
        for cells in reader:
            line_no = self.header_line + reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            self.rows_read += 1
            try:
                yield self._row(line_no, cells)
            except ValueError as err:
                self.problem_count += 1
                if len(self.problems) < MAX_PROBLEMS_KEPT:
                    self.problems.append(f"line {line_no}: {err}")

    def _cell(self, cells: list[str], name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()[:MAX_CELL]

    def _row(self, line_no: int, cells: list[str]) -> StatementRow:
        receipt = self._cell(cells, "receipt").upper()
        if not receipt:
            raise ValueError("no receipt number")
        if not RECEIPT.match(receipt):
            raise ValueError(f"{receipt[:30]!r} is not an M-Pesa receipt number")
        completed = self._time(self._cell(cells, "completed_at"), "completion time")
        initiated_text = self._cell(cells, "initiated_at")
        return StatementRow(
            line_no=line_no,
            receipt=receipt,
            completed_at=completed,
            initiated_at=self._time(initiated_text, "initiation time") if initiated_text else None,
            details=self._cell(cells, "details"),
            status=self._cell(cells, "status"),
            paid_in_cents=abs(parse_amount(self._cell(cells, "paid_in"), "paid in")),
            withdrawn_cents=abs(parse_amount(self._cell(cells, "withdrawn"), "withdrawn")),
            reason_type=self._cell(cells, "reason_type"),
            party=self._cell(cells, "party"),
            account_ref=self._cell(cells, "account_ref"),
        )

    def _time(self, text: str, what: str) -> datetime:
        if not text:
            raise ValueError(f"no {what}")
        iso = _ISO_TIME.match(text)
        day_first = None if iso else _DAY_FIRST_TIME.match(text)
        if iso or day_first:  # the layouts statements use: without strptime, which is slow
            if iso:
                year, month, day, hour, minute, second = iso.groups()
            else:
                assert day_first is not None
                day, month, year, hour, minute, second = day_first.groups()
            try:
                moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
            except ValueError:
                raise ValueError(f"{what} {text[:40]!r} is not a real date") from None
            return moment.replace(tzinfo=NAIROBI).astimezone(UTC)
        for index, fmt in enumerate(self._formats):
            try:
                moment = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if index:  # the format that worked is tried first next time (one format per file)
                self._formats.insert(0, self._formats.pop(index))
            return moment.replace(tzinfo=NAIROBI).astimezone(UTC)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what} {text[:40]!r} is not a date and time like 13-10-2025 14:05:09") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=NAIROBI)).astimezone(UTC)


def normalize_header(text: str) -> str:
    """``"Paid In (KES)"`` -> ``"paid in"``; ``"A/C No."`` -> ``"a c no"``."""
    text = re.sub(r"\(.*?\)", " ", text.replace("\ufeff", "").lower())
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def parse_amount(text: str, what: str = "amount") -> int:
    """``"1,000.00"`` -> ``100000`` cents; ``"20,00"`` -> ``2000``; ``""``, ``"-"`` -> 0; ``"(20.00)"`` -> ``-2000``."""
    if _PLAIN_AMOUNT.match(text):  # "1,000.00", "-20.00": nearly every cell, without Decimal
        return int(text.replace(",", "").replace(".", ""))
    raw = text.strip().replace(" ", "").replace("\u00a0", "")
    raw = re.sub(r"^(?i:ksh\.?|kes)", "", raw)
    negative = raw.startswith("(") and raw.endswith(")")
    raw = raw.strip("()")
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d{1,2}|-?\d+,\d{1,2}", raw):
        raw = raw.replace(".", "").replace(",", ".")  # "20,00", "1.000,50": a decimal comma
    else:
        raw = raw.replace(",", "")  # "1,000.00": thousands
    if raw in ("", "-", "\u2014"):
        return 0
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{what} {text[:30]!r} is not an amount") from None
    if not value.is_finite() or abs(value) > Decimal(10**12):
        raise ValueError(f"{what} {text[:30]!r} is not an amount")
    cents = int((value * 100).to_integral_value())
    return -cents if negative else cents


def phone_hint(party: str) -> str:
    """The phone part of Other Party Info as ``2547******678`` (masks kept), or ``""``."""
    found = re.match(r"\s*\+?([0-9*xX#]{9,13})(?![0-9*xX#])", party or "")
    if not found:
        return ""
    digits = found.group(1).upper().replace("X", "*").replace("#", "*")
    if digits.startswith("0") and len(digits) == 10:
        digits = "254" + digits[1:]
    elif len(digits) == 9 and digits[0] in "17*":
        digits = "254" + digits
    return digits if len(digits) == 12 else ""


def phone_compatible(hint: str, phone: str) -> bool:
    """Could ``phone`` (``2547...``) be the masked ``hint``? No hint: nothing rules it out."""
    if not hint or not phone:
        return True
    return len(hint) == len(phone) and all(h in ("*", p) for h, p in zip(hint, phone, strict=True))


def open_statement(binary: IO[bytes]) -> StatementReader:
    """Find the header row (after any preamble) and return a reader for the rows below it.

    Raises :class:`StatementFormatError` with the reason: not a CSV (a workbook, a PDF),
    no header row, or a header row without a column we need (named).
    """
    start = binary.read(8)
    if start.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise StatementFormatError(
            "this is an Excel workbook, not a CSV file: open it and save it as CSV (comma separated), then import that"
        )
    if start.startswith(b"%PDF"):
        raise StatementFormatError("this is a PDF statement: download the CSV statement from the M-Pesa portal")
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
    try:
        return _header(text)
    except BaseException:
        text.detach()  # the caller's file stays the caller's to close
        raise


def _header(text: io.TextIOWrapper) -> StatementReader:
    preamble: list[str] = []
    nearest: tuple[int, dict[str, int], list[str]] | None = None
    for line_no in range(1, MAX_PREAMBLE_LINES + 1):
        line = text.readline()
        if not line:
            break
        if "\x00" in line:
            raise StatementFormatError("this is not a text (CSV) file")
        for delimiter in (",", ";", "\t"):
            cells = next(csv.reader([line], delimiter=delimiter), [])
            columns = _match_columns(cells)
            if "receipt" not in columns or len(columns) < 2:
                continue
            missing = [name for name in REQUIRED if name not in columns]
            if not missing:
                reader = StatementReader(text, columns, line_no, delimiter)
                reader.period = _period(preamble)
                return reader
            if nearest is None:
                nearest = (line_no, columns, cells)
        preamble.append(line)
    if nearest is not None:
        line_no, columns, cells = nearest
        missing = [name for name in REQUIRED if name not in columns]
        names = ", ".join(repr(SHOWN_NAMES[m]) for m in missing)
        found = ", ".join(c.strip() for c in cells if c.strip())[:300]
        raise StatementFormatError(f"the header row (line {line_no}) has no {names} column; its columns are: {found}")
    raise StatementFormatError(
        f"no header row in the first {MAX_PREAMBLE_LINES} lines: an M-Pesa statement has a row with "
        "'Receipt No.', 'Completion Time' and 'Paid In' columns"
    )


def _match_columns(cells: list[str]) -> dict[str, int]:
    names = [normalize_header(cell) for cell in cells]
    columns: dict[str, int] = {}
    used: set[int] = set()
    for name, spellings in COLUMNS.items():
        for spelling in spellings:
            index = next((i for i, n in enumerate(names) if n == spelling and i not in used), None)
            if index is not None:
                columns[name] = index
                used.add(index)
                break
    return columns


def _period(preamble: list[str]) -> tuple[datetime, datetime] | None:
    """The statement's "Time Period: From ... To ..." line, if the preamble has one."""
    for line in preamble:
        flat = " ".join(cell.strip() for cell in next(csv.reader([line]), []) if cell.strip())
        found = re.search(r"time period\W*from\s+(.+?)\s+to\s+(.+)$", flat, re.IGNORECASE)
        if found:
            probe = StatementReader(io.StringIO(), {}, 0, ",")
            try:
                return probe._time(found.group(1).strip(), "start"), probe._time(found.group(2).strip(), "end")
            except ValueError:
                return None
    return None
