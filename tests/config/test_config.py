"""Config: the example file is the documentation and must load; every problem is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_through_the_real_loader():
    settings = load_settings(ROOT / "config.example.toml", environ={})
    assert settings.mpesa.shortcode == "174379"
    assert settings.routers[0].name == "main" and settings.routers[0].port == 8728
    assert settings.mpesa.verify_success_by_query is True


def test_every_setting_is_documented_in_the_example():
    import dataclasses

    from portal.config import settings as config

    text = (ROOT / "config.example.toml").read_text()
    for section_cls in (*config.SECTIONS.values(), config.RouterSettings):
        for field in dataclasses.fields(section_cls):
            assert f"\n{field.name} = " in text, f"{section_cls.__name__}.{field.name} missing from config.example.toml"


def test_environment_overrides_use_the_usual_names(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[portal]\nlisten = "127.0.0.1:9000"\n[[routers]]\nname = "main"\nhost = "10.0.0.1"\n')
    settings = load_settings(
        path,
        environ={
            "MPESA_SHORTCODE": "600000",
            "MPESA_ENVIRONMENT": "sandbox",
            "MPESA_CONSUMER_KEY": "k",
            "MPESA_CONSUMER_SECRET": "s",
            "MPESA_PASSKEY": "p",
            "PAY2CONNECT_PORTAL__LISTEN": "0.0.0.0:8081",
            "PAY2CONNECT_ROUTERS__0__PASSWORD": "from-env",
            "PAY2CONNECT_LIMITS__PHONE_DAILY_CAP": "3",
            "PAY2CONNECT_MPESA__VERIFY_BY_QUERY": "true",
        },
    )
    assert settings.mpesa.shortcode == "600000" and settings.mpesa.environment == "sandbox"
    assert settings.portal.listen == "0.0.0.0:8081"
    assert settings.routers[0].password == "from-env"
    assert settings.limits.phone_daily_cap == 3
    assert settings.mpesa.verify_by_query is True


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ('[portal]\nlisten = "nope"\n', {}, "portal.listen: expected host:port"),
        ('[mpesa]\nenvironment = "live"\n', {}, "mpesa.environment: expected simulator, sandbox or production"),
        ('[mpesa]\nenvironment = "production"\n', {}, "mpesa.consumer_key: required for the production environment"),
        ('[mpesa]\nshortcode = "12"\n', {}, "mpesa.shortcode: expected 5-7 digits"),
        ('[mpesa]\ncallback_url = "ftp://x"\n', {}, "mpesa.callback_url: expected an http(s) URL"),
        ('[mpesa]\ncallback_allow_ips = ["300.1.1.1"]\n', {}, "mpesa.callback_allow_ips: '300.1.1.1' is not an IP"),
        ('[limits]\nphone_daily_cap = "ten"\n', {}, "limits.phone_daily_cap: expected a whole number"),
        ("[limits]\nbogus = 1\n", {}, "limits.bogus: unknown setting"),
        ("[nonsense]\n", {}, "[nonsense]: unknown section"),
        ('[[routers]]\nname = "a"\nport = 99999\n', {}, "routers[0].port: expected a port number 1-65535"),
        ('[[routers]]\nname = "a"\n[[routers]]\nname = "a"\n', {}, "routers[1].name: 'a' is used by another router"),
        (
            "",
            {"PAY2CONNECT_WORKER__SWEEP_INTERVAL_SECONDS": "-"},
            "worker.sweep_interval_seconds: expected a whole number",
        ),
        ("", {"PAY2CONNECT_NOPE__X": "1"}, "PAY2CONNECT_NOPE__X: unknown setting"),
        ("this is = = not toml", {}, "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, toml, env, expected):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=env)
    assert any(expected in line for line in caught.value.problems), caught.value.problems


def test_all_problems_are_reported_at_once(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[portal]\nlisten = "x"\ndefault_language = "fr"\n[mpesa]\nshortcode = "1"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert len(caught.value.problems) == 3


def test_missing_explicit_config_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "missing.toml", environ={})
    assert caught.value.problems == [f"{tmp_path / 'missing.toml'}: config file not found"]
