"""The "I already paid" page: move a purchase to this device by its M-Pesa receipt and phone number."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from portal.domain import reconnect
from portal.domain.errors import PortalError
from portal.web.context import services
from portal.web.customer.params import MAX_FIELD, MAX_PHONE_ECHO, DeviceParams, FormState, device_is_known, safe_link
from portal.web.customer.splash import bp


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
        headers = form.failed(err)
        return _render_reconnect(params, form), err.http_status, headers
    extra: dict[str, Any] = {"link-orig": safe_link(params.link_orig)} if safe_link(params.link_orig) else {}
    return redirect(url_for("splash.status", public_id=grant.payment.public_id, lang=params.lang, **extra), code=303)


def _render_reconnect(params: DeviceParams, form: FormState) -> str:
    return render_template(
        "reconnect.html",
        params=params,
        hidden=params.query(),
        device_known=device_is_known(params),
        form=form,
        max_moves=services().settings.limits.reconnect_max_moves,
        splash_url=url_for("splash.index", **params.query()),
    )
