"""RouterOS value conventions: durations, booleans and text as the API prints them.

librouteros casts every reply value (``"300"`` becomes ``300``, ``"yes"``/``"true"``
become ``True``), so everything read back from the router goes through these helpers
before it is compared or stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_UNIT_SECONDS = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_CLOCK_FORM = re.compile(r"^(?:(\d+)d)?(\d+):(\d{2}):(\d{2})(?:\.\d+)?$")

# Attribute names whose values never go to a log.
SECRET_ATTRIBUTES = frozenset({"password", "response", "passphrase", "secret"})


def format_duration(seconds: int) -> str:
    """Return RouterOS duration syntax: ``3900`` -> ``"1h5m"``, ``0`` -> ``"0s"``."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    parts = []
    remaining = int(seconds)
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_duration(value: object) -> int:
    """Return whole seconds for a RouterOS duration (``1w2d3h4m5s``, ``00:05:00``, ``300``).

    Unknown or empty values count as 0: a counter we cannot read is not a reason to fail
    a listing.
    """
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if not text:
        return 0
    if text.isascii() and text.isdigit():
        return int(text)
    clock = _CLOCK_FORM.match(text)
    if clock:
        days, hours, minutes, secs = (int(part or 0) for part in clock.groups())
        return days * 86_400 + hours * 3_600 + minutes * 60 + secs
    total = 0.0
    for number, unit in _DURATION_PART.findall(text):
        total += float(number) * _UNIT_SECONDS[unit]
    return int(total)


def as_text(value: object) -> str:
    """Return a reply value as the router printed it (undo librouteros' int/bool casts)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def as_bool(value: object) -> bool:
    """Return a RouterOS flag/boolean reply value as a bool (``true``/``yes`` -> True)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "yes"}


def as_int(value: object) -> int:
    """Return a counter as int; missing or unreadable counters count as 0."""
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return int(str(value))
    except ValueError:
        return 0


def redact(attrs: Mapping[str, object]) -> dict[str, object]:
    """Return a copy of command attributes that is safe to log."""
    return {key: ("***" if key in SECRET_ATTRIBUTES else value) for key, value in attrs.items()}
