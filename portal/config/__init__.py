"""Configuration: a TOML file plus environment overrides, validated once at start.

``settings`` holds the typed sections, ``loader`` reads and merges the sources, ``checks``
holds the rules. Import from here: ``from portal.config import Settings, load_settings``.
"""

from portal.config.loader import load_settings
from portal.config.settings import (
    DARAJA_HOSTS,
    SANDBOX_PASSKEY,
    ConfigError,
    DatabaseSettings,
    LimitSettings,
    MpesaSettings,
    PortalSettings,
    RedisSettings,
    RouterSettings,
    Settings,
    VoucherSettings,
    WorkerSettings,
    with_routers,
)

__all__ = [
    "DARAJA_HOSTS",
    "SANDBOX_PASSKEY",
    "ConfigError",
    "DatabaseSettings",
    "LimitSettings",
    "MpesaSettings",
    "PortalSettings",
    "RedisSettings",
    "RouterSettings",
    "Settings",
    "VoucherSettings",
    "WorkerSettings",
    "load_settings",
    "with_routers",
]
