"""The SMTP simulator on its own, driven with raw smtplib: it enforces what it claims."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import pytest

from portal.clock import ManualClock
from portal.notify import Outgoing, SmtpEmail
from portal.notify.smtp_simulator import SmtpSimulator

SMTP_USER = "alerts@venue.co.ke"
SMTP_PASSWORD = "correct horse battery staple"


def test_nothing_happens_before_starttls(smtp_tls: SmtpSimulator) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_tls.port, local_hostname="t.test", timeout=5) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")  # no password over a plain connection
        code, _ = client.mail(SMTP_USER)
        assert code == 530
        client.starttls(context=smtp_tls.client_ssl_context())
        client.ehlo()
        assert client.has_extn("auth")
        assert set(client.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        code, _ = client.mail(SMTP_USER)
        assert code == 530  # authentication required
        client.login(SMTP_USER, SMTP_PASSWORD)
        assert client.mail(SMTP_USER)[0] == 250
    assert smtp_tls.messages() == []


def test_summary_and_reset(smtp_tls: SmtpSimulator, clock: ManualClock, message: Callable[..., Outgoing]) -> None:
    channel = SmtpEmail(
        "127.0.0.1",
        smtp_tls.port,
        sender=SMTP_USER,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        ssl_context=smtp_tls.client_ssl_context(),
        clock=clock,
        local_hostname="t.test",
    )
    channel.send(message("email", subject="Router down"))
    clock.advance(90)
    channel.send(message("email", subject="Router back", to="boss@venue.co.ke"))
    lines = smtp_tls.summary()
    assert len(lines) == 2
    assert lines[0].startswith("2026-03-01 12:00:00 EAT to owner@venue.co.ke: 'Router down' (TLSv1")
    assert lines[0].endswith(f", AUTH as {SMTP_USER})")
    assert lines[1].startswith("2026-03-01 12:01:30 EAT to boss@venue.co.ke: 'Router back'")
    smtp_tls.fail_with_code = 451
    smtp_tls.reset()
    assert smtp_tls.messages() == [] and smtp_tls.summary() == []
    assert smtp_tls.fail_with_code == 451  # knobs stay


def test_a_plain_simulator_has_no_certificate(clock: ManualClock) -> None:
    simulator = SmtpSimulator(clock=clock)
    with pytest.raises(RuntimeError, match="TLS"):
        _ = simulator.certificate_pem
    assert "BEGIN CERTIFICATE" in SmtpSimulator(tls="starttls").certificate_pem


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"tls": "yes"}, "tls"),
        ({"username": "u"}, "password"),
        ({"username": "u", "password": "p"}, "TLS"),
        ({"port": -1}, "port"),
        ({"port": 65536}, "port"),
    ],
)
def test_constructor_refuses_nonsense(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SmtpSimulator(**kwargs)  # type: ignore[arg-type]


def test_a_taken_port_is_reported_and_stop_is_idempotent(smtp_tls: SmtpSimulator) -> None:
    second = SmtpSimulator(port=smtp_tls.port)
    with pytest.raises(OSError):
        second.start()
    second.stop()
    smtp_tls.stop()
    smtp_tls.stop()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", smtp_tls.port, local_hostname="t.test", timeout=2)


@pytest.mark.parametrize("tls", ["none", "implicit"])
def test_a_client_still_connected_is_disconnected_when_the_simulator_stops(clock: ManualClock, tls: str) -> None:
    """Left open, the server's end is only closed by the garbage collector, later, as a
    ResourceWarning in whatever test runs then."""
    smtp = SmtpSimulator(clock=clock, tls=tls).start()  # type: ignore[arg-type]
    try:
        client = smtplib.SMTP_SSL if tls == "implicit" else smtplib.SMTP
        kwargs = {"context": smtp.client_ssl_context()} if tls == "implicit" else {}
        connected = client("127.0.0.1", smtp.port, local_hostname="t.test", timeout=5, **kwargs)
        assert connected.ehlo()[0] == 250
        smtp.stop()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            connected.noop()  # the server hung up: no answer, no 5 s wait for one
        connected.close()
    finally:
        smtp.stop()
