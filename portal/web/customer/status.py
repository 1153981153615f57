"""The payment status page: waiting for the phone, confirming, connecting, connected, or why not.

It reloads itself (an HTTP ``Refresh`` header, no JavaScript) while something may still change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext

from portal.domain import payment_status, payments
from portal.domain.errors import PortalError
from portal.web.context import error_response, services
from portal.web.customer.params import ksh, refreshing, safe_link, time_left
from portal.web.customer.splash import bp
from portal.web.i18n import current_language
from portal.web.messages import message

WAITING_REFRESH_SECONDS = 3
UNCONFIRMED_REFRESH_SECONDS = 10  # an unconfirmed payment may still succeed: keep looking, slowly
REFRESH_SECONDS = {
    "waiting": WAITING_REFRESH_SECONDS,
    "confirming": WAITING_REFRESH_SECONDS,
    "connecting": WAITING_REFRESH_SECONDS,
    "unconfirmed": UNCONFIRMED_REFRESH_SECONDS,
}


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


def _status_view(payment: Any, now: datetime, lang: str) -> dict[str, Any]:
    """What the status page says, as plain values for the template."""
    current = payment_status.status_of(payment, now)
    view: dict[str, Any] = {"state": current.stage, "refresh": REFRESH_SECONDS.get(current.stage, 0)}
    if current.message_key:
        view["message"] = message(current.message_key)
    if current.session is not None and current.stage != "ended":
        view.update(time_left(current.session.expires_at, now, lang))
    return view
