"""Settings that must be safe by default: STK Query confirmation, fair push shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.config import ConfigError, load_settings

REAL = (
    '[mpesa]\nenvironment = "{env}"\nconsumer_key = "k"\nconsumer_secret = "s"\npasskey = "p"\nshortcode = "600123"\n'
)
SECRET = '[portal]\nsecret_key = "9f2c4e1a7b3d5f6e8a0c2e4f6a8b0d1c3e5f7a9b"\n'  # 40 bytes: production wants 32+


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_settings(path, environ={})


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


@pytest.mark.parametrize("env", ["sandbox", "production"])
def test_every_real_environment_confirms_successes_by_stk_query(tmp_path: Path, env: str) -> None:
    base = SECRET + REAL.format(env=env)
    assert load(tmp_path, base).mpesa.verify_success_by_query is True  # type: ignore[attr-defined]
    assert load(tmp_path, base + "verify_by_query = true\n").mpesa.verify_success_by_query is True  # type: ignore[attr-defined]

    refused = problems(tmp_path, base + "verify_by_query = false\n")

    assert refused == [
        f"mpesa.verify_by_query: cannot be false for the {env} environment "
        "(callbacks are unsigned; only the built-in simulator may skip STK Query)"
    ]


def test_only_the_simulator_may_skip_stk_query(tmp_path: Path) -> None:
    assert load(tmp_path, "").mpesa.verify_success_by_query is False  # type: ignore[attr-defined]
    on = load(tmp_path, "[mpesa]\nverify_by_query = true\n")
    assert on.mpesa.verify_success_by_query is True  # type: ignore[attr-defined]


def test_one_address_may_not_take_the_whole_push_budget(tmp_path: Path) -> None:
    text = "[limits]\nglobal_pushes_per_minute = 20\nsource_pushes_per_minute = {share}\n"

    assert problems(tmp_path, text.format(share=20)) == [
        "limits.source_pushes_per_minute: must be less than global_pushes_per_minute, "
        "or one address could take the whole budget"
    ]
    assert load(tmp_path, text.format(share=19)).limits.source_pushes_per_minute == 19  # type: ignore[attr-defined]
    assert load(tmp_path, text.format(share=0)).limits.source_pushes_per_minute == 0  # type: ignore[attr-defined]


def test_shared_sources_are_addresses(tmp_path: Path) -> None:
    ok = load(tmp_path, '[limits]\nshared_sources = ["10.5.50.1", "192.168.88.0/24"]\n')
    assert ok.limits.shared_sources == ("10.5.50.1", "192.168.88.0/24")  # type: ignore[attr-defined]

    assert problems(tmp_path, '[limits]\nshared_sources = ["router.lan"]\n') == [
        "limits.shared_sources: 'router.lan' is not an IP address or CIDR"
    ]
    assert problems(tmp_path, "[limits]\nreconnect_receipt_failures_per_hour = -1\n") == [
        "limits.reconnect_receipt_failures_per_hour: must not be negative"
    ]
