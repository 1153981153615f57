"""Typed RouterOS values: how the router parses what the API sends and prints what it stores.

RouterOS is strict on input and canonical on output: booleans go in as
``yes/no/true/false`` and come out as ``true/false``; durations go in as ``1h``,
``1d2h3m``, ``00:05:00`` or bare seconds and come out as ``1w2d3h4m5s``; MACs come out
upper-case. Queries compare *typed* values, so ``?=disabled=no`` matches a row that
prints ``disabled=false``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, ClassVar


class InvalidValue(Exception):
    """A value the router would refuse; ``message`` is the router's trap text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValueType:
    """Text: stored and printed as given, ordered lexicographically."""

    name = "text"

    def parse(self, field: str, text: str) -> Any:
        return text

    def render(self, value: Any) -> str:
        return str(value)

    def order_key(self, value: Any) -> Any:
        return self.render(value)

    def invalid(self, field: str) -> InvalidValue:
        return InvalidValue(f"invalid value for argument {field}")


class BoolType(ValueType):
    name = "bool"
    _WORDS: ClassVar[dict[str, bool]] = {"yes": True, "true": True, "no": False, "false": False}

    def parse(self, field: str, text: str) -> bool:
        try:
            return self._WORDS[text.strip().lower()]
        except KeyError:
            raise self.invalid(field) from None

    def render(self, value: Any) -> str:
        return "true" if value else "false"

    def order_key(self, value: Any) -> Any:
        return bool(value)


class IntType(ValueType):
    name = "int"

    def parse(self, field: str, text: str) -> int:
        text = text.strip()
        if not re.fullmatch(r"-?\d+", text):
            raise self.invalid(field)
        return int(text)

    def order_key(self, value: Any) -> Any:
        return int(value)


class LimitType(IntType):
    """An integer that may also be ``unlimited`` (shared-users, addresses-per-mac); 0 = unlimited."""

    name = "limit"

    def parse(self, field: str, text: str) -> int:
        if text.strip().lower() == "unlimited":
            return 0
        return super().parse(field, text)

    def render(self, value: Any) -> str:
        return "unlimited" if int(value) == 0 else str(value)


_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNITS_RE = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_CLOCK_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?\s*(\d+):(\d{1,2}):(\d{1,2})(?:\.\d+)?")


def parse_duration(text: str) -> int | None:
    """Seconds for ``1h``, ``1d2h3m``, ``1w2d``, ``00:05:00``, ``1d 00:05:00`` or ``300``; None if invalid."""
    text = text.strip().lower()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    clock = _CLOCK_RE.fullmatch(text)
    if clock:
        weeks, days, hours, minutes, seconds = (int(part or 0) for part in clock.groups())
        return weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds
    position, total = 0, 0
    for match in _UNITS_RE.finditer(text):
        if match.start() != position:
            return None
        number, unit = int(match.group(1)), match.group(2)
        total += number // 1000 if unit == "ms" else number * _UNIT_SECONDS[unit]
        position = match.end()
    return total if position == len(text) else None


def format_duration(seconds: float) -> str:
    """RouterOS form: ``1w2d3h4m5s`` with zero parts left out, ``0s`` for nothing."""
    remaining = max(0, int(seconds))
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


class DurationType(ValueType):
    name = "duration"

    def parse(self, field: str, text: str) -> int:
        seconds = parse_duration(text)
        if seconds is None:
            raise self.invalid(field)
        return seconds

    def render(self, value: Any) -> str:
        return format_duration(value)

    def order_key(self, value: Any) -> Any:
        return int(value)


class OptionalDurationType(DurationType):
    """A timeout that may be switched off: ``none`` in and out, stored as 0."""

    name = "optional-duration"

    def parse(self, field: str, text: str) -> int:
        if text.strip().lower() == "none":
            return 0
        return super().parse(field, text)

    def render(self, value: Any) -> str:
        return "none" if int(value) == 0 else format_duration(value)


_MAC_RE = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}", re.IGNORECASE)


def normalize_mac(text: str) -> str | None:
    """``AA:BB:CC:DD:EE:FF`` for colon or dash spellings, None if it is no MAC."""
    text = text.strip()
    if not _MAC_RE.fullmatch(text):
        return None
    return text.replace("-", ":").upper()


class MacType(ValueType):
    name = "mac"

    def parse(self, field: str, text: str) -> str:
        mac = normalize_mac(text)
        if mac is None:
            raise InvalidValue(f"invalid value of {field}, mac address required")
        return mac


@functools.lru_cache(maxsize=16_384)
def _canonical_ip(text: str) -> str:
    """``ipaddress``'s spelling of an address (ValueError if it is none), remembered: the same
    few thousand devices' addresses come in every login and host query (parsing them anew
    was a tenth of a login's CPU)."""
    return str(ipaddress.ip_address(text.strip()))


class IpType(ValueType):
    name = "ip"

    def parse(self, field: str, text: str) -> str:
        try:
            return _canonical_ip(text)
        except ValueError:
            raise self.invalid(field) from None

    def order_key(self, value: Any) -> Any:
        address = ipaddress.ip_address(value)
        return (address.version, int(address))


class IpPrefixType(IpType):
    """An address or a network (``10.0.0.0/8``), as in walled-garden rules."""

    name = "ip-prefix"

    def parse(self, field: str, text: str) -> str:
        text = text.strip()
        try:
            if "/" in text:
                return str(ipaddress.ip_network(text, strict=False))
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise self.invalid(field) from None

    def order_key(self, value: Any) -> Any:
        network = ipaddress.ip_network(value, strict=False)
        return (network.version, int(network.network_address), network.prefixlen)


class EnumType(ValueType):
    name = "enum"

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, field: str, text: str) -> str:
        if text not in self.choices:
            raise self.invalid(field)
        return text


class FlagSetType(ValueType):
    """A comma-separated subset of fixed words, e.g. ``login-by=http-chap,cookie``."""

    name = "flag-set"

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, field: str, text: str) -> tuple[str, ...]:
        words = [word.strip() for word in text.split(",") if word.strip()]
        if any(word not in self.choices for word in words):
            raise self.invalid(field)
        return tuple(choice for choice in self.choices if choice in words)

    def render(self, value: Any) -> str:
        return ",".join(value)


class IdType(ValueType):
    """``.id`` values: ``*`` + upper-case hex, compared as numbers."""

    name = "id"

    def parse(self, field: str, text: str) -> int:
        match = re.fullmatch(r"\*([0-9a-fA-F]+)", text.strip())
        if not match:
            raise self.invalid(field)
        return int(match.group(1), 16)

    def render(self, value: Any) -> str:
        return format_id(value)

    def order_key(self, value: Any) -> Any:
        return int(value)


def format_id(number: int) -> str:
    return f"*{number:X}"


TEXT = ValueType()
BOOL = BoolType()
INT = IntType()
LIMIT = LimitType()
DURATION = DurationType()
OPTIONAL_DURATION = OptionalDurationType()
MAC = MacType()
IP = IpType()
IP_PREFIX = IpPrefixType()
ID = IdType()
