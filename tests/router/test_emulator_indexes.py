"""The emulator's indexes and timer queues are shortcuts only: pinned here to the full scans
they replace (every print testing every row, every tick looking at every session, cookie
and host). Two emulators run the same steps, one of them forced onto the slow paths, and
must answer alike, word for word."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.clock import ManualClock
from router.emulator import RouterEmulator
from router.emulator.codec import parse_command
from router.emulator.hotspot_timers import deadline
from router.emulator.menus import Trap
from router.emulator.state import API_POLICIES

USERS, PROFILES, ACTIVE = "/ip/hotspot/user", "/ip/hotspot/user/profile", "/ip/hotspot/active"
HOSTS, COOKIES, BINDINGS = "/ip/hotspot/host", "/ip/hotspot/cookie", "/ip/hotspot/ip-binding"
MACS = [f"02:00:00:00:00:{n:02X}" for n in range(10, 18)]
IPS = [f"10.5.50.{n}" for n in range(2, 12)]
MOVED_IPS = [f"10.5.51.{n}" for n in range(2, 12)]
NAMES = [*MACS, "alice", "bob"]
FIELDS = {
    USERS: ["name", "mac-address", "server", "disabled", "comment", "profile", "limit-uptime", ".id", "uptime"],
    ACTIVE: ["mac-address", "user", "address", "server", ".id", "uptime", "session-time-left"],
    HOSTS: ["mac-address", "address", "to-address", "authorized", "bypassed", ".id", "idle-time"],
    COOKIES: ["mac-address", "user", ".id", "expires-in"],
    BINDINGS: ["mac-address", "address", "type", "disabled", ".id"],
    PROFILES: ["name", "shared-users", "idle-timeout", ".id"],
}
# Values in every spelling the router accepts (MAC case and dashes, yes/true, hex ids), and some it does not.
VALUES = [
    *MACS,
    *(mac.lower() for mac in MACS[:3]),
    MACS[0].replace(":", "-"),
    *IPS[:4],
    "alice",
    "bob",
    "yes",
    "no",
    "true",
    "false",
    "",
    "garbage",
    "*1",
    "*2",
    "*a",
    "*B",
    "hotspot1",
    "all",
    "default",
    "fast",
    "p2c:1",
    "1h",
    "0s",
    "regular",
    "bypassed",
    "blocked",
    "1",
    "unlimited",
    "10.5.50.002",
]
OPS = ["|", "&", "!", "|&", "0", "1.", "!|", "||", "&&", "01", ".", "2|", "x"]


def run(emulator: RouterEmulator, *words: str) -> tuple[Any, ...]:
    """One command as comparable data: its rows and ``!done`` words, or what it raised."""
    try:
        outcome = emulator.state.execute(parse_command(list(words)), API_POLICIES)
    except Trap as trap:
        return ("trap", trap.message, trap.category)
    except Exception as error:  # noqa: BLE001 - a bad stack operation escapes as QueryError, alike in both
        return ("error", type(error).__name__, str(error))
    return ("ok", outcome.rows, outcome.done, outcome.listing)


def use_full_scans(emulator: RouterEmulator) -> RouterEmulator:
    """Prints test every row and ticks look at everything, as before the indexes existed."""
    for menu in emulator.state.menus.values():
        menu.select = lambda steps, ctx, menu=menu: menu.records(ctx)  # type: ignore[method-assign]
    model = emulator.state.hotspot

    def tick(now: float) -> None:
        model.now = max(model.now, now)
        for session in sorted(model.sessions.values(), key=lambda s: s.id):
            due = deadline(session, model.hosts.get(session.mac))
            if due is not None and due[0] <= now:
                model.end_session(session.id, due[0], due[1])
        for cookie in [c for c in model.cookies.values() if c.expires_at <= now]:
            del model.cookies[cookie.id]
        for host in list(model.hosts.values()):
            model._refresh_binding(host, now)

    model.tick = tick  # type: ignore[method-assign]
    return emulator


def _value_for(rng: random.Random, field: str) -> str:
    """Mostly a value of the field's kind (so queries find rows), sometimes anything."""
    mac = rng.choice(MACS)
    pools = {
        "mac-address": [mac, mac.lower(), mac.replace(":", "-")],
        "address": IPS,
        "to-address": IPS,
        "name": NAMES,
        "user": NAMES,
        "disabled": ["yes", "no", "true", "false"],
        "authorized": ["yes", "no", "true", "false"],
        "bypassed": ["yes", "false"],
        ".id": [f"*{rng.randint(1, 12):X}", f"*{rng.randint(1, 12):x}"],
    }
    return rng.choice(pools.get(field, VALUES) if rng.random() < 0.8 else VALUES)


def random_query(rng: random.Random, path: str) -> list[str]:
    words = []
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
        field, roll = rng.choice(FIELDS[path]), rng.random()
        value = _value_for(rng, field)
        if roll < 0.55:
            words.append(f"?={field}={value}")
        elif roll < 0.65:
            words.append(f"?{field}={value}")
        elif roll < 0.75:
            words.append(f"?{rng.choice('<>')}{field}={value}")
        elif roll < 0.85:
            words.append(f"?{rng.choice(['', '-'])}{field}")
        else:
            words.append("?#" + rng.choice(OPS))
    return words


