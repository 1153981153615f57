"""The configuration menus the product touches, with their fields, and the factory rows of a fresh
hotspot router."""

from __future__ import annotations

from router.emulator.codec import Command
from router.emulator.config_menu import ConfigMenu
from router.emulator.menus import CONFIG_VERBS, READ_VERBS, Context, Field, Outcome, Trap, Values
from router.emulator.values import (
    BOOL,
    DURATION,
    INT,
    IP,
    IP_PREFIX,
    LIMIT,
    MAC,
    OPTIONAL_DURATION,
    EnumType,
    FlagSetType,
)

LOGIN_METHODS = FlagSetType("mac", "cookie", "http-chap", "https", "http-pap", "trial", "mac-cookie")
USER_COUNTERS = ("uptime", "bytes-in", "bytes-out", "packets-in", "packets-out")


def _server(default: str | None = None) -> Field:
    """The ``server`` property: a hotspot server's name or ``all``."""
    return Field("server", default=default, ref="/ip/hotspot", ref_extra=("all",))


def _comment_and_disabled() -> list[Field]:
    return [Field("comment"), Field("disabled", BOOL, default=False)]


class HotspotUserMenu(ConfigMenu):
    """``/ip/hotspot/user``: names are unique per server (``all`` clashes with every server)."""

    def validate(self, row_id: int | None, values: Values) -> None:
        super().validate(row_id, values)
        for other_id, other in self.find("name", values.get("name")):
            if other_id == row_id:
                continue
            servers = {other.get("server", "all"), values.get("server", "all")}
            if "all" in servers or len(servers) == 1:
                raise Trap("failure: already have user with this name for this server")

    def do_reset_counters(self, command: Command, ctx: Context) -> Outcome:
        for row_id in self.resolve_ids(command.attributes.get(".id"), ctx):
            self.rows[row_id].update(dict.fromkeys(USER_COUNTERS, 0))
        return Outcome()


def build_config_menus() -> dict[str, ConfigMenu]:
    menus = [
        ConfigMenu(
            "/user",
            [
                Field("name", required=True),
                Field("group", default="read", ref="/user/group"),
                Field("password", write_only=True),
                Field("address"),
                Field("last-logged-in", read_only=True),
                *_comment_and_disabled(),
            ],
            READ_VERBS,
            unique_name=True,
            name_is_id=True,
        ),
        ConfigMenu(
            "/user/group",
            [
                Field("name", required=True),
                Field("policy"),
                Field("skin", default="default"),
                Field("comment"),
            ],
            READ_VERBS,
            unique_name=True,
            name_is_id=True,
        ),
        ConfigMenu(
            "/ip/service",
            [
                Field("name", required=True),
                Field("port", INT),
                Field("address"),
                Field("certificate"),
                Field("tls-version"),
                Field("max-sessions", INT, default=20),
                Field("vrf", default="main"),
                Field("disabled", BOOL, default=False),
                Field("invalid", BOOL, default=False, read_only=True),
            ],
            READ_VERBS,
            name_is_id=True,
        ),
        ConfigMenu(
            "/ip/hotspot",
            [
                Field("name", required=True),
                Field("interface", default="bridge-hotspot"),
                Field("address-pool", default="none"),
                Field("profile", default="default", ref="/ip/hotspot/profile"),
                Field("idle-timeout", OPTIONAL_DURATION, default=300),
                Field("keepalive-timeout", OPTIONAL_DURATION, default=0),
                Field("login-timeout", OPTIONAL_DURATION, default=0),
                Field("addresses-per-mac", LIMIT, default=2),
                Field("HTTPS", BOOL, default=False, read_only=True),
                Field("invalid", BOOL, default=False, read_only=True),
                *_comment_and_disabled(),
            ],
            unique_name=True,
            name_is_id=True,
        ),
        ConfigMenu(
            "/ip/hotspot/profile",
            [
                Field("name", required=True),
                Field("hotspot-address", IP),
                Field("dns-name"),
                Field("html-directory", default="hotspot"),
                Field("html-directory-override"),
                Field("http-cookie-lifetime", DURATION, default=3 * 86400),
                Field("http-proxy", default="0.0.0.0:0"),
                Field("login-by", LOGIN_METHODS, default=("cookie", "http-chap")),
                Field(
                    "mac-auth-mode",
                    EnumType("mac-as-username", "mac-as-username-and-password"),
                    default="mac-as-username",
                ),
                Field("mac-auth-password", sensitive=True),
                Field("smtp-server", default="0.0.0.0"),
                Field("split-user-domain", BOOL, default=False),
                Field("ssl-certificate", default="none"),
                Field("trial-uptime-limit", DURATION, default=1800),
                Field("trial-uptime-reset", DURATION, default=86400),
                Field("trial-user-profile", default="default"),
                Field("use-radius", BOOL, default=False),
                Field("radius-accounting", BOOL, default=True),
                Field("radius-interim-update", default="received"),
                Field("nas-port-type", default="wireless-802.11"),
                Field("rate-limit"),
                Field("install-hotspot-queue", BOOL, default=False),
                Field("default", BOOL, default=False, read_only=True),
            ],
            unique_name=True,
            name_is_id=True,
        ),
        HotspotUserMenu(
            "/ip/hotspot/user",
            [
                Field("name", required=True),
                Field("password", sensitive=True),
                Field("profile", default="default", ref="/ip/hotspot/user/profile"),
                _server("all"),
                Field("mac-address", MAC),
                Field("address", IP),
                Field("email"),
                Field("routes"),
                Field("limit-uptime", DURATION),
                Field("limit-bytes-in", INT),
                Field("limit-bytes-out", INT),
                Field("limit-bytes-total", INT),
                Field("uptime", DURATION, default=0, read_only=True),
                *(Field(name, INT, default=0, read_only=True) for name in USER_COUNTERS[1:]),
                Field("dynamic", BOOL, default=False, read_only=True),
                *_comment_and_disabled(),
            ],
            CONFIG_VERBS | {"reset-counters"},
            name_is_id=True,
            indexed=("mac-address",),
        ),
        ConfigMenu(
            "/ip/hotspot/user/profile",
            [
                Field("name", required=True),
                Field("address-pool", default="none"),
                Field("address-list"),
                Field("shared-users", LIMIT, default=1),
                Field("rate-limit"),
                Field("session-timeout", OPTIONAL_DURATION),
                Field("idle-timeout", OPTIONAL_DURATION, default=0),
                Field("keepalive-timeout", OPTIONAL_DURATION, default=120),
                Field("status-autorefresh", DURATION, default=60),
                Field("add-mac-cookie", BOOL, default=True),
                Field("mac-cookie-timeout", DURATION, default=3 * 86400),
                Field("transparent-proxy", BOOL, default=False),
                Field("open-status-page", EnumType("always", "http-login"), default="always"),
                Field("on-login"),
                Field("on-logout"),
                Field("incoming-filter"),
                Field("outgoing-filter"),
                Field("incoming-packet-mark"),
                Field("outgoing-packet-mark"),
                Field("parent-queue"),
                Field("queue-type"),
                Field("insert-queue-before", default="first"),
                Field("advertise", BOOL, default=False),
                Field("default", BOOL, default=False, read_only=True),
            ],
            unique_name=True,
            name_is_id=True,
        ),
        ConfigMenu(
            "/ip/hotspot/ip-binding",
            [
                Field("mac-address", MAC),
                Field("address", IP),
                Field("to-address", IP),
                _server("all"),
                Field("type", EnumType("regular", "bypassed", "blocked"), default="regular"),
                *_comment_and_disabled(),
            ],
            indexed=("mac-address", "address"),
        ),
        ConfigMenu(
            "/ip/hotspot/walled-garden",
            [
                Field("dst-host"),
                Field("dst-port"),
                Field("path"),
                Field("method"),
                Field("src-address", IP_PREFIX),
                _server(),
                Field("action", EnumType("allow", "deny"), default="allow"),
                Field("hits", INT, default=0, read_only=True),
                *_comment_and_disabled(),
            ],
        ),
        ConfigMenu(
            "/ip/hotspot/walled-garden/ip",
            [
                Field("dst-address", IP_PREFIX),
                Field("dst-address-list"),
                Field("src-address", IP_PREFIX),
                Field("src-address-list"),
                Field("protocol"),
                Field("dst-port"),
                Field("dst-host"),
                _server(),
                Field("action", EnumType("accept", "drop", "reject"), default="accept"),
                *_comment_and_disabled(),
            ],
        ),
    ]
    return {menu.path: menu for menu in menus}


