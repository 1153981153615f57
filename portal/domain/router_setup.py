"""The RouterOS script a venue pastes into its router (`pay2connect routeros-setup`).

RouterOS needs addresses, not host names, in two places: the walled garden (since 7.5 an
HTTPS portal is reachable before login only through ``/ip hotspot walled-garden ip`` rows by
address) and the API user's ``address=`` (where the portal server connects from). The caller
resolves both (:func:`plan_setup`); :func:`render_setup` only writes text. Every block removes
what an earlier run added (by comment) before adding, so the script can be run again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from portal.config import RouterSettings, Settings

MIKROTIK_DEFAULT_HOTSPOT_ADDRESS = "10.5.50.1"  # what IP > Hotspot > Hotspot Setup proposes
COMMENT = "pay2connect"

LOGIN_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="0; url={portal}/?mac=$(mac-esc)&amp;ip=$(ip)&amp;router={router}&amp;link-login-only=$(link-login-only-esc)&amp;link-orig=$(link-orig-esc)">
<title>Wi-Fi</title></head>
<body><p><a href="{portal}/?mac=$(mac-esc)&amp;ip=$(ip)&amp;router={router}&amp;link-login-only=$(link-login-only-esc)&amp;link-orig=$(link-orig-esc)">Tap here to buy Wi-Fi time / Gusa hapa kununua muda wa Wi-Fi</a></p></body></html>
"""


class SetupError(Exception):
    """The script cannot be written as asked (e.g. a host name that does not resolve)."""


@dataclass(frozen=True)
class SetupPlan:
    """What the script needs, resolved: addresses, not names."""

    portal_url: str
    portal_host: str  # as written in public_url (a name or an address)
    portal_ip: str
    portal_port: int
    server_ip: str  # where the portal server's API connections come from
    warnings: list[str] = field(default_factory=list)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def resolve_host(host: str) -> str:
    """The first IPv4 address of ``host``; SetupError when it has none."""
    try:
        infos = socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise SetupError(f"cannot resolve {host!r} ({err}); give the portal's address with --portal-ip") from None
    return str(infos[0][4][0])


def local_address_towards(host: str, port: int) -> str:
    """The address this machine uses to reach ``host`` (a UDP "connect" sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port or 8728))
            return str(probe.getsockname()[0])
    except (OSError, UnicodeError) as err:
        raise SetupError(
            f"cannot tell this server's address towards the router {host!r} ({err}); give it with --server-ip"
        ) from None


def plan_setup(
    settings: Settings,
    router: RouterSettings,
    *,
    portal_ip: str | None = None,
    server_ip: str | None = None,
    hotspot_address: str | None = None,
    resolve: Callable[[str], str] = resolve_host,
    local_address: Callable[[str, int], str] = local_address_towards,
) -> SetupPlan:
    portal_url = settings.portal.public_url.rstrip("/")
    parts = urlsplit(portal_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for name, value in (("--portal-ip", portal_ip), ("--server-ip", server_ip), ("--hotspot-address", hotspot_address)):
        if value is not None and not _is_ip(value):
            raise SetupError(f"{name}: expected an IP address, got {value!r}")
    if portal_ip is None:
        portal_ip = host if _is_ip(host) else resolve(host)
    if server_ip is None:
        server_ip = local_address(router.host, router.port)
    warnings = []
    ip = ipaddress.ip_address(portal_ip)
    if ip.is_loopback or ip.is_unspecified:
        warnings.append(
            f"the portal address {portal_ip} is this machine's loopback: phones cannot reach it; "
            "set [portal] public_url to the address phones use, or give --portal-ip"
        )
    own = {a for a in (router.host, hotspot_address or MIKROTIK_DEFAULT_HOTSPOT_ADDRESS) if a}
    if portal_ip in own:
        warnings.append(
            f"the portal address {portal_ip} is the hotspot router's own address: the router would answer "
            "instead of the portal; give the portal machine its own address (e.g. 10.5.50.2) and set public_url"
        )
    if not _is_ip(host) and ip.is_private:
        warnings.append(f"{host} resolves to the private address {portal_ip}: phones must get the same answer")
    return SetupPlan(portal_url, host, portal_ip, port, server_ip, warnings)


def routeros_string(text: str) -> str:
    """``text`` as a RouterOS double-quoted string (``$`` and ``?`` would otherwise be read)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("?", "\\?")
    return '"' + escaped.replace("\n", "\\n") + '"'


