"""RouterOS API wire format: length-prefixed words, zero-terminated sentences.

Decoding accepts all five prefix sizes (1–4 bytes plus ``0xF0`` + 4 bytes); encoding
emits 1–4 bytes only, like a real router, because librouteros cannot read more.
Lengths count bytes, never characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_WORD_BYTES = 64 * 1024 * 1024  # far above anything sane; protects the emulator's memory


class ProtocolViolation(Exception):
    """The peer sent something after which the stream cannot continue (control byte, huge word)."""


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return length.to_bytes(1, "big")
    if length < 0x4000:
        return (length | 0x8000).to_bytes(2, "big")
    if length < 0x200000:
        return (length | 0xC00000).to_bytes(3, "big")
    if length < 0x10000000:
        return (length | 0xE0000000).to_bytes(4, "big")
    raise ValueError(f"word of {length} bytes is too long to send")


def encode_word(word: str, encoding: str = "utf-8") -> bytes:
    data = word.encode(encoding)
    return encode_length(len(data)) + data


def encode_sentence(words: list[str], encoding: str = "utf-8") -> bytes:
    return b"".join(encode_word(word, encoding) for word in words) + b"\x00"


def _prefix_size(first: int) -> int:
    """How many bytes the length prefix starting with ``first`` occupies."""
    if first < 0x80:
        return 1
    if first < 0xC0:
        return 2
    if first < 0xE0:
        return 3
    if first < 0xF0:
        return 4
    if first == 0xF0:
        return 5
    raise ProtocolViolation(f"control byte 0x{first:02X}")


def _decode_prefix(prefix: bytes) -> int:
    size = len(prefix)
    if size == 5:
        return int.from_bytes(prefix[1:], "big")
    masks = {1: 0, 2: 0x8000, 3: 0xC00000, 4: 0xE0000000}
    return int.from_bytes(prefix, "big") ^ masks[size]


class SentenceDecoder:
    """Turns an arbitrarily fragmented byte stream into complete sentences."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding
        self._buffer = bytearray()
        self._words: list[str] = []

    def feed(self, data: bytes) -> list[list[str]]:
        """Add received bytes; return every sentence completed by them (empty ones dropped)."""
        self._buffer += data
        sentences: list[list[str]] = []
        while self._buffer:
            first = self._buffer[0]
            size = _prefix_size(first)
            if len(self._buffer) < size:
                break
            length = _decode_prefix(bytes(self._buffer[:size]))
            if length > MAX_WORD_BYTES:
                raise ProtocolViolation(f"word of {length} bytes")
            if len(self._buffer) < size + length:
                break
            raw = bytes(self._buffer[size : size + length])
            del self._buffer[: size + length]
            if length == 0:
                if self._words:
                    sentences.append(self._words)
                self._words = []
            else:
                self._words.append(raw.decode(self.encoding, errors="replace"))
        return sentences


@dataclass
class Command:
    """One client sentence, split into its kinds of words."""

    word: str
    attributes: dict[str, str] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    tag: str | None = None
    stray_words: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The menu part of the command word: ``/ip/hotspot/user`` for ``/ip/hotspot/user/add``."""
        return self.word.rsplit("/", 1)[0]

    @property
    def verb(self) -> str:
        return self.word.rsplit("/", 1)[-1]


def parse_command(words: list[str]) -> Command:
    """Split a sentence: ``=name=value`` on the first two ``=`` only, ``.tag=``, ``?query``."""
    command = Command(word=words[0])
    for word in words[1:]:
        if word.startswith("="):
            name, _, value = word[1:].partition("=")
            command.attributes[name] = value
        elif word.startswith(".tag="):
            command.tag = word[len(".tag=") :] or None
        elif word.startswith("?"):
            command.queries.append(word)
        else:
            command.stray_words.append(word)
    return command


def reply_words(kind: str, attributes: list[tuple[str, str]], tag: str | None) -> list[str]:
    """A reply sentence: the reply word, ``.tag=`` when the request had one, then ``=k=v`` words."""
    words = [kind]
    if tag is not None:
        words.append(f".tag={tag}")
    words.extend(f"={name}={value}" for name, value in attributes)
    return words
