"""Phone number normalisation and masking."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.mpesa.phones import (
    SAFARICOM_PREFIXES,
    InvalidPhone,
    NotSafaricom,
    mask_phone,
    normalize_phone,
)

MSISDN = re.compile(r"^254[17]\d{8}$")


@pytest.mark.parametrize(
    "typed",
    [
        "0712345678",
        "712345678",
        "254712345678",
        "+254712345678",
        "+254 712 345 678",
        "0712-345-678",
        "0712 345 678",
        "2540712345678",
        "+2540712345678",
        "00254712345678",
        "  0712345678  ",
        "\t+254-712-345-678\n",
        "(0712) 345 678",
        "０７１２３４５６７８",  # full-width
        "٠٧١٢٣٤٥٦٧٨",  # Arabic-Indic
        "۰۷۱۲۳۴۵۶۷۸",  # Extended Arabic-Indic (Persian keyboards)
        "+２５４ ７１２ ３４５ ６７８",
    ],
)
def test_every_common_spelling_gives_the_same_msisdn(typed: str) -> None:
    assert normalize_phone(typed) == "254712345678"


@pytest.mark.parametrize("typed", ["0112345678", "112345678", "+254112345678", "254112345678"])
def test_01xx_safaricom_numbers_are_accepted(typed: str) -> None:
    assert normalize_phone(typed) == "254112345678"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "abc",
        "12345",
        "0812345678",  # not a mobile range
        "+255712345678",  # Tanzania
        "+1 712 345 6789",
        "07123456789",  # one digit too many
        "071234567",  # one digit too few
        "0712 345 67x",
        "0712345678#",
        "*144#",
        "+2547123456789",
        "0712+345678",
        "²712345678",  # a superscript is a digit but not a decimal digit
        "0" * 41,
    ],
)
def test_garbage_is_invalid(typed: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalize_phone(typed)
    assert caught.value.key == "phone_invalid"
    assert not isinstance(caught.value, NotSafaricom)


@pytest.mark.parametrize("not_text", [None, 712345678, b"0712345678"])
def test_non_text_is_invalid(not_text: object) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(not_text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("typed", "msisdn"),
    [
        ("0733123456", "254733123456"),  # Airtel
        ("0100123456", "254100123456"),  # Airtel 010x
        ("0771234567", "254771234567"),  # Telkom
        ("0744123456", "254744123456"),  # 0744 is not in the Safaricom table
    ],
)
def test_other_networks_raise_not_safaricom_with_the_number(typed: str, msisdn: str) -> None:
    with pytest.raises(NotSafaricom) as caught:
        normalize_phone(typed)
    assert caught.value.key == "phone_not_safaricom"
    assert caught.value.msisdn == msisdn
    assert isinstance(caught.value, InvalidPhone)


@pytest.mark.parametrize(
    "national",
    ["700", "729", "740", "743", "745", "746", "748", "757", "759", "768", "769", "790", "799", "110", "115"],
)
def test_safaricom_table_edges(national: str) -> None:
    assert normalize_phone("0" + national + "123456") == "254" + national + "123456"


def test_the_prefix_table_is_configurable_in_any_spelling() -> None:
    assert normalize_phone("0733123456", safaricom_prefixes=["0733"]) == "254733123456"
    assert normalize_phone("0733123456", safaricom_prefixes=["254733"]) == "254733123456"
    with pytest.raises(NotSafaricom):
        normalize_phone("0712345678", safaricom_prefixes=["733"])


def test_an_empty_prefix_table_turns_the_network_check_off() -> None:
    assert normalize_phone("0733123456", safaricom_prefixes=()) == "254733123456"


def test_default_table_has_the_documented_ranges() -> None:
    assert len(SAFARICOM_PREFIXES) == 30 + 7 + 5 + 10 + 6
    assert "744" not in SAFARICOM_PREFIXES and "730" not in SAFARICOM_PREFIXES


@pytest.mark.parametrize(
    ("msisdn", "masked"),
    [("254712345678", "2547****5678"), ("254112345678", "2541****5678"), ("12", "****")],
)
def test_mask_phone_hides_the_middle(msisdn: str, masked: str) -> None:
    assert mask_phone(msisdn) == masked


# -- properties --------------------------------------------------------------------------------

national_numbers = st.from_regex(r"^[17][0-9]{8}$", fullmatch=True)
separators = st.sampled_from(["", " ", "-", ".", "  "])
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _spell(national: str, style: int, sep: str, digits: int) -> str:
    groups = [national[:3], national[3:6], national[6:]]
    body = sep.join(groups)
    spelled = [
        "0" + body,
        body,
        "254" + sep + body,
        "+254" + sep + body,
        "+254" + sep + "0" + body,
        "00254" + sep + body,
        "2540" + body,
    ][style]
    if digits == 1:
        spelled = spelled.translate(FULL_WIDTH)
    elif digits == 2:
        spelled = spelled.translate(ARABIC_INDIC)
    return spelled


@settings(max_examples=300, deadline=None)
@given(
    national=national_numbers,
    styles=st.lists(st.integers(0, 6), min_size=2, max_size=4),
    sep=separators,
    digits=st.integers(0, 2),
    padding=st.sampled_from(["", " ", "\t", " \n"]),
)
def test_all_spellings_of_one_number_agree(
    national: str, styles: list[int], sep: str, digits: int, padding: str
) -> None:
    results = {
        normalize_phone(padding + _spell(national, style, sep, digits) + padding, safaricom_prefixes=())
        for style in styles
    }
    assert results == {"254" + national}


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30))
def test_any_text_gives_a_valid_msisdn_or_invalid_phone(text: str) -> None:
    try:
        result = normalize_phone(text)
    except InvalidPhone:
        return
    assert MSISDN.match(result)


@settings(max_examples=200, deadline=None)
@given(
    national=national_numbers,
    junk=st.text(
        alphabet=st.characters(categories=["Lu", "Ll", "So", "Po"], exclude_characters="-.()/"), min_size=1, max_size=3
    ),
    position=st.integers(0, 9),
)
def test_letters_or_symbols_anywhere_make_it_invalid(national: str, junk: str, position: int) -> None:
    typed = "0" + national
    with pytest.raises(InvalidPhone):
        normalize_phone(typed[:position] + junk + typed[position:], safaricom_prefixes=())
