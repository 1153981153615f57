"""Menus whose rows are live state: :class:`ComputedMenu`, and the hotspot active, host and cookie
tables (the /system menus are in ``system_menus``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from router.emulator.codec import Command
from router.emulator.hotspot import HotspotModel
from router.emulator.hotspot_rows import Cookie, Host, Session, packets_for, session_left
from router.emulator.menus import READ_VERBS, Action, Context, Field, Menu, Outcome, Record, Trap, Values
from router.emulator.values import BOOL, DURATION, INT, IP, MAC, InvalidValue

LOGIN_ARGUMENTS = ("user", "password", "mac-address", "ip", "domain")
TRAFFIC_FIELDS = [Field(name, INT) for name in ("bytes-in", "bytes-out", "packets-in", "packets-out")]


@dataclass
class LiveTable:
    """Single rows of a live table without building them all: ``fetch(id, ctx)`` gives the row
    with that id (None: no such row); ``lookup(field, typed value)`` the ids of the rows whose
    field may equal it (None: the field has no index). The menu's provider must list rows by id."""

    fetch: Callable[[int, Context], Values | None]
    lookup: Callable[[str, Any], Iterable[int] | None]


class ComputedMenu(Menu):
    """Rows owned elsewhere (sessions, hosts, resource); ``remove`` and actions call back."""

    def __init__(
        self,
        path: str,
        fields: list[Field],
        provider: Callable[[Context], list[Record]],
        *,
        remover: Callable[[list[int], Context], None] | None = None,
        actions: dict[str, Action] | None = None,
        table: LiveTable | None = None,
    ) -> None:
        self.provider = provider
        self.remover = remover
        self.actions = actions or {}
        self.table = table
        verbs = READ_VERBS | set(self.actions) | ({"remove"} if remover else set())
        super().__init__(path, fields, frozenset(verbs))

    def records(self, ctx: Context) -> list[Record]:
        return self.provider(ctx)

    def record(self, row_id: int, ctx: Context) -> Values | None:
        return self.table.fetch(row_id, ctx) if self.table else super().record(row_id, ctx)

    def lookup(self, name: str, value: Any) -> Iterable[int] | None:
        return self.table.lookup(name, value) if self.table else None

    def in_id_order(self) -> bool:
        return self.table is not None  # providers with a LiveTable list rows by id

    def handle(self, verb: str, command: Command, ctx: Context) -> Outcome:
        if verb in self.actions:
            return self.actions[verb](command, ctx)
        return super().handle(verb, command, ctx)

    def do_remove(self, command: Command, ctx: Context) -> Outcome:
        assert self.remover is not None
        self.remover(self.resolve_ids(command.attributes.get(".id"), ctx), ctx)
        return Outcome()


def _traffic(bytes_in: int, bytes_out: int) -> dict[str, int]:
    return {
        "bytes-in": bytes_in,
        "bytes-out": bytes_out,
        "packets-in": packets_for(bytes_in),
        "packets-out": packets_for(bytes_out),
    }


def _positive(value: float | None) -> int | None:
    return round(value) if value else None


def _ids(found: Iterable[Host | Session | Cookie]) -> list[int]:
    return [item.id for item in found]


