"""Vouchers in the admin: make a batch (owner) or a single code (cashier), print it at once,
list batches by state, revoke a batch, export CSV. Agents have their own page
(:mod:`portal.web.admin.vouchers_agents`).

The page that answers "make vouchers" is the printable sheet itself: the codes exist in
clear only in that response (``Cache-Control: no-store``), so the owner prints before
leaving it. A form sent twice (a reload) makes no second batch.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from flask import Response, abort, flash, g, redirect, request, url_for

from portal.domain import reports, vouchers, vouchers_report
from portal.domain.accounts import audit
from portal.domain.errors import BadInput, NotFound
from portal.domain.outbox import run_outbox_item
from portal.domain.packages import listed_packages
from portal.web.admin import ROW_ID, actor, back_to, bp, login_required, now, owner_required, render, signed_in
from portal.web.admin.vouchers_print import LAYOUTS, build_sheet
from portal.web.context import services

# What an agent may open in /admin; everything else is the owner's or a cashier's.
AGENT_ENDPOINTS = ("admin.login", "admin.logout", "admin.voucher_agent_home", "admin.voucher_agent_issue")
REPORT_DAYS = 30


@bp.before_request
def _agents_stay_on_their_page() -> Any:
    """An ``agent`` login sees only its own voucher page (not sessions, payments or money)."""
    if request.endpoint in AGENT_ENDPOINTS:
        return None
    who = signed_in()
    if who is None or who.role != "agent":
        return None
    if request.endpoint == "admin.dashboard":
        return redirect(url_for("admin.voucher_agent_home"))
    abort(403, description="An agent account opens only its own voucher page.")


def new_request_id() -> str:
    return secrets.token_urlsafe(16)


def _form_context(**extra: Any) -> dict[str, Any]:
    return {
        "packages": listed_packages(),
        "layouts": LAYOUTS,
        "request_id": new_request_id(),
        "values": {"count": "1" if g.admin_role != "owner" else "20", "layout": "a4"},
        "problems": [],
        **extra,
    }


@bp.get("/vouchers", endpoint="vouchers")
@login_required
def vouchers_home() -> Any:
    return _home()


def _home(status: int = 200, **extra: Any) -> Any:
    moment = now()
    owner = g.admin_role == "owner"
    today = reports.local_today(moment)
    rows = vouchers.batch_rows(moment, created_by=None if owner else g.admin)
    return render(
        "vouchers.html",
        status,
        **_form_context(
            rows=rows,
            owner=owner,
            labels=vouchers.STATE_LABELS,
            states=vouchers.STATES,
            money=vouchers_report.money_split(today - timedelta(days=REPORT_DAYS - 1), today) if owner else None,
            **extra,
        ),
    )


@bp.post("/vouchers")
@login_required
def voucher_create() -> Any:
    form = request.form
    values = {k: str(form.get(k, "")).strip()[:100] for k in ("package", "count", "label", "use_by", "layout")}
    request_id = str(form.get("request_id", ""))[:40] or None
    try:
        count = vouchers.parse_count(values["count"])
        if g.admin_role != "owner" and count != 1:
            abort(403, description="A cashier makes one voucher at a time. Ask the owner for a batch.")
        made = vouchers.create_batch(
            services().settings,
            services().clock,
            package_id=values["package"],
            count=count,
            actor=actor(),
            label=vouchers.parse_label(values["label"]),
            use_by=vouchers.parse_use_by(values["use_by"], now()),
            request_id=request_id,
        )
    except BadInput as err:
        return _home(400, values=values, problems=problems_for(err, request_id))
    audit(actor(), "voucher.create", services().clock, batch=made.batch.id, count=count, package=made.package.id)
    return sheet_response(made, values["layout"])


def problems_for(err: BadInput, request_id: str | None) -> list[str]:
    if err.key == "voucher_no_secret":
        return ["vouchers need [portal] secret_key (16+ characters) in the config: codes are hashed with it"]
    if err.key == "voucher_batch_exists":
        batch = vouchers.batch_for_request(request_id)
        return [
            f"This form was already sent: batch {batch.id if batch else '?'} was made and its codes were shown once. "
            "If that sheet was not printed, revoke the batch and make a new one."
        ]
    return list(err.params.get("problems") or [err.key])


def sheet_response(made: vouchers.NewBatch, layout: str) -> Any:
    settings = services().settings
    sheet = build_sheet(
        made,
        venue=settings.portal.venue_name,
        wifi_name=settings.vouchers.wifi_name,
        public_url=settings.portal.public_url,
        layout=layout,
    )
    return render("voucher_sheet.html", sheet=sheet)


@bp.post(f"/vouchers/<{ROW_ID}:batch_id>/revoke")
@owner_required
def voucher_revoke(batch_id: int) -> Any:
    svc = services()
    try:
        done = vouchers.revoke_batch(svc.clock, batch_id, actor=actor())
    except NotFound:
        abort(404, description="There is no voucher batch with that number.")
    for grant in done.ended:
        svc.live.drop_session(grant.id, grant.router, grant.mac)
    for item in done.revoke_items:
        run_outbox_item(svc, item)
    if done.already:
        flash(f"Batch {batch_id} was already revoked.", "ok")
    else:
        audit(actor(), "voucher.revoke", svc.clock, batch=batch_id, unused=done.unused, ended=len(done.ended))
        flash(
            f"Batch {batch_id} revoked: {done.unused} unused vouchers will not work, "
            f"{len(done.ended)} live sessions ended.",
            "ok",
        )
    return back_to("admin.vouchers")


@bp.get("/vouchers/export.csv")
@owner_required
def vouchers_csv() -> Any:
    kind = request.args.get("kind", "batches")
    moment = now()
    if kind == "agents":
        today = reports.local_today(moment)
        body = vouchers_report.agents_csv(today - timedelta(days=REPORT_DAYS - 1), today)
    elif kind == "batches":
        body = vouchers_report.batches_csv(moment)
    else:
        abort(400, description="kind must be batches or agents")
    name = f"vouchers-{kind}-{reports.local_today(moment).isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


from portal.web.admin import vouchers_agents  # noqa: E402,F401 - the agents' pages register on bp
