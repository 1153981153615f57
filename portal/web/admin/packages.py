"""Packages: list, add, edit, disable/enable, all through :mod:`portal.catalog`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import abort, flash, request
from werkzeug.datastructures import MultiDict

from portal.domain import packages as catalog
from portal.domain.accounts import audit
from portal.domain.errors import BadInput, NotFound
from portal.web.admin import ROW_ID, actor, back_to, bp, formatting, owner_required, render
from portal.web.context import services

if TYPE_CHECKING:
    from portal.ledger.models import Package

FIELDS = ("name", "name_sw", "price", "duration", "data_cap", "rate_limit", "devices", "sort_order")
REQUIRED = {"name": "name", "price": "price", "duration": "duration"}


def form_values(package: Package) -> dict[str, str]:
    """A package as the text the form shows (and :func:`catalog.validate_changes` reads)."""
    return {
        "name": package.name,
        "name_sw": package.name_sw,
        "price": str(package.price),
        "duration": catalog.format_duration(package.duration_seconds),
        "data_cap": formatting.size(package.data_cap_bytes),
        "rate_limit": package.rate_limit or "none",
        "devices": str(package.devices),
        "sort_order": str(package.sort_order),
    }


def changes_from_form(form: MultiDict[str, str]) -> tuple[dict[str, str], catalog.PackageChanges]:
    """The submitted text (kept for redisplay) and the validated changes.

    On this form an empty data cap or speed limit means "none", and an empty Swahili name
    clears it (the CLI reads empty as "leave as it is").
    """
    raw = {name: form.get(name, "").strip()[:100] for name in FIELDS}
    problems = [f"{label} is required" for key, label in REQUIRED.items() if not raw[key]]
    cleaned = dict(raw, data_cap=raw["data_cap"] or "none", rate_limit=raw["rate_limit"] or "none")
    try:
        changes = catalog.validate_changes(cleaned)
    except BadInput as err:
        problems.extend(err.params.get("problems", []))
        changes = catalog.PackageChanges()
    if problems:
        raise BadInput("package_values", problems=problems, values=raw)
    if not raw["name_sw"]:
        changes = replace(changes, name_sw="")
    return raw, changes


def snapshot(package: Package) -> dict[str, Any]:
    return {**form_values(package), "active": package.active}


def _package_or_404(package_id: int) -> Package:
    try:
        return catalog.get_package(package_id)
    except NotFound:
        abort(404, description="There is no package with that number.")


@bp.get("/packages")
@owner_required
def packages() -> Any:
    return render("packages.html", packages=catalog.listed_packages(include_inactive=True))


@bp.route("/packages/new", methods=["GET", "POST"])
@owner_required
def package_new() -> Any:
    if request.method == "GET":
        return render("package_form.html", package=None, values={"devices": "1", "sort_order": "0"})
    try:
        _raw, changes = changes_from_form(request.form)
        package = catalog.add_package(changes, services().clock)
    except BadInput as err:
        return render(
            "package_form.html",
            400,
            package=None,
            values=err.params.get("values", request.form),
            problems=err.params.get("problems", []),
        )
    audit(actor(), "package.add", services().clock, package=package.id, **form_values(package))
    flash(f"Package “{package.name}” added.", "ok")
    return back_to("admin.packages")


@bp.route(f"/packages/<{ROW_ID}:package_id>/edit", methods=["GET", "POST"])
@owner_required
def package_edit(package_id: int) -> Any:
    package = _package_or_404(package_id)
    if request.method == "GET":
        return render("package_form.html", package=package, values=form_values(package))
    before = snapshot(package)
    try:
        _raw, changes = changes_from_form(request.form)
    except BadInput as err:
        return render(
            "package_form.html",
            400,
            package=package,
            values=err.params.get("values", request.form),
            problems=err.params.get("problems", []),
        )
    package = catalog.update_package(package, changes)
    after = snapshot(package)
    changed = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changed:
        audit(actor(), "package.update", services().clock, package=package.id, changes=changed)
    flash(f"Package “{package.name}” saved." if changed else "Nothing changed.", "ok")
    return back_to("admin.packages")


@bp.post(f"/packages/<{ROW_ID}:package_id>/active")
@owner_required
def package_active(package_id: int) -> Any:
    package = _package_or_404(package_id)
    wanted = request.form.get("active", "")
    if wanted not in ("0", "1"):
        abort(400, description="Say whether the package should be on sale (active=1) or not (active=0).")
    active = wanted == "1"
    if package.active != active:
        catalog.set_active(package, active)
        audit(
            actor(),
            "package.enable" if active else "package.disable",
            services().clock,
            package=package.id,
            name=package.name,
        )
    flash(f"Package “{package.name}” is {'on sale' if active else 'disabled: customers no longer see it'}.", "ok")
    return back_to("admin.packages")
