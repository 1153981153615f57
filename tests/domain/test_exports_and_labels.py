"""CSV exports are spreadsheet-safe and streamed; every timeline event kind has a human label."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest

from portal.domain import exports
from portal.domain.admin_lists import parse_payment_filters
from portal.domain.event_labels import EVENT_LABELS
from portal.ledger.models import FINAL_FAILURES, Payment

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("evil", ["=cmd|' /C calc'!A0", "+254712345678", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_a_spreadsheet_would_run_is_neutralised(evil):
    text = "".join(exports.csv_stream(["name", "amount"], [[evil, -20]]))
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][0] == "'" + evil and rows[1][1] == "-20"  # our own numbers stay numbers
    assert exports.safe_cell("JANE WANJIKU") == "JANE WANJIKU"


def test_a_large_export_comes_in_chunks():
    chunks = list(exports.csv_stream(["n"], ([n] for n in range(2000))))
    assert len(chunks) >= 4 and sum(c.count("\r\n") for c in chunks) == 2001


def test_the_payments_export_follows_the_filters(portal, package, services):
    for n in range(3):
        mac, ip = portal.join(f"AA:BB:CC:00:07:{n:02X}", f"10.5.57.{n + 2}")
        portal.pay_ids(package.id, phone=f"07{22000000 + n:08d}", mac=mac, ip=ip)
    portal.settle(5)
    Payment.update(phone="=HYPERLINK()").where(Payment.id == 1).execute()  # what a hostile row would hold
    text = "".join(exports.payments(parse_payment_filters({"phone": "0722000001"})))
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["phone"] for r in rows] == ["254722000001"] and rows[0]["status"] == "paid"
    everything = "".join(exports.payments(parse_payment_filters({})))
    assert "'=HYPERLINK()" in everything and "\n=HYPERLINK" not in everything


def recorded_kinds() -> dict[str, str]:
    """Every ``record(payment, "<kind>", ...)`` in portal/, read from the source."""
    kinds: dict[str, str] = {}
    for path in (ROOT / "portal").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name != "record":
                continue
            kind = node.args[1]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                kinds[kind.value] = where
            elif isinstance(kind, ast.IfExp):
                for branch in (kind.body, kind.orelse):
                    assert isinstance(branch, ast.Constant), where
                    kinds[branch.value] = where
            else:  # mark_failed records the failure status itself
                assert ast.unparse(kind) == "status", f"{where}: a computed kind needs its values listed here"
                kinds.update(dict.fromkeys(FINAL_FAILURES, where))
    return kinds


def test_every_kind_of_timeline_event_has_a_human_label():
    kinds = recorded_kinds()
    assert len(kinds) > 25
    missing = {kind: where for kind, where in kinds.items() if kind not in EVENT_LABELS}
    assert not missing, f"add these to portal/domain/event_labels.py: {missing}"
    assert all(label[0].isupper() and "_" not in label for label in EVENT_LABELS.values())
