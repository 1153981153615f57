"""Running the money side: the pause switch, stuck payments, care for a customer, CSV exports.

Owners only for what changes money or settings (pause, bulk re-check, complimentary time,
exports); a cashier may check one payment with M-Pesa (it only asks; a payment M-Pesa says
was paid is credited once through the normal path) and confirm a kick.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, abort, flash, g, request, stream_with_context

from portal.domain import admin_lists, care, exports, pause, recheck, reports
from portal.domain.errors import BadInput, NotFound, PortalError
from portal.domain.packages import listed_packages
from portal.web.admin import ROW_ID, actor, back_to, bp, login_required, now, owner_required, render, whole_number
from portal.web.admin.sessions import _grant_or_404
from portal.web.context import services

RECHECK_CHOICES = (5, 15, 30, 60, 180, 1440)  # minutes offered on the payments page
REFRESH_SECONDS = 2


@bp.context_processor
def _pause_banner() -> dict[str, Any]:
    """Every admin page says so while prompts are not being sent."""
    if not g.get("admin"):
        return {}
    return {"payments_pause": pause.state(services()), "recheck_choices": RECHECK_CHOICES}


def problems_of(err: PortalError) -> list[str]:
    return list(err.params.get("problems") or [err.key.replace("_", " ")])


def csv_answer(chunks: Any, filename: str) -> Response:
    """A streamed CSV download (never built whole in memory)."""
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# -- the pause switch --------------------------------------------------------------------


@bp.get("/payments/pause")
@owner_required
def pause_page() -> Any:
    return render("pause.html", state=pause.state(services()))


@bp.post("/payments/pause")
@owner_required
def pause_on() -> Any:
    reason = " ".join(str(request.form.get("reason") or "").split())[:200]
    if not reason:
        return render("pause.html", 400, state=pause.state(services()), problems=["Say why (for the audit log)."])
    if pause.pause_payments(services().clock, actor=actor(), reason=reason):
        flash("M-Pesa payments are paused. No prompt is sent; pending payments are still confirmed.", "ok")
    return back_to("admin.pause_page")


@bp.post("/payments/resume")
@owner_required
def pause_off() -> Any:
    reason = " ".join(str(request.form.get("reason") or "").split())[:200]
    if pause.resume_payments(services().clock, actor=actor(), reason=reason):
        flash("M-Pesa payments are on again.", "ok")
    return back_to("admin.pause_page")


# -- stuck payments ------------------------------------------------------------------------


@bp.post(f"/payments/<{ROW_ID}:payment_id>/check")
@login_required
def payment_check(payment_id: int) -> Any:
    try:
        result = recheck.check_now(services(), payment_id, actor=actor())
    except NotFound:
        abort(404, description="There is no payment with that number.")
    flash(f"Checked with M-Pesa: {result.detail}.", "ok" if result.outcome != "error" else "error")
    return back_to("admin.payment", payment_id=payment_id)


@bp.post("/payments/recheck")
@owner_required
def payments_recheck() -> Any:
    minutes = whole_number(request.form.get("minutes"), 1, 30 * 1440)
    if minutes is None:
        abort(400, description="Choose how old a payment must be: a number of minutes from 1.")
    svc = services()
    try:
        started = recheck.start_run(svc, older_than_seconds=minutes * 60, actor=actor())
    except BadInput as err:
        abort(400, description="; ".join(problems_of(err)))
    svc.dispatch(lambda: recheck.run(svc, started.id))  # on a worker thread; the page shows progress
    return back_to("admin.recheck_progress", run_id=started.id)


@bp.get(f"/payments/recheck/<{ROW_ID}:run_id>")
@owner_required
def recheck_progress(run_id: int) -> Any:
    try:
        run = recheck.run_by_id(run_id)
    except NotFound:
        abort(404, description="There is no such re-check.")
    finished: datetime | None = run.finished_at  # a peewee field: None until the run is done
    stalled = finished is None and (now() - run.updated_at).total_seconds() > 300
    refresh = REFRESH_SECONDS if finished is None and not stalled else 0
    return render("recheck.html", run=run, refresh=refresh, stalled=stalled)


# -- exports ---------------------------------------------------------------------------


@bp.get("/payments.csv")
@owner_required
def payments_csv() -> Any:
    try:
        filters = admin_lists.parse_payment_filters(request.args)
    except BadInput as err:
        abort(400, description="; ".join(err.params.get("problems", [])))
    return csv_answer(exports.payments(filters), f"payments-{reports.local_today(now()).isoformat()}.csv")


@bp.get("/revenue.csv")
@owner_required
def revenue_csv() -> Any:
    try:
        filters = admin_lists.parse_payment_filters(
            {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
        )
    except BadInput as err:
        abort(400, description="; ".join(err.params.get("problems", [])))
    today = reports.local_today(now())
    end = filters.date_to or today
    start = filters.date_from or end.replace(day=1)
    if (end - start).days > 366:
        abort(400, description="Choose at most a year.")
    return csv_answer(exports.revenue(start, end), f"revenue-{start.isoformat()}-to-{end.isoformat()}.csv")


# -- care for the customer -----------------------------------------------------------------


@bp.get(f"/sessions/<{ROW_ID}:grant_id>/kick")
@login_required
def session_kick_confirm(grant_id: int) -> Any:
    grant = _grant_or_404(grant_id)
    return render("kick_confirm.html", grant=grant, now=now())


def _complimentary_page(status: int = 200, problems: list[str] | None = None) -> Any:
    return render(
        "complimentary.html",
        status,
        packages=listed_packages(),
        routers=list(services().routers),
        values=request.form if request.method == "POST" else request.args,
        problems=problems or [],
    )


@bp.get("/sessions/complimentary")
@owner_required
def complimentary_form() -> Any:
    return _complimentary_page()


@bp.post("/sessions/complimentary")
@owner_required
def complimentary_grant() -> Any:
    form = request.form
    try:
        grant = care.complimentary_session(
            services(),
            router=str(form.get("router") or ""),
            mac=str(form.get("mac") or ""),
            package_id=str(form.get("package") or ""),
            reason=str(form.get("reason") or ""),
            actor=actor(),
        )
    except PortalError as err:
        return _complimentary_page(err.http_status if err.http_status < 500 else 503, problems_of(err))
    flash(f"Device {grant.mac} has a complimentary session until {grant.expires_at:%H:%M} UTC.", "ok")
    return back_to("admin.payment", payment_id=grant.payment_id)
