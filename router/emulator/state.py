"""Everything the emulated router knows, behind one lock, and how one API command is run."""

from __future__ import annotations

import hmac
import logging
import re
import threading
from hashlib import md5
from typing import Any

from router.clock import Clock
from router.emulator.catalog import build_config_menus, seed_factory_rows
from router.emulator.codec import Command
from router.emulator.hotspot import HotspotModel
from router.emulator.hotspot_rows import HotspotConfig
from router.emulator.live_menus import build_hotspot_menus
from router.emulator.menus import READ_VERBS, Context, Menu, Outcome, Trap
from router.emulator.system_menus import SystemInfo, build_system_menus

logger = logging.getLogger(__name__)

API_POLICIES = frozenset({"api", "read", "write", "sensitive", "policy"})
SECRET_ATTRIBUTES = ("password", "response")


def parse_version(version: str) -> tuple[int, ...]:
    """``"7.18"`` → ``(7, 18)``; ``"7.18+"`` and ``"7.18 (stable)"`` too."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split(" ")[0])[:3])


def loggable(command: Command) -> tuple[str, dict[str, str]]:
    """``(command word, attributes)`` with secrets dropped; queries joined under the key ``"?"``."""
    attributes = {name: value for name, value in command.attributes.items() if not name.endswith(SECRET_ATTRIBUTES)}
    if command.queries:
        attributes["?"] = " ".join(command.queries)
    return command.word, attributes


class RouterState:
    """Configuration, hotspot model and API accounts of one emulated router."""

    def __init__(self, clock: Clock, *, identity: str, version: str, hotspot_server: str, tls: bool) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.version = version
        self.version_tuple = parse_version(version)
        self.tls = tls
        self.config = build_config_menus()
        seed_factory_rows(self.config, hotspot_server=hotspot_server, api_port=0, tls=tls)
        self.system = SystemInfo(identity=identity, version=version, boot_at=self.now())
        self.hotspot = HotspotModel(
            HotspotConfig(
                users=self.config["/ip/hotspot/user"],
                user_profiles=self.config["/ip/hotspot/user/profile"],
                servers=self.config["/ip/hotspot"],
                server_profiles=self.config["/ip/hotspot/profile"],
                bindings=self.config["/ip/hotspot/ip-binding"],
            )
        )
        self.menus: dict[str, Menu] = dict(self.config)
        for menu in build_hotspot_menus(self.hotspot) + build_system_menus(self.system):
            self.menus[menu.path] = menu
        self.command_log: list[tuple[str, dict[str, str]]] = []
        #: Keep only about this many of the newest commands (None: all, 0: none). A day of
        #: a soak sends millions: kept whole they cost gigabytes the run never reads.
        self.command_log_limit: int | None = None
        self.hotspot.tick(self.now())

    def now(self) -> float:
        return self.clock.now().timestamp()

    @property
    def sends_empty(self) -> bool:
        """RouterOS 7.18 added ``!empty`` for prints that find nothing."""
        return self.version_tuple >= (7, 18)

    @property
    def legacy_login(self) -> bool:
        """Before 6.43 ``/login`` is a challenge/response exchange."""
        return self.version_tuple < (6, 43)

    def set_api_port(self, port: int) -> None:
        with self.lock:
            services = self.config["/ip/service"]
            for _, values in services.records():
                if values["name"] == ("api-ssl" if self.tls else "api"):
                    values["port"] = port

    def max_sessions(self) -> int:
        with self.lock:
            for _, values in self.config["/ip/service"].records():
                if values["name"] == ("api-ssl" if self.tls else "api"):
                    return int(values.get("max-sessions", 20))
        return 20

    # ----- accounts ---------------------------------------------------------------
    def add_api_user(self, name: str, password: str, policies: set[str]) -> None:
        unknown = set(policies) - API_POLICIES
        if unknown:
            raise ValueError(f"unknown policies {sorted(unknown)}; allowed: {sorted(API_POLICIES)}")
        policy_text = ",".join(sorted(policies))
        with self.lock:
            users, groups = self.config["/user"], self.config["/user/group"]
            for menu in (users, groups):
                menu.rows = {row_id: row for row_id, row in menu.rows.items() if row.get("name") != name}
            groups.seed({"name": name, "policy": policy_text})
            users.seed({"name": name, "group": name, "password": password})

    def _account(self, name: str) -> tuple[dict[str, Any], frozenset[str]] | None:
        user = next((v for _, v in self.config["/user"].records() if v.get("name") == name), None)
        if user is None or user.get("disabled"):
            return None
        group = next((v for _, v in self.config["/user/group"].records() if v.get("name") == user.get("group")), {})
        policies = frozenset(word for word in group.get("policy", "").split(",") if word)
        if "api" not in policies:
            return None
        return user, policies

    def authenticate(self, name: str, password: str) -> frozenset[str] | None:
        """The policies of a valid API login (``api`` policy required), None otherwise."""
        with self.lock:
            found = self._account(name)
            if found is None or not hmac.compare_digest(found[0].get("password", ""), password):
                return None
            found[0]["last-logged-in"] = self.clock.now().strftime("%Y-%m-%d %H:%M:%S")
            return found[1]

    def authenticate_challenge(self, name: str, response: str, challenge: bytes) -> frozenset[str] | None:
        """Pre-6.43 login: ``response`` = ``00`` + hex(md5(0x00 + password + challenge))."""
        with self.lock:
            found = self._account(name)
            if found is None:
                return None
            digest = md5(b"\x00" + found[0].get("password", "").encode() + challenge, usedforsecurity=False)
            return found[1] if hmac.compare_digest("00" + digest.hexdigest(), response) else None

    # ----- commands ---------------------------------------------------------------
    def log_command(self, command: Command) -> None:
        limit = self.command_log_limit
        if limit == 0:
            return
        with self.lock:
            self.command_log.append(loggable(command))
            if limit is not None and len(self.command_log) > 2 * limit:
                del self.command_log[:-limit]  # now and then, not per command

    def execute(self, command: Command, policies: frozenset[str]) -> Outcome:
        """Run one logged-in command; raises :class:`Trap` for every refusal."""
        with self.lock:
            now = self.now()
            self.hotspot.tick(now)
            menu = self.menus.get(command.path)
            if menu is None:
                if any(path.startswith(command.path + "/") for path in self.menus):
                    raise Trap("no such command", 0)
                raise Trap("no such command prefix", 0)
            if command.verb not in menu.verbs:
                raise Trap("no such command", 0)
            if ("read" if command.verb in READ_VERBS else "write") not in policies:
                raise Trap("not enough permissions (9)")
            if command.stray_words:
                raise Trap(f"unknown parameter {command.stray_words[0]}")
            outcome = menu.handle(command.verb, command, Context(now, policies, self.menus))
            if command.verb not in READ_VERBS:  # a read changed nothing the tick before it did not see
                self.hotspot.tick(now)
            return outcome

    def reboot(self, boot_seconds: float = 0.0) -> None:
        """Power cycle: live tables emptied, configuration renumbered, uptime restarts when
        the router is back ``boot_seconds`` later (until then the API turns connections away)."""
        with self.lock:
            now = self.now()
            self.hotspot.tick(now)
            self.hotspot.reboot(now, boot_seconds)
            for menu in self.config.values():
                menu.renumber()
            self.system.boot_at = now + boot_seconds

    def booting(self) -> bool:
        """True while a reboot is still in progress (the API is not up yet)."""
        with self.lock:
            now = self.now()
            self.hotspot.tick(now)
            return self.hotspot.booting(now)
