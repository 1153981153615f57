"""RouterConnection.call_many against the emulator over TCP: commands sent in tagged batches,
each answer matched to its command, a refused one reported without spoiling the rest, a lost
connection reported as unreachable (and never retried: these are writes). read_many: prints
in one round trip, retried once when a reused connection turns out closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router import RouterRejected, RouterUnreachable
from router.emulator import RouterEmulator
from router.ros_connection import PIPELINE_DEPTH, RouterConnection
from tests.router.conftest import API_PASSWORD, API_USER

USERS = "/ip/hotspot/user"


@pytest.fixture
def connection(emulator: RouterEmulator) -> Iterator[RouterConnection]:
    link = RouterConnection("main", emulator.host, emulator.port, API_USER, API_PASSWORD, tls_context=None, timeout=2.0)
    yield link
    link.close()


def user_names(emulator: RouterEmulator) -> list[str]:
    return [str(row["name"]) for row in emulator.users()]


def test_a_batch_larger_than_the_pipeline_gets_every_answer_in_order(emulator, connection):
    count = 2 * PIPELINE_DEPTH + 50
    commands = [(f"{USERS}/add", {"name": f"batch-{n}", "password": "x"}) for n in range(count)]

    answers = connection.call_many(commands)

    assert len(answers) == count
    ids = [answer[0]["ret"] for answer in answers if isinstance(answer, list)]
    assert len(ids) == count and len(set(ids)) == count, "each command answered once, with its own id"
    by_id = {row[".id"]: row["name"] for row in emulator.users()}
    assert [by_id[ret] for ret in ids] == [f"batch-{n}" for n in range(count)], "answers in command order"
    assert connection.connect_count == 1


def test_a_refused_command_is_reported_and_the_rest_of_the_batch_still_runs(emulator, connection):
    emulator.fail_next("trap", path=f"{USERS}/set", message="input does not match any value of profile")
    first = connection.call_many([(f"{USERS}/add", {"name": "kept-1", "password": "x"})])[0]
    assert isinstance(first, list)
    user_id = first[0]["ret"]

    answers = connection.call_many(
        [
            (f"{USERS}/add", {"name": "kept-2", "password": "x"}),
            (f"{USERS}/set", {".id": user_id, "profile": "missing"}),
            (f"{USERS}/add", {"name": "kept-3", "password": "x"}),
        ]
    )

    assert isinstance(answers[1], RouterRejected) and "does not match" in answers[1].message
    assert isinstance(answers[0], list) and isinstance(answers[2], list)
    assert {"kept-1", "kept-2", "kept-3"} <= set(user_names(emulator))
    assert connection.call(f"{USERS}/print", query=["?=name=kept-3"]), "the connection is still in step"
    assert connection.connect_count == 1


def test_a_connection_lost_mid_batch_is_unreachable_and_nothing_is_sent_again(emulator, connection):
    connection.call(f"{USERS}/print")
    emulator.fail_next("drop_before_reply", path=f"{USERS}/set")

    with pytest.raises(RouterUnreachable) as caught:
        connection.call_many(
            [
                (f"{USERS}/add", {"name": "before", "password": "x"}),
                (f"{USERS}/set", {".id": "*1", "comment": "dropped"}),
                (f"{USERS}/add", {"name": "after", "password": "x"}),
            ]
        )

    assert "closed the connection" in caught.value.message
    names = user_names(emulator)
    assert "before" in names and "after" not in names, "the router stopped at the fault; nothing was re-sent"
    assert sum(1 for path, _attrs in emulator.command_log if path == f"{USERS}/add") == 1
    assert connection.call(f"{USERS}/print", query=["?=name=before"]), "the next call connects again"
    assert connection.connect_count == 2


def test_reads_in_one_batch_answer_each_print_in_order(emulator, connection):
    connection.call_many([(f"{USERS}/add", {"name": name, "comment": f"c-{name}"}) for name in ("a-1", "b-2")])

    first, second, none = connection.read_many(
        [
            (f"{USERS}/print", ("?=name=b-2",), ("name",)),
            (f"{USERS}/print", ("?=name=a-1",), ("name", "comment")),
            (f"{USERS}/print", ("?=name=nobody",), ()),
        ]
    )

    assert first == [{"name": "b-2"}]
    assert second == [{"name": "a-1", "comment": "c-a-1"}]
    assert none == []


def test_reads_on_a_connection_the_router_closed_are_sent_once_more(emulator, connection):
    connection.call(f"{USERS}/print")
    emulator.fail_next("drop_before_reply", path=f"{USERS}/print")

    (rows,) = connection.read_many([(f"{USERS}/print", ("?=name=default-trial",), ("name",))])

    assert rows == [{"name": "default-trial"}]
    assert connection.connect_count == 2


def test_a_refused_read_raises_its_error(emulator, connection):
    emulator.fail_next("trap", path=f"{USERS}/print", message="no such item")

    with pytest.raises(RouterRejected) as caught:
        connection.read_many([(f"{USERS}/print", (), ())])

    assert "no such item" in caught.value.message
    assert connection.call(f"{USERS}/print", query=["?=name=default-trial"]), "the connection is still in step"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_meanwhile_runs_once_while_the_router_works_and_every_answer_still_comes_in_order(tls):
    from portal.clock import ManualClock

    with RouterEmulator(clock=ManualClock(), tls=tls) as router:
        link = RouterConnection(
            "main",
            router.host,
            router.port,
            API_USER,
            API_PASSWORD,
            tls_context=router.tls_context_for_clients() if tls else None,
            timeout=5.0,
        )
        try:
            count = 3 * PIPELINE_DEPTH + 7
            commands = [(f"{USERS}/add", {"name": f"ahead-{n}", "password": "x"}) for n in range(count)]
            calls: list[int] = []

            answers = link.call_many(commands, meanwhile=lambda: calls.append(len(calls)))

            assert calls == [0], "called once"
            ids = [answer[0]["ret"] for answer in answers if isinstance(answer, list)]
            by_id = {row[".id"]: row["name"] for row in router.users()}
            assert [by_id[ret] for ret in ids] == [f"ahead-{n}" for n in range(count)], "answers in command order"
            assert link.call(f"{USERS}/print", query=["?=name=ahead-0"]), "the connection is still in step"
            assert link.connect_count == 1
        finally:
            link.close()


def test_a_meanwhile_that_fails_drops_the_connection_and_the_next_call_opens_a_new_one(emulator, connection):
    def fails() -> None:
        raise RuntimeError("the ledger is locked")

    with pytest.raises(RuntimeError, match="ledger is locked"):
        connection.call_many(
            [(f"{USERS}/add", {"name": f"half-{n}", "password": "x"}) for n in range(50)], meanwhile=fails
        )

    assert connection.call(f"{USERS}/print", query=["?=name=half-0"]) is not None
    assert connection.connect_count == 2, "answers left unread: a fresh session, not one out of step"


def test_meanwhile_runs_even_with_nothing_to_send(connection):
    calls: list[str] = []
    assert connection.call_many([], meanwhile=lambda: calls.append("ran")) == []
    assert calls == ["ran"]
