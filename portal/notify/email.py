"""Email over SMTP with the standard library: plain text, UTF-8 subject and body.

``security="starttls"`` (port 587) upgrades the connection and refuses to go on if the
server does not offer STARTTLS; ``"ssl"`` (port 465) is TLS from the first byte; ``"none"``
is for a relay on the LAN and never carries a password. Certificates are verified
(``ssl.create_default_context()`` unless a context is given).

Failures: a refused login is permanent; a refused connection, a timeout, a dropped link and
any 4xx reply are worth retrying; a 5xx reply (mailbox unknown, message refused) is not.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from portal.clock import Clock, SystemClock
from portal.notify._checks import check_port, check_text, check_timeout
from portal.notify.addresses import InvalidRecipient, check_email, mask_email
from portal.notify.channel import Delivery, DeliveryFailed, Outgoing, check_channel

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
SECURITY_MODES = frozenset({"starttls", "ssl", "none"})


class SmtpEmail:
    """The ``email`` channel. One SMTP connection per message (alerts and receipts are rare);
    safe to call from several threads."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.host = check_text(host, "host")
        if any(ch.isspace() or ch in "/@" for ch in self.host):
            raise ValueError("host must be a host name or an IP address")
        self.port = check_port(port)
        try:
            self.sender = check_email(sender)
        except InvalidRecipient:
            raise ValueError("sender must be one plain mail address (user@domain)") from None
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {sorted(SECURITY_MODES)}")
        if (username is None) != (password is None):
            raise ValueError("username and password go together: give both or neither")
        if username is not None:
            check_text(username, "username")
            check_text(password, "password")
            if security == "none":
                raise ValueError("security='none' would send the password in clear text")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ValueError("ssl_context must be an ssl.SSLContext")
        self.security: Security = security
        self.username = username
        self._password = password
        self.timeout = check_timeout(timeout)
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"SmtpEmail(host={self.host!r}, port={self.port}, security={self.security!r})"

    def send(self, message: Outgoing) -> Delivery:
        check_channel(message, "email")
        try:
            recipient = check_email(message.to)
        except InvalidRecipient:
            raise DeliveryFailed(
                f"email {message.reference}: recipient is not one plain mail address",
                retryable=False,
                code="invalid_address",
            ) from None
        mail = self._compose(message, recipient)
        masked = mask_email(recipient)
        try:
            self._deliver(mail, recipient)
        except DeliveryFailed as err:
            log.warning("Email %s to %s failed: %s", message.reference, masked, err)
            raise
        log.info("Email %s to %s accepted by %s:%d", message.reference, masked, self.host, self.port)
        return Delivery("email", str(mail["Message-ID"]), "accepted")

    def close(self) -> None:
        """Nothing is kept open between messages."""

    def _compose(self, message: Outgoing, recipient: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = recipient
        mail["Subject"] = " ".join(message.subject.split()) or "(no subject)"
        mail["Date"] = format_datetime(self._clock.now())
        # An explicit domain: make_msgid() would otherwise ask DNS for our own name.
        mail["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2])
        mail["X-Pay2connect-Reference"] = " ".join(message.reference.split())
        mail.set_content(message.body, charset="utf-8", cte="quoted-printable")
        return mail

    def _deliver(self, mail: EmailMessage, recipient: str) -> None:
        context = self._ssl_context or ssl.create_default_context()
        try:
            if self.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                client = smtplib.SMTP(
                    self.host,
                    self.port,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                )
            with client:
                client.ehlo()
                if self.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise DeliveryFailed(
                            "the SMTP server does not offer STARTTLS",
                            retryable=False,
                            code="starttls_unsupported",
                        )
                    client.starttls(context=context)
                    client.ehlo()
                if self.username is not None and self._password is not None:
                    client.login(self.username, self._password)
                refused = client.send_message(mail, from_addr=self.sender, to_addrs=[recipient])
        except DeliveryFailed:
            raise
        except (smtplib.SMTPException, OSError) as err:
            raise translate_smtp_error(err) from None
        if refused:  # only possible with several recipients; kept for safety
            code = next(iter(refused.values()))[0]
            raise _by_reply_code(code, "the server refused the recipient")


def translate_smtp_error(err: BaseException) -> DeliveryFailed:
    """One smtplib/ssl/socket failure -> DeliveryFailed. Order matters: every smtplib and ssl
    exception is also an OSError."""
    if isinstance(err, smtplib.SMTPAuthenticationError):
        if err.smtp_code == 454:  # "temporary authentication failure"
            return DeliveryFailed("SMTP login failed for now", retryable=True, code="smtp_454")
        return DeliveryFailed(
            f"the SMTP server refused the username or password ({err.smtp_code})",
            retryable=False,
            code="auth_failed",
        )
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        replies = list(err.recipients.values())
        code = replies[0][0] if replies else -1
        return _by_reply_code(code, "the server refused the recipient")
    if isinstance(err, smtplib.SMTPSenderRefused):
        return _by_reply_code(err.smtp_code, "the server refused the sender address")
    if isinstance(err, smtplib.SMTPDataError):
        return _by_reply_code(err.smtp_code, "the server refused the message")
    if isinstance(err, smtplib.SMTPResponseException):  # greeting, HELO, STARTTLS refusals
        return _by_reply_code(err.smtp_code, "the server refused us")
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return DeliveryFailed(
            f"the SMTP server lacks a needed extension ({err})",
            retryable=False,
            code="not_supported",
        )
    if isinstance(err, smtplib.SMTPServerDisconnected):
        if isinstance(err.__context__, TimeoutError):  # smtplib turns a read timeout into this
            return DeliveryFailed("the SMTP server did not answer in time", retryable=True, code="timeout")
        return DeliveryFailed("the SMTP server hung up", retryable=True, code="disconnected")
    if isinstance(err, ssl.SSLCertVerificationError):
        return DeliveryFailed(
            f"the SMTP server's certificate was not trusted ({err.verify_message})",
            retryable=False,
            code="tls_verify_failed",
        )
    if isinstance(err, ssl.SSLError):
        return DeliveryFailed(
            f"TLS with the SMTP server failed ({err.reason}): wrong port or security mode?",
            retryable=False,
            code="tls_failed",
        )
    if isinstance(err, TimeoutError):
        return DeliveryFailed("the SMTP server did not answer in time", retryable=True, code="timeout")
    if isinstance(err, smtplib.SMTPException):
        return DeliveryFailed(f"SMTP failed ({type(err).__name__})", retryable=True, code="smtp_error")
    return DeliveryFailed(
        f"could not reach the SMTP server ({type(err).__name__})",
        retryable=True,
        code="connection",
    )


def _by_reply_code(code: int, what: str) -> DeliveryFailed:
    """4xx: temporary, try again later; 5xx: permanent; anything else: assume temporary."""
    retryable = not 500 <= code < 600
    return DeliveryFailed(f"{what} ({code})", retryable=retryable, code=f"smtp_{code}")
