"""The alerts banner at the top of every admin page (issue 14): what the worker has found
firing, most severe first. Kept in its own block so a page never fails because of it."""

from __future__ import annotations

import logging
from typing import Any

from flask import g

from portal.domain import alerts
from portal.web.admin import bp

log = logging.getLogger(__name__)


@bp.context_processor
def _alerts_banner() -> dict[str, Any]:
    if not g.get("admin"):
        return {"firing_alerts": []}
    try:
        firing = [
            {
                "title": alerts.title_for(state.key),
                "summary": state.summary,
                "since": state.fired_at,
                "severity": state.severity,
            }
            for state in alerts.firing_alerts()
        ]
    except Exception as err:  # noqa: BLE001 - the banner must never break a page
        log.warning("alerts banner unavailable: %s", err)
        firing = []
    return {"firing_alerts": firing}
