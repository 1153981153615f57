"""One translation workflow: every string the code marks for translation has Swahili.

The extraction is the one developers run (``scripts/translations extract``: babel.cfg over
``portal/`` and ``templates/``), so a new ``_()``, ``gettext``, ``ngettext``, ``N_`` or ``_l``
anywhere fails here until ``translations/sw/LC_MESSAGES/messages.po`` has its Swahili.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from portal.web.i18n import catalog_problems
from portal.web.messages import MESSAGES

REPO = Path(__file__).resolve().parents[2]
SWAHILI_PO = REPO / "translations/sw/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_]\w*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    template = tmp_path_factory.mktemp("catalog") / "messages.pot"
    result = subprocess.run(
        [str(REPO / "scripts/translations"), "extract", str(template)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with template.open("rb") as pot:
        return read_po(pot)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return extracted(tmp_path_factory)


@pytest.fixture(scope="module")
def swahili() -> Catalog:
    with SWAHILI_PO.open("rb") as po:
        return read_po(po, locale="sw")


def as_key(value: object) -> object:
    """read_mo gives plural forms as lists, read_po as tuples."""
    return tuple(value) if isinstance(value, list | tuple) else value


def placeholders(text: str) -> Counter[str]:
    return Counter(found for found in PLACEHOLDER.findall(text) if found != "%%")


def forms(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def test_the_extraction_covers_the_python_code_and_the_templates(template: Catalog) -> None:
    ids = {message.id for message in template if message.id}
    assert set(MESSAGES.values()) <= ids, "portal/web/messages.py (N_) is not extracted"
    files = {path for message in template for path, _line in message.locations}
    assert any(path.startswith("templates/") for path in files), files
    assert "portal/web/customer/params.py" in files  # gettext and ngettext
    assert any(isinstance(message.id, tuple) for message in template), "no ngettext plural was extracted"


def test_every_extracted_string_has_swahili_with_the_same_placeholders(template: Catalog, swahili: Catalog) -> None:
    problems = []
    for message in template:
        if not message.id:
            continue
        english = forms(message)
        entry = swahili.get(message.id)
        if entry is None:
            problems.append(f"not in messages.po: {english[0]!r}")
            continue
        translations = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(translations):
            problems.append(f"{'fuzzy' if entry.fuzzy else 'no Swahili'}: {english[0]!r}")
            continue
        for index, text in enumerate(translations):
            source = english[min(index, len(english) - 1)]  # sw: form 0 is the singular, 1 the plural
            if placeholders(text) != placeholders(source):
                problems.append(f"placeholders differ: {source!r} -> {text!r}")
    assert not problems, "run scripts/translations update, then translate:\n" + "\n".join(problems)


def test_babel_finds_nothing_wrong_in_the_swahili_catalog(swahili: Catalog) -> None:
    errors = [f"line {message.lineno}: {error}" for message, found in swahili.check() for error in found]
    assert not errors


def test_the_compiled_catalog_of_this_checkout_is_up_to_date(swahili: Catalog) -> None:
    """What the app serves in a checkout is what messages.po says (scripts/setup compiles it)."""
    mo_path = SWAHILI_PO.with_suffix(".mo")
    assert mo_path.is_file(), f"{mo_path} is missing: run scripts/translations compile (scripts/setup does)"
    with mo_path.open("rb") as mo:
        compiled = {as_key(message.id): as_key(message.string) for message in read_mo(mo) if message.id}
    wanted = {
        as_key(message.id): as_key(message.string)
        for message in swahili
        if message.id and message.string and not message.fuzzy
    }
    assert compiled == wanted, "messages.mo is stale: run scripts/translations compile"


def test_a_missing_or_stale_compiled_catalog_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "sw" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po_path = folder / "messages.po"
    po_path.write_text(SWAHILI_PO.read_text(encoding="utf-8"), encoding="utf-8")

    assert [problem.endswith("is missing: sw pages will be in English") for problem in catalog_problems(tmp_path)] == [
        True
    ]

    mo_path = folder / "messages.mo"
    mo_path.write_bytes(b"")
    os.utime(mo_path, (1_000_000, 1_000_000))
    os.utime(po_path, (2_000_000, 2_000_000))
    assert catalog_problems(tmp_path) == [f"{mo_path} is older than messages.po"]

    os.utime(mo_path, (3_000_000, 3_000_000))
    assert catalog_problems(tmp_path) == []
