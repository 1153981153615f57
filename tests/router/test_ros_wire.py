"""router/ros_wire.py: RouterOS replies read from a buffered socket, as librouteros reads them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from librouteros.exceptions import ConnectionClosed, FatalError, MultiTrapError, TrapError
from librouteros.protocol import encode_sentence, encode_word, parse_word

from router.ros_wire import BufferedTransport, attributes, read_response, read_sentence

VALUES = [
    "", "0", "00", "012", "12", "-5", "-0", "+5", " 5", "5 ", "1_000", "1e3", "3.5", "٣", "²",
    "yes", "no", "true", "false", "True", "YES", "a=b=c", "AA:BB:CC:00:11:22", "10.0.0.2",
    "1d2h3m4s", "99999999999999999999", "-", "--1", "ü", "*1A",
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES)
def test_a_value_is_typed_as_librouteros_types_it(value: str) -> None:
    word = f"=key={value}"
    key, typed = parse_word(word)
    assert attributes([word]) == {key: typed}
    assert type(attributes([word])[key]) is type(typed)


def test_a_replys_words_make_one_row_typed_word_by_word_and_its_tag_is_left_out() -> None:
    words = [f"=k{n}={value}" for n, value in enumerate(VALUES)]
    row = attributes([".tag=7", *words])
    assert row == dict(parse_word(word) for word in words)
    assert [type(value) for value in row.values()] == [type(parse_word(word)[1]) for word in words]


@contextmanager
def _reading(chunks: list[bytes]) -> Iterator[BufferedTransport]:
    """A transport reading from a real socket whose peer writes ``chunks`` one by one, then closes."""
    ours, theirs = socket.socketpair()

    def write() -> None:
        with theirs:
            for chunk in chunks:
                theirs.sendall(chunk)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        yield BufferedTransport(ours)
    finally:
        writer.join()
        ours.close()


@pytest.mark.parametrize("size", [0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000])
def test_words_of_every_length_encoding_come_back_whole_even_in_one_byte_pieces(size: int) -> None:
    big = "x" * (size - len("=name=")) if size > 10 else "x"
    sentence = encode_sentence("!re", f"=name={big}", "=n=5", encoding="utf-8") + encode_sentence(
        "!done", encoding="utf-8"
    )
    pieces = [sentence[i : i + 1] for i in range(min(len(sentence), 40))] + [sentence[40:]]
    with _reading(pieces) as transport:
        assert read_response(transport) == [{"name": big, "n": 5}]
    assert len(encode_word(f"=name={big}", "utf-8")) > size  # the length took the encoding meant


def test_a_trap_raises_trap_error_and_two_raise_multi_trap_error() -> None:
    one = encode_sentence("!trap", "=message=no such item", "=category=0", encoding="utf-8")
    done = encode_sentence("!done", encoding="utf-8")
    with _reading([one + done, one + one + done]) as transport:
        with pytest.raises(TrapError, match="no such item"):
            read_response(transport)
        with pytest.raises(MultiTrapError):
            read_response(transport)


def test_fatal_closes_the_transport_and_a_closed_peer_raises() -> None:
    fatal = encode_sentence("!fatal", "session terminated", encoding="utf-8")
    with _reading([fatal]) as transport, pytest.raises(FatalError, match="session terminated"):
        read_sentence(transport)
    with _reading([b"\x05!do"]) as transport, pytest.raises(ConnectionClosed):
        read_sentence(transport)
