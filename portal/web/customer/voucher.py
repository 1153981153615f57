"""The customer's voucher pages: "Have a voucher?" on the splash, the voucher form, and the
page that says the voucher worked (or why not). No JavaScript, no cookies: the device
parameters ride along in the URL and hidden fields, as on the splash page.

A QR code on a printed card opens ``/?voucher=CODE`` in the phone's own browser, which
brings no ``mac``: the device is then found by the request's own address in the router's
host table (never by an address from the URL).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext

from portal.domain import payment_status, payments, vouchers_redeem
from portal.domain.errors import BadInput, PortalError
from portal.web.context import error_response, services
from portal.web.customer.params import DeviceParams, FormState, device_is_known, ksh, refreshing, safe_link, time_left
from portal.web.i18n import current_language
from portal.web.messages import message

bp = Blueprint("voucher", __name__)

MAX_CODE = 60
SPLASH_ENDPOINTS = ("splash.index", "splash.pay")
CODE_ERRORS = ("voucher_invalid", "voucher_not_valid", "voucher_rate_limited", "voucher_busy")
REFRESH_SECONDS = 3


@bp.app_context_processor
def _splash_voucher_field() -> dict[str, Any]:
    """What the splash page's "Have a voucher?" field needs (only the splash pays the cost).

    ``vouchers_first``: lead with the voucher field (M-Pesa failing or paused, or a QR code
    brought a code): :func:`portal.domain.vouchers_redeem.lead_with_vouchers`.
    """
    if request.endpoint not in SPLASH_ENDPOINTS:
        return {}
    prefill = str(request.args.get("voucher") or "").strip()[:MAX_CODE]
    try:
        lead = vouchers_redeem.lead_with_vouchers(services())
    except Exception:  # noqa: BLE001 - a hint for the layout must never break the page
        lead = False
    return {"voucher_prefill": prefill, "vouchers_first": lead or bool(prefill)}


@bp.get("/voucher")
def form() -> Any:
    params = DeviceParams.read(request.args, request.remote_addr)
    code = str(request.args.get("code") or "").strip()[:MAX_CODE]
    return _render_form(params, FormState(values={"code": code}))


@bp.post("/voucher")
def submit() -> Any:
    params = DeviceParams.read(request.form, request.remote_addr)
    code = str(request.form.get("code") or "")[:MAX_CODE]
    state = FormState(values={"code": code.strip()})
    try:
        mac = params.mac or _mac_by_address(params.router)
        payment = vouchers_redeem.redeem(
            services(),
            vouchers_redeem.RedeemRequest(
                code=code,
                mac=mac,
                ip=params.ip if params.mac else (request.remote_addr or ""),
                router=params.router,
                language=params.lang,
                link_orig=safe_link(params.link_orig),
                link_login_only=safe_link(params.link_login_only),
            ),
        )
    except PortalError as err:
        headers = state.failed(err)
        return _render_form(params, state), err.http_status, headers
    return redirect(url_for("voucher.status", public_id=payment.public_id, lang=params.lang), code=303)


def _mac_by_address(router: str) -> str:
    """No ``mac`` in the form (a QR code opened in the phone's browser): ask the router."""
    mac = vouchers_redeem.device_for_address(services(), router, request.remote_addr or "")
    if mac is None:
        raise BadInput("mac_invalid")
    return mac


def _render_form(params: DeviceParams, state: FormState) -> str:
    return render_template(
        "voucher.html",
        hidden=params.query(),
        device_known=bool(params.mac) and device_is_known(params),
        form=state,
        code_error=state.error_key in CODE_ERRORS,
        code_length=services().settings.vouchers.code_length,
        splash_url=url_for("splash.index", **params.query()),
    )


@bp.get("/voucher/<public_id>")
def status(public_id: str) -> Any:
    try:
        payment = payments.payment_by_public_id(public_id)
    except PortalError:
        payment = None
    if payment is None or payment.method != "voucher":
        return error_response(404, gettext("Voucher not found"), message("voucher_not_valid"))
    lang = current_language()
    now = services().clock.now()
    current = payment_status.status_of(payment, now)
    view: dict[str, Any] = {"state": current.stage}
    if current.session is not None and current.stage != "ended":
        view.update(time_left(current.session.expires_at, now, lang))
    back = {"mac": payment.mac, "ip": payment.ip, "router": payment.router, "lang": lang}
    refresh = REFRESH_SECONDS if current.stage == "connecting" and request.args.get("refresh") != "0" else 0
    page = render_template(
        "voucher_status.html",
        view=view,
        refresh=refresh,
        package_label=payment.package.label(lang),
        amount=ksh(payment.amount) if payment.amount else "",
        continue_url=safe_link(request.args.get("link-orig")) or safe_link(payment.link_orig),
        splash_url=url_for("splash.index", **{k: v for k, v in back.items() if v}),
        refresh_url=url_for("voucher.status", public_id=payment.public_id, lang=lang),
        stop_url=url_for("voucher.status", public_id=payment.public_id, lang=lang, refresh="0"),
    )
    return refreshing(page, refresh)
