"""portal/safe_json.py: untrusted JSON decoded under limits, every refusal a JsonRefused with a
short reason. (Over HTTP: tests/web/test_json_body.py and tests/mpesa/test_mpesa_callback_parser.py.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.safe_json import JsonRefused, loads, nesting_depth, sanitize


def test_nesting_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth("1") == 0
    assert nesting_depth('{"a": [1, {"b": []}]}') == 4
    assert nesting_depth('["[[[", "\\"[[["]') == 1
    assert nesting_depth("[" * 10_000, stop_after=5) == 6  # stops counting past the limit


def test_plain_json_reads_as_python() -> None:
    assert loads(b'{"a": [1, 2.5, "x", null, true]}', max_depth=2) == {"a": [1, 2.5, "x", None, True]}
    assert loads('{"amount": 20.00}', max_depth=1, exact_numbers=True) == {"amount": Decimal("20.00")}
    assert loads(b'{"a": 1, "a": 2}', max_depth=1) == {"a": 2}  # repeats allowed unless asked


@pytest.mark.parametrize(
    ("raw", "limits", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, {}, "nested too deeply"),
        (b"[[[1]]]", {"max_depth": 2}, "nested too deeply"),
        (b'{"a": 1}' + b" " * 100, {"max_bytes": 100}, "too large"),
        ("é" * 60, {"max_bytes": 100}, "too large"),  # 120 bytes in UTF-8, 60 characters
        (b'"\xff"', {}, "not UTF-8"),
        ('"\ud800"', {}, "not UTF-8"),
        (b"[NaN]", {}, "NaN or Infinity"),
        (b"[-Infinity]", {}, "NaN or Infinity"),
        (b"[1e999]", {}, "out of range"),
        (b"[" + b"1" * 40 + b"]", {"max_number_chars": 32}, "number too long"),
        (b"[1." + b"5" * 40 + b"]", {"max_number_chars": 32}, "number too long"),
        (b'{"a": 1, "a": 2}', {"unique_keys": True}, "duplicate key"),
        (b"{", {}, "not valid JSON"),
        (b"", {}, "not valid JSON"),
    ],
)
def test_what_is_refused_says_why(raw: bytes | str, limits: dict, reason: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads(raw, **{"max_depth": 16, **limits})
    assert reason in refused.value.reason


def test_sanitize_copies_a_decoded_value_under_the_same_limits() -> None:
    limits = {"max_depth": 3, "max_nodes": 10, "max_number_chars": 5}
    assert sanitize({"a": [1, 2.5, ("x", None)]}, **limits) == {"a": [1, Decimal("2.5"), ["x", None]]}
    for bad, reason in [
        ({"a": {"b": {"c": {"d": 1}}}}, "nested too deeply"),
        (list(range(20)), "too large"),
        ({"a": 10**6}, "number too long"),
        ({"a": float("nan")}, "NaN or Infinity"),
        ({1: "a"}, "key is not text"),
        ({"a": object()}, "type JSON cannot hold"),
    ]:
        with pytest.raises(JsonRefused, match=reason):
            sanitize(bad, **limits)
