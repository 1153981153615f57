"""Voucher batches: make N codes for a package, list them by state, revoke a batch.

A *voucher* is a printed code worth one package. Its clock starts at first use (wall
clock, like a paid package); it binds to the first device, or to as many devices as the
package allows. States, for the owner: ``unused``, ``in_use``, ``used_up``, ``expired``
(never used before its use-by date) and ``revoked``. Codes are made here and returned
once; the ledger keeps only their keyed hashes (:mod:`portal.domain.vouchers_codes`).
Redeeming is :mod:`portal.domain.vouchers_redeem`; agents :mod:`portal.domain.vouchers_agents`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import peewee

from portal.clock import NAIROBI, Clock
from portal.config import Settings
from portal.domain import vouchers_codes as codes
from portal.domain.errors import BadInput, NotFound
from portal.domain.outbox import queue
from portal.domain.packages import get_package
from portal.ledger.models import Grant, OutboxItem, Package, Payment, Voucher, VoucherAgent, VoucherBatch, VoucherUse
from portal.ledger.timeline import record

MAX_BATCH = 1000
STATES = ("unused", "in_use", "used_up", "expired", "revoked")
STATE_LABELS = {
    "unused": "unused",
    "in_use": "in use",
    "used_up": "used up",
    "expired": "expired",
    "revoked": "revoked",
}


@dataclass(frozen=True)
class NewBatch:
    """A batch just made, with its codes in clear: show them once, then forget them."""

    batch: VoucherBatch
    codes: list[str]  # grouped, e.g. K7QM-3XHD-9RWT

    @property
    def package(self) -> Package:
        return self.batch.package


def parse_count(raw: object) -> int:
    text = str(raw if raw is not None else "").strip()
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_BATCH:
        raise BadInput("voucher_values", problems=[f"count must be a whole number from 1 to {MAX_BATCH}"])
    return int(text)


def parse_use_by(raw: object, now: datetime) -> datetime | None:
    """``2026-12-31`` -> the end of that day in Nairobi (UTC); empty -> None."""
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadInput("voucher_values", problems=["use-by date must be a date like 2026-12-31"]) from None
    moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=NAIROBI).astimezone(UTC)
    if moment <= now:
        raise BadInput("voucher_values", problems=["use-by date is in the past"])
    return moment


def parse_label(raw: object) -> str:
    text = " ".join(str(raw or "").split())
    if len(text) > 60:
        raise BadInput("voucher_values", problems=["label must be at most 60 characters"])
    return text


def create_batch(
    settings: Settings,
    clock: Clock,
    *,
    package_id: object,
    count: int,
    actor: str,
    label: str = "",
    use_by: datetime | None = None,
    agent: VoucherAgent | None = None,
    request_id: str | None = None,
) -> NewBatch:
    """Make ``count`` codes for an active package. Raises BadInput, NotFound, or BadInput
    ``voucher_batch_exists`` when ``request_id`` was used already (a form sent twice)."""
    key = codes.current_key(settings)
    try:
        package = get_package(package_id)
    except NotFound:
        raise BadInput("voucher_values", problems=["choose a package that exists"]) from None
    if not package.active:
        raise BadInput("voucher_values", problems=[f"package “{package.name}” is disabled"])
    if not 1 <= count <= MAX_BATCH:
        raise BadInput("voucher_values", problems=[f"count must be from 1 to {MAX_BATCH}"])
    if request_id and VoucherBatch.select().where(VoucherBatch.request_id == request_id).exists():
        raise BadInput("voucher_batch_exists")
    made: list[str] = []
    with VoucherBatch._meta.database.atomic():
        batch = VoucherBatch.create(
            package=package,
            count=count,
            price=package.price,
            label=label,
            use_by=use_by,
            agent=agent,
            key_id=key.key_id,
            request_id=request_id or None,
            created_at=clock.now(),
            created_by=actor[:40],
        )
        while len(made) < count:
            code = codes.new_code(settings.vouchers.code_length)
            try:
                with VoucherBatch._meta.database.atomic():  # a savepoint: a clash costs one retry
                    Voucher.create(batch=batch, code_hash=key.hash(code))
            except peewee.IntegrityError:
                continue  # 1 in 2**60 per pair: never in practice, but never a duplicate either
            made.append(codes.grouped(code))
    return NewBatch(batch=batch, codes=made)


def state_of(voucher: Voucher, batch: VoucherBatch, now: datetime) -> str:
    """One of :data:`STATES` at ``now``."""
    revoked: datetime | None = batch.revoked_at
    first_used: datetime | None = voucher.first_used_at
    use_by: datetime | None = batch.use_by
    ends: datetime | None = voucher.ends_at
    if revoked is not None:
        return "revoked"
    if first_used is None:
        return "expired" if use_by is not None and use_by <= now else "unused"
    return "in_use" if ends is not None and ends > now else "used_up"


@dataclass(frozen=True)
class BatchRow:
    """A batch with how many of its vouchers are in each state."""

    batch: VoucherBatch
    states: dict[str, int]

    @property
    def redeemed(self) -> int:
        return self.states["in_use"] + self.states["used_up"]


def batch_rows(
    now: datetime, *, agent: VoucherAgent | None = None, created_by: str | None = None, limit: int = 500
) -> list[BatchRow]:
    """Batches, newest first, each with its state counts (one query for all the counts)."""
    query = VoucherBatch.select(VoucherBatch, Package).join(Package).order_by(VoucherBatch.id.desc()).limit(limit)
    if agent is not None:
        query = query.where(VoucherBatch.agent == agent)
    if created_by is not None:
        query = query.where(VoucherBatch.created_by == created_by)
    batches = list(query)
    counts = state_counts([b.id for b in batches], now)
    return [BatchRow(b, counts.get(b.id, dict.fromkeys(STATES, 0))) for b in batches]


def state_counts(batch_ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {bid: dict.fromkeys(STATES, 0) for bid in batch_ids}
    if not batch_ids:
        return result
    rows = (
        Voucher.select(
            Voucher.batch, Voucher.first_used_at, Voucher.ends_at, VoucherBatch.revoked_at, VoucherBatch.use_by
        )
        .join(VoucherBatch)
        .where(Voucher.batch.in_(batch_ids))
        .tuples()
    )
    for batch_id, first_used, ends, revoked, use_by in rows:
        voucher = Voucher(first_used_at=first_used, ends_at=ends)
        batch = VoucherBatch(revoked_at=revoked, use_by=use_by)
        result[batch_id][state_of(voucher, batch, now)] += 1
    return result


def batch_for_request(request_id: str | None) -> VoucherBatch | None:
    """The batch an earlier submit of the same form made, if any."""
    return VoucherBatch.get_or_none(VoucherBatch.request_id == request_id) if request_id else None


def get_batch(batch_id: object) -> VoucherBatch:
    text = str(batch_id).strip()
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise NotFound("voucher_batch_not_found")
    batch = VoucherBatch.get_or_none(VoucherBatch.id == int(text))
    if batch is None:
        raise NotFound("voucher_batch_not_found")
    return batch


@dataclass(frozen=True)
class Revocation:
    """What revoking a batch did in the ledger; the router and Redis follow (see callers)."""

    batch: VoucherBatch
    unused: int  # vouchers that can no longer be used at all
    ended: list[Grant]  # live sessions ended (their revoke is queued in the outbox)
    revoke_items: list[OutboxItem]
    already: bool = False


def revoke_batch(clock: Clock, batch_id: object, *, actor: str, reason: str = "voucher batch revoked") -> Revocation:
    """Revoke every voucher of a batch and end the sessions they gave (in the ledger).

    The router is told through the outbox items returned (the worker retries them); the
    caller with live services drops the Redis mirror and runs them at once.
    """
    batch = get_batch(batch_id)
    now = clock.now()
    with VoucherBatch._meta.database.atomic():
        changed = (
            VoucherBatch.update(revoked_at=now, revoked_by=actor[:40])
            .where(VoucherBatch.id == batch.id, VoucherBatch.revoked_at.is_null())
            .execute()
        )
        batch = VoucherBatch.get_by_id(batch.id)
        if not changed:
            return Revocation(batch, 0, [], [], already=True)
        unused = Voucher.select().where(Voucher.batch == batch, Voucher.first_used_at.is_null()).count()
        live = (
            Grant.select()
            .join(Payment, on=(Grant.payment == Payment.id))
            .join(VoucherUse, on=(VoucherUse.payment == Payment.id))
            .join(Voucher, on=(VoucherUse.voucher == Voucher.id))
            .where(Voucher.batch == batch, Grant.status == "active")
        )
        ended, items = [], []
        for grant in list(live):
            Grant.update(status="revoked", ended_at=now).where(Grant.id == grant.id).execute()
            record(grant.payment_id, "revoked", clock, reason=reason, batch=batch.id, by=actor)
            ended.append(grant)
            items.append(queue(grant, "revoke", now))
        if batch.agent_id is not None and unused:
            from portal.domain.vouchers_agents import refund_unused

            refund_unused(batch, unused, clock, actor)
    return Revocation(batch, unused, ended, items)


def package_words(package: Package) -> str:
    """What a package gives, for a card: ``1 hour · 2GB · 2M/2M · 2 devices``."""
    parts = [_duration_words(package.duration_seconds)]
    if package.data_cap_bytes:
        parts.append(_size_words(package.data_cap_bytes))
    if package.rate_limit:
        parts.append(f"up to {package.rate_limit.split('/')[-1]}bps")
    if package.devices > 1:
        parts.append(f"{package.devices} devices")
    return " · ".join(parts)


def _duration_words(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds // 60} minutes"


def _size_words(size: int) -> str:
    return f"{size / 1000**3:g} GB" if size >= 1000**3 else f"{size / 1000**2:g} MB"
