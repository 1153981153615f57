"""Agents (resellers): people who sell vouchers for the venue from a float the owner tops up.

The float is prepaid value: the owner records what the agent paid in (``top_up``); each
voucher the agent issues takes its face value from the float (``issue``), so an agent can
never hand out more than they paid for; revoking an agent's batch gives the value of its
unused vouchers back (``refund``). The commission rate is applied in the report: on the
face value the agent sold (issued less refunded), owed by the venue to the agent.

An agent signs in to /admin as an admin user of role ``agent`` linked to one
:class:`~portal.ledger.models.VoucherAgent` row, and sees only their own voucher page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import peewee

from portal.clock import Clock
from portal.domain import vouchers
from portal.domain.accounts import audit, create_admin
from portal.domain.context import Services
from portal.domain.errors import BadInput, NotFound, TooManyRequests
from portal.domain.packages import get_package
from portal.ledger.models import AdminUser, AgentFloatEntry, Voucher, VoucherAgent, VoucherBatch

MAX_TOP_UP = 1_000_000


def parse_commission(raw: object) -> int:
    """``10`` or ``12.5`` (percent) -> basis points (1000, 1250)."""
    text = str(raw if raw is not None else "").strip().rstrip("%").strip()
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", text) or float(text) > 100:
        raise BadInput("voucher_values", problems=["commission must be a percentage from 0 to 100, like 10 or 12.5"])
    return round(float(text) * 100)


def parse_amount(raw: object) -> int:
    text = str(raw if raw is not None else "").strip().replace(",", "")
    if not re.fullmatch(r"-?[0-9]{1,7}", text) or int(text) == 0 or abs(int(text)) > MAX_TOP_UP:
        raise BadInput("voucher_values", problems=[f"amount must be whole shillings, not 0, at most {MAX_TOP_UP:,}"])
    return int(text)


def create_agent(
    clock: Clock, *, username: str, password: str, name: str, commission_bp: int, actor: str
) -> VoucherAgent:
    """A new admin login of role ``agent`` and its agent record (an existing username is refused)."""
    name = " ".join(str(name or "").split())
    if not 1 <= len(name) <= 60:
        raise BadInput("voucher_values", problems=["agent name must be 1 to 60 characters"])
    if AdminUser.select().where(AdminUser.username == (username or "").strip()).exists():
        raise BadInput("voucher_values", problems=["that username is taken: choose another"])
    with VoucherAgent._meta.database.atomic():
        try:
            user = create_admin(username, password, clock)
        except BadInput as err:
            raise BadInput("voucher_values", problems=[_account_problem(err)]) from None
        AdminUser.update(role="agent").where(AdminUser.id == user.id).execute()
        agent = VoucherAgent.create(admin=user, name=name, commission_bp=commission_bp, created_at=clock.now())
    audit(actor, "agent.create", clock, agent=agent.id, username=user.username, commission_bp=commission_bp)
    return agent


def _account_problem(err: BadInput) -> str:
    if err.key == "username_invalid":
        return "username must be 3-40 letters, digits or . _ @ -"
    if err.key == "password_too_short":
        return f"password must be at least {err.params.get('minimum')} characters"
    return err.key


def get_agent(agent_id: object) -> VoucherAgent:
    text = str(agent_id).strip()
    agent = VoucherAgent.get_or_none(VoucherAgent.id == int(text)) if re.fullmatch(r"[0-9]{1,9}", text) else None
    if agent is None:
        raise NotFound("voucher_agent_not_found")
    return agent


def agent_for_admin(username: str) -> VoucherAgent | None:
    return VoucherAgent.select().join(AdminUser).where(AdminUser.username == username).first()


def balance(agent: VoucherAgent) -> int:
    total = AgentFloatEntry.select(peewee.fn.SUM(AgentFloatEntry.amount)).where(AgentFloatEntry.agent == agent).scalar()
    return int(total or 0)


def top_up(clock: Clock, agent: VoucherAgent, amount: int, *, actor: str, note: str = "") -> int:
    """Add to (or, with a negative amount, correct) the float. Returns the new balance."""
    with AgentFloatEntry._meta.database.atomic():
        if amount < 0 and balance(agent) + amount < 0:
            raise BadInput("voucher_values", problems=["the float cannot go below zero"])
        AgentFloatEntry.create(
            agent=agent,
            at=clock.now(),
            amount=amount,
            kind="top_up" if amount > 0 else "adjust",
            actor=actor[:40],
            note=" ".join(str(note).split())[:200],
        )
    audit(actor, "agent.float", clock, agent=agent.id, amount=amount)
    return balance(agent)


def set_terms(clock: Clock, agent: VoucherAgent, *, commission_bp: int, active: bool, actor: str) -> None:
    VoucherAgent.update(commission_bp=commission_bp, active=active).where(VoucherAgent.id == agent.id).execute()
    audit(actor, "agent.update", clock, agent=agent.id, commission_bp=commission_bp, active=active)


def issue(
    services: Services, agent: VoucherAgent, *, package_id: object, count: int, request_id: str | None
) -> vouchers.NewBatch:
    """Vouchers an agent makes from their float (face value x count taken from it)."""
    if not agent.active:
        raise BadInput("voucher_values", problems=["this agent account is paused: ask the owner"])
    clock = services.clock
    with services.live.try_locks([f"agent-float:{agent.id}"]) as locked:
        if not locked:
            raise TooManyRequests("too_many_requests", seconds=5)
        try:
            cost = get_package(package_id).price * count
        except NotFound:
            raise BadInput("voucher_values", problems=["choose a package that exists"]) from None
        if cost > balance(agent):
            raise BadInput(
                "voucher_values",
                problems=[
                    f"not enough float: {count} vouchers cost KSh {cost:,}, the float has KSh {balance(agent):,}"
                ],
            )
        with VoucherBatch._meta.database.atomic():
            made = vouchers.create_batch(
                services.settings,
                clock,
                package_id=package_id,
                count=count,
                actor=agent.admin.username,
                label=agent.name,
                agent=agent,
                request_id=request_id,
            )
            AgentFloatEntry.create(
                agent=agent,
                at=clock.now(),
                amount=-made.batch.price * count,
                kind="issue",
                batch=made.batch,
                actor=agent.admin.username,
            )
    audit(agent.admin.username, "voucher.issue", clock, batch=made.batch.id, count=count, agent=agent.id)
    return made


def refund_unused(batch: VoucherBatch, unused: int, clock: Clock, actor: str) -> None:
    """Give an agent back the face value of vouchers revoked before anyone used them."""
    AgentFloatEntry.create(
        agent=batch.agent_id,
        at=clock.now(),
        amount=batch.price * unused,
        kind="refund",
        batch=batch,
        actor=actor[:40],
        note=f"{unused} unused vouchers of batch {batch.id} revoked",
    )


@dataclass(frozen=True)
class AgentSales:
    """One agent's sales over a period, with the commission applied."""

    agent: VoucherAgent
    issued: int  # vouchers issued in the period
    sold_value: int  # face value issued less face value refunded on revoke
    redeemed: int  # of the vouchers issued in the period, how many have been used
    commission: int  # whole KES owed to the agent (rounded down)
    float_balance: int

    @property
    def due_to_venue(self) -> int:
        return self.sold_value - self.commission

    @property
    def commission_percent(self) -> str:
        return f"{self.agent.commission_bp / 100:g}%"


def sales(lo: datetime, hi: datetime) -> list[AgentSales]:
    """Every agent's sales between two instants (float entries and batches in the period)."""
    rows = []
    for agent in VoucherAgent.select(VoucherAgent, AdminUser).join(AdminUser).order_by(VoucherAgent.name):
        entries = AgentFloatEntry.select().where(
            AgentFloatEntry.agent == agent, AgentFloatEntry.at >= lo, AgentFloatEntry.at < hi
        )
        sold = -sum(e.amount for e in entries if e.kind in ("issue", "refund"))
        batches = VoucherBatch.select(VoucherBatch.id).where(
            VoucherBatch.agent == agent, VoucherBatch.created_at >= lo, VoucherBatch.created_at < hi
        )
        issued = Voucher.select().where(Voucher.batch.in_(batches)).count()
        redeemed = Voucher.select().where(Voucher.batch.in_(batches), Voucher.first_used_at.is_null(False)).count()
        commission = sold * agent.commission_bp // 10_000
        rows.append(AgentSales(agent, issued, sold, redeemed, commission, balance(agent)))
    return rows
