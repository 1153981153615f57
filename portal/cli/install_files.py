"""What ``pay2connect install`` writes: the config with fresh secrets, the units, the proxy.

Templates live in the checkout (``systemd/``, ``deploy/``) with ``@NAME@`` placeholders;
:func:`fill` refuses to leave one unfilled. Paths carry the ``--root`` prefix, so a scratch
root (CI) holds a complete, runnable install.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
UNIT_PATTERNS = ("pay2connect-web@*", "pay2connect-worker@*", "pay2connect.target", "pay2connect-backup.*")


@dataclass(frozen=True)
class Layout:
    """Where everything goes, under ``root`` (``/`` on a real box)."""

    root: Path
    user: str = "pay2connect"

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def home(self) -> Path:
        return self.at("/opt/pay2connect")

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def config_dir(self) -> Path:
        return self.at("/etc/pay2connect")

    @property
    def config(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def data(self) -> Path:
        return self.at("/var/lib/pay2connect")

    @property
    def backups(self) -> Path:
        return self.at("/var/backups/pay2connect")

    @property
    def units(self) -> Path:
        return self.at("/etc/systemd/system")

    @property
    def caddyfile(self) -> Path:
        return self.at("/etc/caddy/Caddyfile")

    @property
    def caddy_data(self) -> Path:
        return self.at("/var/lib/caddy")

    @property
    def journald(self) -> Path:
        return self.at("/etc/systemd/journald.conf.d/pay2connect.conf")


@dataclass
class Choices:
    """What the technician asked for (``pay2connect install --help``)."""

    domain: str = ""
    lan_address: str = ""
    tls: str = ""  # acme | internal
    acme_email: str = ""
    http_port: int = 80
    https_port: int = 443
    web_ports: tuple[int, ...] = (8081, 8082)
    workers: int = 2
    postgres: bool = False
    db_name: str = "pay2connect"
    db_user: str = "pay2connect"
    redis_url: str = "redis://127.0.0.1:6379/0"
    router_host: str = "192.168.88.1"
    router_name: str = "main"
    admin: str = "admin"
    settings: dict[str, str] = field(default_factory=dict)  # --set section.key=value

    @property
    def public_url(self) -> str:
        if self.lan_address:
            return _url("http", self.lan_address, self.http_port, 80)
        return _url("https", self.domain, self.https_port, 443)

    @property
    def https_url(self) -> str:
        return _url("https", self.domain or self.lan_address, self.https_port, 443)

    @property
    def tls_mode(self) -> str:
        return self.tls or ("acme" if self.domain else "internal")


def _url(scheme: str, host: str, port: int, default: int) -> str:
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every ``@NAME@``; a name with no value is a bug in the installer, not a blank."""
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise KeyError(f"template placeholders without a value: {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def config_sections(layout: Layout, choices: Choices, mpesa: dict[str, str], database_url: str) -> dict[str, Any]:
    """The new config's values; every secret freshly generated."""
    sections: dict[str, Any] = {
        "portal": {
            "listen": f"127.0.0.1:{choices.web_ports[0]}",
            "public_url": choices.public_url,
            "secret_key": secrets.token_hex(32),
            "data_dir": str(layout.data),
            "trusted_proxies": 1,
            "proxy_address": "127.0.0.1",
            "monitoring_token": secrets.token_urlsafe(32),
        },
        "database": {"url": database_url},
        "redis": {"url": choices.redis_url},
        "mpesa": {
            "environment": "sandbox",
            **mpesa,
            "callback_url": f"{choices.https_url}/hooks/stk" if choices.domain else "",
            "callback_token": secrets.token_urlsafe(24),
        },
        "routers": [
            {
                "name": choices.router_name,
                "host": choices.router_host,
                "username": "pay2connect",
                "password": secrets.token_urlsafe(18),
            }
        ],
    }
    for dotted, text in choices.settings.items():
        parts = dotted.split(".")
        value: Any = int(text) if re.fullmatch(r"-?\d+", text) else text
        if parts[0] == "routers" and len(parts) == 3 and parts[1].isdigit():
            sections["routers"][int(parts[1])][parts[2]] = value
        elif len(parts) == 2:
            sections.setdefault(parts[0], {})[parts[1]] = value
        else:
            raise ValueError(f"--set {dotted}: use section.key=value or routers.N.key=value")
    return sections


def render_config(sections: dict[str, Any]) -> str:
    lines = [
        f"# Written by `pay2connect install` on {datetime.now(UTC):%Y-%m-%d}. Every key is explained in",
        "# config.example.toml. SECRETS inside: readable by root and the pay2connect group only (0640).",
        "# [portal] listen is set per web process by its unit (PAY2CONNECT_PORTAL__LISTEN).",
        "# After a change: pay2connect check, then systemctl restart pay2connect.target",
    ]
    for section, body in sections.items():
        for block in body if isinstance(body, list) else [body]:
            lines.append("")
            lines.append(f"[[{section}]]" if isinstance(body, list) else f"[{section}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in block.items() if value is not None]
    return "\n".join(lines) + "\n"


def unit_values(layout: Layout, choices: Choices, keep_days: int = 14) -> dict[str, str]:
    web = [f"pay2connect-web@{port}.service" for port in choices.web_ports]
    workers = [f"pay2connect-worker@{n}.service" for n in range(1, choices.workers + 1)]
    return {
        "USER": layout.user,
        "DATA": str(layout.data),
        "CONFIG": str(layout.config),
        "VENV": str(layout.venv),
        "BACKUPS": str(layout.backups),
        "KEEP_DAYS": str(keep_days),
        "UNITS": " ".join(web + workers),
        "JOURNAL_MAX": "1G",
        "JOURNAL_DAYS": "90",
    }


def render_caddyfile(template: str, layout: Layout, choices: Choices) -> str:
    options = []
    if layout.root != Path("/"):  # a scratch root: its own storage, no admin port, no trust store
        options += [f"storage file_system {layout.caddy_data}", "admin off", "skip_install_trust"]
    if choices.http_port != 80:
        options.append(f"http_port {choices.http_port}")
    if choices.https_port != 443:
        options.append(f"https_port {choices.https_port}")
    if choices.acme_email:
        options.append(f"email {choices.acme_email}")
    if not choices.lan_address:
        template = re.sub(r"# >>> lan.*?# <<< lan\n", "", template, flags=re.S)
    values = {
        "GLOBAL_OPTIONS": "\n".join(f"\t{line}" for line in options) or "\t# none",
        "UPSTREAMS": " ".join(f"127.0.0.1:{port}" for port in choices.web_ports),
        "LAN_SITE": f"http://{choices.lan_address}",
        "ADMIN_URL": choices.https_url,
        "PUBLIC_SITE": f"https://{choices.domain or choices.lan_address}",
        "TLS_LINE": "# certificate from Caddy's own CA (LAN only, or tests)\n\ttls internal"
        if choices.tls_mode == "internal"
        else "# certificate: automatic from a public CA (ACME): DNS must point here, ports 80 and 443 open",
    }
    return fill(template, values)
