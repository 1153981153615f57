"""What ``[mpesa] environment = "production"`` adds: nothing from the example, nothing guessable.

A box that takes real money must not run on ``config.example.toml``'s values: its secret key
is public, its passkey is Safaricom's public sandbox passkey, its router password is
``change-me``. :data:`EXAMPLE_VALUES` holds every such value of the example file (a test keeps
the two in step); anything that looks like a placeholder is refused too.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from portal.config.settings import SANDBOX_PASSKEY, Settings

MIN_SECRET_KEY_BYTES = 32

#: The values ``config.example.toml`` ships for keys that must be the venue's own.
EXAMPLE_VALUES: dict[str, frozenset[str]] = {
    "portal.secret_key": frozenset({"change-me-to-a-long-random-string"}),
    "portal.public_url": frozenset({"http://10.5.50.1:8080"}),
    "mpesa.consumer_key": frozenset({"your-daraja-consumer-key"}),
    "mpesa.consumer_secret": frozenset({"your-daraja-consumer-secret"}),
    "mpesa.passkey": frozenset({SANDBOX_PASSKEY}),
    "mpesa.shortcode": frozenset({"174379"}),  # Safaricom's public sandbox PayBill
    "mpesa.callback_url": frozenset({"https://pay.example.co.ke/api/portal/mpesa/callback"}),
    "routers.password": frozenset({"change-me"}),
}

_PLACEHOLDER = re.compile(r"change[-_ ]?me|your[-_ ]|placeholder|replace[-_ ]?me|^x{3,}$|^\.\.\.$|<[^>]*>", re.I)
_EXAMPLE_HOST = re.compile(r"(^|\.)(example(\.(com|net|org|co\.ke))?|invalid|test|localhost)$", re.I)


def _looks_made_up(key: str, value: str) -> bool:
    if value in EXAMPLE_VALUES.get(key, frozenset()):
        return True
    if key.endswith("_url"):
        host = urlsplit(value).hostname or ""
        return bool(_EXAMPLE_HOST.search(host))
    return bool(_PLACEHOLDER.search(value))


def production_problems(s: Settings) -> list[str]:
    p, m = s.portal, s.mpesa
    problems: list[str] = []
    secret_bytes = len(p.secret_key.encode("utf-8"))
    if _looks_made_up("portal.secret_key", p.secret_key):
        problems.append("portal.secret_key: still an example or placeholder value; set your own for production")
    elif secret_bytes < MIN_SECRET_KEY_BYTES:
        problems.append(
            f"portal.secret_key: {secret_bytes} bytes; production needs a random secret of "
            f"{MIN_SECRET_KEY_BYTES}+ bytes (e.g. `python3 -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    values = {
        "portal.public_url": p.public_url,
        "mpesa.consumer_key": m.consumer_key,
        "mpesa.consumer_secret": m.consumer_secret,
        "mpesa.passkey": m.passkey,
        "mpesa.shortcode": m.shortcode,
        "mpesa.callback_url": m.callback_url,
    }
    for key, value in values.items():
        if not value:
            continue
        if key == "mpesa.passkey" and value == SANDBOX_PASSKEY:
            problems.append(
                "mpesa.passkey: this is Safaricom's public sandbox passkey; "
                "use the passkey Safaricom sent you for going live"
            )
        elif key == "mpesa.shortcode" and value in EXAMPLE_VALUES[key]:
            problems.append("mpesa.shortcode: 174379 is Safaricom's public sandbox PayBill; use your own")
        elif _looks_made_up(key, value):
            problems.append(f"{key}: still an example or placeholder value; set your own for production")
    if m.callback_url and not m.callback_url.startswith("https://"):
        problems.append("mpesa.callback_url: Daraja requires https in production (or leave it empty: query only)")
    for index, r in enumerate(s.routers):
        key = f"routers[{index}].password"
        if not r.password:
            problems.append(f"{key}: required in production (the router's API user password)")
        elif r.password in EXAMPLE_VALUES["routers.password"] or _PLACEHOLDER.search(r.password):
            problems.append(f"{key}: still the example's {r.password!r}; set the API user's real password")
    return problems
