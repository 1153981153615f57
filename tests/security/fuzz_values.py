"""Hypothesis strategies for the fuzz suite: extreme values, JSON nested 1 to 2,000 deep, odd
bodies and content types, query strings with broken escapes, odd methods and headers.

Bodies are built as text (``to_json``), never with ``json.dumps`` of a deep structure: Python's
encoder would hit its own recursion limit long before the server's parser is tested.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st


class RawJson(str):
    """JSON text put into a body as it is: numbers too long to read, NaN, lone surrogates."""


@dataclass(frozen=True)
class Deep:
    """A value nested ``depth`` deep; ``kinds`` ("list"/"object") are used in turn, level by level."""

    depth: int
    kinds: tuple[str, ...]
    leaf: Any


def to_json(value: Any) -> str:
    """JSON text for ``value``; NaN and Infinity come out as Python writes them (not JSON)."""
    if isinstance(value, RawJson):
        return str(value)
    if isinstance(value, Deep):
        kinds = [value.kinds[level % len(value.kinds)] for level in range(value.depth)]
        opening = "".join("[" if kind == "list" else '{"k":' for kind in kinds)
        closing = "".join("]" if kind == "list" else "}" for kind in reversed(kinds))
        return opening + to_json(value.leaf) + closing
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(key))}:{to_json(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


# -- values ----------------------------------------------------------------------------------

SPECIAL_STRINGS = [
    *("", " ", "0", "-1", "-0", "+1", "1.5", "1e999", "0x1F", "1_000", "00000000001", "9" * 400),
    *("NaN", "nan", "Infinity", "-Infinity", "inf", "None", "null", "true", "undefined"),
    *("²", "٣", "١٢٣", "１２", "߁", "Ⅻ", "½", "𝟗", "᠑"),  # digits to str.isdigit, not all to int()
    *("\x00", "a\x00b", "\u202eevil", "\ufeff", "😀" * 60, "\r\nX-Injected: 1", "\t", "A" * 3000),
    *("../../etc/passwd", "%00", "%ff", "<script>alert(1)</script>", "{{7*7}}", "' OR '1'='1' --"),
    *("0712345678", "+254712345678", "254712345678", "07123456789012345", "0111111111"),
    *("AA:BB:CC:00:00:01", "aa-bb-cc-00-00-01", "ZZ:ZZ:ZZ:ZZ:ZZ:ZZ", "10.5.50.11", "::1", "999.999.999.999"),
    *("main", "sw", "en", "xx-YY", "sw;q=0.9", "*", "0001-01-01", "9999-12-31", "2026-02-30", "2026-03-01"),
    *("ws_CO_01032026120000123712345678", "UC1ABCDEFG", "http://example.com/", "javascript:alert(1)"),
]
RAW_JSON = [
    *("9" * 5000, "-" + "9" * 4400, "1e999", "-1e999", "1E+400", "NaN", "Infinity", "-Infinity", "-0"),
    *("0.0000000000000000000000000001", "123456789012345678901234567890", "1.7976931348623157e309"),
    *('"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"\\uffff"', '"' + "\\u0041" * 500 + '"'),
]

strings = st.one_of(
    st.sampled_from(SPECIAL_STRINGS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=1, max_value=12_000).map(lambda n: "7" * n),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # NaN and +-Infinity included: written as Python writes them
    strings,
    st.sampled_from(RAW_JSON).map(RawJson),
)
shallow = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)),
    max_leaves=8,
)


def past_the_recursion_limit(extra: int) -> int:
    """A depth just around (or past) the recursion limit in force while the example runs.

    Production runs at Python's default limit of 1,000; during a Hypothesis example the limit
    is raised to about 2,000 more than the stack in use (for the whole process, so for the
    server's threads too), and a body only 1,000 deep would not show the bug.
    """
    return sys.getrecursionlimit() + extra


deep = st.builds(
    Deep,
    depth=st.one_of(
        st.integers(1, 40),
        st.integers(980, 1020),
        st.integers(1, 2000),
        st.integers(-40, 1500).map(past_the_recursion_limit),
    ),
    kinds=st.lists(st.sampled_from(["list", "object"]), min_size=1, max_size=3).map(tuple),
    leaf=scalars,
)
json_values = st.one_of(shallow, deep)

DIGIT_SCRIPTS = ["٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９"]  # Arabic-Indic, Devanagari, full width
EXTREME_DAYS = ["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "99999-01-01"]
EXTREME_NUMBERS = [
    *("0", "-1", "+1", "1.5", "1e3", "²", "½"),
    *("2147483648", "9223372036854775808", "9" * 400, "9" * 5000),
]
EVERYWHERE = ["", "\x00", "²", "٣", "9" * 400, "A" * 3000, "-1", "%", "😀" * 40]


def extremes_like(value: str) -> list[str]:
    """Values of the same kind as ``value`` (a day, a number, a word) at and past their limits."""
    scripts = [value.translate(str.maketrans("0123456789", digits)) for digits in DIGIT_SCRIPTS]
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        kind = [*EXTREME_DAYS, *scripts, value.replace("-", ""), value[:7]]
    elif re.fullmatch(r"[0-9]+", value):
        kind = [*EXTREME_NUMBERS, *scripts]
    else:
        kind = [value * 200, value.upper(), f" {value} "]
    return list(dict.fromkeys([*kind, *EVERYWHERE]))


def like(value: str) -> st.SearchStrategy[str]:
    """Hypothesis' way to :func:`extremes_like`: the list, plus dates, numbers or text around it."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        near = st.dates().map(date.isoformat)
    elif re.fullmatch(r"[0-9]+", value):
        near = st.integers(min_value=-(2**70), max_value=2**70).map(str)
    else:
        near = st.text(max_size=3).map(lambda noise: value + noise)
    return st.one_of(st.sampled_from(extremes_like(value)), near)


EXTREME_JSON: list[Any] = [
    *(None, True, False, 0, -1, 2**64, -(2**63) - 1, 1.5, 1e308, -0.0, "", "²", "٣", "\x00", "A" * 3000),
    *([], {}, [1, 2], {"a": None}, ["0712345678"], {"$gt": ""}),
    *(RawJson(text) for text in ("NaN", "Infinity", "1e999", "9" * 5000, '"\\ud800"', "-0")),
    Deep(1000, ("list",), 1),
    Deep(2000, ("object",), "x"),
]


def extreme_json_values() -> list[Any]:
    """:data:`EXTREME_JSON` plus bodies nested just past the recursion limit in force now."""
    limit = sys.getrecursionlimit()
    return [*EXTREME_JSON, Deep(limit + 10, ("list",), 1), Deep(limit + 300, ("list", "object"), None)]


# -- requests --------------------------------------------------------------------------------

ODD_METHODS = ["PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "FOO"]
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/problem+json"]
ODD_TYPES = [
    *("application/json; charset=utf-16", "application/json; charset=nope", "text/json", "text/plain"),
    *("application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-16"),
    *("multipart/form-data", "multipart/form-data; boundary=", "application/xml", "application/octet-stream"),
    *("", "*/*", "application/json, text/html"),
]
content_types = st.one_of(st.sampled_from(JSON_TYPES), st.sampled_from(ODD_TYPES))
BROKEN_ESCAPES = ["%", "%F", "%FF", "%E2%98", "%C0%AF", "%00", "%2F..%2F", "+", "%25"]


def render_pairs(values: dict[str, str], breaks: list[str], separator: str) -> str:
    """``name=value&...`` as a browser would send it, with a broken escape or invalid UTF-8
    appended to some names and values (``breaks`` is used in turn, "" for none)."""
    extra = itertools.cycle(breaks or [""])
    parts = [
        f"{quote(name, safe='')}{next(extra)}={quote(value, safe='')}{next(extra)}" for name, value in values.items()
    ]
    return separator.join(parts)


def pairs_text(fields: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[str]:
    breaks = st.lists(st.sampled_from(["", "", "", "", "", "", "", "", *BROKEN_ESCAPES]), min_size=1, max_size=16)
    return st.builds(render_pairs, fields, breaks, st.sampled_from(["&", "&", "&", ";", "&&"]))


def multipart(fields: dict[str, str], file_bytes: bytes, *, broken: bool, nameless: bool = False) -> tuple[str, bytes]:
    """A multipart/form-data body with the fields and one file; ``broken`` cuts it off inside
    the file, ``nameless`` adds a part whose Content-Disposition has no name."""
    boundary = "fuzzboundary7MA4YWxk"
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode(
            "utf-8", "surrogatepass"
        )
        for name, value in fields.items()
    ]
    if nameless:
        chunks.append(f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nwho am I\r\n".encode())
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="../x.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + file_bytes
        + (b"" if broken else b"\r\n")
    )
    if not broken:
        chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


ACCEPTS = ["text/html", "application/json", "*/*", "application/json;q=0.9, text/html;q=abc", "", "x" * 300]
LANGUAGES = ["sw", "en", "sw-KE,sw;q=0.9", "*", "xx", ";q=", "sw;q=NaN", "en;q=1e999", "٣", "a" * 500]
extra_headers = st.fixed_dictionaries(
    {},
    optional={
        "Accept": st.sampled_from(ACCEPTS),
        "Accept-Language": st.sampled_from(LANGUAGES),
        "X-Forwarded-For": st.sampled_from(["196.201.214.200", "1.1.1.1, 2.2.2.2", "garbage", "::1", ""]),
        "Referer": st.sampled_from(["http://evil.example/", "", "\u00e9"]),
    },
)