def render_setup(settings: Settings, router: RouterSettings, plan: SetupPlan, *, include_password: bool = False) -> str:
    service = "api-ssl" if router.tls else "api"
    login_html = LOGIN_HTML.format(portal=plan.portal_url, router=router.name)
    login_lines = "".join(f"#   {line}\n" for line in login_html.splitlines())
    password = routeros_string(
        router.password if include_password and router.password else "PASTE-THE-PASSWORD-FROM-config.toml"
    )
    warnings = "".join(f"# WARNING: {line}\n" for line in plan.warnings)
    by_name = (
        f'/ip hotspot walled-garden add action=allow dst-host={plan.portal_host} comment="{COMMENT} portal"\n'
        if plan.portal_host != plan.portal_ip
        else ""
    )
    return f"""# pay2connect setup for router "{router.name}" (RouterOS 7.x)
# Paste into a terminal on the router (Winbox > New Terminal, or SSH), or upload and /import it.
# Review first. Running it again replaces what an earlier run added (rows marked "{COMMENT}").
# Assumes a hotspot server named "{router.hotspot_server}" already exists (IP > Hotspot > Hotspot Setup).
{warnings}
# 0. Stop if the portal address is one of this router's own addresses (phones would reach the router, not the portal).
:if ([:len [/ip address find where address~"^{plan.portal_ip}/"]] > 0) do={{ :error "pay2connect: {plan.portal_ip} is this router's own address; give the portal machine its own address" }}

# 1. Let customers reach the portal before they pay: by address (HTTPS portals need /ip hotspot walled-garden ip).
/ip hotspot walled-garden ip remove [find where comment~"^{COMMENT}"]
/ip hotspot walled-garden ip add action=accept dst-address={plan.portal_ip} protocol=tcp dst-port={plan.portal_port} comment="{COMMENT} portal"
/ip hotspot walled-garden remove [find where comment~"^{COMMENT}"]
{by_name}# Do NOT add captive.apple.com, connectivitycheck.gstatic.com or msftconnecttest.com: phones must see the portal.

# 2. Hotspot server profile: HTTP login page that forwards to the portal; MAC cookie so devices reconnect.
/ip hotspot profile set [find where name=[/ip hotspot get [find name="{router.hotspot_server}"] profile]] login-by=http-chap,cookie,mac-cookie html-directory=hotspot

# 3. An API user with the least rights we need (api + read + write), from the portal server's address only ({plan.server_ip}).
/user remove [find where name="{router.username}"]
/user group remove [find where name="{COMMENT}"]
/user group add name={COMMENT} policy=api,read,write,!local,!telnet,!ssh,!ftp,!reboot,!policy,!test,!winbox,!password,!web,!sniff,!sensitive,!romon,!rest-api comment="{COMMENT} portal"
/user add name={router.username} group={COMMENT} address={plan.server_ip}/32 password={password} comment="{COMMENT} portal"
/ip service set {service} disabled=no address={plan.server_ip}/32

# 4. The hotspot's login page (hotspot/login.html, made by Hotspot Setup) becomes a page that sends
#    the device's mac, ip, this router's name, link-login-only and link-orig on to the portal:
/file set [find where name="hotspot/login.html"] contents={routeros_string(login_html)}
# The page, for reading:
{login_lines}
# 5. Check from the portal machine:   pay2connect check
"""
