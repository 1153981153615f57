"""Helpers for the customer-page tests: read the HTML we send the way a browser would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

MAC_A, IP_A = "AA:BB:CC:00:00:01", "10.5.50.11"
MAC_B, IP_B = "AA:BB:CC:00:00:02", "10.5.50.12"


@dataclass
class Page:
    """The parts of an HTML page the tests look at."""

    source: str
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Visible text with whitespace collapsed (what a screen reader would read)."""
        return " ".join(" ".join(self.text_parts).split())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in wanted.items())]

    def one(self, tag: str, **attrs: str) -> dict[str, str]:
        found = self.find(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    def hidden(self) -> dict[str, str]:
        return {a["name"]: a.get("value", "") for a in self.find("input", type="hidden")}

    def hrefs(self) -> list[str]:
        return [a["href"] for t, a in self.tags if t == "a" and "href" in a]

    def meta_refresh(self) -> str | None:
        found = self.find("meta", http_equiv="refresh")
        return found[0]["content"] if found else None


class _Parser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, {k: v if v is not None else "" for k, v in attrs}))
        if tag in ("style", "script", "title"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.page.text_parts.append(data)


def parse(source: str | bytes) -> Page:
    text = source.decode("utf-8") if isinstance(source, bytes) else source
    page = Page(source=text)
    _Parser(page).feed(text)
    return page


def words(text: str) -> str:
    """Plain text as it shows on the page (for comparing with catalog strings)."""
    return " ".join(html.unescape(re.sub(r"\s+", " ", text)).split())


@pytest.fixture
def joined(portal: Any) -> tuple[str, str]:
    """Device A on the hotspot, not logged in yet."""
    return portal.join(MAC_A, IP_A)
