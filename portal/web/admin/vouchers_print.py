"""The printable voucher cards: what each card says and its QR code, as inline SVG.

The QR code is made here with ``segno`` (pure Python, no image library, no outside
service): it opens the splash page with the code filled in (``/?voucher=CODE``). The
cards exist only in the page made right after the batch: the ledger keeps hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from markupsafe import Markup

from portal.clock import NAIROBI
from portal.domain.vouchers import NewBatch, package_words

LAYOUTS = {
    "a4": "A4 sheet of cut-out cards (18 a page)",
    "58mm": "58 mm thermal roll, one card per ticket",
    "80mm": "80 mm thermal roll, one card per ticket",
}


@dataclass(frozen=True)
class Card:
    code: str
    qr_svg: Markup


@dataclass(frozen=True)
class Sheet:
    """Everything the print template needs; nothing here is stored."""

    venue: str
    wifi_name: str
    price: str
    package_name: str
    package_name_sw: str
    gives: str
    use_by: str
    batch_id: int
    label: str
    layout: str
    cards: list[Card]


def splash_link(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/?voucher={code}"


def qr_svg(url: str) -> Markup:
    """A QR code as an inline ``<svg>`` sized by CSS (segno escapes what it writes)."""
    qr = segno.make(url, error="m")
    svg = qr.svg_inline(omitsize=True, border=2, title="QR code: opens the Wi-Fi page with this code")
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR code" ', 1))  # segno wrote it: no outside text


def use_by_words(moment: datetime | None) -> str:
    """The last day to start using a card (``use_by`` is the midnight after it, Nairobi)."""
    if moment is None:
        return ""
    return (moment.astimezone(NAIROBI) - timedelta(seconds=1)).strftime("%d %b %Y")


def build_sheet(made: NewBatch, *, venue: str, wifi_name: str, public_url: str, layout: str) -> Sheet:
    batch, package = made.batch, made.package
    return Sheet(
        venue=venue,
        wifi_name=wifi_name or venue,
        price=f"KSh {batch.price:,}",
        package_name=package.name,
        package_name_sw=package.name_sw if package.name_sw and package.name_sw != package.name else "",
        gives=package_words(package),
        use_by=use_by_words(batch.use_by),
        batch_id=batch.id,
        label=batch.label,
        layout=layout if layout in LAYOUTS else "a4",
        cards=[Card(code, qr_svg(splash_link(public_url, code))) for code in made.codes],
    )
