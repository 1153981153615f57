"""Unsafe values are refused by `check` and `serve` with one line naming the key (issue 11).

A valid production config is the baseline (it passes); each row changes one value and expects
exactly one ``error:`` line, naming that key, and exit code 2, from both commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from portal.cli.main import main
from portal.config import SANDBOX_PASSKEY, ConfigError, load_settings
from portal.config.production import EXAMPLE_VALUES

ROOT = Path(__file__).resolve().parents[2]
OWN_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928"


def production(tmp_path: Path) -> dict[str, Any]:
    return {
        "portal": {
            "listen": "127.0.0.1:8081",
            "public_url": "http://10.5.50.2",
            "secret_key": OWN_SECRET,
            "data_dir": str(tmp_path / "data"),
        },
        "mpesa": {
            "environment": "production",
            "consumer_key": "Qw3rTy8uIoP1aSdFgHjKlZxCvBnM4567",
            "consumer_secret": "Zx9cVbNm1aSdFgHj",
            "shortcode": "4123987",
            "passkey": "0d3a5c9e2f4b6a8c1e3d5f7a9b2c4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d",
            "callback_url": "https://wifi.mamanjeri.co.ke/hooks/stk",
        },
        "routers": [{"name": "main", "host": "10.5.50.1", "password": "Rt7-kq2P-xv9M"}],
    }


def write_toml(path: Path, config: dict[str, Any]) -> Path:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = []
    for section, body in config.items():
        blocks = body if isinstance(body, list) else [body]
        for block in blocks:
            lines.append(f"[[{section}]]" if isinstance(body, list) else f"[{section}]")
            lines += [f"{key} = {value(v)}" for key, v in block.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def invoke(config_file: Path, command: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["--config", str(config_file), command], obj={})
    assert "Traceback" not in result.output
    return result.exit_code, [line for line in result.output.splitlines() if line.startswith("error: ")]


UNSAFE = [
    # (what, section, key, value, expected words in the one line)
    ("example secret_key", "portal", "secret_key", "change-me-to-a-long-random-string", "portal.secret_key: still"),
    ("short secret_key", "portal", "secret_key", OWN_SECRET[:31], "portal.secret_key: 31 bytes"),
    ("example public_url", "portal", "public_url", "http://10.5.50.1:8080", "portal.public_url: still"),
    ("example consumer_key", "mpesa", "consumer_key", "your-daraja-consumer-key", "mpesa.consumer_key: still"),
    ("example consumer_secret", "mpesa", "consumer_secret", "your-daraja-consumer-secret", "mpesa.consumer_secret"),
    ("sandbox passkey", "mpesa", "passkey", SANDBOX_PASSKEY, "mpesa.passkey: this is Safaricom's public sandbox"),
    ("sandbox shortcode", "mpesa", "shortcode", "174379", "mpesa.shortcode: 174379 is Safaricom's public sandbox"),
    (
        "example callback_url",
        "mpesa",
        "callback_url",
        "https://pay.example.co.ke/api/portal/mpesa/callback",
        "mpesa.callback_url: still",
    ),
    ("http callback_url", "mpesa", "callback_url", "http://wifi.mamanjeri.co.ke/hooks/stk", "requires https"),
    ("router password change-me", "routers", "password", "change-me", "routers[0].password: still the example's"),
    ("empty router password", "routers", "password", "", "routers[0].password: required in production"),
    ("listen port 99999", "portal", "listen", "0.0.0.0:99999", "portal.listen: expected a port number 1-65535"),
    ("listen port 0", "portal", "listen", "0.0.0.0:0", "portal.listen: expected a port number 1-65535"),
    ("router port 70000", "routers", "port", 70000, "routers[0].port: expected a port number 1-65535"),
    ("router port 0 (mikrotik)", "routers", "port", 0, "routers[0].port: expected a port number 1-65535"),
    ("typo in a key", "portal", "trusted_proxy", 1, "portal.trusted_proxy: unknown setting (did you mean"),
    ("typo under limits", "limits", "phone_daily_cpa", 3, "limits.phone_daily_cpa: unknown setting (did you mean"),
    ("negative limit", "limits", "phone_daily_cap", -1, "limits.phone_daily_cap: must not be negative"),
    ("typo in a router key", "routers", "pasword", "x", "routers[0].pasword: unknown setting (did you mean password"),
    ("bad monitoring network", "portal", "monitoring_networks", ["10.8.0.0/33"], "portal.monitoring_networks"),
    ("bad proxy address", "portal", "proxy_address", "caddy", "portal.proxy_address"),
]


def test_the_production_baseline_passes(tmp_path):
    settings = load_settings(write_toml(tmp_path / "c.toml", production(tmp_path)), environ={})
    assert settings.production


@pytest.mark.parametrize(("what", "section", "key", "value", "expected"), UNSAFE, ids=[row[0] for row in UNSAFE])
@pytest.mark.parametrize("command", ["check", "serve"])
def test_unsafe_value_is_refused_in_one_line(tmp_path, command, what, section, key, value, expected):
    config = production(tmp_path)
    block = config[section][0] if section == "routers" else config.setdefault(section, {})
    block[key] = value
    code, errors = invoke(write_toml(tmp_path / "c.toml", config), command)
    assert code == 2, (what, errors)
    assert len(errors) == 1 and expected in errors[0], errors


def test_the_example_config_in_production_is_refused_key_by_key(tmp_path):
    text = (ROOT / "config.example.toml").read_text().replace('environment = "sandbox"', 'environment = "production"')
    path = tmp_path / "c.toml"
    path.write_text(text.replace('data_dir = "/var/lib/pay2connect"', f'data_dir = "{tmp_path}"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    named = {line.split(":")[0] for line in caught.value.problems}
    assert named == {
        "portal.secret_key",
        "portal.public_url",
        "mpesa.consumer_key",
        "mpesa.consumer_secret",
        "mpesa.passkey",
        "mpesa.shortcode",
        "mpesa.callback_url",
        "routers[0].password",
    }, caught.value.problems
    code, errors = invoke(path, "check")
    assert code == 2 and len(errors) == len(named)


def test_every_example_value_of_the_example_file_is_known(tmp_path):
    """EXAMPLE_VALUES follows config.example.toml: each listed key's example value is in it."""
    raw = tomllib.loads((ROOT / "config.example.toml").read_text())
    for dotted, values in EXAMPLE_VALUES.items():
        section, key = dotted.split(".")
        block = raw[section][0] if section == "routers" else raw[section]
        assert block[key] in values, dotted