def print_words(rng: random.Random, path: str) -> list[str]:
    extra = [f"=.proplist={','.join(rng.sample(FIELDS[path], 2))}"] if rng.random() < 0.3 else []
    extra += ["=count-only="] if rng.random() < 0.1 else []
    return [f"{path}/print", *extra, *random_query(rng, path)]


def random_step(rng: random.Random, ips: dict[int, str]) -> tuple[str, ...]:
    """One world event or API command; a device mostly uses the IP it last joined with (``ips``)."""
    device = rng.randrange(len(MACS))
    mac, row = MACS[device], f"*{rng.randint(1, 16):X}"
    home = ips.setdefault(device, IPS[device])
    moved = MOVED_IPS[device] if home == IPS[device] else IPS[device]  # roaming to its other address
    ip = ips[device] if rng.random() < 0.85 else rng.choice(IPS)
    name = mac if rng.random() < 0.8 else rng.choice(NAMES)
    mac_spelling = rng.choice([mac, mac.lower(), mac.replace(":", "-")])
    steps: list[tuple[int, tuple[str, ...]]] = [
        (40, ("cmd", *print_words(rng, rng.choice(list(FIELDS))))),
        (4, ("cmd", f"{rng.choice([ACTIVE, HOSTS])}/print", f"?=address={ip}")),
        (12, ("join", mac, ip)),
        (4, ("join", mac, moved)),
        (3, ("leave", mac)),
        (4, ("traffic", mac, str(rng.choice([10, 10**6])))),
        (6, ("advance", str(rng.choice([1, 30, 61, 130, 300, 3600])))),
        (
            6,
            (
                "cmd",
                f"{USERS}/add",
                f"=name={name}",
                "=password=pw",
                f"=mac-address={mac_spelling}",
                f"=server={rng.choice(['all', 'hotspot1'])}",
                f"=profile={rng.choice(['default', 'fast'])}",
                f"=limit-uptime={rng.choice(['0s', '2m', '1h'])}",
                f"=limit-bytes-total={rng.choice([0, 1500000])}",
                f"=comment=p2c:{rng.randint(1, 3)}",
            ),
        ),
        (1, ("cmd", f"{USERS}/add", f"=name={name}", "=password=pw")),
        (2, ("cmd", f"{USERS}/set", f"=.id={rng.choice([row, name])}", f"=name={rng.choice(NAMES)}")),
        (
            2,
            (
                "cmd",
                f"{USERS}/set",
                f"=.id={rng.choice([row, name])}",
                f"=mac-address={mac_spelling}",
                "=disabled=no",
                f"=profile={rng.choice(['default', 'fast'])}",
            ),
        ),
        (1, ("cmd", f"{USERS}/unset", f"=.id={row}", "=value-name=mac-address")),
        (
            3,
            (
                "cmd",
                f"{USERS}/{rng.choice(['remove', 'disable', 'enable', 'reset-counters'])}",
                f"=.id={rng.choice([row, name])}",
            ),
        ),
        (12, ("cmd", f"{ACTIVE}/login", f"=user={name}", "=password=pw", f"=ip={ip}", f"=mac-address={mac}")),
        (2, ("cmd", f"{ACTIVE}/login", f"=user={name}", "=password=pw", f"=ip={ip}")),
        (4, ("cmd", f"{rng.choice([ACTIVE, HOSTS, COOKIES, BINDINGS])}/remove", f"=.id={row}")),
        (1, ("cmd", f"{rng.choice([ACTIVE, COOKIES])}/remove", f"=.id={row},*{rng.randint(1, 9):X}")),
        (
            1,
            (
                "cmd",
                f"{BINDINGS}/add",
                f"=mac-address={mac}",
                f"=type={rng.choice(['bypassed', 'blocked', 'regular'])}",
            ),
        ),
        (1, ("cmd", f"{BINDINGS}/add", f"=address={ip}", f"=type={rng.choice(['bypassed', 'blocked'])}")),
        (2, ("cmd", f"{BINDINGS}/{rng.choice(['disable', 'enable', 'remove'])}", f"=.id=*{rng.randint(1, 4)}")),
        (
            2,
            (
                "cmd",
                f"{PROFILES}/set",
                "=.id=fast",
                f"=idle-timeout={rng.choice(['none', '1m'])}",
                f"=keepalive-timeout={rng.choice(['none', '2m'])}",
                f"=session-timeout={rng.choice(['none', '10m'])}",
                f"=mac-cookie-timeout={rng.choice(['1m', '1d'])}",
                f"=shared-users={rng.choice(['1', '2'])}",
            ),
        ),
        (
            1,
            (
                "cmd",
                "/ip/hotspot/profile/set",
                "=.id=hsprof1",
                f"=login-by={rng.choice(['cookie,http-chap,mac-cookie', 'mac,mac-cookie', 'http-chap'])}",
            ),
        ),
        (1, ("cmd", "/ip/hotspot/profile/set", "=.id=hsprof1", "=mac-auth-mode=mac-as-username-and-password")),
    ]
    if rng.random() < 0.004:
        return ("reboot",)
    step = rng.choices([step for _, step in steps], [weight for weight, _ in steps])[0]
    if step == ("join", mac, moved):
        ips[device] = moved
    return step


