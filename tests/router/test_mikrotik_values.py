"""RouterOS value conversions used by the MikroTik adapter."""

from __future__ import annotations

import logging

import pytest

from router.ros_connection import RouterConnection
from router.ros_values import as_bool, as_text, format_duration, parse_duration, redact


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (18, "18s"), (300, "5m"), (3600, "1h"), (3900, "1h5m"), (90061, "1d1h1m1s"), (1_209_600, "2w")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("4m42s", 282),
        ("00:05:00", 300),
        ("1d02:00:00", 93_600),
        (300, 300),
        ("300", 300),
        ("1s500ms", 1),
        ("", 0),
        (None, 0),
        ("garbage", 0),
    ],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


def test_negative_duration_is_refused():
    with pytest.raises(ValueError):
        format_duration(-1)


def test_reply_values_are_read_back_as_the_router_printed_them():
    assert as_text(254712345678) == "254712345678"
    assert as_text(True) == "true" and as_text(None) == ""
    assert as_bool("true") and as_bool(True) and as_bool("yes") and not as_bool("false")
    assert redact({"name": "AA", "password": "x"}) == {"name": "AA", "password": "***"}


def test_librouteros_debug_log_is_redacted(caplog):
    """librouteros logs every word it sends; our filter masks passwords in it."""
    assert RouterConnection  # importing the adapter installs the filter
    caplog.set_level(logging.DEBUG, logger="librouteros")
    logging.getLogger("librouteros").debug("<--- %s", "'=password=hunter2'")
    logging.getLogger("librouteros").debug(f"<--- {'=password=it s'!r}")

    assert "hunter2" not in caplog.text and "it s" not in caplog.text
    assert "=password=***" in caplog.text
