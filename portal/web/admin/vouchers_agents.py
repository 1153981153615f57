"""Agents in the admin: the owner adds agents, tops up their float and sets their commission;
an agent signs in and issues vouchers from the float on their own page."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import abort, flash, g, request

from portal.domain import reports, vouchers, vouchers_agents
from portal.domain.errors import BadInput, NotFound
from portal.domain.packages import listed_packages
from portal.web.admin import ROW_ID, actor, back_to, bp, login_required, now, owner_required, render
from portal.web.admin.vouchers import REPORT_DAYS, new_request_id, problems_for, sheet_response
from portal.web.admin.vouchers_print import LAYOUTS
from portal.web.context import services

if TYPE_CHECKING:
    from portal.ledger.models import VoucherAgent


def _agent_or_404(agent_id: int) -> VoucherAgent:
    try:
        return vouchers_agents.get_agent(agent_id)
    except NotFound:
        abort(404, description="There is no agent with that number.")


@bp.get("/vouchers/agents")
@owner_required
def voucher_agents() -> Any:
    return _agents_page()


def _agents_page(status: int = 200, **extra: Any) -> Any:
    today = reports.local_today(now())
    lo, hi = reports.day_bounds(today - timedelta(days=REPORT_DAYS - 1), today)
    return render(
        "voucher_agents.html",
        status,
        sales=vouchers_agents.sales(lo, hi),
        days=REPORT_DAYS,
        values=extra.pop("values", {"commission": "10"}),
        problems=extra.pop("problems", []),
        **extra,
    )


@bp.post("/vouchers/agents")
@owner_required
def voucher_agent_create() -> Any:
    form = request.form
    values = {k: str(form.get(k, "")).strip()[:100] for k in ("name", "username", "commission")}
    try:
        agent = vouchers_agents.create_agent(
            services().clock,
            username=values["username"],
            password=str(form.get("password", ""))[:200],
            name=values["name"],
            commission_bp=vouchers_agents.parse_commission(values["commission"]),
            actor=actor(),
        )
    except BadInput as err:
        return _agents_page(400, values=values, problems=list(err.params.get("problems") or [err.key]))
    flash(f"Agent “{agent.name}” added. Top up their float so they can issue vouchers.", "ok")
    return back_to("admin.voucher_agents")


@bp.post(f"/vouchers/agents/<{ROW_ID}:agent_id>/float")
@owner_required
def voucher_agent_float(agent_id: int) -> Any:
    agent = _agent_or_404(agent_id)
    try:
        amount = vouchers_agents.parse_amount(request.form.get("amount"))
        left = vouchers_agents.top_up(
            services().clock, agent, amount, actor=actor(), note=str(request.form.get("note", ""))
        )
    except BadInput as err:
        return _agents_page(400, problems=list(err.params.get("problems") or [err.key]))
    flash(f"Float for “{agent.name}” is now KSh {left:,}.", "ok")
    return back_to("admin.voucher_agents")


@bp.post(f"/vouchers/agents/<{ROW_ID}:agent_id>/terms")
@owner_required
def voucher_agent_terms(agent_id: int) -> Any:
    agent = _agent_or_404(agent_id)
    try:
        commission = vouchers_agents.parse_commission(request.form.get("commission"))
    except BadInput as err:
        return _agents_page(400, problems=list(err.params.get("problems") or [err.key]))
    active = request.form.get("active", "1") == "1"
    vouchers_agents.set_terms(services().clock, agent, commission_bp=commission, active=active, actor=actor())
    flash(f"“{agent.name}”: commission {commission / 100:g}%, {'active' if active else 'paused'}.", "ok")
    return back_to("admin.voucher_agents")


# -- the agent's own page ------------------------------------------------------------------


def _me() -> VoucherAgent:
    if g.admin_role != "agent":
        abort(403, description="This page is for agent accounts.")
    agent = vouchers_agents.agent_for_admin(g.admin)
    if agent is None:
        abort(403, description="This login is not set up as an agent yet. Ask the owner.")
    return agent


@bp.get("/vouchers/agent")
@login_required
def voucher_agent_home() -> Any:
    return _agent_page(_me())


def _agent_page(agent: VoucherAgent, status: int = 200, **extra: Any) -> Any:
    return render(
        "voucher_agent.html",
        status,
        agent=agent,
        float_balance=vouchers_agents.balance(agent),
        rows=vouchers.batch_rows(now(), agent=agent),
        packages=listed_packages(),
        layouts=LAYOUTS,
        request_id=new_request_id(),
        labels=vouchers.STATE_LABELS,
        states=vouchers.STATES,
        values=extra.pop("values", {"count": "10", "layout": "a4"}),
        problems=extra.pop("problems", []),
        **extra,
    )


@bp.post("/vouchers/agent")
@login_required
def voucher_agent_issue() -> Any:
    agent = _me()
    values = {k: str(request.form.get(k, "")).strip()[:100] for k in ("package", "count", "layout")}
    try:
        made = vouchers_agents.issue(
            services(),
            agent,
            package_id=values["package"],
            count=vouchers.parse_count(values["count"]),
            request_id=str(request.form.get("request_id", ""))[:40] or None,
        )
    except BadInput as err:
        return _agent_page(agent, 400, values=values, problems=problems_for(err, None))
    return sheet_response(made, values["layout"])
