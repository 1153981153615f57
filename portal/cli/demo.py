"""Demo mode: everything embedded in one process, ready to click through in a browser.

SQLite file + private Redis + the Daraja simulator (with its virtual phone page) + the
RouterOS emulator with a few simulated devices + sample packages + the worker + the SMS
gateway simulator, the SMTP simulator and a webhook receiver, whose outbox pages show the
customer's receipts and the owner's alerts.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from portal.clock import Clock, SystemClock
from portal.config import Settings, load_settings
from portal.domain.context import Services
from portal.domain.packages import add_package, listed_packages, validate_changes
from portal.wiring import build_services

log = logging.getLogger(__name__)

SAMPLE_PACKAGES = (
    {"name": "5 minutes (demo)", "name_sw": "Dakika 5 (majaribio)", "price": "1", "duration": "5m", "sort_order": "0"},
    {"name": "1 hour", "name_sw": "Saa 1", "price": "20", "duration": "1h", "rate_limit": "2M/2M", "sort_order": "1"},
    {"name": "1 day", "name_sw": "Siku 1", "price": "80", "duration": "1d", "rate_limit": "4M/4M", "sort_order": "2"},
    {
        "name": "1 week, 2 devices",
        "name_sw": "Wiki 1, vifaa 2",
        "price": "400",
        "duration": "7d",
        "devices": "2",
        "data_cap": "20GB",
        "sort_order": "3",
    },
)
DEMO_OWNER_PHONE = "0722000000"
DEMO_OWNER_EMAIL = "owner@mama-njeri.example"
DEMO_DEVICES = (
    ("02:00:5E:10:00:01", "10.5.50.11"),
    ("02:00:5E:10:00:02", "10.5.50.12"),
    ("02:00:5E:10:00:03", "10.5.50.13"),
)


def demo_settings(*, host: str, port: int, data_dir: str, router_port: int = 0) -> Settings:
    public_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    token = secrets.token_urlsafe(18)
    config_file = Path(data_dir) / "demo-config.toml"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text("# The demo builds its settings in portal/cli/demo.py; this file is left empty.\n")
    return load_settings(
        config_file,
        environ={},
        overrides={
            "portal": {
                "listen": f"{host}:{port}",
                "public_url": public_url,
                "data_dir": data_dir,
                "secret_key": secrets.token_hex(24),
                "venue_name": "Mama Njeri's Cafe Wi-Fi",
            },
            "mpesa": {
                "environment": "simulator",
                "callback_url": f"{public_url}/api/portal/mpesa/callback",
                "callback_token": token,
                "query_after_seconds": 15,
            },
            "routers": [
                {
                    "name": "main",
                    "backend": "emulator",
                    "host": "127.0.0.1",
                    "port": router_port,
                    "username": "pay2connect",
                    "password": secrets.token_hex(8),
                }
            ],
            "limits": {"phone_cooldown_seconds": 5, "device_cooldown_seconds": 5},
            "worker": {"sweep_interval_seconds": 5, "reconcile_interval_seconds": 60},
            # Receipts and alerts land in the simulators' outbox pages (issue 14).
            "sms": {"environment": "simulator"},
            "email": {"environment": "simulator", "sender": "wifi@mama-njeri.example"},
            "webhook": {"url": "simulator"},
            "receipts": {"enabled": True, "topup_reminder": True},
            "alerts": {
                "owner_phones": [DEMO_OWNER_PHONE],
                "owner_emails": [DEMO_OWNER_EMAIL],
                "payment_window": 3,  # so that one declined prompt in three shows an alert
                "evaluate_every_seconds": 10,
            },
        },
    )


@dataclass
class DemoStack:
    """The embedded world: built by ``pay2connect demo`` and by the browser test."""

    settings: Settings
    services: Services
    devices: tuple[tuple[str, str], ...] = DEMO_DEVICES
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None, simulator: Any = None) -> DemoStack:
        Path(settings.portal.data_dir).mkdir(parents=True, exist_ok=True)
        if simulator is None:
            from portal.mpesa.simulator import DarajaSimulator

            simulator = DarajaSimulator(
                clock=clock or SystemClock(), default_outcome="ask", shortcode=settings.mpesa.shortcode
            )
            simulator.start()
        services = build_services(settings, clock=clock, simulator=simulator)
        services.closers.insert(0, simulator.stop)
        stack = cls(settings=settings, services=services)
        stack.seed()
        return stack

    def seed(self) -> None:
        """Sample packages (first run only) and the simulated devices on the emulator."""
        if not listed_packages(include_inactive=True):
            for values in SAMPLE_PACKAGES:
                add_package(validate_changes(dict(values)), self.services.clock)
        from portal.domain.accounts import create_admin

        password = secrets.token_urlsafe(9)
        create_admin("demo", password, self.services.clock)
        self.extras["admin_password"] = password
        emulator = self.services.emulators["main"]
        for mac, ip in self.devices:
            emulator.device_join(mac, ip)

    def splash_url(self, mac: str, ip: str) -> str:
        query = urlencode(
            {
                "mac": mac,
                "ip": ip,
                "router": "main",
                "link-login-only": "http://10.5.50.1/login",
                "link-orig": "http://example.com/",
            }
        )
        return f"{self.settings.portal.public_url}/?{query}"

    def banner(self) -> str:
        sim = self.services.simulator
        assert sim is not None, "the demo always runs the Daraja simulator"
        emulator = self.services.emulators["main"]
        password = str(self.extras.get("admin_password", "?"))
        public_url = self.settings.portal.public_url
        lines = [
            "",
            "pay2connect demo is running. Open these in a browser:",
            "",
            "  Splash page, as each simulated phone sees it after joining the Wi-Fi:",
        ]
        lines += [f"    {mac}  {self.splash_url(mac, ip)}" for mac, ip in self.devices]
        lines += [
            "",
            f"  Virtual phone (approve or decline the M-Pesa prompt):  {sim.phone_page_url}",
            f"  Admin (user demo, password {password}):{' ' * max(1, 24 - len(password))}{public_url}/admin/",
            f"  Health:                                                 {self.settings.portal.public_url}/api/health",
            f"  RouterOS emulator (API):                                {emulator.host}:{emulator.port}",
            "",
            *self.outbox_lines(),
            "",
            "  Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)

    def outbox_lines(self) -> list[str]:
        """Where the demo's receipts and alerts land (nothing leaves this machine)."""
        s = self.services
        pages = [
            ("SMS outbox (receipts; alerts to the owner's phone)", s.sms_gateway.outbox_url if s.sms_gateway else None),
            ("Email outbox (alerts to the owner)", s.smtp_outbox.outbox_url if s.smtp_outbox else None),
            ("Webhook receiver (alerts as JSON)", f"{s.webhook_receiver.base_url}/" if s.webhook_receiver else None),
            ("Metrics (Prometheus)", f"{self.settings.portal.public_url}/metrics"),
        ]
        lines = [f"  {label + ':':<55}{url}" for label, url in pages if url]
        return [
            *lines,
            "    (Tick the SMS receipt box when you pay. Decline one prompt in three on the virtual",
            "    phone and the owner's payment-success alert arrives; three good payments resolve it.)",
        ]

    def close(self) -> None:
        self.services.close()
