"""Wire-level conformance: length prefixes, sentences, tags, fragmentation (raw sockets)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from librouteros.connections import SocketTransport
from librouteros.protocol import ApiProtocol, decode_length
from librouteros.protocol import encode_length as library_encode_length

from portal.clock import ManualClock
from router.emulator import RouterEmulator
from router.emulator.codec import ProtocolViolation, SentenceDecoder, encode_length, encode_sentence, parse_command
from tests.router.conftest import opened_api

LOGIN = ["/login", "=name=pay2connect", "=password=secret"]


class RawClient:
    """Writes hand-made bytes; reads replies with librouteros' own word reader."""

    def __init__(self, emulator: RouterEmulator) -> None:
        self.sock = socket.create_connection((emulator.host, emulator.port), timeout=2)
        self.protocol = ApiProtocol(SocketTransport(self.sock), encoding="utf-8")

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *words: str) -> None:
        self.sock.sendall(encode_sentence(list(words)))

    def read(self) -> list[str]:
        """One reply sentence, ``!fatal`` included (librouteros' readSentence would raise on it)."""
        return list(iter(self.protocol.readWord, ""))

    def read_until_done(self) -> list[list[str]]:
        sentences = [self.read()]
        while sentences[-1][0] != "!done":
            sentences.append(self.read())
        return sentences

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(emulator: RouterEmulator) -> Iterator[RawClient]:
    client = RawClient(emulator)
    yield client
    client.close()


@pytest.mark.parametrize(
    "length, prefix",
    [
        (0, b"\x00"),
        (0x7F, b"\x7f"),
        (0x80, b"\x80\x80"),
        (256, b"\x81\x00"),
        (0x3FFF, b"\xbf\xff"),
        (0x4000, b"\xc0\x40\x00"),
        (70_000, b"\xc1\x11\x70"),
        (0x1FFFFF, b"\xdf\xff\xff"),
        (0x200000, b"\xe0\x20\x00\x00"),
        (0xFFFFFFF, b"\xef\xff\xff\xff"),
    ],
)
def test_length_prefixes_match_the_manual_table(length: int, prefix: bytes) -> None:
    assert encode_length(length) == prefix
    assert library_encode_length(length) == prefix


@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=6), st.integers(1, 17))
def test_any_fragmentation_yields_the_same_sentence(words: list[str], chunk: int) -> None:
    data = encode_sentence(words) + b"\x00" + encode_sentence(words)  # an empty sentence in between
    decoder = SentenceDecoder()
    sentences = []
    for start in range(0, len(data), chunk):
        sentences += decoder.feed(data[start : start + chunk])
    assert sentences == [words, words]


@given(st.integers(0, 0xFFFFFFF))
def test_every_emitted_prefix_decodes_in_librouteros(length: int) -> None:
    assert decode_length(encode_length(length)) == length


def test_five_byte_prefix_and_control_bytes_in_the_decoder() -> None:
    decoder = SentenceDecoder()
    assert decoder.feed(b"\xf0\x00\x00\x00\x05/quit\x00") == [["/quit"]]
    with pytest.raises(ProtocolViolation):
        SentenceDecoder().feed(b"\xf8")


def test_words_count_bytes_not_characters() -> None:
    encoded = encode_sentence(["=comment=Karibu sana ☕"])
    assert encoded[0] == len("=comment=Karibu sana ☕".encode())
    assert SentenceDecoder().feed(encoded) == [["=comment=Karibu sana ☕"]]


def test_attribute_words_split_on_the_first_two_equals_only() -> None:
    command = parse_command(["/x/set", "=name=iu=c3Eeg", "=comment=", ".tag=7", "?=a=b=c"])
    assert command.attributes == {"name": "iu=c3Eeg", "comment": ""}
    assert command.tag == "7"
    assert command.queries == ["?=a=b=c"]


def test_five_byte_prefix_is_accepted_on_the_wire(raw: RawClient) -> None:
    command = b"/login"
    raw.send_bytes(
        b"\xf0"
        + len(command).to_bytes(4, "big")
        + command
        + b"".join(encode_sentence([word])[:-1] for word in LOGIN[1:])
        + b"\x00"
    )
    assert raw.read() == ["!done"]


