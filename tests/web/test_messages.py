"""Every key the product can show a customer has English words and a Swahili translation."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from portal import ROOT
from portal.domain import errors as domain_errors
from portal.mpesa import errors as mpesa_errors
from portal.mpesa import results
from portal.web.messages import MESSAGES, message


def catalog():
    with (ROOT / "translations/sw/LC_MESSAGES/messages.po").open("rb") as po:
        return read_po(po)


def produced_keys() -> set[str]:
    keys = {key for _status, key in results._RESULTS.values()}
    keys |= {
        cls.key
        for cls in vars(mpesa_errors).values()
        if isinstance(cls, type) and issubclass(cls, mpesa_errors.DarajaError)
    }
    keys |= {
        cls.key
        for cls in vars(domain_errors).values()
        if isinstance(cls, type) and issubclass(cls, domain_errors.PortalError)
    }
    return keys | {"mpesa_failed", "mpesa_still_confirming", "payment_unconfirmed"}


@pytest.mark.parametrize("key", sorted(produced_keys()))
def test_every_key_has_english_and_swahili_that_differ(key: str) -> None:
    assert key in MESSAGES, f"{key} has no customer words"
    entry = catalog().get(MESSAGES[key])
    assert entry is not None and entry.string and not entry.fuzzy, f"no Swahili for {key}"
    assert entry.string != MESSAGES[key]


def test_documented_customer_texts() -> None:
    assert message("mpesa_insufficient_funds") == "Your M-Pesa balance was not enough. Top up and try again."
    assert "2 minutes" in message("mpesa_rule_limited")
    assert "not registered for M-Pesa" in message("mpesa_wrong_pin")


def test_an_unknown_key_falls_back_to_the_generic_words() -> None:
    assert message("no_such_key") == MESSAGES["error"]
