"""Every rule a setting must satisfy, as one plain line per problem naming the key."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields

from portal.config.notify_checks import notify_problems
from portal.config.settings import Settings


def problems_in(s: Settings) -> list[str]:
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
        problems.append(f"mpesa.environment: expected simulator, sandbox or production, got {m.environment!r}")
    if m.environment == "production" and len(p.secret_key) < 16:
        problems.append("portal.secret_key: set a random secret of 16+ characters in production")
    if m.environment in ("sandbox", "production"):
        for key in ("consumer_key", "consumer_secret", "passkey"):
            if not getattr(m, key):
                problems.append(f"mpesa.{key}: required for the {m.environment} environment")
    if not re.fullmatch(r"\d{5,7}", m.shortcode):
        problems.append(f"mpesa.shortcode: expected 5-7 digits, got {m.shortcode!r}")
    if m.transaction_type not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        problems.append("mpesa.transaction_type: expected CustomerPayBillOnline or CustomerBuyGoodsOnline")
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
    if m.verify_by_query is False and m.environment != "simulator":
        problems.append(
            f"mpesa.verify_by_query: cannot be false for the {m.environment} environment "
            "(callbacks are unsigned; only the built-in simulator may skip STK Query)"
        )
    problems.extend(_limit_problems(s))
    problems.extend(_voucher_problems(s))
    for name, section in (("limits", s.limits), ("worker", s.worker)):
        for spec in fields(section):
            value = getattr(section, spec.name)
            if isinstance(value, int) and value < 0:
                problems.append(f"{name}.{spec.name}: must not be negative")
    problems.extend(notify_problems(s))  # [sms] [email] [webhook] [alerts] [receipts]
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
