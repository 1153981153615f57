"""The splash page (the packages and the pay form) and the pay button.

Thin views: read the hotspot's parameters from the URL or the form, call one service,
render. Everything must work with JavaScript off inside the captive mini-browser, and
no state lives in cookies (the mini-browser throws them away): the device parameters
and the language ride along in the URL and in hidden form fields. The blueprint ``splash``
also carries the payment status page (``status.py``) and "I already paid" (``reconnect.py``).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from portal.domain import pause, payments, receipts, reconnect
from portal.domain.errors import PaymentPending, PortalError
from portal.domain.packages import listed_packages
from portal.web.context import services
from portal.web.customer.params import (
    MAX_PHONE_ECHO,
    DeviceParams,
    FormState,
    language_url,
    package_choice,
    plain_error,
    safe_link,
    time_left,
)
from portal.web.messages import message

bp = Blueprint("splash", __name__)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
PACKAGE_ID = re.compile(r"^[0-9]{1,9}$")  # bigger numbers overflow the database's integer


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"language_url": language_url, "plain_error": plain_error}


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
    headers = form.failed(err)
    return _render_splash(params, form), err.http_status, headers


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
        returning=time_left(returning.expires_at, now, params.lang) if returning else None,
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


# Routes register themselves on ``bp`` when imported (after ``bp`` exists).
from portal.web.customer import reconnect as reconnect_page  # noqa: E402,F401
from portal.web.customer import status as status_page  # noqa: E402,F401
