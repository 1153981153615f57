"""Every date, number and page parameter in the admin is bounded: a clear 400 in the admin
layout, never a 500 (issue 12). Over a real socket, signed in as the owner.

Before the bound, ``/admin/payments?from=0001-01-01`` and ``?to=9999-12-31`` answered 500:
local midnight of those days is outside what ``datetime`` can hold (OverflowError).
"""

from __future__ import annotations

import pytest

from portal.domain.admin_lists import FIRST_DAY, LAST_DAY, MAX_PAGE
from portal.web.admin import whole_number
from tests.conftest import AdminOverHttp

OUT_OF_RANGE = f"must be between {FIRST_DAY} and {LAST_DAY}"
NOT_A_DATE = "must be a date like 2026-03-01"
NOT_A_PAGE = "page must be a whole number from 1"


@pytest.mark.parametrize(
    "query, problem",
    [
        ("from=0001-01-01", f"from date {OUT_OF_RANGE}"),
        ("to=9999-12-31", f"to date {OUT_OF_RANGE}"),
        ("from=0001-01-01&to=9999-12-31", f"from date {OUT_OF_RANGE}"),
        ("from=1999-12-31", f"from date {OUT_OF_RANGE}"),
        ("to=3000-01-01", f"to date {OUT_OF_RANGE}"),
        ("from=20260301", f"from date {NOT_A_DATE}"),  # Python reads it; the form never sends it
        ("to=2026-W09-7", f"to date {NOT_A_DATE}"),
        ("from=%D9%A2%D9%A0%D9%A2%D9%A6-03-01", f"from date {NOT_A_DATE}"),  # Arabic-Indic digits
        ("from=2026-02-30", f"from date {NOT_A_DATE}"),
        (f"page={MAX_PAGE + 1}", NOT_A_PAGE),
        ("page=-1", NOT_A_PAGE),
    ],
)
def test_payment_filters_out_of_bounds_are_a_400_with_the_reason(
    admin_http: AdminOverHttp, query: str, problem: str
) -> None:
    answer = admin_http.get(f"/admin/payments?{query}")
    assert answer.status_code == 400, (query, answer.status_code)
    assert problem in answer.text
    assert 'action="/admin/logout"' in answer.text  # the admin layout, signed in


def test_the_first_and_last_allowed_days_work(admin_http: AdminOverHttp) -> None:
    answer = admin_http.get(f"/admin/payments?from={FIRST_DAY}&to={LAST_DAY}")
    assert answer.status_code == 200, answer.text[:300]
    assert "No payments match." in answer.text


@pytest.mark.parametrize("path", ["/admin/callbacks", "/admin/audit", "/admin/payments"])
@pytest.mark.parametrize("page", ["0", str(MAX_PAGE + 1), "9" * 30, "%C2%B2", "1.5", "%00"])
def test_page_numbers_out_of_bounds_are_a_400(admin_http: AdminOverHttp, path: str, page: str) -> None:
    answer = admin_http.get(f"{path}?page={page}")
    assert answer.status_code == 400, (path, page, answer.status_code)
    assert NOT_A_PAGE in answer.text


@pytest.mark.parametrize("path", ["/admin/callbacks", "/admin/audit", "/admin/payments"])
def test_the_last_allowed_page_is_an_empty_page(admin_http: AdminOverHttp, path: str) -> None:
    assert admin_http.get(f"{path}?page={MAX_PAGE}").status_code == 200


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1", 1),
        (" 42 ", 42),
        (60, 60),
        ("0", None),  # below the range
        ("1441", None),  # above it
        ("", None),
        (None, None),
        ("²", None),  # a digit to str.isdigit, not to int()
        ("٣", None),  # an Arabic-Indic three: int() reads it, a form never sends it
        ("１２", None),  # full-width digits
        ("9" * 5000, None),  # past what int() reads from text
        ("-1", None),
        ("1.0", None),
        ("1e3", None),
    ],
)
def test_whole_number_reads_only_ascii_digits_in_range(raw: object, expected: int | None) -> None:
    assert whole_number(raw, 1, 1440) == expected
