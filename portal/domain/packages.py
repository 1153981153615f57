"""Packages: what venue owners sell. Shared by the CLI and the admin UI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portal.clock import Clock
from portal.domain.errors import BadInput, NotFound
from portal.ledger.models import Package
from portal.mpesa.client import MAX_AMOUNT

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
RATE_PART = r"\d+(\.\d+)?[kKMG]?"
MAX_PRICE = MAX_AMOUNT  # the largest amount one M-Pesa payment may carry (the Daraja client refuses more)
MAX_DURATION = 366 * 86400
MAX_DATA_CAP = 1000 * 1000**4  # far beyond any package, far below a 64-bit column


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``1h``, ``7d``, ``1h30m`` -> seconds. ValueError with a plain reason."""
    raw = str(text).strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+)([smhdw])", raw)
    if not raw or not parts or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"duration {text!r} not understood; use e.g. 90s, 30m, 1h or 7d")
    seconds = sum(int(n) * DURATION_UNITS[u] for n, u in parts)
    if not 60 <= seconds <= MAX_DURATION:
        raise ValueError("duration must be between 1 minute and 366 days")
    return seconds


def format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_size(text: str) -> int:
    """``500MB``, ``2GB``, ``1000000`` -> bytes (decimal units, as RouterOS counts)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", str(text).upper())
    if not match or match.group(2) not in SIZE_UNITS:
        raise ValueError(f"data cap {text!r} not understood; use e.g. 500MB or 2GB")
    value = int(float(match.group(1)) * SIZE_UNITS[match.group(2)])
    if value < 1_000_000:
        raise ValueError("data cap must be at least 1MB")
    if value > MAX_DATA_CAP:
        raise ValueError("data cap must be at most 1000TB")
    return value


def parse_rate_limit(text: str) -> str:
    """``2M/2M`` (upload/download as RouterOS writes it) or a single ``2M`` for both."""
    raw = str(text).strip()
    if len(raw) > 19:
        raise ValueError("speed limit is too long; use e.g. 2M/2M")
    if re.fullmatch(RATE_PART, raw):
        return f"{raw}/{raw}"
    if re.fullmatch(f"{RATE_PART}/{RATE_PART}", raw):
        return raw
    raise ValueError(f"speed limit {text!r} not understood; use e.g. 2M/2M (upload/download)")


def parse_price(value: Any) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text):
        raise ValueError(f"price {value!r} must be a whole number of shillings")
    price = int(text)
    if not 1 <= price <= MAX_PRICE:
        raise ValueError(f"price must be between 1 and {MAX_PRICE} shillings")
    return price


def parse_devices(value: Any) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= 20:
        raise ValueError("devices must be a whole number from 1 to 20")
    return int(text)


def parse_name(value: Any, field: str = "name") -> str:
    text = " ".join(str(value or "").split())
    if not 1 <= len(text) <= 60:
        raise ValueError(f"{field} must be 1 to 60 characters")
    return text


def parse_sort_order(value: Any) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError("order must be a whole number")
    if len(text.lstrip("-")) > 6:
        raise ValueError("order must be between -999999 and 999999")
    return int(text)


@dataclass(frozen=True)
class PackageChanges:
    """Validated values; None means "leave as it is"."""

    name: str | None = None
    name_sw: str | None = None
    price: int | None = None
    duration_seconds: int | None = None
    data_cap_bytes: int | None = None
    rate_limit: str | None = None
    devices: int | None = None
    sort_order: int | None = None
    clear_data_cap: bool = False
    clear_rate_limit: bool = False


def validate_changes(raw: dict[str, Any]) -> PackageChanges:
    """Turn text values (CLI flags, form fields) into PackageChanges; BadInput lists problems."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    parsers = {
        "name": parse_name,
        "name_sw": lambda v: parse_name(v, "Swahili name") if str(v).strip() else "",
        "price": parse_price,
        "duration": parse_duration,
        "data_cap": parse_size,
        "rate_limit": parse_rate_limit,
        "devices": parse_devices,
        "sort_order": parse_sort_order,
    }
    targets = {"duration": "duration_seconds", "data_cap": "data_cap_bytes"}
    for key, parser in parsers.items():
        if raw.get(key) in (None, ""):
            continue
        if key in ("data_cap", "rate_limit") and str(raw[key]).strip().lower() in ("none", "off", "0"):
            values[f"clear_{key}"] = True
            continue
        try:
            values[targets.get(key, key)] = parser(raw[key])
        except ValueError as err:
            problems.append(str(err))
    if problems:
        raise BadInput("package_values", problems=problems)
    return PackageChanges(**values)


def add_package(changes: PackageChanges, clock: Clock) -> Package:
    missing = [f for f in ("name", "price", "duration_seconds") if getattr(changes, f) is None]
    if missing:
        names = {"duration_seconds": "duration"}
        raise BadInput("package_values", problems=[f"{names.get(m, m)} is required" for m in missing])
    return Package.create(
        name=changes.name,
        name_sw=changes.name_sw or "",
        price=changes.price,
        duration_seconds=changes.duration_seconds,
        data_cap_bytes=changes.data_cap_bytes,
        rate_limit=changes.rate_limit,
        devices=changes.devices or 1,
        sort_order=changes.sort_order or 0,
        created_at=clock.now(),
    )


def get_package(package_id: Any) -> Package:
    text = str(package_id).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise NotFound("package_not_found")
    pid = int(text)
    package = Package.get_or_none(Package.id == pid)
    if package is None:
        raise NotFound("package_not_found")
    return package


def update_package(package: Package, changes: PackageChanges) -> Package:
    for field in (
        "name",
        "name_sw",
        "price",
        "duration_seconds",
        "data_cap_bytes",
        "rate_limit",
        "devices",
        "sort_order",
    ):
        value = getattr(changes, field)
        if value is not None:
            setattr(package, field, value)
    if changes.clear_data_cap:
        package.data_cap_bytes = None
    if changes.clear_rate_limit:
        package.rate_limit = None
    package.save()
    return package


def set_active(package: Package, active: bool) -> Package:
    package.active = active
    package.save()
    return package


def listed_packages(include_inactive: bool = False) -> list[Package]:
    query = Package.select().order_by(Package.sort_order, Package.price, Package.id)
    if not include_inactive:
        query = query.where(Package.active == True)  # noqa: E712
    return list(query)
