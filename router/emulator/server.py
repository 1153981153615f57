"""The TCP (optionally TLS) side: listener, one thread per API connection, login, faults."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import struct
import threading
from collections.abc import Iterable, Iterator

from router.emulator.codec import (
    Command,
    ProtocolViolation,
    SentenceDecoder,
    encode_sentence,
    parse_command,
    reply_words,
)
from router.emulator.faults import SECOND_TRAP_MESSAGE, Fault, FaultPlan
from router.emulator.menus import Outcome, Trap
from router.emulator.state import RouterState

logger = logging.getLogger(__name__)

PRELOGIN_SENTENCE_LIMIT = 10
DRAIN_SECONDS = 2.0  # after our FIN, how long we keep reading so the peer sees EOF, not RST
HANDSHAKE_SECONDS = 5.0
#: Answers waiting past this many bytes go out at once: a listing of thousands of rows
#: streams as a router's does, so the client reads its first rows while the rest are written.
STREAM_BYTES = 32_768
Sentences = Iterable[list[str]]


def _trap_words(message: str, category: int | None, tag: str | None) -> list[str]:
    attributes = [("message", message)]
    if category is not None:
        attributes.append(("category", str(category)))
    return reply_words("!trap", attributes, tag)


class ApiConnection:
    """One client: reads sentences in order, answers each, applies scripted faults."""

    def __init__(self, server: ApiServer, sock: socket.socket, peer: str, *, refuse: bool) -> None:
        self.server = server
        self.state: RouterState = server.state
        self.sock = sock
        self.peer = peer
        self.refuse = refuse
        self.policies: frozenset[str] | None = None
        self.prelogin_sentences = 0
        self.challenge = b""
        self.closing = False
        self._unsent: list[bytes] = []  # answers to the sentences of one read, sent together
        self._unsent_bytes = 0
        self.thread = threading.Thread(target=self.run, name=f"routeros-emulator-{peer}", daemon=True)

    # ----- lifecycle ----------------------------------------------------------------
    def run(self) -> None:
        try:
            if self.refuse:
                self.close_gracefully()
                return
            if self.server.tls_context is not None:
                self.sock.settimeout(HANDSHAKE_SECONDS)
                self.sock = self.server.tls_context.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(None)
            decoder = SentenceDecoder()
            while not self.closing:
                data = self.sock.recv(65536)
                if not data:
                    break
                for words in decoder.feed(data):
                    if self.closing or not self.handle(words):
                        return
                self.flush()
        except ProtocolViolation as violation:
            logger.info("closing %s: %s", self.peer, violation)
        except (OSError, ValueError) as error:
            logger.debug("connection %s ended: %s", self.peer, error)
        finally:
            self.closing = True
            with contextlib.suppress(OSError):
                self.sock.close()
            self.server.forget(self)

    def force_close(self) -> None:
        """From another thread: wake the reader (FIN to the peer); the owner thread closes the socket."""
        self.closing = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def close_gracefully(self) -> None:
        """FIN, then drain briefly so unread peer bytes do not turn our close into an RST."""
        self.closing = True
        try:
            self.flush()
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
            self.sock.settimeout(DRAIN_SECONDS)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def reset(self) -> None:
        self.closing = True
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def stall(self) -> None:
        """Swallow everything without answering until the peer leaves, stop(), or the ceiling."""
        self.sock.settimeout(self.server.stall_ceiling)
        try:
            while not self.closing and self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.closing = True

    def send(self, sentences: Sentences) -> None:
        """Queue answers; they go out with :meth:`flush` (once per read: a client sending many
        commands at once gets one write back, not one per command), or as soon as
        :data:`STREAM_BYTES` of them wait."""
        unsent = self._unsent
        for words in sentences:
            data = encode_sentence(words)
            unsent.append(data)
            self._unsent_bytes += len(data)
            if self._unsent_bytes >= STREAM_BYTES:
                self.flush()
                unsent = self._unsent

    def flush(self) -> None:
        unsent, self._unsent, self._unsent_bytes = self._unsent, [], 0
        if unsent:
            self.sock.sendall(b"".join(unsent))

    # ----- sentences ----------------------------------------------------------------
    def handle(self, words: list[str]) -> bool:
        """Answer one sentence; False once the connection is finished."""
        command = parse_command(words)
        self.state.log_command(command)
        logger.debug("%s -> %s", self.peer, command.word)
        fault = self.server.faults.take_for_command(command.word)
        if fault is not None:
            return self.apply_fault(fault, command)
        sentences, close = self.respond(command)
        self.send(sentences)
        if close:
            self.close_gracefully()
        return not close

    def respond(self, command: Command) -> tuple[Sentences, bool]:
        tag = command.tag
        if command.word == "/quit":
            return [["!fatal", "session terminated on request"]], True
        if command.word == "/login":
            return self.login(command)
        if self.policies is None:
            self.prelogin_sentences += 1
            if self.prelogin_sentences > PRELOGIN_SENTENCE_LIMIT:
                return [["!fatal", "too many commands before login"]], True
            return [_trap_words("not logged in", None, tag), reply_words("!done", [], tag)], False
        if command.word == "/cancel":
            return [reply_words("!done", [], tag)], False
        try:
            outcome = self.state.execute(command, self.policies)
        except Trap as trap:
            return [_trap_words(trap.message, trap.category, tag), reply_words("!done", [], tag)], False
        return self.render(outcome, tag), False

    def render(self, outcome: Outcome, tag: str | None) -> Iterator[list[str]]:
        """The reply sentences, made as they are sent (see :meth:`send`)."""
        for row in outcome.rows:
            yield reply_words("!re", row, tag)
        if outcome.listing and not outcome.rows and self.state.sends_empty:
            yield reply_words("!empty", [], tag)
        yield reply_words("!done", outcome.done, tag)

    def login(self, command: Command) -> tuple[Sentences, bool]:
        args, tag = command.attributes, command.tag
        legacy = (
            self.state.legacy_login or "response" in args or ("name" not in args and self.state.version_tuple < (7,))
        )
        if legacy and "response" not in args:
            self.challenge = os.urandom(16)
            return [reply_words("!done", [("ret", self.challenge.hex())], tag)], False
        if legacy:
            policies = self.state.authenticate_challenge(args.get("name", ""), args["response"], self.challenge)
            failure = "cannot log in"
        else:
            policies = self.state.authenticate(args.get("name", ""), args.get("password", ""))
            failure = "invalid user name or password (6)"
        if policies is None:
            self.prelogin_sentences += 1
            if self.prelogin_sentences > PRELOGIN_SENTENCE_LIMIT:
                return [["!fatal", "too many commands before login"]], True
            return [_trap_words(failure, None, tag), reply_words("!done", [], tag)], False
        self.policies = policies
        return [reply_words("!done", [], tag)], False

    def apply_fault(self, fault: Fault, command: Command) -> bool:
        logger.debug("fault %s on %s for %s", fault.kind, self.peer, command.word)
        self.flush()  # the answers before the fault reach the client, as they would have
        tag = command.tag
        if fault.kind == "stall":
            self.stall()
            return False
        if fault.kind == "reset":
            self.reset()
            return False
        if fault.kind in ("drop_before_reply", "drop_mid_reply"):
            sentences = self.respond(command)[0] if fault.execute else [reply_words("!done", [], tag)]
            if fault.kind == "drop_mid_reply":
                data = b"".join(encode_sentence(words) for words in sentences)
                self.sock.sendall(data[: max(1, len(data) // 2)])
            self.close_gracefully()
            return False
        if fault.kind == "fatal":
            self.send([["!fatal", fault.text]])
            self.close_gracefully()
            return False
        traps = [_trap_words(fault.text, fault.category, tag)]
        if fault.kind == "multi_trap":
            traps.append(_trap_words(SECOND_TRAP_MESSAGE, fault.category, tag))
        self.send([*traps, reply_words("!done", [], tag)])
        return True


class ApiServer:
    """Accepts API connections on one port; can go down and come back on the same port."""

    def __init__(
        self,
        state: RouterState,
        faults: FaultPlan,
        *,
        host: str,
        port: int,
        tls_context: ssl.SSLContext | None,
        stall_ceiling: float | None,
    ) -> None:
        self.state = state
        self.faults = faults
        self.host = host
        self.port = port
        self.tls_context = tls_context
        self.stall_ceiling = stall_ceiling
        self._lock = threading.Lock()
        self._connections: set[ApiConnection] = set()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None

    def listen(self) -> int:
        """Open the listener (on the same port as before after a :meth:`close_listener`)."""
        with self._lock:
            if self._listener is not None:
                return self.port
            listener = socket.create_server((self.host, self.port), backlog=64)
            self.port = listener.getsockname()[1]
            self._listener = listener
            self._accept_thread = threading.Thread(
                target=self._accept_loop, args=(listener,), name=f"routeros-emulator-accept-{self.port}", daemon=True
            )
            self._accept_thread.start()
        logger.info("RouterOS API emulator listening on %s:%s", self.host, self.port)
        return self.port

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, address = listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers go out as written
            with self._lock:
                serving = sum(1 for connection in self._connections if not connection.closing)
                too_many = serving >= self.state.max_sessions()
                refuse = too_many or self.faults.take_for_connection() is not None or self.state.booting()
                connection = ApiConnection(self, sock, f"{address[0]}:{address[1]}", refuse=refuse)
                self._connections.add(connection)
            connection.thread.start()

    def forget(self, connection: ApiConnection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def close_listener(self) -> None:
        with self._lock:
            listener, thread = self._listener, self._accept_thread
            self._listener = self._accept_thread = None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if thread is not None:
            thread.join(timeout=2)

    def drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.force_close()
        for connection in connections:
            if connection.thread.is_alive() and connection.thread is not threading.current_thread():
                connection.thread.join(timeout=2)

    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def stop(self) -> None:
        self.close_listener()
        self.drop_connections()