def apply(emulator: RouterEmulator, step: tuple[str, ...]) -> Any:
    kind, *args = step
    world: dict[str, Callable[..., Any]] = {
        "join": emulator.device_join,
        "leave": emulator.device_leave,
        "reboot": emulator.reboot,
        "traffic": lambda mac, amount: emulator.device_traffic(mac, int(amount), int(amount)),
        "advance": lambda seconds: emulator.advance(float(seconds)),
    }
    if kind == "cmd":
        return run(emulator, *args)
    try:
        return world[kind](*args)
    except (ValueError, KeyError) as error:
        return ("raised", type(error).__name__, str(error))


def snapshot(emulator: RouterEmulator) -> tuple[Any, ...]:
    return (
        emulator.hosts(),
        emulator.active(),
        emulator.users(),
        emulator.cookies(),
        run(emulator, f"{BINDINGS}/print"),
    )


def pair() -> tuple[RouterEmulator, RouterEmulator]:
    fast, slow = RouterEmulator(clock=ManualClock()), use_full_scans(RouterEmulator(clock=ManualClock()))
    for emulator in (fast, slow):
        run(emulator, f"{PROFILES}/add", "=name=fast", "=shared-users=2")
    return fast, slow


@pytest.mark.parametrize("seed", range(12))
def test_random_worlds_answer_alike_with_and_without_indexes(seed: int) -> None:
    rng, ips = random.Random(seed), {}
    fast, slow = pair()
    for number in range(600):
        step = random_step(rng, ips)
        assert apply(fast, step) == apply(slow, step), (number, step)
        if number % 20 == 0:
            assert snapshot(fast) == snapshot(slow), (number, step)
    assert snapshot(fast) == snapshot(slow)


def _populated() -> tuple[RouterEmulator, RouterEmulator]:
    fast, slow = pair()
    rng = random.Random(99)
    for emulator in (fast, slow):
        for n, (mac, ip) in enumerate(zip(MACS, IPS, strict=False)):
            emulator.device_join(mac, ip)
            run(
                emulator,
                f"{USERS}/add",
                f"=name={NAMES[n % len(NAMES)]}",
                "=password=pw",
                f"=mac-address={mac.lower() if n % 2 else mac}",
                f"=disabled={'yes' if n % 3 == 0 else 'no'}",
                f"=server={'all' if n % 2 else 'hotspot1'}",
                f"=comment=p2c:{n % 3}",
            )
            if n % 3:
                run(emulator, f"{ACTIVE}/login", f"=user={NAMES[n % len(NAMES)]}", "=password=pw", f"=ip={ip}")
        run(emulator, f"{BINDINGS}/add", f"=mac-address={MACS[-1]}", "=type=bypassed")
        emulator.advance(rng.choice([5, 50]))
    return fast, slow


POPULATED = _populated()


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), path=st.sampled_from(list(FIELDS)))
def test_any_query_finds_the_same_rows_as_a_full_scan(seed: int, path: str) -> None:
    words = print_words(random.Random(seed), path)
    fast, slow = POPULATED
    assert run(fast, *words) == run(slow, *words)


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        (USERS, [f"?=mac-address={MACS[1]}"], 1),  # stored from a lower-case spelling
        (USERS, [f"?=mac-address={MACS[1].lower().replace(':', '-')}"], 1),
        (USERS, [f"?=name={MACS[0]}", "?=disabled=yes"], 1),  # yes/true
        (USERS, [f"?=name={MACS[0]}", "?=disabled=false"], 0),
        (USERS, [f"?=name={MACS[1]}", f"?=mac-address={MACS[2].lower()}", "?#|"], 2),
        (ACTIVE, [f"?=mac-address={MACS[1].lower()}", f"?=user={MACS[2]}", "?#|"], 2),
        (HOSTS, [f"?=address={IPS[4]}"], 1),
        (HOSTS, ["?=.id=*a"], 0),
        (HOSTS, ["?=.id=*2"], 1),
        (COOKIES, [f"?=user={MACS[4]}"], 1),
    ],
)
def test_equality_queries_take_the_index_and_compare_typed(
    path: str, query: list[str], expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = POPULATED
    want = run(slow, f"{path}/print", *query)
    assert len(want[1]) == expected
    menu = fast.state.menus[path]

    def no_scan(ctx: object) -> None:
        raise AssertionError("the fast path scanned the whole table")

    monkeypatch.setattr(menu, "records", no_scan)
    assert run(fast, f"{path}/print", *query) == want
