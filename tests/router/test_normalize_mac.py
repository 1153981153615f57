"""normalize_mac (router/__init__.py): every common spelling to one form, anything else refused."""

from __future__ import annotations

import pytest

from router import normalize_mac


@pytest.mark.parametrize(
    "spelling",
    [
        "02:5A:00:00:0F:A2",
        "02:5a:00:00:0f:a2",
        "02-5A-00-00-0F-A2",
        "025a.0000.0fa2",
        "025A00000FA2",
        " 02:5A:00:00:0F:A2 ",
    ],
)
def test_every_common_spelling_comes_out_canonical(spelling):
    assert normalize_mac(spelling) == "02:5A:00:00:0F:A2"


@pytest.mark.parametrize(
    "text",
    ["", "02:5A:00:00:0F", "02:5A:00:00:0F:A2:11", "02:5A:00:00:0F:G2", "02:5A:00:00:0F:A2\n1", "0:25A:00:00:0F:A2x"],
)
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError, match="not a MAC address"):
        normalize_mac(text)
