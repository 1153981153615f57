"""How the admin pages write times, money, durations and phone numbers."""

from __future__ import annotations

from datetime import datetime

from portal.clock import to_nairobi
from portal.domain.packages import format_duration


def time_text(moment: datetime | None, with_seconds: bool = False) -> str:
    """Venue-local (Nairobi) time, e.g. ``2026-03-01 12:00``; a dash for none."""
    if moment is None:
        return "—"
    return to_nairobi(moment).strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def money(amount: int | None) -> str:
    return f"KSh {int(amount or 0):,}"


def duration_left(seconds: int | float) -> str:
    """``3900`` -> ``1h 05m``; ``90`` -> ``1m 30s``; days for long packages."""
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def duration(seconds: int) -> str:
    return format_duration(int(seconds))


def phone(msisdn: str | None) -> str:
    """``254712345678`` -> ``0712 345 678``: how the owner and the customer say it."""
    text = str(msisdn or "")
    if len(text) == 12 and text.startswith("254") and text.isdigit():
        local = "0" + text[3:]
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    return text


def size(byte_count: int | None) -> str:
    """Bytes as the package form writes them (decimal units): ``500MB``, ``2GB``; or none."""
    if not byte_count:
        return "none"
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2)):
        if byte_count % factor == 0:
            return f"{byte_count // factor}{unit}"
    return str(byte_count)
