"""The money pages: dashboard, payments (filters + per-payment timeline), unmatched callbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, g, redirect, request, url_for
from markupsafe import Markup

from portal.domain import admin_lists, reports
from portal.domain.errors import BadInput
from portal.web.admin import ROW_ID, bp, charts, login_required, now, owner_required, page_arg, render
from portal.web.context import services

CHART_DAYS = 30
BODY_PREVIEW = 600  # characters of a callback body shown on the list


@bp.get("/")
@login_required
def dashboard() -> Any:
    if g.admin_role != "owner":  # a cashier's day starts at the live sessions
        return redirect(url_for("admin.sessions"))
    svc = services()
    moment = now()
    today = reports.local_today(moment)
    start = today - timedelta(days=CHART_DAYS - 1)
    days = reports.revenue_by_day(start, today)
    by_package = reports.revenue_by_package(start, today)
    day_chart = charts.bar_chart(
        [(f"{d.day.day} {d.day:%b}", d.amount) for d in days], title=f"Revenue per day, last {CHART_DAYS} days (KSh)"
    )
    package_chart = charts.bar_chart(
        [(p.name, p.amount) for p in by_package], title=f"Revenue per package, last {CHART_DAYS} days (KSh)"
    )
    routers = [router.health() for router in svc.routers.values()]  # never raises
    return render(
        "dashboard.html",
        summary=reports.summary(moment),
        check=reports.money_check(start, today, moment),
        days=days,
        by_package=by_package,
        day_chart=Markup(day_chart),  # built by portal.charts, which escapes every text
        package_chart=Markup(package_chart),
        routers=routers,
        period=(start, today),
    )


@bp.get("/payments")
@login_required
def payments() -> Any:
    try:
        filters = admin_lists.parse_payment_filters(request.args)
    except BadInput as err:
        return render(
            "payments.html",
            400,
            filters=None,
            raw=request.args,
            result=None,
            problems=err.params.get("problems", []),
            states=admin_lists.PAYMENT_STATES,
        )
    result = admin_lists.find_payments(filters)
    states = admin_lists.PAYMENT_STATES
    return render("payments.html", filters=filters, raw=request.args, result=result, problems=[], states=states)


@bp.get(f"/payments/<{ROW_ID}:payment_id>")
@login_required
def payment(payment_id: int) -> Any:
    story = admin_lists.payment_story(payment_id)
    if story is None:
        abort(404, description="There is no payment with that number.")
    on_router: bool | None = None
    router_note = ""
    if story.grant is not None and story.grant.status == "active":
        on_router, router_note = admin_lists.device_on_router(services().router(story.grant.router), story.grant.mac)
    return render(
        "payment.html",
        story=story,
        p=story.payment,
        grant=story.grant,
        now=now(),
        on_router=on_router,
        router_note=router_note,
    )


@bp.get("/callbacks")
@owner_required
def callbacks() -> Any:
    page = page_arg(request.args.get("page"))
    if page is None:
        return render(
            "callbacks.html", 400, result=None, preview=BODY_PREVIEW, error="page must be a whole number from 1"
        )
    return render("callbacks.html", result=admin_lists.unmatched_page(page), preview=BODY_PREVIEW, error="")
