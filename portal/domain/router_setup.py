"""The RouterOS script a venue pastes into its router (`pay2connect routeros-setup`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from portal.config import RouterSettings, Settings

LOGIN_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="0; url={portal}/?mac=$(mac-esc)&amp;ip=$(ip)&amp;router={router}&amp;link-login-only=$(link-login-only-esc)&amp;link-orig=$(link-orig-esc)">
<title>Wi-Fi</title></head>
<body><p><a href="{portal}/?mac=$(mac-esc)&amp;ip=$(ip)&amp;router={router}&amp;link-login-only=$(link-login-only-esc)&amp;link-orig=$(link-orig-esc)">Tap here to buy Wi-Fi time / Gusa hapa kununua muda wa Wi-Fi</a></p></body></html>
"""


def render_setup(settings: Settings, router: RouterSettings) -> str:
    portal = settings.portal.public_url.rstrip("/")
    parts = urlsplit(portal)
    portal_host = parts.hostname or "10.5.50.1"
    portal_port = parts.port or (443 if parts.scheme == "https" else 80)
    service = "api-ssl" if router.tls else "api"
    login_html = LOGIN_HTML.format(portal=portal, router=router.name)
    return f"""# pay2connect setup for router "{router.name}" (RouterOS 7.x)
# Paste into a terminal on the router (Winbox > New Terminal, or SSH). Review first.
# Assumes a hotspot server named "{router.hotspot_server}" already exists (IP > Hotspot > Hotspot Setup).

# 1. Let customers reach the portal before they pay (by address: HTTPS portals need /ip hotspot walled-garden ip).
/ip hotspot walled-garden ip add action=accept dst-address={portal_host} protocol=tcp dst-port={portal_port} comment="pay2connect portal"
/ip hotspot walled-garden add action=allow dst-host={portal_host} comment="pay2connect portal"
# Do NOT add captive.apple.com, connectivitycheck.gstatic.com or msftconnecttest.com: phones must see the portal.

# 2. Hotspot server profile: HTTP login page that forwards to the portal; MAC cookie so devices reconnect.
/ip hotspot profile set [find where name=[/ip hotspot get [find name="{router.hotspot_server}"] profile]] login-by=http-chap,cookie,mac-cookie html-directory=hotspot

# 3. An API user with the least rights we need: api + read + write, from the portal's address only.
/user group add name=pay2connect policy=api,read,write,!local,!telnet,!ssh,!ftp,!reboot,!policy,!test,!winbox,!password,!web,!sniff,!sensitive,!romon,!rest-api comment="pay2connect portal"
/user add name={router.username} group=pay2connect address={portal_host}/32 password="CHANGE-ME-to-the-password-in-config.toml" comment="pay2connect portal"
/ip service set {service} disabled=no address={portal_host}/32

# 4. Replace hotspot/login.html on the router (Files) with this page. It forwards the
#    device's mac, ip, this router's name, link-login-only and link-orig to the portal:
# ----8<---- hotspot/login.html ----
{login_html}# ----8<----

# 5. Check from the portal machine:   pay2connect check
"""
