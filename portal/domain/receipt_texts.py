"""The customer's SMS: the receipt after payment and the "minutes left, top up" reminder.

Written at send time, not when queued: the M-Pesa code may arrive with a late callback and a
session's end may move (stacked purchases, credited outage time). English here, Swahili in
``translations/sw/LC_MESSAGES/messages.po`` (the catalog test checks every ``N_`` string), read
with Babel's own catalog loader because the worker has no Flask request to translate with.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from babel.support import NullTranslations, Translations

from portal.clock import to_nairobi
from portal.domain.context import Services
from portal.ledger.models import Delivery, Grant, Payment
from portal.notify import Outgoing

RECEIPT, TOPUP = "receipt", "topup"
CUSTOMER_KINDS = (RECEIPT, TOPUP)


def N_(text: str) -> str:
    """Mark for extraction (scripts/translations); translated at send time."""
    return text


RECEIPT_WITH_CODE = N_(
    "%(venue)s: KSh %(amount)s received for %(package)s, M-Pesa code %(code)s. Online until %(until)s. "
    "New phone or lost Wi-Fi? Open %(link)s and enter the code."
)
RECEIPT_NO_CODE = N_(
    "%(venue)s: KSh %(amount)s received for %(package)s. Online until %(until)s. "
    "New phone or lost Wi-Fi? Open %(link)s and enter the M-Pesa code from M-Pesa's SMS."
)
TOPUP_TEXT = N_(
    "%(venue)s: your Wi-Fi time ends at %(until)s, in %(minutes)s minutes. To stay online, buy more time: %(link)s"
)


@functools.lru_cache(maxsize=4)
def _catalog(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(_translations_dir()), [language], domain="messages")


def _translations_dir() -> Path:
    """The compiled catalogs, where :data:`portal.ASSETS` finds them (a wheel carries them in
    ``portal/assets/``, a checkout at the top). Worked out here because the business rules may
    not import the ``portal`` package itself (it reaches up to the web app)."""
    package = Path(__file__).resolve().parents[1]
    bundled = package / "assets" / "translations"
    return bundled if bundled.is_dir() else package.parent / "translations"


def translate(language: str, text: str, **values: object) -> str:
    return _catalog(language if language in ("en", "sw") else "en").gettext(text) % values


def clock_words(moment: datetime, now: datetime) -> str:
    """``14:05`` today, ``02/03 14:05`` another day (East Africa Time)."""
    local, today = to_nairobi(moment), to_nairobi(now)
    return local.strftime("%H:%M") if local.date() == today.date() else local.strftime("%d/%m %H:%M")


def compose(services: Services, row: Delivery) -> Outgoing | datetime | None:
    """The text of a receipt or reminder row now; None when it is no longer needed, or the
    time to look again (a reminder for a session that was extended)."""
    if row.kind == RECEIPT:
        return _receipt(services, row)
    return _topup(services, row)


def _receipt(services: Services, row: Delivery) -> Outgoing | None:
    payment = Payment.get_or_none(Payment.id == row.payment_id)
    grant = Grant.get_or_none(Grant.payment == row.payment_id)
    if payment is None or grant is None or payment.status != "paid":
        return None
    now = services.clock.now()
    portal = services.settings.portal
    values = {
        "venue": portal.venue_name,
        "amount": payment.amount,
        "package": payment.package.label(row.language),
        "code": payment.receipt or "",
        "until": clock_words(grant.expires_at, now),
        "link": f"{portal.public_url.rstrip('/')}/reconnect?{urlencode({'lang': row.language})}",
    }
    text = RECEIPT_WITH_CODE if payment.receipt else RECEIPT_NO_CODE
    return _sms(row, translate(row.language, text, **values), {"payment": payment.public_id})


def _topup(services: Services, row: Delivery) -> Outgoing | datetime | None:
    grant = Grant.get_or_none(Grant.id == row.grant_id)
    now = services.clock.now()
    if grant is None or grant.status != "active" or grant.expires_at <= now:
        return None
    later = (
        Grant.select()
        .where(Grant.router == grant.router, Grant.mac == grant.mac, Grant.status == "active")
        .where(Grant.expires_at > grant.expires_at)
        .exists()
    )
    if later:
        return None  # the customer already bought more time
    lead = timedelta(minutes=services.settings.receipts.reminder_minutes)
    if grant.expires_at - now > lead + timedelta(seconds=60):
        return grant.expires_at - lead  # extended since it was queued: remind at the new time
    portal = services.settings.portal
    query = urlencode({"router": grant.router, "mac": grant.mac, "ip": grant.ip, "lang": row.language})
    values = {
        "venue": portal.venue_name,
        "until": clock_words(grant.expires_at, now),
        "minutes": max(1, round((grant.expires_at - now).total_seconds() / 60)),
        "link": f"{portal.public_url.rstrip('/')}/?{query}",
    }
    return _sms(row, translate(row.language, TOPUP_TEXT, **values), {"grant": grant.id})


def _sms(row: Delivery, body: str, data: dict[str, object]) -> Outgoing:
    return Outgoing(
        channel="sms",
        to=row.recipient,
        subject="",
        body=body,
        reference=f"{row.kind}-{row.id}",
        data=data,
        event=row.kind,
    )
