"""Configuration: a TOML file plus environment overrides, validated once at start.

Sources, later wins: built-in defaults, the TOML file, ``PAY2CONNECT_<SECTION>__<KEY>``
environment variables, and the names people already use for Daraja (``MPESA_*``).
Every problem becomes one line naming the key; :class:`ConfigError` carries them all.
"""
from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
DARAJA_HOSTS = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}
MPESA_ENV_NAMES = {
    "MPESA_CONSUMER_KEY": "consumer_key",
    "MPESA_CONSUMER_SECRET": "consumer_secret",
    "MPESA_SHORTCODE": "shortcode",
    "MPESA_PASSKEY": "passkey",
    "MPESA_CALLBACK_URL": "callback_url",
    "MPESA_ENVIRONMENT": "environment",
}
DEFAULT_CONFIG_PATH = "config.toml"


class ConfigError(Exception):
    """Raised with every problem found; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PortalSettings:
    listen: str = "0.0.0.0:8080"
    public_url: str = "http://127.0.0.1:8080"
    secret_key: str = ""
    data_dir: str = "./var"
    default_language: str = "en"
    trusted_proxies: int = 0
    venue_name: str = "Pay2Connect Wi-Fi"
    max_body_bytes: int = 16384


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""


@dataclass(frozen=True)
class RedisSettings:
    url: str = ""


@dataclass(frozen=True)
class MpesaSettings:
    environment: str = "simulator"
    base_url: str = ""
    consumer_key: str = ""
    consumer_secret: str = ""
    shortcode: str = "174379"
    passkey: str = ""
    transaction_type: str = "CustomerPayBillOnline"
    party_b: str = ""
    callback_url: str = ""
    callback_token: str = ""
    callback_allow_ips: tuple[str, ...] = ()
    verify_by_query: bool | None = None  # None: on in production, off elsewhere
    request_timeout: float = 15.0
    query_after_seconds: int = 20
    query_every_seconds: int = 10
    give_up_after_seconds: int = 180
    query_for_hours: int = 24
    query_max_interval_seconds: int = 900

    @property
    def verify_success_by_query(self) -> bool:
        if self.verify_by_query is None:
            return self.environment == "production"
        return self.verify_by_query


@dataclass(frozen=True)
class RouterSettings:
    name: str = "main"
    host: str = "192.168.88.1"
    port: int = 8728
    username: str = "pay2connect"
    password: str = ""
    tls: bool = False
    hotspot_server: str = "hotspot1"
    backend: str = "mikrotik"  # mikrotik | emulator
    timeout: float = 5.0


@dataclass(frozen=True)
class LimitSettings:
    phone_cooldown_seconds: int = 60
    phone_daily_cap: int = 10
    device_cooldown_seconds: int = 30
    device_daily_cap: int = 20
    global_pushes_per_minute: int = 120
    reconnect_max_moves: int = 3
    reconnect_attempts_per_hour: int = 10


@dataclass(frozen=True)
class WorkerSettings:
    sweep_interval_seconds: int = 15
    reconcile_interval_seconds: int = 120
    outbox_base_delay_seconds: int = 5
    outbox_max_delay_seconds: int = 300
    leader_lock_seconds: int = 30


@dataclass(frozen=True)
class Settings:
    portal: PortalSettings = field(default_factory=PortalSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    mpesa: MpesaSettings = field(default_factory=MpesaSettings)
    routers: tuple[RouterSettings, ...] = ()
    limits: LimitSettings = field(default_factory=LimitSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.portal.data_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_path / 'ledger.db').resolve()}"

    @property
    def daraja_base_url(self) -> str:
        return self.mpesa.base_url or DARAJA_HOSTS.get(self.mpesa.environment, "")

    def router(self, name: str) -> RouterSettings | None:
        return next((r for r in self.routers if r.name == name), None)


SECTIONS: dict[str, type] = {
    "portal": PortalSettings,
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "mpesa": MpesaSettings,
    "limits": LimitSettings,
    "worker": WorkerSettings,
}


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate configuration. Raises ConfigError listing every problem.

    ``path`` None means ``$PAY2CONNECT_CONFIG`` or ``./config.toml`` if it exists (it may
    be absent: the defaults are a demo-able setup). ``overrides`` is a nested mapping
    applied last (tests and the demo use it).
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, Any] = {}
    explicit = path is not None or "PAY2CONNECT_CONFIG" in environ
    path = path if path is not None else environ.get("PAY2CONNECT_CONFIG", DEFAULT_CONFIG_PATH)
    file_path = Path(path)
    if file_path.is_file():
        try:
            raw = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError([f"{file_path}: not valid TOML: {err}"]) from None
    elif explicit:
        raise ConfigError([f"{file_path}: config file not found"])
    _apply_environment(raw, environ, problems)
    if overrides:
        _deep_merge(raw, overrides)
    settings = _build(raw, problems)
    if settings is not None:
        problems.extend(_validate(settings))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings


def _deep_merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str], problems: list[str]) -> None:
    mpesa = raw.setdefault("mpesa", {})
    if not isinstance(mpesa, dict):
        return
    for env_name, key in MPESA_ENV_NAMES.items():
        if environ.get(env_name):
            mpesa[key] = environ[env_name]
    for env_name, value in environ.items():
        if not env_name.startswith("PAY2CONNECT_") or "__" not in env_name:
            continue
        parts = env_name[len("PAY2CONNECT_") :].lower().split("__")
        if parts[0] == "routers" and len(parts) == 3 and parts[1].isdigit():
            routers = raw.setdefault("routers", [])
            index = int(parts[1])
            if not isinstance(routers, list) or index >= len(routers):
                problems.append(f"{env_name}: there is no [[routers]] block number {index}")
                continue
            routers[index][parts[2]] = value
        elif len(parts) == 2 and parts[0] in SECTIONS:
            section = raw.setdefault(parts[0], {})
            if isinstance(section, dict):
                section[parts[1]] = value
        else:
            problems.append(f"{env_name}: unknown setting (use PAY2CONNECT_<SECTION>__<KEY>)")


def _coerce(key: str, value: Any, default: Any, hint: str) -> Any:
    """Coerce ``value`` (TOML or environment text) to the type of ``default``."""
    target = hint.replace(" ", "")
    if target.startswith("bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("expected true or false")
    if target == "int":
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ValueError("expected a whole number")
    if target == "float":
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
    if target.startswith("tuple"):
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a string")
    return str(value)


def _build_section(cls: type, name: str, values: Any, problems: list[str]) -> Any:
    if not isinstance(values, dict):
        problems.append(f"[{name}]: expected a table of settings")
        return cls()
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        spec = known.get(key)
        if spec is None:
            problems.append(f"{name}.{key}: unknown setting")
            continue
        try:
            kwargs[key] = _coerce(f"{name}.{key}", value, spec.default, str(spec.type))
        except ValueError as err:
            problems.append(f"{name}.{key}: {err}, got {value!r}")
    return cls(**kwargs)


def _build(raw: dict[str, Any], problems: list[str]) -> Settings | None:
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS:
            sections[key] = _build_section(SECTIONS[key], key, value, problems)
        elif key != "routers":
            problems.append(f"[{key}]: unknown section")
    routers_raw = raw.get("routers", [])
    routers: list[RouterSettings] = []
    if not isinstance(routers_raw, list):
        problems.append("routers: use [[routers]] blocks, one per router")
    else:
        for index, block in enumerate(routers_raw):
            routers.append(_build_section(RouterSettings, f"routers[{index}]", block, problems))
    return Settings(routers=tuple(routers), **sections)


def _validate(s: Settings) -> list[str]:
    problems: list[str] = []
    p, m = s.portal, s.mpesa
    if not re.fullmatch(r"[^:\s]+:\d{1,5}", p.listen):
        problems.append(f"portal.listen: expected host:port, got {p.listen!r}")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", p.public_url):
        problems.append(f"portal.public_url: expected an http(s) URL, got {p.public_url!r}")
    if p.default_language not in ("en", "sw"):
        problems.append(f"portal.default_language: expected en or sw, got {p.default_language!r}")
    if p.trusted_proxies < 0:
        problems.append("portal.trusted_proxies: must be 0 or more")
    if m.environment not in ("simulator", "sandbox", "production"):
        problems.append(
            f"mpesa.environment: expected simulator, sandbox or production, got {m.environment!r}"
        )
    if m.environment == "production" and len(p.secret_key) < 16:
        problems.append("portal.secret_key: set a random secret of 16+ characters in production")
    if m.environment in ("sandbox", "production"):
        for key in ("consumer_key", "consumer_secret", "passkey"):
            if not getattr(m, key):
                problems.append(f"mpesa.{key}: required for the {m.environment} environment")
    if not re.fullmatch(r"\d{5,7}", m.shortcode):
        problems.append(f"mpesa.shortcode: expected 5-7 digits, got {m.shortcode!r}")
    if m.transaction_type not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        problems.append(
            "mpesa.transaction_type: expected CustomerPayBillOnline or CustomerBuyGoodsOnline"
        )
    if m.transaction_type == "CustomerBuyGoodsOnline" and not re.fullmatch(r"\d{5,7}", m.party_b):
        problems.append("mpesa.party_b: the till number (5-7 digits) is required for CustomerBuyGoodsOnline")
    if m.base_url and not re.fullmatch(r"https?://\S+", m.base_url):
        problems.append(f"mpesa.base_url: expected an http(s) URL, got {m.base_url!r}")
    if m.callback_url:
        if not re.fullmatch(r"https?://\S+", m.callback_url):
            problems.append(f"mpesa.callback_url: expected an http(s) URL without spaces, got {m.callback_url!r}")
        elif m.environment == "production" and not m.callback_url.startswith("https://"):
            problems.append("mpesa.callback_url: Daraja requires https in production")
    if m.callback_token and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", m.callback_token):
        problems.append("mpesa.callback_token: use 16-128 letters, digits, - or _")
    for entry in m.callback_allow_ips:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(f"mpesa.callback_allow_ips: {entry!r} is not an IP address or CIDR")
    for key in ("request_timeout", "query_after_seconds", "query_every_seconds", "give_up_after_seconds",
                "query_max_interval_seconds"):
        if getattr(m, key) <= 0:
            problems.append(f"mpesa.{key}: must be greater than 0")
    names: set[str] = set()
    for index, r in enumerate(s.routers):
        where = f"routers[{index}]"
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", r.name):
            problems.append(f"{where}.name: use 1-32 letters, digits, ., - or _")
        if r.name in names:
            problems.append(f"{where}.name: {r.name!r} is used by another router")
        names.add(r.name)
        if not r.host:
            problems.append(f"{where}.host: required")
        if not 0 <= r.port <= 65535:
            problems.append(f"{where}.port: expected 1-65535, got {r.port}")
        if r.backend not in ("mikrotik", "emulator"):
            problems.append(f"{where}.backend: expected mikrotik or emulator, got {r.backend!r}")
        if r.timeout <= 0:
            problems.append(f"{where}.timeout: must be greater than 0")
    for section in (s.limits, s.worker):
        for spec in fields(section):
            if getattr(section, spec.name) < 0:
                problems.append(f"{type(section).__name__.replace('Settings', '').lower()}.{spec.name}: must not be negative")
    return problems


def with_routers(settings: Settings, routers: list[RouterSettings]) -> Settings:
    """Return a copy with a different router list (the demo binds emulator ports at start)."""
    return replace(settings, routers=tuple(routers))
