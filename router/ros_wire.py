"""Reading RouterOS API replies straight from a buffered socket: what librouteros does,
in a fraction of the time.

librouteros reads a word with three ``recv`` calls, formats a debug log line for every
word whether or not debug is on, and tries ``int()`` on every value, catching the
``ValueError`` most values raise. A reconciliation lists thousands of hotspot users and
sessions every couple of minutes, so those costs were most of the worker's time in a
listing. Here a sentence is cut from one buffer, and values are typed as librouteros types
them (:func:`attributes`: ``"12"`` -> 12, ``"true"``/``"yes"`` -> True, ``"012"``
stays text). Writing, connecting and logging in stay librouteros'.
"""

from __future__ import annotations

import socket
from typing import Any

from librouteros.connections import SocketTransport
from librouteros.exceptions import ConnectionClosed, FatalError, MultiTrapError, TrapError
from librouteros.protocol import encode_sentence

from router.ros_lengths import decode_length, prefix_size

Row = dict[str, Any]

_BOOLEANS: dict[str, bool] = {"yes": True, "true": True, "no": False, "false": False}


class BufferedTransport(SocketTransport):
    """librouteros' socket transport with a receive buffer: a sentence is read from it in
    one pass, with a ``recv`` only when the buffer runs dry."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self._buffer = b""
        self._at = 0  # where the unread bytes of the buffer start

    def _fill(self, needed: int) -> None:
        """Make at least ``needed`` unread bytes available."""
        while len(self._buffer) - self._at < needed:
            got = self.sock.recv(max(65536, needed))
            if not got:
                raise ConnectionClosed("Connection unexpectedly closed.")
            self._buffer = self._buffer[self._at :] + got
            self._at = 0

    def read(self, length: int) -> bytes:
        self._fill(length)
        data = self._buffer[self._at : self._at + length]
        self._at += length
        return data

    def read_words(self) -> list[str]:
        """One sentence: its words up to the empty word that ends it (UTF-8, bad bytes dropped
        as librouteros drops them). Short words already in the buffer (nearly all of a
        listing's) are cut in a loop of their own; the rest go through :meth:`_fill`."""
        words: list[str] = []
        while True:
            buffer, at = self._buffer, self._at
            end = len(buffer)
            while at < end:
                length = buffer[at]
                if length >= 0x80 or at + 1 + length > end:
                    break
                if length == 0:
                    self._at = at + 1
                    return words
                at += 1 + length
                words.append(buffer[at - length : at].decode("utf-8", errors="ignore"))
            self._at = at
            self._fill(1)
            first = self._buffer[self._at]
            if first < 0x80:
                size, length = 1, first
            else:
                size = prefix_size(first)  # ValueError for a control byte: the stream is lost
                self._fill(size)
                length = decode_length(self._buffer[self._at : self._at + size])
            if size == 1 and length == 0:
                self._at += 1
                return words
            self._fill(size + length)
            start = self._at + size
            words.append(self._buffer[start : start + length].decode("utf-8", errors="ignore"))
            self._at = start + length


def attributes(words: list[str]) -> Row:
    """The ``=key=value`` words of a reply as a row, each value typed as librouteros'
    ``parse_word`` types it: a number that reads back the same becomes an int,
    yes/true/no/false a bool. Other words (a ``.tag``) are skipped. One loop for a
    listing's tens of thousands of words."""
    row: Row = {}
    booleans = _BOOLEANS
    for word in words:
        if word[:1] != "=":
            continue
        _, key, value = word.split("=", 2)
        if value.isascii() and (value.isdigit() or (value[:1] == "-" and value[1:].isdigit())):
            number = int(value)
            row[key] = number if str(number) == value else value
        else:
            row[key] = booleans.get(value, value)
    return row


def read_sentence(transport: BufferedTransport) -> tuple[str, list[str]]:
    """(reply word, the other words); a ``!fatal`` closes the transport and raises FatalError."""
    words = transport.read_words()
    reply_word = words[0]
    if reply_word == "!fatal":
        transport.close()
        raise FatalError(words[1])
    return reply_word, words[1:]


def send(transport: BufferedTransport, command: str, words: list[str]) -> None:
    transport.write(encode_sentence(command, *words, encoding="utf-8"))


def read_response(transport: BufferedTransport) -> list[Row]:
    """The rows of one untagged command's reply, up to ``!done``, as librouteros'
    ``readResponse`` returns them; one ``!trap`` raises TrapError, several MultiTrapError."""
    traps: list[TrapError] = []
    rows: list[Row] = []
    reply_word = ""
    while reply_word != "!done":
        reply_word, words = read_sentence(transport)
        attrs = attributes(words)
        if reply_word == "!trap":
            traps.append(TrapError(**attrs))
        elif reply_word in ("!re", "!done") and attrs:
            rows.append(attrs)
    if len(traps) > 1:
        raise MultiTrapError(*traps)
    if traps:
        raise traps[0]
    return rows
