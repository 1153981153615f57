"""Settings for the outbound channels (``[sms]``, ``[email]``, ``[webhook]``), the owner's alerts
(``[alerts]``) and the customer's receipts (``[receipts]``).

Kept apart from :mod:`portal.config.settings` so the sections of issue 14 read as one piece;
:class:`portal.config.settings.Settings` holds one of each. ``config.example.toml`` documents
every key.
"""

from __future__ import annotations

from dataclasses import dataclass

SMS_ENVIRONMENTS = ("off", "simulator", "sandbox", "production")
EMAIL_ENVIRONMENTS = ("off", "simulator", "smtp")
EMAIL_SECURITY = ("starttls", "ssl", "none")
WEBHOOK_STYLES = ("json", "slack")
#: ``[webhook] url = "simulator"``: an in-process receiver (demo, tests).
WEBHOOK_SIMULATOR = "simulator"


@dataclass(frozen=True)
class SmsSettings:
    environment: str = "off"
    username: str = ""
    api_key: str = ""
    sender_id: str = ""
    base_url: str = ""
    request_timeout: float = 10.0


@dataclass(frozen=True)
class EmailSettings:
    environment: str = "off"
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password: str = ""
    sender: str = ""
    request_timeout: float = 10.0


@dataclass(frozen=True)
class WebhookSettings:
    url: str = ""
    style: str = "json"
    secret: str = ""
    request_timeout: float = 5.0


@dataclass(frozen=True)
class AlertSettings:
    enabled: bool = True
    evaluate_every_seconds: int = 30
    owner_phones: tuple[str, ...] = ()
    owner_emails: tuple[str, ...] = ()
    payment_window: int = 20
    payment_success_percent: float = 95.0
    daraja_window_minutes: int = 10
    daraja_min_calls: int = 5
    daraja_error_percent: float = 5.0
    slow_response_seconds: float = 5.0
    slow_response_percent: float = 5.0
    router_down_minutes: int = 5
    outbox_stuck_minutes: int = 10
    callback_window: int = 5
    repeat_hours: float = 6.0


@dataclass(frozen=True)
class ReceiptSettings:
    enabled: bool = False
    topup_reminder: bool = False
    reminder_minutes: int = 5

    @property
    def offered(self) -> bool:
        """Whether the splash page asks for the customer's consent at all."""
        return self.enabled or self.topup_reminder
