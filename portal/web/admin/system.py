"""Routers (health, backlog) and the audit log."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from portal.domain import admin_lists
from portal.web.admin import bp, now, owner_required, page_arg, render
from portal.web.context import services


@bp.get("/routers")
@owner_required
def routers() -> Any:
    moment = now()
    rows = []
    for name, router in services().routers.items():
        waiting, last_error = admin_lists.router_backlog(name)
        rows.append(
            {
                "name": name,
                "health": router.health(),
                "active": admin_lists.active_count(name, moment),
                "waiting": waiting,
                "last_error": last_error,
            }
        )
    return render("routers.html", rows=rows)


def _detail_pairs(text: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return [("detail", text)]
    return admin_lists.readable_detail(data if isinstance(data, dict) else {"detail": data})


@bp.get("/audit")
@owner_required
def audit_log() -> Any:
    page = page_arg(request.args.get("page"))
    if page is None:
        return render("audit.html", 400, result=None, error="page must be a whole number from 1", details=_detail_pairs)
    return render("audit.html", result=admin_lists.audit_page(page), error="", details=_detail_pairs)