def build_hotspot_menus(model: HotspotModel) -> list[Menu]:
    # Lookups compare the typed query value with the model's attributes. That matches the
    # query engine's typed comparison because the model stores canonical values only:
    # MACs upper-case with colons (device_join normalizes), IPs as ``ipaddress`` prints them.
    def active_row(session: Session, ctx: Context) -> Values:
        left = session_left(session, ctx.now)
        return {
            "server": session.server,
            "user": session.user,
            "domain": session.domain,
            "address": session.ip,
            "mac-address": session.mac,
            "login-by": session.login_by,
            "uptime": round(ctx.now - session.login_at),
            "session-time-left": None if left is None else round(left),
            "idle-time": round(ctx.now - session.last_traffic),
            "idle-timeout": _positive(session.idle_timeout),
            "keepalive-timeout": _positive(session.keepalive_timeout),
            **_traffic(session.bytes_in, session.bytes_out),
            **{f"limit-bytes-{kind}": left for kind, left in session.byte_limits.items()},
            "radius": False,
            "blocked": False,
        }

    def active_rows(ctx: Context) -> list[Record]:
        return [
            (session.id, active_row(session, ctx)) for session in sorted(model.sessions.values(), key=lambda s: s.id)
        ]

    def active_fetch(session_id: int, ctx: Context) -> Values | None:
        session = model.sessions.get(session_id)
        return None if session is None else active_row(session, ctx)

    def active_lookup(name: str, value: Any) -> list[int] | None:
        attribute = {"mac-address": "mac", "user": "user", "address": "ip"}.get(name)
        return None if attribute is None else _ids(model.sessions.where(attribute, value))

    def login(command: Command, ctx: Context) -> Outcome:
        args = command.attributes
        for name in args:
            if name not in LOGIN_ARGUMENTS:
                raise Trap(f"unknown parameter {name}")
        try:
            ip = IP.parse("ip", args.get("ip", ""))
            mac = MAC.parse("mac-address", args["mac-address"]) if args.get("mac-address") else None
        except InvalidValue as error:
            raise Trap(error.message, 1) from None
        model.login(args.get("user", ""), args.get("password", ""), ip, mac, ctx.now, domain=args.get("domain"))
        return Outcome()

    def logout(ids: list[int], ctx: Context) -> None:
        for session_id in ids:
            model.end_session(session_id, ctx.now, "admin")

    def host_row(host: Host, ctx: Context) -> Values:
        return {
            "mac-address": host.mac,
            "address": host.ip,
            "to-address": host.ip,
            "server": host.server,
            "uptime": round(ctx.now - host.seen_at),
            "idle-time": round(ctx.now - host.last_traffic),
            "host-dead-time": round(ctx.now - host.left_at) if host.left_at is not None else 0,
            **_traffic(host.bytes_in, host.bytes_out),
            "found-by": "DHCP",
            "authorized": host.authorized,
            "bypassed": host.bypassed,
            "blocked": False,
            "static": False,
            "DHCP": True,
            "dynamic": True,
        }

    def host_rows(ctx: Context) -> list[Record]:
        return [(host.id, host_row(host, ctx)) for host in sorted(model.hosts.values(), key=lambda h: h.id)]

    def host_fetch(host_id: int, ctx: Context) -> Values | None:
        host = model.host_by_id(host_id)
        return None if host is None else host_row(host, ctx)

    def host_lookup(name: str, value: Any) -> list[int] | None:
        if name == "mac-address":
            return _ids(host for host in (model.hosts.get(value),) if host is not None)
        return _ids(model.hosts.where("ip", value)) if name in ("address", "to-address") else None

    def remove_hosts(ids: list[int], ctx: Context) -> None:
        for host_id in ids:
            model.remove_host(host_id, ctx.now)

    def cookie_row(cookie: Cookie, ctx: Context) -> Values:
        return {
            "user": cookie.user,
            "mac-address": cookie.mac,
            "expires-in": round(cookie.expires_at - ctx.now),
            "mac-cookie": True,
        }

    def cookie_rows(ctx: Context) -> list[Record]:
        return [(cookie.id, cookie_row(cookie, ctx)) for cookie in sorted(model.cookies.values(), key=lambda c: c.id)]

    def cookie_fetch(cookie_id: int, ctx: Context) -> Values | None:
        cookie = model.cookies.get(cookie_id)
        return None if cookie is None else cookie_row(cookie, ctx)

    def cookie_lookup(name: str, value: Any) -> list[int] | None:
        attribute = {"mac-address": "mac", "user": "user"}.get(name)
        return None if attribute is None else _ids(model.cookies.where(attribute, value))

    def remove_cookies(ids: list[int], ctx: Context) -> None:
        for cookie_id in ids:
            model.cookies.pop(cookie_id, None)

    active_fields = [
        Field("server"),
        Field("user"),
        Field("domain"),
        Field("address", IP),
        Field("mac-address", MAC),
        Field("login-by"),
        Field("uptime", DURATION),
        Field("session-time-left", DURATION),
        Field("idle-time", DURATION),
        Field("idle-timeout", DURATION),
        Field("keepalive-timeout", DURATION),
        *TRAFFIC_FIELDS,
        *(Field(f"limit-bytes-{kind}", INT) for kind in ("in", "out", "total")),
        Field("radius", BOOL),
        Field("blocked", BOOL),
    ]
    host_fields = [
        Field("mac-address", MAC),
        Field("address", IP),
        Field("to-address", IP),
        Field("server"),
        Field("uptime", DURATION),
        Field("idle-time", DURATION),
        Field("host-dead-time", DURATION),
        *TRAFFIC_FIELDS,
        Field("found-by"),
        *(Field(flag, BOOL) for flag in ("authorized", "bypassed", "blocked", "static", "DHCP", "dynamic")),
    ]
    cookie_fields = [
        Field("user"),
        Field("domain"),
        Field("mac-address", MAC),
        Field("expires-in", DURATION),
        Field("mac-cookie", BOOL),
    ]
    return [
        ComputedMenu(
            "/ip/hotspot/active",
            active_fields,
            active_rows,
            remover=logout,
            actions={"login": login},
            table=LiveTable(active_fetch, active_lookup),
        ),
        ComputedMenu(
            "/ip/hotspot/host", host_fields, host_rows, remover=remove_hosts, table=LiveTable(host_fetch, host_lookup)
        ),
        ComputedMenu(
            "/ip/hotspot/cookie",
            cookie_fields,
            cookie_rows,
            remover=remove_cookies,
            table=LiveTable(cookie_fetch, cookie_lookup),
        ),
    ]