READ_GROUP = "local,telnet,ssh,reboot,read,test,winbox,password,web,sniff,api,romon,rest-api"
FULL_GROUP = READ_GROUP.replace("read,", "read,write,policy,ftp,sensitive,")


def seed_factory_rows(menus: dict[str, ConfigMenu], *, hotspot_server: str, api_port: int, tls: bool) -> None:
    """What ``/ip hotspot setup`` leaves behind on a fresh 7.x router, plus an admin account."""
    groups = menus["/user/group"]
    groups.seed({"name": "read", "policy": READ_GROUP}, protected=True)
    groups.seed({"name": "write", "policy": READ_GROUP.replace("read,", "read,write,")}, protected=True)
    groups.seed({"name": "full", "policy": FULL_GROUP}, protected=True)
    menus["/user"].seed({"name": "admin", "group": "full"}, protected=True)
    services = menus["/ip/service"]
    for name, port in (
        ("telnet", 23),
        ("ftp", 21),
        ("www", 80),
        ("ssh", 22),
        ("www-ssl", 443),
        ("api", 8728),
        ("winbox", 8291),
        ("api-ssl", 8729),
    ):
        if name == ("api-ssl" if tls else "api"):
            port = api_port
        disabled = "yes" if name in ("www-ssl",) or (name == "api-ssl" and not tls) else "no"
        extra = (
            {"certificate": "emulator-self-signed" if tls else "none", "tls-version": "any"}
            if name in ("api-ssl", "www-ssl")
            else {}
        )
        services.seed({"name": name, "port": str(port), "disabled": disabled, **extra}, protected=True)
    profiles = menus["/ip/hotspot/profile"]
    profiles.seed({"name": "default", "default": "yes"}, protected=True)
    profiles.seed(
        {
            "name": "hsprof1",
            "hotspot-address": "10.5.50.1",
            "dns-name": "wifi.local",
            "login-by": "cookie,http-chap,http-pap,mac-cookie",
        }
    )
    menus["/ip/hotspot"].seed(
        {"name": hotspot_server, "interface": "bridge-hotspot", "address-pool": "hs-pool-1", "profile": "hsprof1"}
    )
    menus["/ip/hotspot/user/profile"].seed({"name": "default", "default": "yes"}, protected=True)
    menus["/ip/hotspot/user"].seed({"name": "default-trial", "dynamic": "yes"}, protected=True)