def test_sentence_dripped_one_byte_at_a_time_is_answered(raw: RawClient) -> None:
    for byte in encode_sentence(LOGIN):
        raw.send_bytes(bytes([byte]))
    assert raw.read() == ["!done"]


def test_empty_sentences_are_ignored_and_pipelined_commands_answered_in_order(raw: RawClient) -> None:
    raw.send_bytes(
        b"\x00\x00"
        + encode_sentence(LOGIN)
        + b"\x00"
        + encode_sentence(["/system/identity/print", ".tag=a"])
        + encode_sentence(["/system/identity/set", "=name=cafe", ".tag=b"])
        + encode_sentence(["/system/identity/print", ".tag=c"])
    )
    assert raw.read() == ["!done"]
    assert raw.read_until_done() == [["!re", ".tag=a", "=name=MikroTik"], ["!done", ".tag=a"]]
    assert raw.read_until_done() == [["!done", ".tag=b"]]
    assert raw.read_until_done() == [["!re", ".tag=c", "=name=cafe"], ["!done", ".tag=c"]]


def test_tag_is_echoed_on_every_reply_including_traps_and_empty(raw: RawClient) -> None:
    raw.send(*LOGIN, ".tag=login")
    assert raw.read() == ["!done", ".tag=login"]
    raw.send("/ip/hotspot/active/print", ".tag=x1")
    assert raw.read_until_done() == [["!empty", ".tag=x1"], ["!done", ".tag=x1"]]
    raw.send("/ip/hotspot/user/remove", "=.id=*99", ".tag=x2")
    assert raw.read_until_done() == [["!trap", ".tag=x2", "=message=no such item"], ["!done", ".tag=x2"]]
    raw.send("/ip/hotspot/user/add", "=name=u1", ".tag=")
    assert raw.read_until_done() == [["!done", "=ret=*2"]]  # empty tag: no tag at all


def test_untagged_requests_get_untagged_replies(raw: RawClient) -> None:
    raw.send(*LOGIN)
    raw.read()
    raw.send("/ip/hotspot/user/print", "=.proplist=name")
    assert raw.read_until_done() == [["!re", "=name=default-trial"], ["!done"]]


def test_control_byte_closes_the_connection(raw: RawClient) -> None:
    raw.send(*LOGIN)
    raw.read()
    raw.send_bytes(b"\xf8")
    assert raw.sock.recv(10) == b""


def test_commands_before_login_are_refused_then_cut_off(raw: RawClient) -> None:
    raw.send("/system/identity/print")
    assert raw.read_until_done() == [["!trap", "=message=not logged in"], ["!done"]]
    for _ in range(9):
        raw.send("/system/identity/print")
        raw.read_until_done()
    raw.send("/system/identity/print")
    assert raw.read() == ["!fatal", "too many commands before login"]
    assert raw.sock.recv(10) == b""


def test_quit_is_answered_with_fatal_and_close(raw: RawClient) -> None:
    raw.send(*LOGIN)
    raw.read()
    raw.send("/quit")
    assert raw.read() == ["!fatal", "session terminated on request"]
    assert raw.sock.recv(10) == b""


def test_version_716_sends_bare_done_for_an_empty_print(clock: ManualClock) -> None:
    with RouterEmulator(clock=clock, version="7.16") as old_router:
        client = RawClient(old_router)
        try:
            client.send(*LOGIN)
            client.read()
            client.send("/ip/hotspot/active/print")
            assert client.read_until_done() == [["!done"]]
        finally:
            client.close()


def test_legacy_challenge_login_on_a_pre_643_router(clock: ManualClock) -> None:
    from librouteros.login import token

    with RouterEmulator(clock=clock, version="6.42") as old_router, opened_api(old_router, login_method=token) as api:
        assert [row["name"] for row in api.path("system", "identity")] == ["MikroTik"]
