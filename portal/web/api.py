"""The JSON API of the Pay-to-Connect guide (kept compatible) and the Daraja callback."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from flask import Blueprint, abort, jsonify, request

from portal.domain import confirmations, payment_status, payments, vouchers_redeem
from portal.domain import health as health_checks
from portal.domain.errors import PortalError
from portal.web.context import services
from portal.web.json_body import json_object
from portal.web.messages import message
from portal.web.metrics import monitoring_allowed

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")


def _fail(err: PortalError) -> Any:
    body: dict[str, Any] = {"success": False, "message": message(err.key, **err.params), "error": err.key}
    headers = {}
    if "seconds" in err.params:
        headers["Retry-After"] = str(err.params["seconds"])
    return jsonify(body), err.http_status, headers


@bp.post("/portal/pay")
def pay() -> Any:
    try:
        body = json_object()
        req = payments.PayRequest(
            phone=str(body.get("phone") or ""),
            package_id=body.get("packageId"),
            mac=str(body.get("macAddress") or ""),
            ip=str(body.get("ip") or request.remote_addr or ""),
            router=str(body.get("router") or ""),
            language=str(body.get("lang") or "en"),
            idempotency_key=_idempotency_key(body.get("idempotencyKey")),
            source=request.remote_addr or "",
            receipt_sms=body.get("receiptSms") is True,
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


@bp.post("/portal/voucher")
def voucher() -> Any:
    """``{"code", "macAddress"}`` (+ ``"ip"``, ``"router"``, ``"lang"``) -> the status answer
    for the session the voucher gives, plus its ``statusId``."""
    try:
        body = json_object()
        req = vouchers_redeem.RedeemRequest(
            code=str(body.get("code") or "")[:200],
            mac=str(body.get("macAddress") or "")[:100],
            ip=str(body.get("ip") or request.remote_addr or "")[:100],
            router=str(body.get("router") or "")[:100],
            language=str(body.get("lang") or "en")[:2],
        )
        payment = vouchers_redeem.redeem(services(), req)
    except PortalError as err:
        return _fail(err)
    return jsonify({**status_json(payment, trusted=True), "statusId": payment.public_id})


def _idempotency_key(raw: object) -> str | None:
    if raw is None:
        return None
    text = str(raw)
    return text[:64] if text.replace("-", "").isalnum() and 8 <= len(text) <= 64 else None


@bp.get("/portal/status/<path:reference>")
def status(reference: str) -> Any:
    """Status by the unguessable ``statusId``, or by CheckoutRequestID (session details then
    only for the paying device)."""
    try:
        payment, trusted = payment_status.find_for_status(
            reference, requester_ip=request.remote_addr or "", requester_mac=request.args.get("mac", "")
        )
    except PortalError as err:
        return jsonify(success=False, message=message(err.key), status=None), err.http_status
    return jsonify(status_json(payment, trusted=trusted))


def status_json(payment: Any, *, trusted: bool) -> dict[str, Any]:
    """The status answer (also the voucher answer): no phone numbers, ever."""
    current = payment_status.status_of(payment, services().clock.now())
    session = current.session
    return {
        "success": True,
        "status": current.api_status,
        "session": None
        if session is None or not trusted
        else {
            "sessionId": session.grant_id,
            "packageName": session.package_name,
            "expiresAt": session.expires_at.isoformat().replace("+00:00", "Z"),
            "remainingSeconds": session.remaining_seconds,
            "routerState": session.router_state,
        },
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
    """Up or down for anyone; which part failed (and versions) only for monitoring."""
    detailed = monitoring_allowed()
    report = health_checks.check_all(
        services(), include_daraja=detailed and request.args.get("daraja") != "0", include_routers=detailed
    )
    status = 200 if report["ok"] else 503
    if not detailed:
        return jsonify(status="up" if report["ok"] else "down"), status
    return jsonify(report), status
