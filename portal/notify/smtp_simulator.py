"""`SmtpSimulator`: a real SMTP server on 127.0.0.1 (aiosmtpd) that captures what it is sent.

``tls="starttls"`` requires STARTTLS before anything else (a port-587 relay), ``"implicit"``
speaks TLS from the first byte (port 465), ``"none"`` is plain (a LAN relay). TLS uses a fresh
self-signed certificate; :meth:`SmtpSimulator.client_ssl_context` trusts it. With a
``username`` every message needs AUTH (LOGIN or PLAIN) with that user and password, offered
only over TLS. ``fail_with_code = 451`` answers every message "try again later" until set back
to None; ``reject_recipients`` refuses mailboxes with 550. Times come from the injected clock.

One module a little over 300 lines because it is one server: its SMTP handlers and what they
capture share the knobs and the lock.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import logging
import ssl
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Literal, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from portal.clock import Clock, SystemClock
from portal.loopback import Background, checked_port
from portal.notify._pages import eat_time
from portal.notify._selfsigned import client_context, make_certificate, server_context

log = logging.getLogger(__name__)


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4 warns "Session.login_data is deprecated" on every successful AUTH from
    its own code; the warning is about aiosmtpd, not about anything the sender did."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())

SimulatorTls = Literal["none", "starttls", "implicit"]
_REPLIES = {
    421: "421 4.3.2 Service not available, closing channel",
    450: "450 4.2.1 Mailbox temporarily unavailable",
    451: "451 4.3.0 Temporary failure, please try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.7.1 Message rejected",
    554: "554 5.7.1 Transaction failed",
}


@dataclass(frozen=True)
class CapturedEmail:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    body: str
    message_id: str
    raw: bytes
    tls_version: str | None  # e.g. "TLSv1.3"; None for a plain connection
    authenticated_as: str | None
    at: datetime

    @property
    def tls(self) -> bool:
        return self.tls_version is not None


class _Handler:
    def __init__(self, simulator: SmtpSimulator) -> None:
        self.sim = simulator

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in {a.lower() for a in self.sim.reject_recipients}:
            return "550 5.1.1 Recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        code = self.sim.fail_with_code
        if code is not None:
            return _REPLIES.get(code, f"{code} Refused by the simulator")
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        return self.sim._capture(
            envelope,
            tls_version=ssl_object.version() if ssl_object is not None else None,
            authenticated_as=login.decode("utf-8", "replace") if login else None,
        )


class SmtpSimulator(Background):
    """See the module docstring. ``start()``/``stop()`` or ``with SmtpSimulator() as smtp:``."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: SimulatorTls = "none",
        username: str | None = None,
        password: str | None = None,
        server_name: str = "smtp.simulator.test",
    ) -> None:
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError('tls must be "none", "starttls" or "implicit"')
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if username is not None and tls == "none":
            raise ValueError("AUTH is only offered over TLS: use tls='starttls' or 'implicit'")
        self.clock: Clock = clock or SystemClock()
        self.host = host
        self.port = checked_port(port)
        self.tls: SimulatorTls = tls
        self.username = username
        self._password = password
        self.server_name = server_name
        #: Answer every message with this reply code (e.g. 451) until set back to None.
        self.fail_with_code: int | None = None
        #: Mailboxes refused with 550 at RCPT TO.
        self.reject_recipients: set[str] = set()
        self.auth_failures = 0
        self._certificate_pem: str | None = None
        self._server_tls: ssl.SSLContext | None = None
        if tls != "none":
            self._certificate_pem, key_pem = make_certificate(server_name)
            self._server_tls = server_context(self._certificate_pem, key_pem)
        self._lock = threading.Lock()
        self._captured: list[CapturedEmail] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._loop is not None:
            raise RuntimeError("SMTP simulator already started")
        loop = self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[OSError] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                server = loop.run_until_complete(
                    loop.create_server(
                        self._protocol,
                        self.host,
                        self.port,
                        ssl=self._server_tls if self.tls == "implicit" else None,
                    )
                )
                self.port = server.sockets[0].getsockname()[1]
            except OSError as err:  # e.g. the port is taken: report it to start()
                failure.append(err)
                loop.close()
                return
            finally:
                ready.set()
            try:
                loop.run_forever()
            finally:
                server.close()
                self._drop_connections(loop)
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="smtp-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure or not self._thread.is_alive():
            self._thread = self._loop = None
            if failure:
                raise failure[0]
            raise RuntimeError("the SMTP simulator could not start")
        log.info("SMTP simulator listening on %s:%d (%s)", self.host, self.port, self.tls)
        return self

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _drop_connections(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the clients still connected, on the loop, before it closes: a transport left
        open is only found by the garbage collector later (a ResourceWarning in whichever
        test happens to be running then)."""
        for protocol in list(self._connections):
            transport = protocol.transport
            # One already closing is left be: Python 3.11.2's (Debian 12's) TLS transport
            # raises AttributeError on abort() after close() (fixed in 3.11.3).
            if isinstance(transport, asyncio.Transport) and not transport.is_closing():
                transport.abort()  # not close(): nothing unsent is worth waiting for
        loop.run_until_complete(asyncio.sleep(0))  # run the connection_lost callbacks

    # -- for clients and tests --------------------------------------------------------------

    @property
    def certificate_pem(self) -> str:
        if self._certificate_pem is None:
            raise RuntimeError("this simulator does not use TLS")
        return self._certificate_pem

    @property
    def credentials(self) -> tuple[str, str] | None:
        """``(username, password)`` a client must log in with, or None without AUTH."""
        if self.username is None or self._password is None:
            return None
        return self.username, self._password

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this simulator's certificate."""
        return client_context(self.certificate_pem)

    def messages(self) -> list[CapturedEmail]:
        """Every accepted message, oldest first."""
        with self._lock:
            return list(self._captured)

    def summary(self) -> list[str]:
        """One line per message for the demo: time (EAT), recipients, subject, TLS, AUTH."""
        lines = []
        for m in self.messages():
            how = m.tls_version or "no TLS"
            if m.authenticated_as:
                how += f", AUTH as {m.authenticated_as}"
            lines.append(f"{eat_time(m.at)} EAT to {', '.join(m.rcpt_tos)}: {m.subject!r} ({how})")
        return lines

    def reset(self) -> None:
        """Forget captured messages and the AUTH failure count. Knobs stay."""
        with self._lock:
            self._captured.clear()
            self.auth_failures = 0

    # -- server side ------------------------------------------------------------------------

    def _protocol(self) -> SMTP:
        starttls = self.tls == "starttls"
        protocol = SMTP(
            _Handler(self),
            hostname=self.server_name,
            ident="pay2connect SMTP simulator",
            tls_context=self._server_tls if starttls else None,
            require_starttls=starttls,
            auth_required=self.username is not None,
            auth_require_tls=True,
            authenticator=self._authenticate if self.username is not None else None,
            enable_SMTPUTF8=True,
            timeout=30,
            loop=asyncio.get_running_loop(),
        )
        if self.tls == "implicit":
            # Encrypted from the first byte, but aiosmtpd only counts STARTTLS as TLS (and
            # warns when told otherwise in the constructor): lift its AUTH-needs-TLS rule.
            protocol._auth_require_tls = False
        self._connections.add(protocol)
        return protocol

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.username is not None
            and self._password is not None
            and hmac.compare_digest(data.login, self.username.encode())
            and hmac.compare_digest(data.password, self._password.encode())
        )
        if not ok:
            with self._lock:
                self.auth_failures += 1
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _capture(self, envelope: Envelope, *, tls_version: str | None, authenticated_as: str | None) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = ""
        if isinstance(parsed, EmailMessage):
            part = parsed.get_body(preferencelist=("plain",))
            body = part.get_content() if isinstance(part, EmailMessage) else ""
        body = body.replace("\r\n", "\n")  # quoted-printable keeps the wire's CRLF
        captured = CapturedEmail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            subject=str(parsed.get("Subject", "")),
            body=body,
            message_id=str(parsed.get("Message-ID", "")),
            raw=raw,
            tls_version=tls_version,
            authenticated_as=authenticated_as,
            at=self.clock.now(),
        )
        with self._lock:
            self._captured.append(captured)
            number = len(self._captured)
        return f"250 2.0.0 OK: queued as SIM{number:06d}"
