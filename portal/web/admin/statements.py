"""Statement reconciliation pages: import a statement, the four lists, settling a line,
the daily review, and their CSV exports. Owners only: this is the money."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, request

from portal.domain import admin_lists, daily_review, exports, reports, statement, statement_actions
from portal.domain.errors import BadInput, NotFound, PortalError
from portal.domain.packages import listed_packages
from portal.domain.statement_import import import_statement
from portal.domain.statement_import import imports as recent_imports
from portal.mpesa.statement import StatementFormatError
from portal.web.admin import ROW_ID, actor, back_to, bp, now, owner_required, page_arg, render, whole_number
from portal.web.admin.operations import csv_answer, problems_of
from portal.web.context import services

MAX_STATEMENT_BYTES = 50 * 1024 * 1024  # a year of a busy venue's statement, with room to spare
PER_PAGE = 50
LIST_TITLES = {
    "statement_only": "In the statement, not in the ledger (money received, no access given)",
    "ledger_only": "In the ledger, not in the statement (to investigate)",
    "mismatch": "Amount or time differs",
    "matched": "Matched",
    "resolved": "Settled as refunded outside the portal",
}


@bp.url_value_preprocessor
def _allow_statement_uploads(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Runs before the CSRF check reads the form: only this upload may be large."""
    if endpoint == "admin.statement_import":
        request.max_content_length = MAX_STATEMENT_BYTES


def _kind(raw: str | None) -> str:
    kind = (raw or "statement_only").strip()
    if kind not in LIST_TITLES:
        abort(404, description="There is no such list.")
    return kind


def _page(status: int = 200, problems: list[str] | None = None, result: Any = None) -> Any:
    settings = services().settings
    kind = _kind(request.args.get("list"))
    page = page_arg(request.args.get("page")) or 1
    items, total = statement.items(settings, kind, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return render(
        "statements.html",
        status,
        counts=statement.counts(settings),
        kind=kind,
        titles=LIST_TITLES,
        items=items,
        listing=admin_lists.Page(items=items, page=page, total=total, per_page=PER_PAGE),
        imports=recent_imports(),
        problems=problems or [],
        result=result,
    )


@bp.get("/statements")
@owner_required
def statements() -> Any:
    return _page()


@bp.post("/statements/import")
@owner_required
def statement_import() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(400, ["Choose the statement file (CSV) you downloaded from the M-Pesa portal."])
    svc = services()
    try:
        result = import_statement(
            upload.stream,
            filename=upload.filename,
            actor=actor(),
            settings=svc.settings,
            clock=svc.clock,
            with_counts=False,
        )
    except StatementFormatError as err:
        return _page(400, [f"{upload.filename}: {err}"])
    if result.already_imported:
        flash(
            f"{upload.filename} was already imported on {result.statement.imported_at:%Y-%m-%d}; nothing changed.", "ok"
        )
    else:
        row = result.statement
        flash(
            f"{upload.filename}: {row.lines_added} new lines, {row.lines_known} already imported, "
            f"{row.rows_ignored} money out or not completed, {row.rows_skipped} unreadable.",
            "ok",
        )
    return _page(result=result)


@bp.get(f"/statements/lines/<{ROW_ID}:line_id>")
@owner_required
def statement_line(line_id: int, status: int = 200, problems: list[str] | None = None) -> Any:
    line = statement_actions.line_by_id(line_id)
    if line is None:
        abort(404, description="There is no such statement line.")
    try:
        statement_actions.open_line(line_id)
        settled = ""
    except BadInput as err:
        settled = "; ".join(problems_of(err))
    return render(
        "statement_line.html",
        status,
        line=line,
        settled=settled,
        candidates=[] if settled else statement_actions.candidates(services(), line),
        packages=listed_packages(),
        suggested=statement_actions.package_for_amount(line.paid_in_cents),
        routers=list(services().routers),
        values=request.form,
        problems=problems or [],
    )


def _after(line_id: int, action: Any) -> Any:
    try:
        message = action()
    except NotFound:
        abort(404, description="There is no such statement line or payment.")
    except PortalError as err:
        return statement_line(line_id, err.http_status if err.http_status < 500 else 503, problems_of(err))
    flash(message, "ok")
    return back_to("admin.statements")


@bp.post(f"/statements/lines/<{ROW_ID}:line_id>/attach")
@owner_required
def statement_attach(line_id: int) -> Any:
    def act() -> str:
        payment = whole_number(request.form.get("payment"), 1, 2**63 - 1)
        if payment is None:
            raise BadInput("payment_required", problems=["choose the payment this money was for"])
        grant = statement_actions.attach(services(), line_id, payment, actor=actor())
        return f"Payment #{grant.payment_id} is paid: device {grant.mac} got its time."

    return _after(line_id, act)


@bp.post(f"/statements/lines/<{ROW_ID}:line_id>/grant")
@owner_required
def statement_grant(line_id: int) -> Any:
    def act() -> str:
        form = request.form
        grant = statement_actions.grant_to_device(
            services(),
            line_id,
            router=str(form.get("router") or ""),
            mac=str(form.get("mac") or ""),
            package_id=str(form.get("package") or ""),
            actor=actor(),
        )
        return f"Device {grant.mac} got the time this money paid for."

    return _after(line_id, act)


@bp.post(f"/statements/lines/<{ROW_ID}:line_id>/refund")
@owner_required
def statement_refund(line_id: int) -> Any:
    def act() -> str:
        line = statement_actions.record_refund(
            services(), line_id, note=str(request.form.get("note") or ""), actor=actor()
        )
        return f"{line.receipt} is recorded as refunded outside the portal."

    return _after(line_id, act)


@bp.get("/statements.csv")
@owner_required
def statements_csv() -> Any:
    raw = request.args.get("list") or ""
    kind = _kind(raw) if raw else None
    return csv_answer(exports.statement_lists(services().settings, kind), f"reconciliation-{kind or 'all'}.csv")


def _review_range() -> tuple[date, date]:
    try:
        filters = admin_lists.parse_payment_filters(
            {"from": request.args.get("from", ""), "to": request.args.get("to", "")}
        )
    except BadInput as err:
        abort(400, description="; ".join(err.params.get("problems", [])))
    start, end = daily_review.default_range(reports.local_today(now()))
    return filters.date_from or start, filters.date_to or end


@bp.get("/statements/daily")
@owner_required
def daily() -> Any:
    start, end = _review_range()
    return render("daily_review.html", days=daily_review.review(start, end), start=start, end=end)


@bp.get("/statements/daily.csv")
@owner_required
def daily_csv() -> Any:
    start, end = _review_range()
    return csv_answer(exports.review(start, end), f"daily-review-{start.isoformat()}-to-{end.isoformat()}.csv")
