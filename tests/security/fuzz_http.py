"""The fuzz suite's plumbing: the app's routes read from ``app.url_map``, one HTTP request over
a fresh loopback connection (from a fresh source address when asked), the tally of answers,
and the recorder that learns which parameter names each view reads.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, has_request_context, request, request_started
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

ARGUMENT = re.compile(r"<(?:([a-zA-Z_]+)(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


@dataclass(frozen=True)
class Route:
    """One rule of the URL map: its template, methods and path arguments (name -> "int"/"text")."""

    rule: str
    endpoint: str
    methods: tuple[str, ...]
    arguments: tuple[tuple[str, str], ...]

    def path(self, values: dict[str, str]) -> str:
        """The rule with each argument replaced by its percent-encoded value."""
        return ARGUMENT.sub(lambda match: quote(values[match.group(2)], safe="/"), self.rule)


def routes_of(app: Flask) -> list[Route]:
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        kinds = tuple(
            (name, "int" if isinstance(converter, IntegerConverter) else "text")
            for name, converter in sorted(rule._converters.items())
        )
        routes.append(Route(rule.rule, rule.endpoint, tuple(sorted(rule.methods or ())), kinds))
    return routes


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


class Sender:
    """Sends one request per call on its own connection: no cookie jar, no keep-alive, nothing
    carried from one example to the next. ``source`` binds the client side to another
    127.x.y.z address, so per-address limits start fresh for every example."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)

    def send(
        self, method: str, target: str, *, headers: dict[str, str], body: bytes | None, source: str | None
    ) -> Answer:
        source_address = (source, 0) if source else None
        connection = http.client.HTTPConnection(self.host, self.port, timeout=15, source_address=source_address)
        with closing(connection):
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value.encode("utf-8", "surrogatepass"))  # as a careless client
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return Answer(response.status, response.read(), dict(response.getheaders()))


@dataclass
class Finding:
    status: int
    what: str  # method, target, who, content type
    body: str  # the start of the request body
    answer: str  # the start of the answer


@dataclass
class Tally:
    """Every request the fuzz sent and what came back; which rules actually served them."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)  # rule -> requests the app routed to it
    findings: list[Finding] = field(default_factory=list)
    errors_logged: Counter[str] = field(default_factory=Counter)  # exception type -> times
    seconds: Counter[str] = field(default_factory=Counter)  # rule -> time spent waiting for answers
    outcomes: Counter[tuple[str, int]] = field(default_factory=Counter)  # (rule, status) -> requests
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, answer: Answer, what: str, body: bytes | None) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[answer.status] += 1
            if answer.status >= 500:
                shown = (body or b"")[:300].decode("utf-8", "replace")
                self.findings.append(Finding(answer.status, what, shown, answer.body[:300].decode("utf-8", "replace")))

    def bands(self) -> str:
        by_band = Counter(f"{status // 100}xx" for status in self.statuses.elements())
        return " ".join(f"{band}={by_band[band]}" for band in sorted(by_band))

    def report(self) -> str:
        """The 5xx answers, one line each for the first few of every kind (smallest body first)."""
        lines = []
        seen: Counter[tuple[int, str]] = Counter()
        for finding in sorted(self.findings, key=lambda f: len(f.body)):
            key = (finding.status, finding.what.split(" ", 2)[0] + " " + finding.what.split(" ", 2)[1].split("?")[0])
            seen[key] += 1
            if seen[key] <= 2:
                lines.append(f"{finding.status} for {finding.what} body={finding.body[:160]!r}")
        logged = ", ".join(f"{name} x{times}" for name, times in self.errors_logged.items())
        return "\n".join(lines) + (f"\nexceptions logged by the app: {logged}" if logged else "")


@contextmanager
def watching(app: Flask, tally: Tally) -> Iterator[None]:
    """Count the rule each request was routed to, and every exception the app logs."""

    def started(_sender: Any, **_extra: Any) -> None:
        if request.url_rule is not None:
            with tally.lock:
                tally.served[request.url_rule.rule] += 1

    class Errors(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[0] is not None:
                with tally.lock:
                    tally.errors_logged[record.exc_info[0].__name__] += 1

    handler = Errors(level=logging.ERROR)
    portal_log = logging.getLogger("portal")
    portal_log.addHandler(handler)
    request_started.connect(started, app)
    try:
        yield
    finally:
        request_started.disconnect(started, app)
        portal_log.removeHandler(handler)


@contextmanager
def recording_parameter_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, set[str]]]:
    """Learn, per endpoint, which query/form names the views look up (so a new parameter is
    fuzzed without anyone listing it), and which JSON keys the JSON endpoints read."""
    names: dict[str, set[str]] = {}
    lock = threading.Lock()

    def note(key: object) -> None:
        if has_request_context() and request.endpoint and isinstance(key, str):
            with lock:
                names.setdefault(request.endpoint, set()).add(key)

    def spy(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, key: object, *args: Any, **kwargs: Any) -> Any:
            note(key)
            return original(self, key, *args, **kwargs)

        return wrapper

    class RecordingDict(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            note(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> Any:
            note(key)
            return super().__getitem__(key)

    from portal.web import json_body

    original_document = json_body.json_document

    def recording_document(**kwargs: Any) -> Any:
        document = original_document(**kwargs)
        return RecordingDict(document) if isinstance(document, dict) else document

    with monkeypatch.context() as patch:
        for cls in (MultiDict, CombinedMultiDict):
            for method in ("get", "getlist", "__getitem__", "__contains__"):
                patch.setattr(cls, method, spy(getattr(cls, method)))
        patch.setattr(json_body, "json_document", recording_document)
        yield names
