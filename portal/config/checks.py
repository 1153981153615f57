"""Every rule a setting must satisfy, as one plain line per problem naming the key.

Rules for every environment live here; what only real money needs (no example values, long
secrets, HTTPS callbacks) is in :mod:`portal.config.production`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields

from portal.config.notify_checks import notify_problems
from portal.config.production import production_problems
from portal.config.settings import SECTIONS, Settings

LISTEN = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]+):(?P<port>\d{1,6})")


def port_problem(key: str, port: int, *, allow_zero: bool = False) -> str | None:
    """``None`` when ``port`` is a TCP port (1-65535; 0 = any free port where ``allow_zero``)."""
    if 1 <= port <= 65535 or (allow_zero and port == 0):
        return None
    return f"{key}: expected a port number 1-65535, got {port}"


def listen_problem(listen: str) -> str | None:
    match = LISTEN.fullmatch(listen)
    if match is None:
        return f"portal.listen: expected host:port (e.g. 127.0.0.1:8080), got {listen!r}"
    return port_problem("portal.listen", int(match["port"]))


def network_problems(key: str, entries: tuple[str, ...]) -> list[str]:
    problems = []
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(f"{key}: {entry!r} is not an IP address or CIDR")
    return problems


def problems_in(s: Settings) -> list[str]:
    problems = _portal(s) + _mpesa(s) + _routers(s)
    problems.extend(_limit_problems(s))
    problems.extend(_voucher_problems(s))
    for name in ("limits", "worker"):
        section = getattr(s, name)
        for spec in fields(SECTIONS[name]):
            value = getattr(section, spec.name)
            if isinstance(value, int) and value < 0:
                problems.append(f"{name}.{spec.name}: must not be negative")
    problems.extend(notify_problems(s))  # [sms] [email] [webhook] [alerts] [receipts]
    if s.production:
        problems.extend(production_problems(s))
    return problems


def _portal(s: Settings) -> list[str]:
    p = s.portal
    problems = [line for line in [listen_problem(p.listen)] if line]
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", p.public_url):
        problems.append(f"portal.public_url: expected an http(s) URL, got {p.public_url!r}")
    if p.default_language not in ("en", "sw"):
        problems.append(f"portal.default_language: expected en or sw, got {p.default_language!r}")
    if p.trusted_proxies < 0:
        problems.append("portal.trusted_proxies: must be 0 or more")
    if p.proxy_address != "*":
        try:
            ipaddress.ip_address(p.proxy_address)
        except ValueError:
            problems.append(f"portal.proxy_address: expected the proxy's IP address or *, got {p.proxy_address!r}")
    problems += network_problems("portal.monitoring_networks", p.monitoring_networks)
    if p.monitoring_token and not re.fullmatch(r"[\x21-\x7e]{16,200}", p.monitoring_token):
        problems.append("portal.monitoring_token: use 16-200 printable characters without spaces")
    if p.max_body_bytes < 1024:
        problems.append(f"portal.max_body_bytes: expected 1024 or more, got {p.max_body_bytes}")
    return problems


def _mpesa(s: Settings) -> list[str]:
    m = s.mpesa
    problems: list[str] = []
    if m.environment not in ("simulator", "sandbox", "production"):
        problems.append(f"mpesa.environment: expected simulator, sandbox or production, got {m.environment!r}")
    if m.environment in ("sandbox", "production"):
        for key in ("consumer_key", "consumer_secret", "passkey"):
            if not getattr(m, key):
                problems.append(f"mpesa.{key}: required for the {m.environment} environment")
    elif m.environment == "simulator" and m.base_url:  # a stand-alone simulator: its credentials
        for key in ("consumer_key", "consumer_secret", "passkey"):
            if not getattr(m, key):
                problems.append(f"mpesa.{key}: required with base_url (the simulator prints its credentials)")
    if not re.fullmatch(r"\d{5,7}", m.shortcode):
        problems.append(f"mpesa.shortcode: expected 5-7 digits, got {m.shortcode!r}")
    if m.transaction_type not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        problems.append("mpesa.transaction_type: expected CustomerPayBillOnline or CustomerBuyGoodsOnline")
    if m.transaction_type == "CustomerBuyGoodsOnline" and not re.fullmatch(r"\d{5,7}", m.party_b):
        problems.append("mpesa.party_b: the till number (5-7 digits) is required for CustomerBuyGoodsOnline")
    if m.base_url and not re.fullmatch(r"https?://\S+", m.base_url):
        problems.append(f"mpesa.base_url: expected an http(s) URL, got {m.base_url!r}")
    if m.callback_url and not re.fullmatch(r"https?://\S+", m.callback_url):
        problems.append(f"mpesa.callback_url: expected an http(s) URL without spaces, got {m.callback_url!r}")
    if m.callback_token and not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", m.callback_token):
        problems.append("mpesa.callback_token: use 16-128 letters, digits, - or _")
    problems += network_problems("mpesa.callback_allow_ips", m.callback_allow_ips)
    for key in (
        "request_timeout",
        "query_after_seconds",
        "query_every_seconds",
        "give_up_after_seconds",
        "query_max_interval_seconds",
        "pause_after_failures",
        "failure_window_seconds",
        "pause_cooldown_seconds",
        "statement_time_tolerance_seconds",
        "statement_attach_window_seconds",
    ):
        if getattr(m, key) <= 0:
            problems.append(f"mpesa.{key}: must be greater than 0")
    if m.verify_by_query is False and m.environment != "simulator":
        problems.append(
            f"mpesa.verify_by_query: cannot be false for the {m.environment} environment "
            "(callbacks are unsigned; only the built-in simulator may skip STK Query)"
        )
    return problems


def _routers(s: Settings) -> list[str]:
    problems: list[str] = []
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
        # port 0 = any free port, for the in-process emulator only
        line = port_problem(f"{where}.port", r.port, allow_zero=r.backend == "emulator")
        if line:
            problems.append(line)
        if r.backend not in ("mikrotik", "emulator"):
            problems.append(f"{where}.backend: expected mikrotik or emulator, got {r.backend!r}")
        if r.timeout <= 0:
            problems.append(f"{where}.timeout: must be greater than 0")
    return problems


def _limit_problems(s: Settings) -> list[str]:
    problems: list[str] = []
    lim = s.limits
    if 0 < lim.global_pushes_per_minute <= lim.source_pushes_per_minute:
        problems.append(
            "limits.source_pushes_per_minute: must be less than global_pushes_per_minute, "
            "or one address could take the whole budget"
        )
    for entry in lim.shared_sources:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(f"limits.shared_sources: {entry!r} is not an IP address or CIDR")
    return problems


def _voucher_problems(s: Settings) -> list[str]:
    v = s.vouchers
    problems: list[str] = []
    if not 10 <= v.code_length <= 24:
        problems.append(f"vouchers.code_length: expected 10-24 (shorter codes can be guessed), got {v.code_length}")
    for key in ("max_checks_per_device_per_hour", "max_checks_per_hour"):
        if getattr(v, key) < 1:
            problems.append(f"vouchers.{key}: must be 1 or more")
    if len(v.wifi_name.encode()) > 32:
        problems.append("vouchers.wifi_name: a Wi-Fi name has at most 32 bytes")
    for index, old in enumerate(v.previous_secret_keys):
        if len(old) < 16 or old == s.portal.secret_key:
            problems.append(
                f"vouchers.previous_secret_keys[{index}]: an old secret of 16+ characters, not the current one"
            )
    return problems
