"""Live sessions: who is online now; kick a device off or give it more time."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, request

from portal.domain import admin_lists, grants
from portal.domain.accounts import audit
from portal.domain.errors import NotFound
from portal.web.admin import ROW_ID, actor, back_to, bp, login_required, now, render
from portal.web.context import services

EXTEND_CHOICES = {"15": 15 * 60, "60": 60 * 60}  # minutes offered on the form -> seconds


def _sessions_page(status: int = 200, error: str = "") -> Any:
    return render(
        "sessions.html", status, rows=admin_lists.live_sessions(now()), error=error, extend_choices=EXTEND_CHOICES
    )


def _grant_or_404(grant_id: int) -> Any:
    try:
        return grants.grant_by_id(grant_id)
    except NotFound:
        abort(404, description="There is no session with that number.")


@bp.get("/sessions")
@login_required
def sessions() -> Any:
    return _sessions_page()


@bp.post(f"/sessions/<{ROW_ID}:grant_id>/kick")
@login_required
def session_kick(grant_id: int) -> Any:
    grant = _grant_or_404(grant_id)
    if not grants.end_grant(services(), grant, reason=f"kicked by admin {actor()}"):
        return _sessions_page(409, f"Session {grant.id} ({grant.mac}) had already ended.")
    audit(
        actor(),
        "session.kick",
        services().clock,
        grant=grant.id,
        payment=grant.payment_id,
        router=grant.router,
        mac=grant.mac,
    )
    flash(f"Device {grant.mac} was logged out and its session ended.", "ok")
    return back_to("admin.sessions")


@bp.post(f"/sessions/<{ROW_ID}:grant_id>/extend")
@login_required
def session_extend(grant_id: int) -> Any:
    grant = _grant_or_404(grant_id)
    seconds = EXTEND_CHOICES.get(request.form.get("minutes", ""))
    if seconds is None:
        return _sessions_page(400, "Choose how much time to add: 15 minutes or 1 hour.")
    if grant.status != "active":
        return _sessions_page(409, f"Session {grant.id} ({grant.mac}) has ended; it cannot be extended.")
    before = grant.expires_at
    why = " ".join(str(request.form.get("reason") or "").split())[:200]
    grant = grants.extend_grant(
        services(), grant, seconds, reason=f"extended by admin {actor()}" + (f": {why}" if why else "")
    )
    audit(
        actor(),
        "session.extend",
        services().clock,
        grant=grant.id,
        payment=grant.payment_id,
        mac=grant.mac,
        seconds=seconds,
        reason=why,
        old_expiry=before.isoformat(),
        new_expiry=grant.expires_at.isoformat(),
    )
    flash(f"Device {grant.mac} got {seconds // 60} more minutes.", "ok")
    return back_to("admin.sessions")
