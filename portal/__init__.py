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

_PACKAGE = Path(__file__).resolve().parent
ROOT = _PACKAGE.parent
"""The source checkout (tests and developer tools). Installed from a wheel it is site-packages."""


def _assets() -> Path:
    """The folder holding ``templates/``, ``static/`` and ``translations/`` (compiled ``.mo``).

    A wheel carries them in the package as ``portal/assets/`` (``setup.py`` copies them and
    compiles the catalogs at build time); an editable install or a bare checkout has no such
    folder and reads them at the top of the repository. Flask and Flask-Babel take folders on
    disk, so this is a path, not an ``importlib.resources`` traversable (wheels install unzipped).
    """
    bundled = _PACKAGE / "assets"
    return bundled if bundled.is_dir() else ROOT


ASSETS = _assets()


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """Build the web app (see :func:`portal.web.app.create_app`)."""
    from portal.web.app import create_app as build

    return build(*args, **kwargs)
