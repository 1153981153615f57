"""What the customer pages share: the device parameters that ride along in the URL and hidden
fields, the form state shown back after an error, and the words and helpers the templates use
(money, durations, local times, package choices, the language switch, error pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from babel.dates import format_date, format_time
from flask import request, url_for
from flask_babel import gettext, ngettext
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from portal.clock import NAIROBI
from portal.domain import payments
from portal.domain.errors import PortalError
from portal.web.context import services
from portal.web.i18n import current_language
from portal.web.messages import message

MAX_FIELD = 500
MAX_PHONE_ECHO = 40

# Which form field an error belongs to (for the message next to the field).
ERROR_FIELDS = {
    "phone_invalid": "phone",
    "phone_not_safaricom": "phone",
    "phone_cooldown": "phone",
    "phone_daily_cap": "phone",
    "package_invalid": "package",
    "package_not_found": "package",
    "receipt_invalid": "receipt",
}


@dataclass(frozen=True)
class DeviceParams:
    """What the hotspot told us about the device (hints only; the router confirms)."""

    mac: str = ""
    ip: str = ""
    router: str = ""
    link_login_only: str = ""
    link_orig: str = ""
    lang: str = "en"

    @classmethod
    def read(cls, values: Mapping[str, str], remote_addr: str | None) -> DeviceParams:
        def get(name: str) -> str:
            return str(values.get(name) or "").strip()[:MAX_FIELD]

        return cls(
            mac=get("mac"),
            ip=get("ip") or (remote_addr or ""),
            router=get("router"),
            link_login_only=get("link-login-only"),
            link_orig=get("link-orig"),
            lang=current_language(),
        )

    def query(self, **extra: str) -> dict[str, Any]:
        """The parameters for a URL or hidden fields, empty ones left out."""
        pairs = {
            "mac": self.mac,
            "ip": self.ip,
            "router": self.router,
            "link-login-only": self.link_login_only,
            "link-orig": self.link_orig,
            "lang": self.lang,
        }
        pairs.update(extra)
        return {k: v for k, v in pairs.items() if v}


@dataclass
class FormState:
    """What to show back to the customer after a failed submit."""

    error_key: str | None = None
    error_text: str = ""
    values: dict[str, str] = field(default_factory=dict)

    @property
    def field(self) -> str | None:
        return ERROR_FIELDS.get(self.error_key or "")

    def failed(self, err: PortalError) -> dict[str, str]:
        """Show ``err`` next to its field; returns the headers to answer with (``Retry-After``)."""
        self.error_key = err.key
        self.error_text = message(err.key, **err.params)
        return {"Retry-After": str(err.params["seconds"])} if "seconds" in err.params else {}


def device_is_known(params: DeviceParams) -> bool:
    """The hotspot's parameters name a device and a router we know (a hint; the router confirms)."""
    try:
        payments.clean_device(params.mac, params.ip)
        payments.resolve_router(services(), params.router)
    except PortalError:
        return False
    return True


# -- helpers shared by the templates ----------------------------------------------------


def safe_link(url: str | None) -> str:
    """``url`` when it is a plain http(s) address with a host, else "" (no javascript:, no data:)."""
    text = (url or "").strip()
    if not text or len(text) > MAX_FIELD or any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in text):
        return ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return text


def ksh(amount: int) -> str:
    """Money the Kenyan way: ``KSh 20``, ``KSh 1,500``."""
    return f"KSh {int(amount):,}"


def duration_words(seconds: float) -> str:
    """``47 minutes``, ``1 hour 5 minutes``, ``2 days 3 hours``: at most two units, rounded up."""
    minutes_total = max(1, -(-int(seconds) // 60))
    days, rest = divmod(minutes_total, 1440)
    hours, minutes = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(ngettext("%(num)s day", "%(num)s days", days))
    if hours:
        parts.append(ngettext("%(num)s hour", "%(num)s hours", hours))
    if minutes and not days:
        parts.append(ngettext("%(num)s minute", "%(num)s minutes", minutes))
    if len(parts) == 1:
        return parts[0]
    return gettext("%(first)s %(second)s", first=parts[0], second=parts[1])


def local_time_words(moment: datetime, now: datetime, lang: str) -> str:
    """``14:05`` in Nairobi time, with the date when it is not today (``14:05, 3 Mar``)."""
    local = moment.astimezone(NAIROBI)
    clock = format_time(local, "HH:mm", locale=lang)
    if local.date() == now.astimezone(NAIROBI).date():
        return clock
    return gettext("%(time)s, %(date)s", time=clock, date=format_date(local, "d MMM", locale=lang))


def package_choice(package: Any, lang: str) -> dict[str, Any]:
    """One radio button: ``KSh 20 · 1 hour`` plus a detail line for caps and speeds."""
    details = []
    if package.data_cap_bytes:
        details.append(gettext("%(size)s of data", size=_size_words(package.data_cap_bytes)))
    if package.devices and package.devices > 1:
        details.append(ngettext("%(num)s device", "%(num)s devices", package.devices))
    return {
        "id": package.id,
        "label": f"{ksh(package.price)} · {package.label(lang)}",
        "detail": " · ".join(details),
    }


def _size_words(size: int) -> str:
    if size >= 1000**3:
        return f"{size / 1000**3:g} GB"
    return f"{size / 1000**2:g} MB"


def language_url(code: str) -> str:
    """This page in another language, keeping every parameter (the switch at the top)."""
    if request.method == "GET":
        args = request.args.to_dict(flat=False)
        args["lang"] = [code]
        return f"{request.path}?{urlencode(args, doseq=True)}"
    # A re-rendered form (POST): the same form again, from its hidden fields.
    try:
        params = DeviceParams.read(request.form, request.remote_addr)
    except HTTPException:  # the body itself was the problem (too large): start over
        return url_for("splash.index", lang=code)
    target = "splash.reconnect_form" if request.endpoint == "splash.reconnect_submit" else "splash.index"
    return url_for(target, **params.query(lang=code))


def plain_error(status: int, title: str, detail: str) -> tuple[str, str]:
    """Customer words for the stock HTTP errors; anything else is shown as given."""
    stock = default_exceptions.get(status)
    is_stock = stock is not None and title == HTTP_STATUS_CODES.get(status) and detail in ("", stock.description)
    if status == 500 and title == "Something went wrong":
        return gettext("Something went wrong"), gettext("Please try again in a moment.")
    if not is_stock:
        return title, detail
    words = {
        400: (gettext("Something was wrong with that request"), gettext("Please go back and try again.")),
        404: (gettext("Page not found"), gettext("We could not find that page.")),
        405: (gettext("That did not work"), gettext("Please go back and try again.")),
        413: (gettext("Too much data"), gettext("What you sent was too big. Please go back and try again.")),
        429: (gettext("Too many tries"), gettext("Please wait a little and try again.")),
    }
    return words.get(status, (gettext("Something went wrong"), gettext("Please try again in a moment.")))


def time_left(expires_at: datetime, now: datetime, lang: str) -> dict[str, str]:
    """``left`` (``47 minutes``) and ``until`` (``14:05``) for a session ending at ``expires_at``."""
    return {
        "left": duration_words((expires_at - now).total_seconds()),
        "until": local_time_words(expires_at, now, lang),
    }


def refreshing(page: str, seconds: int) -> Any:
    """A page that reloads itself every ``seconds`` (0: never) with no JavaScript.

    An HTTP ``Refresh`` header rather than ``<meta http-equiv>``: the same for the browser,
    and the page pairs it with a "Stop updating" link, so the customer can turn it off.
    """
    return page, 200, ({"Refresh": str(seconds)} if seconds else {})
