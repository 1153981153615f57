"""SmtpEmail against the local SMTP simulator over real loopback TCP (and real TLS)."""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
from collections.abc import Callable

import pytest

from portal.clock import ManualClock
from portal.notify import Outgoing, SmtpEmail
from portal.notify.smtp_simulator import SmtpSimulator
from tests.notify.conftest import failure

SMTP_USER = "alerts@venue.co.ke"
SMTP_PASSWORD = "correct horse battery staple"
OWNER = "owner@venue.co.ke"


def channel_for(simulator: SmtpSimulator, clock: ManualClock, **overrides: object) -> SmtpEmail:
    values: dict[str, object] = {
        "sender": SMTP_USER,
        "security": {"starttls": "starttls", "implicit": "ssl", "none": "none"}[simulator.tls],
        "timeout": 5.0,
        "clock": clock,
        "local_hostname": "portal.test",
    }
    if simulator.tls != "none":
        values["ssl_context"] = simulator.client_ssl_context()
    if simulator.username is not None:
        values.update(username=SMTP_USER, password=SMTP_PASSWORD)
    values.update(overrides)
    return SmtpEmail("127.0.0.1", simulator.port, **values)  # type: ignore[arg-type]


def test_starttls_and_auth_are_really_negotiated(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    outgoing = message("email", subject="Malipo yamepokelewa ✓", body="Asante!\nKSh 50 — kifurushi cha saa 1.")
    delivery = channel_for(smtp_tls, clock).send(outgoing)
    [mail] = smtp_tls.messages()
    assert mail.tls and mail.tls_version in ("TLSv1.2", "TLSv1.3")
    assert mail.authenticated_as == SMTP_USER
    assert (mail.mail_from, mail.rcpt_tos) == (SMTP_USER, (OWNER,))
    assert mail.subject == "Malipo yamepokelewa ✓"
    assert mail.body.rstrip("\n") == "Asante!\nKSh 50 — kifurushi cha saa 1."
    assert delivery.provider_id == mail.message_id and mail.message_id.endswith("@venue.co.ke>")
    assert mail.at == clock.now()
    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert parsed["Date"] == "Sun, 01 Mar 2026 09:00:00 +0000"
    assert parsed["X-Pay2connect-Reference"] == "receipt-42"
    assert smtp_tls.auth_failures == 0


def test_implicit_tls_on_port_465_style(clock: ManualClock, message: Callable[..., Outgoing]) -> None:
    with SmtpSimulator(clock=clock, tls="implicit", username=SMTP_USER, password=SMTP_PASSWORD) as smtp:
        channel_for(smtp, clock).send(message("email"))
        [mail] = smtp.messages()
    assert mail.tls and mail.authenticated_as == SMTP_USER


def test_a_plain_lan_relay_without_a_password(clock: ManualClock, message: Callable[..., Outgoing]) -> None:
    with SmtpSimulator(clock=clock) as smtp:
        channel_for(smtp, clock).send(message("email"))
        [mail] = smtp.messages()
    assert not mail.tls and mail.authenticated_as is None


def test_a_wrong_password_is_permanent(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    err = failure(channel_for(smtp_tls, clock, password="wrong"), message("email"))
    assert (err.retryable, err.code) == (False, "auth_failed")
    assert "wrong" not in str(err)
    # smtplib tries each mechanism both sides know (PLAIN, then LOGIN) before giving up.
    assert smtp_tls.auth_failures == 2 and smtp_tls.messages() == []


def test_451_is_retryable_until_the_server_recovers(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    channel = channel_for(smtp_tls, clock)
    smtp_tls.fail_with_code = 451
    for _ in range(2):
        err = failure(channel, message("email"))
        assert (err.retryable, err.code) == (True, "smtp_451")
    smtp_tls.fail_with_code = None
    channel.send(message("email"))
    assert len(smtp_tls.messages()) == 1


def test_a_5xx_refusal_of_the_message_is_permanent(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    smtp_tls.fail_with_code = 554
    err = failure(channel_for(smtp_tls, clock), message("email"))
    assert (err.retryable, err.code) == (False, "smtp_554")


def test_an_unknown_mailbox_is_permanent(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    smtp_tls.reject_recipients.add("Gone@venue.co.ke")
    err = failure(channel_for(smtp_tls, clock), message("email", to="gone@venue.co.ke"))
    assert (err.retryable, err.code) == (False, "smtp_550")


def test_connection_refused_is_retryable(closed_port: int, message: Callable[..., Outgoing]) -> None:
    channel = SmtpEmail("127.0.0.1", closed_port, sender=SMTP_USER, security="none")
    err = failure(channel, message("email"))
    assert (err.retryable, err.code) == (True, "connection")


def test_a_server_that_never_greets_is_a_retryable_timeout(silent_port: int, message: Callable[..., Outgoing]) -> None:
    channel = SmtpEmail(
        "127.0.0.1",
        silent_port,
        sender=SMTP_USER,
        security="none",
        timeout=0.3,
        local_hostname="portal.test",
    )
    err = failure(channel, message("email"))
    assert (err.retryable, err.code) == (True, "timeout")


def test_starttls_is_never_skipped(clock: ManualClock, message: Callable[..., Outgoing]) -> None:
    with SmtpSimulator(clock=clock) as plain:
        err = failure(channel_for(plain, clock, security="starttls"), message("email"))
        assert plain.messages() == []
    assert (err.retryable, err.code) == (False, "starttls_unsupported")


def test_an_untrusted_certificate_is_permanent(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    channel = channel_for(smtp_tls, clock, ssl_context=ssl.create_default_context())
    err = failure(channel, message("email"))
    assert (err.retryable, err.code) == (False, "tls_verify_failed")
    assert smtp_tls.messages() == []


def test_implicit_tls_against_a_starttls_port_is_permanent(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    err = failure(channel_for(smtp_tls, clock, security="ssl"), message("email"))
    assert (err.retryable, err.code) == (False, "tls_failed")


def test_a_bad_recipient_is_refused_before_connecting(closed_port: int, message: Callable[..., Outgoing]) -> None:
    channel = SmtpEmail("127.0.0.1", closed_port, sender=SMTP_USER, security="none")
    err = failure(channel, message("email", to="owner@venue.co.ke, boss@venue.co.ke"))
    assert (err.retryable, err.code) == (False, "invalid_address")


def test_header_injection_through_the_subject_is_flattened(
    smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]
) -> None:
    channel_for(smtp_tls, clock).send(message("email", subject="Alert\r\nBcc: victim@example.com"))
    [mail] = smtp_tls.messages()
    assert mail.rcpt_tos == (OWNER,)
    assert mail.subject == "Alert Bcc: victim@example.com"
    parsed = email.message_from_bytes(mail.raw, policy=email.policy.default)
    assert parsed["Bcc"] is None


def test_logs_mask_the_address_and_never_show_the_password(
    smtp_tls: SmtpSimulator,
    clock: ManualClock,
    message: Callable[..., Outgoing],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="portal")
    channel = channel_for(smtp_tls, clock)
    channel.send(message("email"))
    failure(channel_for(smtp_tls, clock, password="wrong-password"), message("email"))
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("portal.notify.email")]
    assert len(ours) == 2 and all("o***@venue.co.ke" in text for text in ours)
    for text in ours:
        assert OWNER not in text and SMTP_PASSWORD not in text and "wrong-password" not in text


@pytest.mark.parametrize(
    ("args", "overrides", "named"),
    [
        (("", 587), {}, "host"),
        (("smtp.venue.co.ke", 0), {}, "port"),
        (("smtp.venue.co.ke", 65536), {}, "port"),
        (("smtp.venue.co.ke", "587"), {}, "port"),
        (("smtp host", 587), {}, "host"),
        (("smtp.venue.co.ke", 587), {"sender": "alerts"}, "sender"),
        (("smtp.venue.co.ke", 587), {"security": "tls"}, "security"),
        (("smtp.venue.co.ke", 587), {"username": "u"}, "password"),
        (("smtp.venue.co.ke", 587), {"username": "", "password": "p"}, "username"),
        (("smtp.venue.co.ke", 25), {"username": "u", "password": "p", "security": "none"}, "clear text"),
        (("smtp.venue.co.ke", 587), {"timeout": -1}, "timeout"),
        (("smtp.venue.co.ke", 587), {"ssl_context": "yes"}, "ssl_context"),
    ],
)
def test_constructor_refuses_nonsense(args: tuple[object, object], overrides: dict[str, object], named: str) -> None:
    values: dict[str, object] = {"sender": SMTP_USER}
    values.update(overrides)
    with pytest.raises(ValueError, match=named):
        SmtpEmail(*args, **values)  # type: ignore[arg-type]


def test_the_password_is_not_in_the_repr() -> None:
    channel = SmtpEmail("smtp.venue.co.ke", 587, sender=SMTP_USER, username=SMTP_USER, password="hunter2-long")
    assert "hunter2-long" not in repr(channel)
