"""The JSON API of the Pay-to-Connect guide (kept compatible) and the Daraja callback."""
from __future__ import annotations

import ipaddress
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, jsonify, request

from portal.domain import health as health_checks
from portal.domain import confirmations, payments
from portal.domain.errors import PortalError
from portal.domain.grants import active_grant_for_device
from portal.web.messages import message
from portal.ledger.models import Grant, Payment
from portal.web.app import services

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

STATUS_NAMES = {"created": "pending", "pending": "pending", "paid": "success", "failed": "failed",
                "cancelled": "cancelled", "timeout": "timeout"}


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PortalError("bad_input")
    return body


def _fail(err: PortalError) -> Any:
    body: dict[str, Any] = {"success": False, "message": message(err.key, **err.params), "error": err.key}
    headers = {}
    if "seconds" in err.params:
        headers["Retry-After"] = str(err.params["seconds"])
    return jsonify(body), err.http_status, headers


@bp.post("/portal/pay")
def pay() -> Any:
    try:
        body = _json_body()
        req = payments.PayRequest(
            phone=str(body.get("phone") or ""),
            package_id=body.get("packageId"),
            mac=str(body.get("macAddress") or ""),
            ip=str(body.get("ip") or request.remote_addr or ""),
            router=str(body.get("router") or ""),
            language=str(body.get("lang") or "en"),
            idempotency_key=_idempotency_key(body.get("idempotencyKey")),
        )
        payment = payments.start_payment(services(), req)
    except PortalError as err:
        return _fail(err)
    return jsonify(
        success=True,
        message=message("payment_prompt_sent"),
        checkoutRequestId=payment.checkout_request_id,
        statusId=payment.public_id,
        amount=payment.amount,
        packageName=payment.package.name,
    )


def _idempotency_key(raw: object) -> str | None:
    if raw is None:
        return None
    text = str(raw)
    return text[:64] if text.replace("-", "").isalnum() and 8 <= len(text) <= 64 else None


@bp.get("/portal/status/<path:reference>")
def status(reference: str) -> Any:
    """Status by the unguessable ``statusId``; by CheckoutRequestID (guessable: it embeds the
    phone and a timestamp) the session details are shown only to the paying device."""
    reference = reference[:100]
    payment = Payment.get_or_none(Payment.public_id == reference)
    trusted = payment is not None
    if payment is None:
        payment = Payment.get_or_none(Payment.checkout_request_id == reference)
        if payment is not None:
            trusted = request.remote_addr == payment.ip or request.args.get("mac", "").upper() == payment.mac
    if payment is None:
        return jsonify(success=False, message=message("payment_not_found"), status=None), 404
    return jsonify(success=True, status=STATUS_NAMES[payment.status],
                   session=session_json(payment) if trusted else None)


def session_json(payment: Payment) -> dict[str, Any] | None:
    """The session a paid purchase gave (or that it extended); no phone numbers."""
    if payment.status != "paid":
        return None
    now = services().clock.now()
    grant = Grant.get_or_none(Grant.payment == payment)
    if grant is None:
        return None
    covering = active_grant_for_device(grant.router, grant.mac, now) if grant.status == "active" else None
    expires: datetime = covering.expires_at if covering else grant.expires_at
    remaining = max(0, int((expires - now).total_seconds())) if grant.status == "active" else 0
    return {
        "sessionId": grant.id,
        "packageName": payment.package.name,
        "expiresAt": expires.isoformat().replace("+00:00", "Z"),
        "remainingSeconds": remaining,
        "routerState": grant.router_state,
    }


@bp.post("/portal/mpesa/callback")
@bp.post("/portal/mpesa/callback/<token>")
def mpesa_callback(token: str | None = None) -> Any:
    """Answer Daraja at once; a bad or forged body is recorded, never a 500."""
    settings = services().settings.mpesa
    if settings.callback_token and token != settings.callback_token:
        abort(404)
    source_ip = request.remote_addr or ""
    if settings.callback_allow_ips and not _allowed(source_ip, settings.callback_allow_ips):
        log.warning("callback from %s refused by callback_allow_ips", source_ip)
        return jsonify(ResultCode=1, ResultDesc="Rejected"), 403
    outcome = confirmations.handle_callback(services(), request.get_data(cache=False), source_ip)
    log.info("callback from %s: %s", source_ip, outcome)
    return jsonify(ResultCode=0, ResultDesc="Accepted")


def _allowed(source_ip: str, allowed: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in allowed)


@bp.get("/health")
def health() -> Any:
    report = health_checks.check_all(services(), include_daraja=request.args.get("daraja") != "0")
    return jsonify(report), (200 if report["ok"] else 503)
