"""Benchmark statement reconciliation: an N-row M-Pesa statement against an N-payment ledger.

Builds a SQLite ledger with N paid M-Pesa payments (receipts, amounts, times), writes the
statement the M-Pesa org portal would print for them (preamble, 13 columns, masked phones,
"1,000.00" amounts) with planted differences (1% missing from the statement, 1% with another
amount, 1% money nobody's payment holds), then times, in this process:

- import: parse the file (streaming) and store its money-in lines,
- reconcile: classify every line and payment into the four lists (counts),
- export: stream the reconciliation lists as CSV to /dev/null,
- re-import: the same file again (must change nothing),

and prints each phase's time and the process's peak memory (max RSS), the target (20 s and
200 MB for 100,000 rows on the project's 2-core machine), and the command to reproduce it.

    python bench/statement.py [--rows 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import secrets
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal.clock import ManualClock, to_nairobi
from portal.config import load_settings
from portal.domain import exports, statement, statement_import
from portal.ledger.database import open_database
from portal.ledger.migrations import upgrade
from portal.ledger.models import Package, Payment, StatementLine

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
HEADER = (
    "Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,"
    "Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No."
)
PRICES = (10, 20, 50, 100, 1000)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def eat(moment: datetime) -> str:
    return to_nairobi(moment).strftime("%d-%m-%Y %H:%M:%S")


def build(folder: Path, rows: int) -> tuple[Path, dict[str, int]]:
    """The ledger (N paid payments) and the statement file; returns the planted counts."""
    db = open_database(f"sqlite:///{folder / 'ledger.db'}")
    upgrade(db)
    packages = [Package.create(name=f"KSh {p}", price=p, duration_seconds=3600, created_at=START).id for p in PRICES]
    planted = {"missing": 0, "amount": 0, "stranger": 0}
    end = START + timedelta(seconds=20 * rows)
    with (folder / "statement.csv").open("w", encoding="utf-8", newline="") as out:
        out.write("Account Holder:,BENCH CAFE,,,,,,,,,,,\r\nShort Code:,174379,,,,,,,,,,,\r\n")
        out.write(
            f"Time Period:,,From {eat(START - timedelta(hours=1))},,To {eat(end + timedelta(hours=1))},,,,,,,,\r\n"
        )
        out.write(HEADER + "\r\n")
        batch = []
        for n in range(rows):
            created = START + timedelta(seconds=20 * n)
            price = PRICES[n % len(PRICES)]
            receipt = f"UC{n:08d}"
            phone = f"2547{n % 100_000_000:08d}"
            batch.append(
                {
                    "public_id": secrets.token_urlsafe(12),
                    "package": packages[n % len(PRICES)],
                    "router": "main",
                    "mac": f"AA:BB:{(n >> 24) & 255:02X}:{(n >> 16) & 255:02X}:{(n >> 8) & 255:02X}:{n & 255:02X}",
                    "ip": "10.5.50.2",
                    "phone": phone,
                    "amount": price,
                    "status": "paid",
                    "receipt": receipt,
                    "checkout_request_id": f"ws_CO_{n}",
                    "created_at": created,
                    "updated_at": created,
                    "paid_at": created + timedelta(seconds=15),
                }
            )
            if len(batch) == 1000:
                with db.atomic():
                    Payment.insert_many(batch).execute()
                batch.clear()
            if n % 100 == 1:
                planted["missing"] += 1
                continue
            amount = price
            if n % 100 == 2:
                planted["amount"] += 1
                amount = price + 1
            party = f"{phone[:4]}*****{phone[-3:]} - CUSTOMER {n}"
            done = created + timedelta(seconds=14)
            out.write(
                f'{receipt},{eat(done)},{eat(created)},Pay Utility from {party},Completed,"{amount:,.2f}",,'
                f'"0.00",true,Pay Utility,{party},,WIFI{n}\r\n'
            )
            if n % 100 == 3:
                planted["stranger"] += 1
                out.write(
                    f'UX{n:08d},{eat(done)},{eat(done)},Pay Utility,Completed,"55.00",,"0.00",true,Pay Utility,'
                    f"2547*****999 - STRANGER,,\r\n"
                )
        if batch:
            with db.atomic():
                Payment.insert_many(batch).execute()
    db.close()
    return folder / "statement.csv", planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", help="folder to keep the ledger and statement in (default: a temp folder)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="p2c-bench-statement-"))
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    path, planted = build(folder, args.rows)
    built = time.perf_counter() - began
    base_mb = peak_mb()
    (folder / "bench.toml").write_text("# settings come from the overrides below\n")
    settings = load_settings(
        folder / "bench.toml",
        environ={},
        overrides={"portal": {"data_dir": str(folder)}, "database": {"url": f"sqlite:///{folder / 'ledger.db'}"}},
    )
    open_database(settings.database_url)
    clock = ManualClock(START + timedelta(days=1))
    timings: list[tuple[str, float, str]] = []

    t0 = time.perf_counter()
    with path.open("rb") as handle:
        result = statement_import.import_statement(
            handle, filename=path.name, actor="bench", settings=settings, clock=clock, with_counts=False
        )
    import_s = time.perf_counter() - t0
    lines = StatementLine.select().count()
    timings.append(("import (parse + store)", import_s, f"{result.statement.rows_read:,} rows, {lines:,} lines stored"))

    t0 = time.perf_counter()
    counts = statement.counts(settings)
    recon_s = time.perf_counter() - t0
    summary = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    timings.append(("reconcile (four lists)", recon_s, summary))

    t0 = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        written = sum(sink.write(chunk) for chunk in exports.reconciliation(settings))
    timings.append(("export all lists (CSV)", time.perf_counter() - t0, f"{written / 1e6:.1f} MB of CSV"))

    t0 = time.perf_counter()
    with path.open("rb") as handle:
        again = statement_import.import_statement(
            handle, filename=path.name, actor="bench", settings=settings, clock=clock, with_counts=False
        )
    timings.append(("re-import same file", time.perf_counter() - t0, f"already imported: {again.already_imported}"))

    expected = {
        "matched": args.rows - planted["missing"] - planted["amount"],
        "statement_only": planted["stranger"],
        "ledger_only": planted["missing"],
        "mismatch": planted["amount"],
    }
    correct = all(counts[k] == v for k, v in expected.items()) and StatementLine.select().count() == lines
    total = import_s + recon_s
    peak = peak_mb()
    print(f"statement reconciliation: {args.rows:,} statement rows against {args.rows:,} payments")
    print(f"(ledger and statement built in {built:.1f} s, not counted; file {path.stat().st_size / 1e6:.1f} MB)")
    print()
    print(f"{'phase':<26} {'seconds':>8}  detail")
    for name, seconds, detail in timings:
        print(f"{name:<26} {seconds:>8.2f}  {detail}")
    print(f"{'import + reconcile':<26} {total:>8.2f}  target < 20 s: {'OK' if total < 20 else 'MISSED'}")
    print(f"{'peak memory (max RSS)':<26} {peak:>7.0f}M  before the import {base_mb:.0f} MB; target < 200 MB: "
          f"{'OK' if peak < 200 else 'MISSED'}")  # fmt: skip
    print(f"{'lists as planted':<26} {'yes' if correct else 'NO':>8}  expected {expected}")
    print()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("reproduce: " + shlex.join([sys.executable, "bench/statement.py", *sys.argv[1:]]))
    if not correct:
        sys.exit(1)


if __name__ == "__main__":
    main()
