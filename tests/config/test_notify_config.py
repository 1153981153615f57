"""[sms], [email], [webhook], [alerts], [receipts]: documented, loaded, checked key by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, toml: str, env: dict[str, str] | None = None):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    return load_settings(path, environ=env or {})


def test_the_example_documents_and_loads_the_new_sections():
    settings = load_settings(ROOT / "config.example.toml", environ={})
    assert settings.sms.environment == "off" and settings.email.port == 587
    assert settings.alerts.payment_success_percent == 95.0 and settings.alerts.daraja_error_percent == 5.0
    assert settings.alerts.slow_response_seconds == 5.0 and settings.alerts.router_down_minutes == 5
    assert settings.receipts.enabled is False and settings.worker.delivery_give_up_hours == 24
    text = (ROOT / "config.example.toml").read_text()
    new_sections = text[text.index("[sms]") : text.index("[alerts]")].splitlines()
    secrets = [ln for ln in new_sections if ln.split(" = ")[0] in ("api_key", "password", "url", "secret")]
    assert len(secrets) == 4 and all("# SECRET" in ln for ln in secrets), secrets


def test_a_full_setup_loads_and_lists_come_from_the_environment(tmp_path):
    settings = load(
        tmp_path,
        '[sms]\nenvironment = "production"\nusername = "mamanjeri"\nsender_id = "MAMANJERI"\n'
        '[email]\nenvironment = "smtp"\nhost = "smtp.gmail.com"\nsender = "wifi@venue.co.ke"\n'
        'username = "wifi@venue.co.ke"\n'
        '[webhook]\nurl = "https://hooks.slack.com/services/T0/B0/XXXX"\nstyle = "slack"\n'
        "[receipts]\nenabled = true\n",
        env={
            "PAY2CONNECT_SMS__API_KEY": "atsk_live_key",
            "PAY2CONNECT_EMAIL__PASSWORD": "app-password",
            "PAY2CONNECT_ALERTS__OWNER_PHONES": "0712345678, +254722000001",
            "PAY2CONNECT_ALERTS__OWNER_EMAILS": "owner@venue.co.ke",
        },
    )
    assert settings.sms.api_key == "atsk_live_key" and settings.email.password == "app-password"
    assert settings.alerts.owner_phones == ("0712345678", "+254722000001")
    assert settings.webhook.style == "slack" and settings.receipts.offered


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[sms]\nenvironment = "live"\n', "sms.environment: expected off, simulator, sandbox, production"),
        ('[sms]\nenvironment = "production"\n', "sms.api_key: required for the production environment"),
        (
            '[sms]\nenvironment = "sandbox"\nusername = "me"\napi_key = "k"\n',
            "sms.username: Africa's Talking's sandbox",
        ),
        ('[sms]\nsender_id = "WAY-TOO-LONG-ID"\n', "sms.sender_id: 1 to 11 letters"),
        ("[sms]\nrequest_timeout = 0\n", "sms.request_timeout: expected seconds"),
        ('[email]\nenvironment = "smtp"\n', "email.host: the SMTP server's host name"),
        ('[email]\nenvironment = "smtp"\nhost = "h"\n', "email.sender: required for smtp"),
        ('[email]\nsecurity = "tls"\n', "email.security: expected starttls, ssl, none"),
        ('[email]\nusername = "u"\n', "email.password: give both username and password"),
        ('[email]\nusername = "u"\npassword = "p"\nsecurity = "none"\n', "email.security: 'none' would send"),
        ("[email]\nport = 70000\n", "email.port: expected a port number 1-65535"),
        ('[webhook]\nurl = "ftp://example.com/x"\n', "webhook.url: expected an http(s) URL"),
        ('[webhook]\nstyle = "teams"\n', "webhook.style: expected json or slack"),
        ('[webhook]\nsecret = "short"\n', "webhook.secret: use 16 or more characters"),
        ('[alerts]\nowner_phones = ["12345"]\n', "alerts.owner_phones: each must be a Kenyan mobile number"),
        ('[alerts]\nowner_phones = ["0712345678"]\n', "alerts.owner_phones: SMS is off"),
        ('[alerts]\nowner_emails = ["not-an-address"]\n', "alerts.owner_emails: 'not-an-address' is not one"),
        ("[alerts]\npayment_success_percent = 120\n", "alerts.payment_success_percent: expected a percentage"),
        ("[alerts]\npayment_window = 0\n", "alerts.payment_window: must be 1 or more"),
        ("[alerts]\nrepeat_hours = 0\n", "alerts.repeat_hours: must be more than 0"),
        ("[alerts]\nevaluate_every_seconds = 1\n", "alerts.evaluate_every_seconds: must be 5 or more"),
        ('[alerts]\nenabled = "yes"\n', "alerts.enabled: expected true or false"),
        ("[receipts]\nenabled = true\n", "receipts.enabled: receipts go by SMS"),
        ("[receipts]\nreminder_minutes = 90\n", "receipts.reminder_minutes: expected 1 to 60"),
        ("[worker]\ndelivery_max_delay_seconds = 5\n", "worker.delivery_max_delay_seconds: must not be less"),
    ],
)
def test_bad_values_name_their_key(tmp_path, toml, expected):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, toml)
    assert any(expected in line for line in caught.value.problems), caught.value.problems


def test_a_bad_webhook_url_is_never_echoed(tmp_path):
    """Chat webhook URLs carry their token: a typo must not print it."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[webhook]\nurl = "hooks.slack.com/services/T0/B0/SECRETTOKEN"\n')
    assert not any("SECRETTOKEN" in line for line in caught.value.problems)
