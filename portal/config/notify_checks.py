"""Rules for ``[sms]``, ``[email]``, ``[webhook]``, ``[alerts]`` and ``[receipts]``: one plain
line per problem naming the key, as for every other section (:mod:`portal.config.checks`)."""

from __future__ import annotations

import math
import re

from portal.config.notify_settings import (
    EMAIL_ENVIRONMENTS,
    EMAIL_SECURITY,
    SMS_ENVIRONMENTS,
    WEBHOOK_SIMULATOR,
    WEBHOOK_STYLES,
)
from portal.config.settings import Settings

URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")
KENYAN_MOBILE = re.compile(r"(?:\+?254|0)?[17][0-9]{8}")
EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,10}")


def _timeout(key: str, value: float) -> list[str]:
    if not math.isfinite(value) or not 0 < value <= 300:
        return [f"{key}: expected seconds, more than 0 and at most 300, got {value}"]
    return []


def _percent(key: str, value: float) -> list[str]:
    if not math.isfinite(value) or not 0 <= value <= 100:
        return [f"{key}: expected a percentage from 0 to 100, got {value}"]
    return []


def sms_problems(s: Settings) -> list[str]:
    sms = s.sms
    if sms.environment not in SMS_ENVIRONMENTS:
        return [f"sms.environment: expected {', '.join(SMS_ENVIRONMENTS)}, got {sms.environment!r}"]
    problems = _timeout("sms.request_timeout", sms.request_timeout)
    if sms.environment in ("sandbox", "production"):
        for key in ("username", "api_key"):
            if not getattr(sms, key):
                problems.append(f"sms.{key}: required for the {sms.environment} environment")
    if sms.environment == "sandbox" and sms.username and sms.username != "sandbox":
        problems.append("sms.username: Africa's Talking's sandbox account is always called 'sandbox'")
    if sms.environment == "production" and sms.username == "sandbox":
        problems.append("sms.username: 'sandbox' only works with environment = \"sandbox\"")
    if sms.sender_id and not SENDER_ID.fullmatch(sms.sender_id):
        problems.append("sms.sender_id: 1 to 11 letters, digits, spaces or ._- (an approved sender ID)")
    if sms.base_url and not URL.fullmatch(sms.base_url):
        problems.append(f"sms.base_url: expected an http(s) URL, got {sms.base_url!r}")
    return problems


def email_problems(s: Settings) -> list[str]:
    mail = s.email
    if mail.environment not in EMAIL_ENVIRONMENTS:
        return [f"email.environment: expected {', '.join(EMAIL_ENVIRONMENTS)}, got {mail.environment!r}"]
    problems = _timeout("email.request_timeout", mail.request_timeout)
    if mail.security not in EMAIL_SECURITY:
        problems.append(f"email.security: expected {', '.join(EMAIL_SECURITY)}, got {mail.security!r}")
    if not 1 <= mail.port <= 65535:
        problems.append(f"email.port: expected a port number 1-65535, got {mail.port}")
    if mail.sender and not EMAIL.fullmatch(mail.sender):
        problems.append(f"email.sender: expected one plain address (user@domain), got {mail.sender!r}")
    if mail.environment == "smtp":
        if not mail.host or any(ch.isspace() or ch in "/@" for ch in mail.host):
            problems.append("email.host: the SMTP server's host name or IP address is required")
        if not mail.sender:
            problems.append("email.sender: required for smtp (the From address, e.g. wifi@venue.co.ke)")
    if bool(mail.username) != bool(mail.password):
        problems.append("email.password: give both username and password, or neither")
    elif mail.password and mail.security == "none":
        problems.append("email.security: 'none' would send the password in clear text; use starttls or ssl")
    return problems


def webhook_problems(s: Settings) -> list[str]:
    hook = s.webhook
    problems = _timeout("webhook.request_timeout", hook.request_timeout)
    if hook.url and hook.url != WEBHOOK_SIMULATOR and not URL.fullmatch(hook.url):
        # Never echo the URL: chat webhooks carry their token in it.
        problems.append('webhook.url: expected an http(s) URL, "simulator" or empty')
    if hook.style not in WEBHOOK_STYLES:
        problems.append(f"webhook.style: expected {' or '.join(WEBHOOK_STYLES)}, got {hook.style!r}")
    if hook.secret and len(hook.secret) < 16:
        problems.append("webhook.secret: use 16 or more characters (or leave it empty)")
    return problems


def alert_problems(s: Settings) -> list[str]:
    a = s.alerts
    problems: list[str] = []
    for phone in a.owner_phones:
        if not KENYAN_MOBILE.fullmatch(re.sub(r"[\s\-.()]", "", phone)):
            problems.append("alerts.owner_phones: each must be a Kenyan mobile number like 0712345678")
            break
    for address in a.owner_emails:
        if not EMAIL.fullmatch(address):
            problems.append(f"alerts.owner_emails: {address!r} is not one plain address (user@domain)")
    if a.owner_phones and s.sms.environment == "off":
        problems.append("alerts.owner_phones: SMS is off; set [sms] environment to send alerts by SMS")
    if a.owner_emails and s.email.environment == "off":
        problems.append("alerts.owner_emails: email is off; set [email] environment to send alerts by email")
    for key in ("payment_success_percent", "daraja_error_percent", "slow_response_percent"):
        problems += _percent(f"alerts.{key}", getattr(a, key))
    for key in (
        "payment_window",
        "daraja_window_minutes",
        "daraja_min_calls",
        "router_down_minutes",
        "outbox_stuck_minutes",
        "callback_window",
    ):
        if getattr(a, key) < 1:
            problems.append(f"alerts.{key}: must be 1 or more")
    if a.evaluate_every_seconds < 5:
        problems.append("alerts.evaluate_every_seconds: must be 5 or more")
    if not 0 < a.slow_response_seconds <= 300:
        problems.append("alerts.slow_response_seconds: expected more than 0 and at most 300")
    if not math.isfinite(a.repeat_hours) or a.repeat_hours <= 0:
        problems.append("alerts.repeat_hours: must be more than 0")
    return problems


def receipt_problems(s: Settings) -> list[str]:
    r = s.receipts
    problems: list[str] = []
    if r.offered and s.sms.environment == "off":
        problems.append("receipts.enabled: receipts go by SMS; set [sms] environment (or turn receipts off)")
    if not 1 <= r.reminder_minutes <= 60:
        problems.append(f"receipts.reminder_minutes: expected 1 to 60, got {r.reminder_minutes}")
    w = s.worker
    if w.delivery_max_delay_seconds < w.delivery_base_delay_seconds:
        problems.append("worker.delivery_max_delay_seconds: must not be less than delivery_base_delay_seconds")
    if w.delivery_give_up_hours < 1:
        problems.append("worker.delivery_give_up_hours: must be 1 or more")
    return problems


def notify_problems(s: Settings) -> list[str]:
    return sms_problems(s) + email_problems(s) + webhook_problems(s) + alert_problems(s) + receipt_problems(s)
