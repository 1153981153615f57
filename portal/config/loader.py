"""Read the configuration: a TOML file plus environment overrides, validated once at start.

Sources, later wins: built-in defaults, the TOML file, ``PAY2CONNECT_<SECTION>__<KEY>``
environment variables, and the names people already use for Daraja (``MPESA_*``).
Every problem becomes one line naming the key; :class:`ConfigError` carries them all.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from portal.config.checks import problems_in
from portal.config.settings import (
    DEFAULT_CONFIG_PATH,
    MPESA_ENV_NAMES,
    SECTIONS,
    ConfigError,
    RouterSettings,
    Settings,
)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    require_file: bool = True,
) -> Settings:
    """Read, merge and validate configuration. Raises ConfigError listing every problem.

    ``path`` None means ``$PAY2CONNECT_CONFIG`` or ``./config.toml``. A missing file is an
    error (never a silent simulator); only ``require_file=False`` (the demo's and the tests'
    own settings) starts from the defaults. ``overrides`` is a nested mapping applied last.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, Any] = {}
    explicit = path is not None or "PAY2CONNECT_CONFIG" in environ
    path = path if path is not None else environ.get("PAY2CONNECT_CONFIG", DEFAULT_CONFIG_PATH)
    file_path = Path(path)
    if file_path.is_file():
        try:
            raw = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError([f"{file_path}: not valid TOML: {err}"]) from None
        except OSError as err:
            raise ConfigError([f"{file_path}: cannot read the config file: {err.strerror or err}"]) from None
    elif explicit:
        raise ConfigError([f"{file_path}: config file not found"])
    elif require_file:
        raise ConfigError(
            [
                f"{file_path}: no config file (give --config FILE or set PAY2CONNECT_CONFIG; "
                "copy config.example.toml to start; `pay2connect demo` needs none)"
            ]
        )
    _apply_environment(raw, environ, problems)
    if overrides:
        _deep_merge(raw, overrides)
    settings = _build(raw, problems)
    if settings is not None:
        problems.extend(problems_in(settings))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings


def _deep_merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str], problems: list[str]) -> None:
    mpesa = raw.setdefault("mpesa", {})
    if not isinstance(mpesa, dict):
        return
    for env_name, key in MPESA_ENV_NAMES.items():
        if environ.get(env_name):
            mpesa[key] = environ[env_name]
    for env_name, value in environ.items():
        if not env_name.startswith("PAY2CONNECT_") or "__" not in env_name:
            continue
        parts = env_name[len("PAY2CONNECT_") :].lower().split("__")
        if parts[0] == "routers" and len(parts) == 3 and parts[1].isascii() and parts[1].isdigit():
            routers = raw.setdefault("routers", [])
            index = int(parts[1])
            if not isinstance(routers, list) or index >= len(routers):
                problems.append(f"{env_name}: there is no [[routers]] block number {index}")
                continue
            routers[index][parts[2]] = value
        elif len(parts) == 2 and parts[0] in SECTIONS:
            section = raw.setdefault(parts[0], {})
            if isinstance(section, dict):
                section[parts[1]] = value
        else:
            problems.append(
                f"{env_name}: unknown setting (use PAY2CONNECT_<SECTION>__<KEY>)"
                + _did_you_mean(parts[0], [*SECTIONS, "routers"])
            )


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _coerce(key: str, value: Any, default: Any, hint: str) -> Any:
    """Coerce ``value`` (TOML or environment text) to the type of ``default``."""
    target = hint.replace(" ", "")
    if target.startswith("bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("expected true or false")
    if target == "int":
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ValueError("expected a whole number")
    if target == "float":
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
    if target.startswith("tuple"):
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a string")
    return str(value)


def _build_section(cls: type, name: str, values: Any, problems: list[str]) -> Any:
    if not isinstance(values, dict):
        problems.append(f"[{name}]: expected a table of settings")
        return cls()
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        spec = known.get(key)
        if spec is None:
            problems.append(f"{name}.{key}: unknown setting{_did_you_mean(key, list(known))}")
            continue
        try:
            kwargs[key] = _coerce(f"{name}.{key}", value, spec.default, str(spec.type))
        except ValueError as err:
            problems.append(f"{name}.{key}: {err}, got {value!r}")
    return cls(**kwargs)


def _build(raw: dict[str, Any], problems: list[str]) -> Settings | None:
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS:
            sections[key] = _build_section(SECTIONS[key], key, value, problems)
        elif key != "routers":
            problems.append(f"[{key}]: unknown section{_did_you_mean(key, [*SECTIONS, 'routers'])}")
    routers_raw = raw.get("routers", [])
    routers: list[RouterSettings] = []
    if not isinstance(routers_raw, list):
        problems.append("routers: use [[routers]] blocks, one per router")
    else:
        for index, block in enumerate(routers_raw):
            routers.append(_build_section(RouterSettings, f"routers[{index}]", block, problems))
    return Settings(routers=tuple(routers), **sections)
