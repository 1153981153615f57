"""Health checks shared by ``GET /api/health`` and ``pay2connect check``."""

from __future__ import annotations

from typing import Any

from portal.domain.context import Services


def check_database(services: Services) -> tuple[bool, str]:
    try:
        services.db.execute_sql("SELECT 1").fetchone()
        return True, "database answers"
    except Exception as err:  # noqa: BLE001 - any driver error means "not healthy"
        return False, f"database error: {err}"


def check_redis(services: Services) -> tuple[bool, str]:
    return (True, "redis answers") if services.live.ping() else (False, "redis does not answer")


def check_daraja(services: Services) -> tuple[bool, str]:
    from portal.mpesa.errors import DarajaError

    try:
        services.gateway.access_token()
        return True, "Daraja issued an access token"
    except DarajaError as err:
        return False, f"Daraja token failed: {err.message}"


def check_all(services: Services, *, include_daraja: bool = True, include_routers: bool = True) -> dict[str, Any]:
    """Every part's health; the public answer leaves out routers and Daraja (each costs a call
    to the outside, and anyone on the hotspot may ask)."""
    checks: dict[str, Any] = {}
    ok, detail = check_database(services)
    checks["database"] = {"ok": ok, "detail": detail}
    ok, detail = check_redis(services)
    checks["redis"] = {"ok": ok, "detail": detail}
    routers = {}
    for name, router in services.routers.items() if include_routers else ():
        health = router.health()
        routers[name] = {
            "ok": health.ok,
            "identity": health.identity,
            "version": health.version,
            "problems": health.problems,
        }
    checks["routers"] = routers
    if include_daraja:
        ok, detail = check_daraja(services)
        checks["daraja"] = {"ok": ok, "detail": detail}
    overall = all(c["ok"] for k, c in checks.items() if k != "routers") and all(r["ok"] for r in routers.values())
    return {"ok": overall, "checks": checks}
