"""RouterOS API wire format: length-prefixed words, zero-terminated sentences.

Decoding accepts all five prefix sizes (1–4 bytes plus ``0xF0`` + 4 bytes); encoding
emits 1–4 bytes only, like a real router, because librouteros cannot read more.
Lengths count bytes, never characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.ros_lengths import decode_length, encode_length, prefix_size

MAX_WORD_BYTES = 64 * 1024 * 1024  # far above anything sane; protects the emulator's memory


class ProtocolViolation(Exception):
    """The peer sent something after which the stream cannot continue (control byte, huge word)."""


def encode_word(word: str, encoding: str = "utf-8") -> bytes:
    data = word.encode(encoding)
    return encode_length(len(data)) + data


_SHORT_PREFIXES = [length.to_bytes(1, "big") for length in range(0x80)]


def encode_sentence(words: list[str], encoding: str = "utf-8") -> bytes:
    """The words, each after its length, and the empty word that ends a sentence. Inline
    for the short words that nearly every word is: a listing of thousands of rows is
    tens of thousands of words."""
    parts: list[bytes] = []
    for word in words:
        data = word.encode(encoding)
        size = len(data)
        parts.append(_SHORT_PREFIXES[size] if size < 0x80 else encode_length(size))
        parts.append(data)
    parts.append(b"\x00")
    return b"".join(parts)


class SentenceDecoder:
    """Turns an arbitrarily fragmented byte stream into complete sentences."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding
        self._buffer = b""
        self._words: list[str] = []

    def feed(self, data: bytes) -> list[list[str]]:
        """Add received bytes; return every sentence completed by them (empty ones dropped)."""
        buffer = self._buffer + data if self._buffer else bytes(data)
        at, end = 0, len(buffer)
        sentences: list[list[str]] = []
        while at < end:
            first = buffer[at]
            if first < 0x80:
                size, length = 1, first
            else:
                try:
                    size = prefix_size(first)
                except ValueError as err:
                    raise ProtocolViolation(str(err)) from None
                if end - at < size:
                    break
                length = decode_length(buffer[at : at + size])
            if length > MAX_WORD_BYTES:
                raise ProtocolViolation(f"word of {length} bytes")
            if end - at < size + length:
                break
            start, at = at + size, at + size + length
            if length == 0:
                if self._words:
                    sentences.append(self._words)
                self._words = []
            else:
                self._words.append(buffer[start:at].decode(self.encoding, errors="replace"))
        self._buffer = buffer[at:]
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
