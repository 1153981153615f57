"""Benchmark: what it costs to count the push limits from the ledger instead of Redis.

    .venv/bin/python bench/push_limits.py [--sizes 10000 100000 1000000] [--checks 2000]

For each ledger size, fills an SQLite ledger (WAL, the product's pragmas, migrated to the
current schema) with that many M-Pesa pushes spread over 30 days (20,000 phones, 5,000
devices, 500 addresses, a few vouchers), then times ``portal.domain.limits.check_push``
(per-phone and per-device cool-down and 24 h cap, the address's and the global minute) for
random phones and devices, busy ones included. For comparison it times the Redis counters
the product used before (newest hit and 24 h count per phone and device, the global
minute) against an embedded redis-server holding the same pushes. Latencies are real
elapsed time in this process, p50 and p99 per check.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.config import load_settings
from portal.domain import limits
from portal.domain.errors import TooManyRequests
from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.ledger.models import Package, Payment
from portal.live import LiveStore, open_redis

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
DAYS = 30


def phone(n: int) -> str:
    return f"2547{n:08d}"


def mac(n: int) -> str:
    return "02:00:" + ":".join(f"{(n >> s) & 0xFF:02X}" for s in (24, 16, 8, 0))


def fill_ledger(folder: Path, size: int, rng: random.Random) -> Any:
    db = open_database(f"sqlite:///{folder / 'ledger.db'}")
    migrations.upgrade(db)
    package = Package.create(name="1h", price=20, duration_seconds=3600, created_at=NOW)
    rows = []
    for _ in range(size):
        at = NOW - timedelta(seconds=rng.uniform(0, DAYS * 86400))
        rows.append(
            {
                "public_id": secrets.token_urlsafe(12),
                "package": package.id,
                "router": "main",
                "mac": mac(rng.randrange(5000)),
                "ip": "10.5.50.2",
                "phone": phone(rng.randrange(20000)),
                "amount": 20,
                "status": "cancelled",
                "source": f"10.5.{rng.randrange(2)}.{rng.randrange(250)}",
                "method": "mpesa" if rng.random() < 0.95 else "voucher",
                "created_at": at,
                "updated_at": at,
            }
        )
    with db.atomic():
        for start in range(0, len(rows), 2000):
            Payment.insert_many(rows[start : start + 2000]).execute()
    return db, rows


def fill_redis(live: LiveStore, rows: list[dict[str, Any]]) -> None:
    """The pushes of the last day as the old counters held them."""
    since = NOW - timedelta(days=1)
    for row in rows:
        if row["method"] == "mpesa" and row["created_at"] > since:
            live.hit(f"phone:{row['phone']}", row["created_at"], 86400)
            live.hit(f"device:{row['mac']}", row["created_at"], 86400)
            live.hit("global", row["created_at"], 60)


def old_redis_check(live: LiveStore, who: tuple[str, str, str]) -> None:
    """The checks payments.py made before (portal/domain/payments.py `_check_limits`)."""
    for key in (f"phone:{who[0]}", f"device:{who[1]}"):
        live.last_hit_age(key, NOW)
        live.count(key, NOW, 86400)
    live.count("global", NOW, 60)


def timed(check: Callable[[tuple[str, str, str]], None], targets: list[tuple[str, str, str]]) -> tuple[float, float]:
    took = []
    for who in targets:
        start = time.perf_counter()
        check(who)
        took.append((time.perf_counter() - start) * 1e6)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.99) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args(argv)
    rng = random.Random(12)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "c.toml"
        config.write_text('[[routers]]\nname = "main"\nhost = "192.168.88.1"\n')
        services = SimpleNamespace(settings=load_settings(config, environ={}))
        redis_handle = open_redis("", tmp)
        live = LiveStore(redis_handle.client)
        try:
            for size in args.sizes:
                folder = Path(tmp) / str(size)
                db, rows = fill_ledger(folder, size, rng)
                redis_handle.client.flushall()
                fill_redis(live, rows)
                picks = [rows[rng.randrange(len(rows))] for _ in range(args.checks)]
                targets = [(r["phone"], r["mac"], r["source"]) for r in picks]

                def ledger_check(who: tuple[str, str, str]) -> None:
                    try:
                        limits.check_push(services, phone=who[0], mac=who[1], source=who[2], now=NOW)  # type: ignore[arg-type]
                    except TooManyRequests:
                        pass

                ledger = timed(ledger_check, targets)
                old = timed(lambda who: old_redis_check(live, who), targets)
                per_phone = size / 20000 * 0.95 / DAYS
                figures = "".join(f"{value:>11.0f}" for value in (*ledger, *old))
                lines.append(f"{size:>10,} {per_phone:>12.2f}{figures}")
                db.close()
        finally:
            redis_handle.close()
    print("push limit check: ledger (portal.domain.limits, SQLite) vs the old Redis counters, microseconds per check")
    print(
        f"{'pushes':>10} {'per phone/d':>12} {'ledger p50':>10} {'ledger p99':>10} {'redis p50':>10} {'redis p99':>10}"
    )
    print("\n".join(lines))
    print()
    print(f"reproduce: {shlex.join(['python', 'bench/push_limits.py', *(argv if argv is not None else sys.argv[1:])])}")
    print(
        f"machine:   {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or 'unknown CPU'}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
