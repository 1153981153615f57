"""One locked librouteros connection per router: the single choke point for router I/O.

librouteros has no locking, no reconnect and does not wrap socket errors (its own
documentation and source say so). This module adds exactly that and nothing
more: every command goes through :meth:`RouterConnection.call`, which

* connects lazily (timeout on connect and on every send/recv, UTF-8, optional TLS);
* writes each command and reads its whole reply before returning (:mod:`router.ros_wire`);
* turns a ``!trap`` into :class:`RouterRejected` (or a more specific subclass) and keeps
  the connection, because a trap leaves the stream in sync;
* throws the connection away after any other failure (timeout, reset, EOF, ``!fatal``,
  malformed reply) and raises :class:`RouterUnreachable` with a sentence saying what
  happened, so the next call starts on a fresh connection;
* retries a read once on a fresh connection when a *reused* connection failed fast
  (EOF/reset: typically the router rebooted or a NAT dropped the idle session). It never
  retries after a timeout (the router is not answering; waiting again only doubles the
  caller's wait) and never retries writes (the router may have applied them).
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import librouteros
from librouteros.api import Api
from librouteros.exceptions import ConnectionClosed, FatalError, LibRouterosError, MultiTrapError, TrapError
from librouteros.protocol import compose_word, encode_sentence

from router.errors import (
    DeviceNotOnHotspot,
    RouterAuthFailed,
    RouterError,
    RouterNotPermitted,
    RouterRejected,
    RouterUnreachable,
)
from router.ros_values import redact
from router.ros_wire import BufferedTransport, attributes, read_response, read_sentence, send
from router.tls import socket_wrapper

log = logging.getLogger(__name__)

Row = dict[str, Any]

#: Commands :meth:`RouterConnection.call_many` sends at once (two such batches in flight at
#: most): small enough that neither side's socket buffer fills while the other is writing.
PIPELINE_DEPTH = 100

# Trap texts (matched as substrings, they may end in a code like "(9)"), as RouterOS sends them.
_AUTH_TRAPS = ("invalid user name or password", "cannot log in")
_PERMISSION_TRAPS = ("not enough permissions",)
_DEVICE_TRAPS = (
    "unknown host ip",
    "wrong mac provided",
    "not allowed to log in from this mac",
    "this mac address is not yours",
)

# Everything that means "this connection is no longer usable". IndexError, TypeError and
# ValueError are what librouteros raises on malformed replies (a !fatal without reason, a
# trap with unexpected attributes, a tagged reply word).
_CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    LibRouterosError,
    OSError,
    EOFError,
    IndexError,
    TypeError,
    ValueError,
)


class _RedactSecrets(logging.Filter):
    """Mask passwords in librouteros' own debug log (it logs every word it sends)."""

    _secret_word = re.compile(r"(=(?:password|response)=).*$", re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=password=" in message or "=response=" in message:
            record.msg, record.args = self._secret_word.sub(r"\1***'", message), ()
        return True


def _install_library_log_redaction() -> None:
    library_log = logging.getLogger("librouteros")
    if not any(isinstance(existing, _RedactSecrets) for existing in library_log.filters):
        library_log.addFilter(_RedactSecrets())


_install_library_log_redaction()


def trap_says(error: RouterError, *phrases: str) -> bool:
    """Return True when a router error's text contains one of ``phrases`` (case-insensitive)."""
    text = error.message.lower()
    return any(phrase.lower() in text for phrase in phrases)


def _transport(api: Api) -> BufferedTransport:
    """The buffered transport :meth:`RouterConnection.ensure_connected` gave the session."""
    transport = api.protocol.transport
    assert isinstance(transport, BufferedTransport)
    return transport


class RouterConnection:
    """A lazily (re)connected, lock-guarded librouteros session to one router."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        tls_context: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._tls_context = tls_context
        self.timeout = timeout
        # Re-entrant so that an operation can hold it across several commands.
        self.lock = threading.RLock()
        self._api: Api | None = None
        self.connect_count = 0

    @property
    def is_connected(self) -> bool:
        return self._api is not None

    def call(
        self,
        command: str,
        attrs: Mapping[str, object] | None = None,
        *,
        query: Sequence[str] = (),
        proplist: Sequence[str] = (),
        idempotent: bool | None = None,
    ) -> list[Row]:
        """Run one API command and return its reply rows (``!re`` rows, plus ``!done`` data).

        ``query`` holds raw query words (``?=mac-address=AA:..``, ``?#|``). ``idempotent``
        defaults to True for ``print``.
        """
        attrs = dict(attrs or {})
        words = [f"=.proplist={','.join(proplist)}"] if proplist else []
        words += [compose_word(key, value) for key, value in attrs.items()]
        words += list(query)
        if idempotent is None:
            idempotent = command.endswith("/print")
        with self.lock:
            for attempt in (1, 2):
                reused = self._api is not None
                api = self.ensure_connected()
                log.debug("router %s: %s %s %s", self.name, command, redact(attrs), " ".join(query))
                started = time.monotonic()
                try:
                    transport = _transport(api)
                    send(transport, command, words)
                    rows = read_response(transport)
                except (TrapError, MultiTrapError) as err:
                    raise self._rejected(command, err) from err
                except _CONNECTION_FAILURES as err:
                    self._drop()
                    if attempt == 1 and idempotent and reused and not isinstance(err, TimeoutError):
                        log.info(
                            "router %s: %s failed on a reused connection (%s); retrying once",
                            self.name,
                            command,
                            type(err).__name__,
                        )
                        continue
                    raise RouterUnreachable(self._describe(err, f"on {command}"), router=self.name) from err
                except BaseException:  # e.g. KeyboardInterrupt mid-reply: the stream is out of step
                    self._drop()
                    raise
                log.debug(
                    "router %s: %s -> %d row(s) in %.1f ms",
                    self.name,
                    command,
                    len(rows),
                    (time.monotonic() - started) * 1000,
                )
                return rows
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def call_many(
        self,
        commands: Sequence[tuple[str, Mapping[str, object]]],
        reads: Sequence[tuple[str, Sequence[str], Sequence[str]]] = (),
        *,
        meanwhile: Callable[[], None] | None = None,
    ) -> list[list[Row] | RouterError]:
        """Run many commands, sending them in batches before reading their answers (API tags).
        ``reads`` (prints as :meth:`read_many` takes them) go after them in the same batches,
        a listing that shows what the writes did; their answers follow the commands'.
        ``meanwhile`` runs in this thread once the commands are on their way, while the
        router works on them: it must not use this connection (if it raises, the connection
        is dropped, its answers unread).

        On a real router a LAN round trip is paid once per batch instead of once per
        command, and the next batch is sent while the router answers this one, so neither
        side waits for the other. Returns, in order, each command's rows or the
        :class:`RouterError` its trap became (the others still ran). Any other failure drops
        the connection and raises :class:`RouterUnreachable`; nothing is retried (these are
        writes, some may have been applied).
        """
        if not commands and not reads:
            if meanwhile is not None:
                meanwhile()
            return []
        sentences: list[tuple[str, Sequence[str]]] = [
            (command, [compose_word(key, val) for key, val in attrs.items()]) for command, attrs in commands
        ]
        with self.lock:
            return self._pipeline(sentences + _read_sentences(reads), meanwhile)

    def read_many(self, reads: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> list[list[Row]]:
        """Run several ``print`` commands, ``(command, query words, proplist)``, in one round
        trip; returns each one's rows in order. Retried once on a reused connection that
        turns out to be closed, as :meth:`call` retries a read; a trap raises its
        :class:`RouterError`."""
        sentences = _read_sentences(reads)
        with self.lock:
            for attempt in (1, 2):
                reused = self._api is not None
                try:
                    results = self._pipeline(sentences)
                except RouterUnreachable as err:
                    cause = err.__cause__
                    if attempt == 1 and reused and not isinstance(cause, TimeoutError):
                        log.info("router %s: reads failed on a reused connection (%s); retrying once", self.name, cause)
                        continue
                    raise
                for result in results:
                    if isinstance(result, RouterError):
                        raise result
                return [result for result in results if not isinstance(result, RouterError)]
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises

    def _pipeline(
        self, commands: Sequence[tuple[str, Sequence[str]]], meanwhile: Callable[[], None] | None = None
    ) -> list[list[Row] | RouterError]:
        """Send ``(command, words)`` sentences in tagged batches and read every answer
        (``meanwhile`` as :meth:`call_many` runs it)."""
        transport = _transport(self.ensure_connected())
        log.debug("router %s: %d command(s) in batches, first %s", self.name, len(commands), commands[0][0])
        rows: list[list[Row]] = [[] for _ in commands]
        traps: dict[int, list[TrapError]] = {}
        sent = 0  # commands written so far (their tags are their positions)
        waiting = 0  # written and not yet answered with !done
        writer: _Writer | None = None
        try:
            if meanwhile is not None:
                if isinstance(transport.sock, ssl.SSLSocket):  # one thread at a time on a TLS socket:
                    ahead = commands[:PIPELINE_DEPTH]  # one batch goes ahead
                    transport.write(_encoded(ahead, 0))
                else:  # all of them, from a thread of its own that waits while the router is busy
                    ahead = commands
                    starts = range(0, len(commands), PIPELINE_DEPTH)
                    writer = _Writer(transport, [_encoded(commands[at : at + PIPELINE_DEPTH], at) for at in starts])
                sent = waiting = len(ahead)
                meanwhile()
            while sent < len(commands) or waiting > 0:
                if sent < len(commands) and waiting <= PIPELINE_DEPTH:  # at most two batches in flight
                    batch = commands[sent : sent + PIPELINE_DEPTH]
                    transport.write(_encoded(batch, sent))
                    sent += len(batch)
                    waiting += len(batch)
                    continue
                reply_word, words = read_sentence(transport)
                tag = int(next(word for word in words if word.startswith(".tag="))[len(".tag=") :])
                attrs = attributes(words)
                if reply_word == "!trap":
                    category = attrs.get("category")
                    trap = TrapError(str(attrs.get("message", "")), category if isinstance(category, int) else None)
                    traps.setdefault(tag, []).append(trap)
                elif reply_word in ("!re", "!done") and attrs:
                    rows[tag].append(attrs)
                waiting -= reply_word == "!done"
            if writer is not None:
                writer.finish()
        except (StopIteration, IndexError):  # a reply without its tag (or another's): out of step
            self._drop()
            raise RouterUnreachable(
                f"router {self.name} sent a reply we could not read (on a batch of commands): no tag", router=self.name
            ) from None
        except _CONNECTION_FAILURES as err:
            self._drop()
            raise RouterUnreachable(self._describe(err, "on a batch of commands"), router=self.name) from err
        except BaseException:  # e.g. KeyboardInterrupt mid-reply: the stream is out of step
            self._drop()
            raise
        results: list[list[Row] | RouterError] = []
        for tag, (command, _words) in enumerate(commands):
            trapped = traps.get(tag)
            if trapped:
                error = trapped[0] if len(trapped) == 1 else MultiTrapError(*trapped)
                results.append(self._rejected(command, error))
            else:
                results.append(rows[tag])
        return results

    def ensure_connected(self) -> Api:
        """Return the open session, logging in first if there is none."""
        with self.lock:
            if self._api is not None:
                return self._api
            wrapper = socket_wrapper(self._tls_context, self.host) if self._tls_context else None
            log.debug("router %s: connecting to %s:%d as %s", self.name, self.host, self.port, self.username)
            try:
                self._api = librouteros.connect(
                    self.host,
                    self.username,
                    self._password,
                    port=self.port,
                    timeout=self.timeout,
                    encoding="utf-8",
                    ssl_wrapper=wrapper,
                )
            except (TrapError, MultiTrapError) as err:
                raise self._login_refused(err) from err
            except _CONNECTION_FAILURES as err:
                raise RouterUnreachable(self._describe(err, "while logging in"), router=self.name) from err
            self._api.protocol.transport = BufferedTransport(self._api.protocol.transport.sock)
            self.connect_count += 1
            return self._api

    def close(self) -> None:
        """Close the session (if any); the next call reconnects."""
        with self.lock:
            self._drop()

    def _drop(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            try:
                api.close()
            except OSError:  # already dead; nothing more to release
                pass

    def _login_refused(self, err: TrapError | MultiTrapError) -> RouterError:
        text = str(err)
        if any(phrase in text.lower() for phrase in _PERMISSION_TRAPS):
            return RouterNotPermitted(
                f"router {self.name} does not let API user {self.username!r} use the API: {text}",
                router=self.name,
            )
        return RouterAuthFailed(
            f"router {self.name} refused the API login for user {self.username!r}: {text}",
            router=self.name,
        )

    def _rejected(self, command: str, err: TrapError | MultiTrapError) -> RouterRejected | RouterNotPermitted:
        text = str(err)
        lowered = text.lower()
        if any(phrase in lowered for phrase in _PERMISSION_TRAPS):
            return RouterNotPermitted(
                f"API user {self.username!r} on router {self.name} may not run {command}: {text}",
                router=self.name,
            )
        if any(phrase in lowered for phrase in _DEVICE_TRAPS):
            return DeviceNotOnHotspot(
                f"router {self.name} does not see this device on its hotspot ({command}: {text})",
                router=self.name,
            )
        return RouterRejected(f"router {self.name} rejected {command}: {text}", router=self.name)

    def _describe(self, err: BaseException, doing: str) -> str:
        """Say in one sentence what went wrong with the connection."""
        where = f"{self.host}:{self.port}"
        if isinstance(err, TimeoutError):
            return f"router {self.name} did not answer within {self.timeout:.1f} s ({doing})"
        if isinstance(err, ConnectionRefusedError):
            return f"router {self.name} refused the connection to {where} (API service down or disabled?)"
        if isinstance(err, ConnectionResetError):
            return f"router {self.name} reset the connection ({doing})"
        if isinstance(err, ssl.SSLCertVerificationError):
            return f"TLS certificate of router {self.name} could not be verified: {err.verify_message}"
        if isinstance(err, ssl.SSLError):
            return f"TLS with router {self.name} failed ({doing}): {err.reason or err}"
        if isinstance(err, (ConnectionClosed, BrokenPipeError, EOFError)):
            return f"router {self.name} closed the connection ({doing})"
        if isinstance(err, FatalError):
            return f"router {self.name} ended the API session ({doing}): {err}"
        if isinstance(err, socket.gaierror):
            return f"cannot resolve the address of router {self.name} ({self.host!r})"
        if isinstance(err, OSError):
            return f"cannot reach router {self.name} at {where}: {err.strerror or err}"
        return f"router {self.name} sent a reply we could not read ({doing}): {type(err).__name__}: {err}"


def _read_sentences(reads: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> list[tuple[str, Sequence[str]]]:
    """``(command, query words, proplist)`` -> the sentence's words: the proplist, then the query."""
    return [
        (command, [*([f"=.proplist={','.join(proplist)}"] if proplist else []), *query])
        for command, query, proplist in reads
    ]


def _encoded(batch: Sequence[tuple[str, Sequence[str]]], first_tag: int) -> bytes:
    """Tagged sentences (a command's tag is its position in the whole pipeline)."""
    return b"".join(
        encode_sentence(command, *words, f".tag={tag}", encoding="utf-8")  # as ensure_connected opens every session
        for tag, (command, words) in enumerate(batch, start=first_tag)
    )


class _Writer:
    """Writes batches from a thread of its own: while the router is busy with the first
    commands and its answers wait unread, the rest still goes out as it reads them. One
    ``sendall`` per batch: the socket's timeout bounds each call's whole duration, and a
    slow router takes far longer than that to read thousands of commands."""

    def __init__(self, transport: BufferedTransport, batches: list[bytes]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, args=(transport, batches), name="router-writer")
        self._thread.daemon = True
        self._thread.start()

    def _write(self, transport: BufferedTransport, batches: list[bytes]) -> None:
        try:
            for batch in batches:
                transport.write(batch)
        except BaseException as err:  # noqa: BLE001 - raised again by finish, in the caller's thread
            self._error = err

    def finish(self) -> None:
        """Wait for the payload to be sent (every answer is in by now); raise what writing raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
