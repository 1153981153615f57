"""The customer's pages: splash (packages + pay form), payment status, "I already paid".

Thin views: read the hotspot's parameters from the URL or the form, call one service,
render. Everything must work with JavaScript off inside the captive mini-browser, and
no state lives in cookies (the mini-browser throws them away): the device parameters
and the language ride along in the URL and in hidden form fields.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from babel.dates import format_date, format_time
from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from portal.clock import NAIROBI
from portal.domain import pause, payment_status, payments, receipts, reconnect
from portal.domain.errors import PaymentPending, PortalError
from portal.domain.packages import listed_packages
from portal.web.context import error_response, services
from portal.web.i18n import current_language
from portal.web.messages import message

bp = Blueprint("splash", __name__)

# Query-string names the MikroTik login page sends; also the hidden form field names.
DEVICE_FIELDS = ("mac", "ip", "router", "link-login-only", "link-orig")
MAX_FIELD = 500
MAX_PHONE_ECHO = 40
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
PACKAGE_ID = re.compile(r"^[0-9]{1,9}$")  # bigger numbers overflow the database's integer
WAITING_REFRESH_SECONDS = 3
UNCONFIRMED_REFRESH_SECONDS = 10  # an unconfirmed payment may still succeed: keep looking, slowly
REFRESH_SECONDS = {
    "waiting": WAITING_REFRESH_SECONDS,
    "confirming": WAITING_REFRESH_SECONDS,
    "connecting": WAITING_REFRESH_SECONDS,
    "unconfirmed": UNCONFIRMED_REFRESH_SECONDS,
}

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


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"language_url": language_url, "plain_error": plain_error}


# -- splash -----------------------------------------------------------------------------


@bp.get("/")
def index() -> Any:
    params = DeviceParams.read(request.args, request.remote_addr)
    return _render_splash(params, FormState())


@bp.post("/pay")
def pay() -> Any:
    params = DeviceParams.read(request.form, request.remote_addr)
    phone = str(request.form.get("phone") or "")[:MAX_PHONE_ECHO]
    package_id = str(request.form.get("package") or "").strip()
    package_id = package_id if PACKAGE_ID.match(package_id) else ""  # "" -> "please choose a package"
    key = str(request.form.get("idempotency_key") or "")
    key = key if IDEMPOTENCY_KEY.match(key) else ""
    receipt_sms = request.form.get("receipt_sms") == "1"  # the consent box (issue 14)
    form = FormState(values={"phone": phone, "package": package_id, "receipt_sms": "1" if receipt_sms else ""})
    req = payments.PayRequest(
        phone=phone,
        package_id=package_id,
        mac=params.mac,
        ip=params.ip,
        router=params.router,
        language=params.lang,
        link_orig=safe_link(params.link_orig),
        link_login_only=safe_link(params.link_login_only),
        idempotency_key=key or None,
        source=request.remote_addr or "",
        receipt_sms=receipt_sms,
    )
    try:
        payment = payments.start_payment(services(), req)
    except PaymentPending as err:
        # A double tap racing its twin: the first request holds the lock and owns the
        # payment; send this one to the same status page instead of an error.
        twin = payments.payment_by_idempotency_key(key) if key else None
        if twin is not None:
            return _to_status(twin.public_id, params)
        return _form_error(err, params, form)
    except PortalError as err:
        return _form_error(err, params, form)
    return _to_status(payment.public_id, params)


def _to_status(public_id: str, params: DeviceParams) -> Any:
    return redirect(url_for("splash.status", public_id=public_id, lang=params.lang), code=303)


def _form_error(err: PortalError, params: DeviceParams, form: FormState) -> Any:
    form.error_key = err.key
    form.error_text = message(err.key, **err.params)
    response = _render_splash(params, form)
    headers = {"Retry-After": str(err.params["seconds"])} if "seconds" in err.params else {}
    return response, err.http_status, headers


def _render_splash(params: DeviceParams, form: FormState) -> str:
    svc = services()
    now = svc.clock.now()
    device_known, returning, resume_error = False, None, ""
    try:
        mac, ip = payments.clean_device(params.mac, params.ip)
        router = payments.resolve_router(svc, params.router)
        device_known = True
    except PortalError:
        mac = ip = router = ""
    if device_known and not form.error_key:
        try:
            returning = reconnect.welcome_back(svc, router=router, mac=mac, ip=ip)
        except PortalError as err:  # the router cannot be asked: say so, show nothing about the MAC
            resume_error = message(err.key, **err.params)
    packages = [package_choice(p, params.lang) for p in listed_packages()]
    pause_key = pause.state(svc).message_key  # read per request: a pause shows at once
    chosen = form.values.get("package") or (str(packages[0]["id"]) if len(packages) == 1 else "")
    return render_template(
        "splash.html",
        params=params,
        hidden=params.query(),
        device_known=device_known,
        returning=_time_left(returning.expires_at, now, params.lang) if returning else None,
        resume_error=resume_error,
        continue_url=safe_link(params.link_orig),
        packages=packages,
        chosen=chosen,
        form=form,
        idempotency_key=secrets.token_hex(16),  # new per render: a double tap sends the same one
        reconnect_url=url_for("splash.reconnect_form", **params.query()),
        pause_key=pause_key,
        pause_text=message(pause_key) if pause_key else "",
        receipt_offer=receipts.offer(svc),
    )


def _time_left(expires_at: datetime, now: datetime, lang: str) -> dict[str, str]:
    return {
        "left": duration_words((expires_at - now).total_seconds()),
        "until": local_time_words(expires_at, now, lang),
    }


# -- payment status ---------------------------------------------------------------------


@bp.get("/pay/<public_id>")
def status(public_id: str) -> Any:
    try:
        payment = payments.payment_by_public_id(public_id)
    except PortalError:
        return error_response(404, gettext("Payment not found"), message("payment_not_found"))
    if "lang" not in request.args and payment.language != current_language():
        # Opened without ?lang= (typed, bookmarked): answer in the language they paid in.
        return redirect(url_for("splash.status", public_id=payment.public_id, lang=payment.language))
    lang = current_language()
    now = services().clock.now()
    view = _status_view(payment, now, lang)
    if request.args.get("refresh") == "0":
        view["refresh"] = 0  # the customer turned updating off (WCAG 2.2.1); "Check again" stays
    back = {
        "mac": payment.mac,
        "ip": payment.ip,
        "router": payment.router,
        "lang": lang,
        "link-orig": payment.link_orig,
        "link-login-only": payment.link_login_only,
    }
    continue_url = safe_link(request.args.get("link-orig")) or safe_link(payment.link_orig)
    page = render_template(
        "pay_status.html",
        payment=payment,
        view=view,
        amount=ksh(payment.amount),
        package_label=payment.package.label(lang),
        phone_end=payment.phone[-3:],
        continue_url=continue_url,
        retry_url=url_for("splash.index", **{k: v for k, v in back.items() if v}),
        refresh_url=url_for("splash.status", public_id=payment.public_id, lang=lang),
        stop_url=url_for("splash.status", public_id=payment.public_id, lang=lang, refresh="0"),
    )
    return refreshing(page, view["refresh"])


def refreshing(page: str, seconds: int) -> Any:
    """A page that reloads itself every ``seconds`` (0: never) with no JavaScript.

    An HTTP ``Refresh`` header rather than ``<meta http-equiv>``: the same for the browser,
    and the page pairs it with a "Stop updating" link, so the customer can turn it off.
    """
    return page, 200, ({"Refresh": str(seconds)} if seconds else {})


def _status_view(payment: Any, now: datetime, lang: str) -> dict[str, Any]:
    """What the status page says, as plain values for the template."""
    current = payment_status.status_of(payment, now)
    view: dict[str, Any] = {"state": current.stage, "refresh": REFRESH_SECONDS.get(current.stage, 0)}
    if current.message_key:
        view["message"] = message(current.message_key)
    if current.session is not None and current.stage != "ended":
        view.update(_time_left(current.session.expires_at, now, lang))
    return view


# -- "I already paid" -------------------------------------------------------------------


@bp.get("/reconnect")
def reconnect_form() -> Any:
    params = DeviceParams.read(request.args, request.remote_addr)
    return _render_reconnect(params, FormState())


@bp.post("/reconnect")
def reconnect_submit() -> Any:
    params = DeviceParams.read(request.form, request.remote_addr)
    receipt = str(request.form.get("receipt") or "")[:MAX_FIELD]
    phone = str(request.form.get("phone") or "")[:MAX_PHONE_ECHO]
    form = FormState(values={"receipt": receipt[:40], "phone": phone})
    try:
        grant = reconnect.move_purchase(
            services(),
            receipt=receipt,
            phone=phone,
            router=params.router,
            mac=params.mac,
            ip=params.ip,
            source=request.remote_addr or "",
        )
    except PortalError as err:
        form.error_key = err.key
        form.error_text = message(err.key, **err.params)
        headers = {"Retry-After": str(err.params["seconds"])} if "seconds" in err.params else {}
        return _render_reconnect(params, form), err.http_status, headers
    extra: dict[str, Any] = {"link-orig": safe_link(params.link_orig)} if safe_link(params.link_orig) else {}
    return redirect(url_for("splash.status", public_id=grant.payment.public_id, lang=params.lang, **extra), code=303)


def _render_reconnect(params: DeviceParams, form: FormState) -> str:
    device_known = True
    try:
        payments.clean_device(params.mac, params.ip)
        payments.resolve_router(services(), params.router)
    except PortalError:
        device_known = False
    return render_template(
        "reconnect.html",
        params=params,
        hidden=params.query(),
        device_known=device_known,
        form=form,
        max_moves=services().settings.limits.reconnect_max_moves,
        splash_url=url_for("splash.index", **params.query()),
    )