def test_the_same_values_pass_outside_production(tmp_path):
    config = production(tmp_path)
    config["mpesa"].update(environment="sandbox", passkey=SANDBOX_PASSKEY, shortcode="174379")
    config["routers"][0]["password"] = "change-me"
    config["portal"]["secret_key"] = "short"
    assert load_settings(write_toml(tmp_path / "c.toml", config), environ={}).mpesa.environment == "sandbox"


def test_an_unknown_section_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[limit]\nphone_daily_cap = 3\n[[router]]\nname = 'x'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "[limit]: unknown section (did you mean limits?)" in caught.value.problems
    assert "[router]: unknown section (did you mean routers?)" in caught.value.problems


@pytest.mark.parametrize("command", ["check", "serve"])
def test_no_config_file_is_an_error_not_a_simulator(tmp_path, command):
    """The real console script, in a folder without config.toml and no PAY2CONNECT_CONFIG."""
    script = Path(sys.executable).parent / "pay2connect"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAY2CONNECT_", "MPESA_"))}
    result = subprocess.run(
        [str(script), command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: config.toml: no config file"), result.stderr
    assert "simulator" not in result.stdout.lower() and not (tmp_path / "var").exists()


def test_a_stand_alone_simulator_needs_its_credentials(tmp_path):
    """`serve` against `simulate-daraja` with no passkey was a traceback; now one line per key."""
    path = tmp_path / "c.toml"
    path.write_text('[mpesa]\nenvironment = "simulator"\nbase_url = "http://127.0.0.1:8900"\nconsumer_key = "k"\n')
    code, errors = invoke(path, "serve")
    assert code == 2
    assert [line.split(":")[1].strip() for line in errors] == ["mpesa.consumer_secret", "mpesa.passkey"]
