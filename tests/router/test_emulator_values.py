"""Typed values and the query stack machine, checked against librouteros' own query builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from librouteros.query import And, Key, Or

from router.emulator.query import compile_query, matches
from router.emulator.values import (
    BOOL,
    DURATION,
    ID,
    INT,
    MAC,
    OPTIONAL_DURATION,
    TEXT,
    InvalidValue,
    ValueType,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("300", 300),
        ("5m", 300),
        ("1h", 3600),
        ("1d2h3m", 93780),
        ("1w2d3h4m5s", 788645),
        ("00:05:00", 300),
        ("1d 00:00:01", 86401),
        ("2d00:00:00", 172800),
        ("1500ms", 1),
        ("0s", 0),
    ],
)
def test_durations_parse_every_routeros_spelling(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "1h-2m", "m5", "1:2"])
def test_bad_durations_are_refused(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    "seconds, text", [(0, "0s"), (18, "18s"), (282, "4m42s"), (3600, "1h"), (788645, "1w2d3h4m5s"), (86400 + 5, "1d5s")]
)
def test_durations_print_in_routeros_form(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(0, 10**8))
def test_duration_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_booleans_macs_and_timeouts() -> None:
    assert [BOOL.parse("x", word) for word in ("yes", "true", "no", "false")] == [True, True, False, False]
    assert (BOOL.render(True), BOOL.render(False)) == ("true", "false")
    assert MAC.parse("mac-address", "aa-bb-cc-dd-ee-ff") == "AA:BB:CC:DD:EE:FF"
    assert OPTIONAL_DURATION.render(OPTIONAL_DURATION.parse("t", "none")) == "none"
    with pytest.raises(InvalidValue, match="invalid value of mac-address, mac address required"):
        MAC.parse("mac-address", "aa:bb:cc:dd:ee")
    with pytest.raises(InvalidValue, match="invalid value for argument shared-users"):
        INT.parse("shared-users", "two")


# ----- the query stack against librouteros' builder --------------------------------------
ROWS: list[dict[str, Any]] = [
    {".id": 1, "name": "a", "limit-uptime": 300, "disabled": False, "comment": "p2c:1"},
    {".id": 2, "name": "b", "limit-uptime": 3600, "disabled": True},
    {".id": 3, "name": "c", "disabled": False, "comment": "vip"},
    {".id": 4, "name": "d", "limit-uptime": 86400, "disabled": True, "comment": "p2c:4"},
]
TYPES: dict[str, ValueType] = {"limit-uptime": DURATION, "disabled": BOOL}
Predicate = Callable[[dict[str, Any]], bool]
Words = list[str]


def type_of(name: str) -> ValueType:
    return ID if name == ".id" else TYPES.get(name, TEXT)


def _leaf() -> st.SearchStrategy[tuple[Words, Predicate]]:
    names = st.sampled_from(["a", "b", "c", "d", "zz"])
    seconds = st.sampled_from([0, 300, 3600, 86400])
    comments = st.sampled_from(["p2c:1", "vip", "p2c:4", "none"])
    return st.one_of(
        names.map(lambda n: (list(Key("name") == n), lambda r, n=n: r["name"] == n)),
        names.map(lambda n: (list(Key("name") != n), lambda r, n=n: r["name"] != n)),
        st.booleans().map(lambda b: (list(Key("disabled") == b), lambda r, b=b: r["disabled"] == b)),
        seconds.map(
            lambda s: (
                list(Key("limit-uptime") < format_duration(s)),
                lambda r, s=s: "limit-uptime" in r and r["limit-uptime"] < s,
            )
        ),
        seconds.map(
            lambda s: (list(Key("limit-uptime") > str(s)), lambda r, s=s: "limit-uptime" in r and r["limit-uptime"] > s)
        ),
        st.lists(comments, min_size=2, max_size=3).map(
            lambda cs: (list(Key("comment").In(*cs)), lambda r, cs=cs: r.get("comment") in cs)
        ),
    )


def _combine(children: st.SearchStrategy[tuple[Words, Predicate]]) -> st.SearchStrategy[tuple[Words, Predicate]]:
    def both(pair: tuple[tuple[Words, Predicate], tuple[Words, Predicate]], use_and: bool) -> tuple[Words, Predicate]:
        (left_words, left), (right_words, right) = pair
        if use_and:
            return list(And(iter(left_words), iter(right_words))), lambda r: left(r) and right(r)
        return list(Or(iter(left_words), iter(right_words))), lambda r: left(r) or right(r)

    return st.tuples(st.tuples(children, children), st.booleans()).map(lambda args: both(*args))


@given(st.recursive(_leaf(), _combine, max_leaves=6))
def test_librouteros_queries_select_exactly_what_python_would(query: tuple[Words, Predicate]) -> None:
    words, predicate = query
    steps = compile_query(words)
    assert [row["name"] for row in ROWS if matches(steps, row, type_of)] == [
        row["name"] for row in ROWS if predicate(row)
    ]


@pytest.mark.parametrize(
    "words, expected",
    [
        (["?name"], ["a", "b", "c", "d"]),
        (["?-comment"], ["b"]),
        (["?=name=a", "?=name=b", "?#|"], ["a", "b"]),
        (["?=name=a", "?=name=b", "?#1"], ["a"]),  # index at end: keep element 1 only
        (["?=name=a", "?#0.|"], ["a"]),  # copy of top OR top
        (["?=name=a", "?=name=b", "?#.|&"], []),  # a AND (b OR b)
        (["?>.id=*2"], ["c", "d"]),
    ],
)
def test_raw_stack_operations(words: Words, expected: list[str]) -> None:
    steps = compile_query(words)
    assert [row["name"] for row in ROWS if matches(steps, row, type_of)] == expected
