"""Constructor argument checks shared by the channels: each failure is a ValueError that
names the argument, so a bad config value points straight at its key."""

from __future__ import annotations

import math
from urllib.parse import urlsplit


def check_text(value: object, name: str) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value.strip()


def check_url(value: object, name: str, *, allow_query: bool) -> str:
    """An absolute ``http(s)://host[:port]/...`` URL with a valid port and no fragment."""
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"{name} must be an absolute http(s) URL")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"{name} has an invalid host or port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute http(s) URL")
    if port == 0:
        raise ValueError(f"{name} has an invalid port")
    if parts.fragment or (parts.query and not allow_query):
        raise ValueError(f"{name} must not carry a {'fragment' if parts.fragment else 'query'}")
    return value


def check_port(value: object, name: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{name} must be a whole number from 1 to 65535")
    return value


def check_timeout(value: object, name: str = "timeout") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= 300
    ):
        raise ValueError(f"{name} must be a number of seconds, more than 0 and at most 300")
    return float(value)
