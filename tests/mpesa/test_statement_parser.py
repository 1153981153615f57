"""The M-Pesa statement parser on layouts real statement exports use (tests/mpesa/statements/)."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal.mpesa.statement import (
    StatementFormatError,
    normalize_header,
    open_statement,
    parse_amount,
    phone_compatible,
    phone_hint,
)

FILES = Path(__file__).parent / "statements"
NOON = datetime(2026, 3, 1, 9, 0, 41, tzinfo=UTC)  # 12:00:41 in Nairobi


def read(name: str) -> list:
    with (FILES / name).open("rb") as handle:
        reader = open_statement(handle)
        rows = list(reader)
        assert reader.problems == []
        return rows


@pytest.mark.parametrize(
    "name", ["org_portal_2025.csv", "older_portal_transactions_marker.csv", "short_layout.csv", "excel_semicolons.csv"]
)
def test_every_layout_gives_the_same_money_in(name: str) -> None:
    money_in = {r.receipt: r.paid_in_cents for r in read(name) if r.money_in}
    assert money_in["UC1AB2CD3E"] == 2000 and money_in["UC1KL6MN7P"] == 3000
    row = next(r for r in read(name) if r.receipt == "UC1KL6MN7P")
    assert row.completed_at == datetime(2026, 3, 1, 11, 30, tzinfo=UTC)  # 14:30 EAT
    assert row.phone_hint == "254722000111"


def test_the_org_portal_file_keeps_its_period_and_sorts_money_out_from_money_in() -> None:
    with (FILES / "org_portal_2025.csv").open("rb") as handle:
        reader = open_statement(handle)
        rows = list(reader)
    assert reader.header_line == 7
    assert reader.period == (datetime(2026, 2, 28, 21, 0, tzinfo=UTC), datetime(2026, 3, 1, 20, 59, 59, tzinfo=UTC))
    by_receipt = {(r.receipt, r.money_in): r for r in rows}
    assert by_receipt[("UC1AB2CD3E", True)].completed_at == NOON
    assert by_receipt[("UC1FG4HI5J", True)].paid_in_cents == 100000  # "1,000.00"
    assert by_receipt[("UC1FG4HI5J", True)].phone_hint == "254712***901"  # 0712***901
    assert by_receipt[("UC1QR8ST9U", False)].withdrawn_cents == 104000  # the settlement: money out
    assert not by_receipt[("UC1VW0XY1Z", False)].completed  # "Cancelled": no money


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing_paid_in.csv", "has no 'Paid In' column; its columns are: Receipt No., Completion Time"),
        ("not_a_statement.csv", "no header row in the first 60 lines"),
    ],
)
def test_a_file_that_does_not_fit_says_why(name: str, words: str) -> None:
    with (FILES / name).open("rb") as handle, pytest.raises(StatementFormatError) as caught:
        open_statement(handle)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"PK\x03\x04rest-of-a-zip", "Excel workbook"), (b"%PDF-1.7\n", "PDF"), (b"\x00\x01\x02\n", "not a text")],
)
def test_workbooks_pdfs_and_binaries_are_refused_in_words(data: bytes, words: str) -> None:
    with pytest.raises(StatementFormatError, match=words):
        open_statement(io.BytesIO(data))


def test_bad_rows_are_reported_by_line_and_the_rest_are_read() -> None:
    text = (
        "Receipt No.,Completion Time,Paid In\n"
        "UC1AB2CD3E,01-03-2026 12:00:41,20.00\n"
        "not-a-code,01-03-2026 12:00:41,20.00\n"
        "UC1AB2CD3F,yesterday,20.00\n"
        "UC1AB2CD3G,01-03-2026 12:00:41,lots\n"
        ",,\n"
        'UC1AB2CD3H,01-03-2026 12:05:00,"1,500.50"\n'
    )
    reader = open_statement(io.BytesIO(text.encode()))
    rows = list(reader)
    assert [r.receipt for r in rows] == ["UC1AB2CD3E", "UC1AB2CD3H"] and rows[1].paid_in_cents == 150050
    assert reader.problem_count == 3
    assert reader.problems[0].startswith("line 3:") and "not an M-Pesa receipt" in reader.problems[0]
    assert "line 4:" in reader.problems[1] and "line 5:" in reader.problems[2]


def test_header_spellings_amounts_and_phones() -> None:
    assert normalize_header("\ufeffPaid In (KES)") == "paid in" and normalize_header(" A/C No. ") == "a c no"
    cases = {"1,000.00": 100000, "20,00": 2000, "1.000,50": 100050, "KSh 20": 2000, "-": 0, "": 0, "(20.00)": -2000}
    assert {text: parse_amount(text) for text in cases} == cases
    with pytest.raises(ValueError):
        parse_amount("NaN")
    assert phone_hint("0712***678 - JOHN") == "254712***678" and phone_hint("KAHAWA LTD") == ""
    assert phone_compatible("2547*****678", "254712345678") and not phone_compatible("2547*****678", "254712345679")
    assert phone_compatible("", "254712345678")


def test_a_long_statement_streams_in_flat_memory() -> None:
    body = "".join(
        f"UC{n:08d},01-03-2026 12:{n % 60:02d}:00,20.00,2547*****{n % 1000:03d} - A B\n" for n in range(8000)
    )
    data = ("Receipt No.,Completion Time,Paid In,Other Party Info\n" + body).encode()
    tracemalloc.start()
    count = sum(1 for row in open_statement(io.BytesIO(data)) if row.money_in)
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 8000
    assert peak < 2_000_000  # a few rows' worth, not 8,000 rows (the file itself is outside the count)
