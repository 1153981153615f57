"""What the product can be told: typed, frozen settings with their defaults.

The sections mirror ``config.example.toml`` one to one; :mod:`portal.config.loader` fills them
from the TOML file and the environment, and :mod:`portal.config.checks` says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from portal.config.notify_settings import (
    AlertSettings,
    EmailSettings,
    ReceiptSettings,
    SmsSettings,
    WebhookSettings,
)

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
PRODUCTION = "production"


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
    proxy_address: str = "127.0.0.1"
    monitoring_networks: tuple[str, ...] = ()
    monitoring_token: str = ""
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
    verify_by_query: bool | None = None  # None: on, except in the built-in simulator
    request_timeout: float = 15.0
    query_after_seconds: int = 20
    query_every_seconds: int = 10
    give_up_after_seconds: int = 180
    query_for_hours: int = 24
    query_max_interval_seconds: int = 900
    # Automatic pause: this many Daraja failures (5xx, throttling, timeouts) within
    # failure_window_seconds stop new pushes for pause_cooldown_seconds.
    pause_after_failures: int = 5
    failure_window_seconds: int = 60
    pause_cooldown_seconds: int = 120
    # Statement reconciliation: a receipt found on both sides whose times differ by more
    # than this is listed as a mismatch; unpaid payments this close to a statement line
    # are offered as the one it paid for.
    statement_time_tolerance_seconds: int = 600
    statement_attach_window_seconds: int = 1800

    @property
    def verify_success_by_query(self) -> bool:
        """Confirm every success callback with STK Query before granting.

        Callbacks are unsigned and the Wi-Fi's users can post them, so every real
        environment (``sandbox``, ``production``) always confirms; only the built-in
        ``simulator`` may switch it off (checks.py refuses ``false`` elsewhere).
        """
        if self.environment != "simulator":
            return True
        return bool(self.verify_by_query)


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
    source_pushes_per_minute: int = 20
    shared_sources: tuple[str, ...] = ()
    reconnect_max_moves: int = 3
    reconnect_attempts_per_hour: int = 10
    reconnect_source_attempts_per_hour: int = 30
    reconnect_receipt_failures_per_hour: int = 5


@dataclass(frozen=True)
class VoucherSettings:
    code_length: int = 12  # symbols from a 32-letter alphabet: 5 bits each
    max_checks_per_device_per_hour: int = 10
    max_checks_per_hour: int = 300  # every device together
    wifi_name: str = ""  # printed on the cards; empty = the venue name
    previous_secret_keys: tuple[str, ...] = ()  # old portal.secret_key values whose codes still work


@dataclass(frozen=True)
class WorkerSettings:
    sweep_interval_seconds: int = 15
    reconcile_interval_seconds: int = 120
    outbox_base_delay_seconds: int = 5
    outbox_max_delay_seconds: int = 300
    leader_lock_seconds: int = 30
    delivery_base_delay_seconds: int = 30
    delivery_max_delay_seconds: int = 300
    delivery_give_up_hours: int = 24


@dataclass(frozen=True)
class Settings:
    portal: PortalSettings = field(default_factory=PortalSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    mpesa: MpesaSettings = field(default_factory=MpesaSettings)
    routers: tuple[RouterSettings, ...] = ()
    limits: LimitSettings = field(default_factory=LimitSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    vouchers: VoucherSettings = field(default_factory=VoucherSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    receipts: ReceiptSettings = field(default_factory=ReceiptSettings)

    @property
    def production(self) -> bool:
        """Real money: ``[mpesa] environment = "production"``; the strict rules apply."""
        return self.mpesa.environment == PRODUCTION

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
    "vouchers": VoucherSettings,
    "sms": SmsSettings,
    "email": EmailSettings,
    "webhook": WebhookSettings,
    "alerts": AlertSettings,
    "receipts": ReceiptSettings,
}


def with_routers(settings: Settings, routers: list[RouterSettings]) -> Settings:
    """Return a copy with a different router list (the demo binds emulator ports at start)."""
    return replace(settings, routers=tuple(routers))
