"""pay2connect: captive-portal Wi-Fi pay-to-connect (M-Pesa STK push + MikroTik hotspot).

Layers, top to bottom: ``cli``; ``web`` and ``worker``; ``wiring``; ``domain`` (business
rules); ``ledger``, ``live``, ``mpesa``, ``notify`` (storage and outside systems); ``clock``
and ``config``. ``docs/architecture.md`` draws them. Nothing starts on import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """Build the web app (see :func:`portal.web.app.create_app`)."""
    from portal.web.app import create_app as build

    return build(*args, **kwargs)
