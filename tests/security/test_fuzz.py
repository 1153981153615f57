"""Fuzz every route of ``app.url_map``, signed out and signed in: no answer is ever >= 500.

Every example is stateless: a fresh source address (127.x.y.z, so per-address limits start
over), a fresh device joined on the emulator, a fresh phone number, the limits raised for the
fuzz app, no cookie kept from one request to the next, and the seeded package put back after
every admin change. Bodies come from structured generators (JSON nested 1 to 2,000 deep,
extreme numbers, Unicode digits, NaN, null bytes, overlong strings, wrong types), with odd
content types, methods, headers and query strings. Which parameter names each view reads is
learned from the app first, so a new route or parameter is fuzzed without anyone listing it.

Reproducible: Hypothesis runs derandomized. ``PAY2CONNECT_FUZZ_SCALE=10`` sends ten times as
many requests; ``PAY2CONNECT_FUZZ_SEED=<n>`` explores with that seed instead.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from dataclasses import fields, is_dataclass
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from portal.config import Settings
from tests.security import fuzz_values as fv
from tests.security.fuzz_http import Route, recording_parameter_names, watching
from tests.security.fuzz_world import CSRF, WHO, World, any_body, fields_for, json_body, path_values

SCALE = float(os.environ.get("PAY2CONNECT_FUZZ_SCALE", "1"))
SEED = os.environ.get("PAY2CONNECT_FUZZ_SEED")
JSON_EXAMPLES, ROUTE_EXAMPLES = int(500 * SCALE), int(1800 * SCALE)
MIN_REQUESTS = int(5000 * min(SCALE, 1))
FUZZ_LINES: list[str] = []  # printed after the run by tests/conftest.py


# Settings that make a fuzz example stop early at 429: caps and per-window budgets (raised,
# keeping their order, e.g. one source's share stays below the global budget) and cool-downs.
BUDGET = re.compile(r"cap|per_minute|per_hour|per_day|attempts|failures|max_checks|moves")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Every limit in every settings section raised 10,000-fold, push cool-downs off: no example
    stops early at a 429 however many came before it (found by name, so new limits count)."""
    defaults = Settings()
    raised: dict[str, Any] = {}
    for section in fields(defaults):
        values = getattr(defaults, section.name)
        if not is_dataclass(values):
            continue
        for field in fields(values):
            current = getattr(values, field.name)
            if type(current) is int and section.name == "limits" and "cooldown" in field.name:
                raised.setdefault(section.name, {})[field.name] = 0
            elif type(current) is int and BUDGET.search(field.name):
                raised.setdefault(section.name, {})[field.name] = current * 10_000
    return raised


def fuzz_settings(examples: int) -> Any:
    chosen = settings(
        max_examples=examples,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    return (lambda test: seed(int(SEED))(chosen(test))) if SEED else chosen


def learn_parameter_names(world: World, json_routes: list[Route], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One plain request per route, method and visitor, recording the names each view reads."""
    with recording_parameter_names(monkeypatch) as names:
        for route, who in itertools.product(world.routes, WHO[:3]):
            for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
                target = route.path({name: world.known[kind][0] for name, kind in route.arguments})
                parts: dict[str, Any] = {}
                if method != "GET" and route in json_routes:
                    parts.update(body="{}", content_type="application/json")
                elif method != "GET":
                    parts.update(body=f"csrf_token={CSRF}", content_type="application/x-www-form-urlencoded")
                world.send(route, method, target, who, world.fresh(), **parts)
    return {endpoint: tuple(sorted(found | {"lang", "csrf_token"})) for endpoint, found in names.items()}


def test_fuzz_every_route_signed_in_and_out(portal, package, app, clock, owner, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")  # not a line per request
    world = World(portal, package, app, clock)
    known = (world.known["int"], world.known["text"])
    json_routes = [r for r in world.routes if "POST" in r.methods and r.rule.startswith("/api/")]
    started = time.monotonic()
    with watching(app, world.tally):
        names = learn_parameter_names(world, json_routes, monkeypatch)
        world.sweep(names, json_routes)
        swept = world.tally.requests
        json_names = tuple(sorted(set().union(*(names.get(route.endpoint, ()) for route in json_routes))))
        json_types = st.one_of(st.sampled_from(fv.JSON_TYPES), fv.content_types)

        @fuzz_settings(JSON_EXAMPLES)
        @given(body=st.one_of(json_body(json_names), st.binary(max_size=300)), content_type=json_types, data=st.data())
        def every_json_endpoint(body: str | bytes, content_type: str, data: st.DataObject) -> None:
            fresh = world.fresh()
            for route in json_routes:
                target = route.path(data.draw(path_values(route.arguments, known)))
                world.send(route, "POST", target, "signed out", fresh, body=body, content_type=content_type)

        @fuzz_settings(ROUTE_EXAMPLES)
        @given(route=st.sampled_from(world.routes), who=st.sampled_from(WHO), data=st.data())
        def every_route(route: Route, who: str, data: st.DataObject) -> None:
            odd = not data.draw(st.integers(0, 6))
            method = data.draw(st.sampled_from(fv.ODD_METHODS if odd else sorted(route.methods)), label="method")
            route_names = names.get(route.endpoint, ("lang",))
            query = data.draw(fv.pairs_text(fields_for(route_names)), label="query")
            target = route.path(data.draw(path_values(route.arguments, known))) + (f"?{query}" if query else "")
            parts: dict[str, Any] = {"headers": data.draw(fv.extra_headers, label="headers")}
            if method not in ("GET", "HEAD"):
                parts["content_type"], parts["body"] = data.draw(any_body(route_names), label="body")
            world.send(route, method, target, who, world.fresh(), **parts)

        every_json_endpoint()
        every_route()

    tally = world.tally
    unserved = sorted(route.rule for route in world.routes if not tally.served[route.rule])
    line = (
        f"fuzz: {tally.requests} requests ({swept} swept, {tally.requests - swept} generated), "
        f"{len(world.routes) - len(unserved)}/{len(world.routes)} routes served "
        f"({', '.join(WHO)}; signed in again {sum(world.renewed.values())}x), "
        f"responses >= 500: {len(tally.findings)} [{tally.bands()}] "
        f"in {time.monotonic() - started:.0f} s, " + (f"seed {SEED}" if SEED else "derandomized")
    )
    FUZZ_LINES.append(line)
    print(line)
    print("slowest routes:", [(rule, round(sec, 2)) for rule, sec in tally.seconds.most_common(8)])
    print("answers by route:", sorted(tally.outcomes.items()))
    assert not tally.findings, f"{line}\n{tally.report()}"
    assert not unserved, f"routes the fuzz never reached: {unserved}"
    assert tally.requests >= MIN_REQUESTS, line


def test_health_and_metrics_answer(base_url: str) -> None:
    health = requests.get(f"{base_url}/api/health?daraja=0", timeout=10)
    assert health.status_code == 200, health.text
    metrics = requests.get(f"{base_url}/metrics", timeout=10)
    assert metrics.status_code == 200 and "pay2connect_payments" in metrics.text
