"""The indexed dicts behind the emulator's fast lookups stay in step with every kind of write."""

from __future__ import annotations

from dataclasses import dataclass

from router.emulator.catalog import build_config_menus
from router.emulator.codec import parse_command
from router.emulator.menus import Context
from router.emulator.state import API_POLICIES
from router.emulator.tables import IndexedTable, RowTable
from router.emulator.values import MAC, TEXT, ValueType


def type_of(name: str) -> ValueType:
    return MAC if name == "mac-address" else TEXT


def test_row_table_follows_in_place_writes_replacements_and_removals() -> None:
    table = RowTable(("name", "mac-address"), type_of)
    table[1] = {"name": "a", "mac-address": "AA:AA:AA:AA:AA:01"}
    table[2] = {"name": "b"}
    table[3] = {"name": "a"}
    assert table.ids_with("name", "a") == [1, 3]
    table[1]["name"] = "b"  # written in place, as counters are
    assert (table.ids_with("name", "a"), table.ids_with("name", "b")) == ([3], [1, 2])
    table[2].update({"mac-address": "AA:AA:AA:AA:AA:01"})
    assert table.ids_with("mac-address", "AA:AA:AA:AA:AA:01") == [1, 2]
    del table[1]["mac-address"]
    table[2].pop("name")
    table[3].setdefault("mac-address", "AA:AA:AA:AA:AA:03")
    assert table.ids_with("mac-address", "AA:AA:AA:AA:AA:01") == [2]
    assert table.ids_with("name", "b") == [1]
    assert table.ids_with("mac-address", "AA:AA:AA:AA:AA:03") == [3]
    stale = table[3]
    table[3] = {"name": "c"}  # replaced: writes to the old row object no longer count
    stale["name"] = "b"
    assert (table.ids_with("name", "b"), table.ids_with("name", "c")) == ([1], [3])
    table.pop(3)
    del table[1]
    assert table.ids_with("name", "c") == [] and table.ids_with("name", "b") == []
    table.clear()
    assert table.ids_with("mac-address", "AA:AA:AA:AA:AA:01") == []


def test_row_table_declines_when_it_cannot_answer_in_print_order() -> None:
    table = RowTable(("name",), type_of)
    table.update({5: {"name": "x"}})
    assert table.ids_with("name", "x") == [5]
    assert table.ids_with("comment", "x") is None  # not indexed
    assert table.ids_with("name", None) is None
    table[2] = {"name": "x"}  # an id below the last: table order is no longer id order
    assert table.ids_with("name", "x") is None


def test_a_renumbered_table_answers_by_its_new_ids_and_follows_writes_as_before() -> None:
    class Picky:
        """A type that has no key for one value (as a row holding an odd value has none)."""

        @staticmethod
        def order_key(value: object) -> object:
            if value == "unreadable":
                raise ValueError(value)
            return str(value).upper()

    table = RowTable(("name", "mac-address"), lambda _name: Picky())
    table[7] = {"name": "a", "mac-address": "AA:AA:AA:AA:AA:01"}
    table[9] = {"name": "b"}
    table[12] = {"name": "a", "mac-address": "unreadable"}  # no key: lookups by MAC scan
    assert table.ids_with("mac-address", "AA:AA:AA:AA:AA:01") is None
    renumbered, new_ids = table.renumbered(20)

    assert new_ids == {7: 20, 9: 21, 12: 22}
    assert list(renumbered.items()) == [(20, table[7]), (21, table[9]), (22, table[12])]
    assert renumbered.ids_with("name", "a") == [20, 22]
    assert renumbered.ids_with("mac-address", "AA:AA:AA:AA:AA:01") is None, "the unkeyed row still forces a scan"
    renumbered[21]["name"] = "a"  # a write in place reaches the new table's index
    assert renumbered.ids_with("name", "a") == [20, 21, 22] and table.ids_with("name", "a") == [7, 12]
    del renumbered[22]
    assert renumbered.ids_with("mac-address", "aa:aa:aa:aa:aa:01") == [20]
    renumbered[23] = {"name": "c"}
    assert renumbered.ids_with("name", "c") == [23]


def test_find_compares_exactly_with_or_without_an_index() -> None:
    users = build_config_menus()["/ip/hotspot/user"]
    users.seed({"name": "a", "mac-address": "aa:aa:aa:aa:aa:01", "comment": "p2c:1"})
    users.seed({"name": "b", "comment": "p2c:2"})
    users.seed({"name": "a", "server": "hotspot1", "comment": "p2c:1"})
    assert [row_id for row_id, _ in users.find("name", "a")] == [1, 3]
    assert [row_id for row_id, _ in users.find("comment", "p2c:1")] == [1, 3]  # no index: a scan
    assert [row_id for row_id, _ in users.find("mac-address", "AA:AA:AA:AA:AA:01")] == [1]
    assert [row_id for row_id, _ in users.find("email", None)] == [1, 2, 3]  # lacking it, like get()


@dataclass
class Thing:
    id: int
    colour: str


def test_indexed_table_follows_reindex_and_every_mutator() -> None:
    table = IndexedTable("colour")
    table[1], table[2] = Thing(1, "red"), Thing(2, "red")
    table.setdefault(3, Thing(3, "blue"))
    assert sorted(thing.id for thing in table.where("colour", "red")) == [1, 2]
    table[2].colour = "blue"
    table.reindex(2)
    assert sorted(thing.id for thing in table.where("colour", "blue")) == [2, 3]
    table[1] = Thing(1, "green")
    table.pop(3)
    table.update({4: Thing(4, "blue")})
    assert [thing.id for thing in table.where("colour", "red")] == []
    assert sorted(thing.id for thing in table.where("colour", "blue")) == [2, 4]
    assert table.pop(99, None) is None
    table.clear()
    assert table.where("colour", "blue") == [] and not table


def test_prints_keep_table_order_when_rows_are_not_in_id_order() -> None:
    users = build_config_menus()["/ip/hotspot/user"]
    users.rows = {5: {"name": "x"}, 2: {"name": "x"}}  # as no verb leaves them, but a dict may
    command = parse_command(["/ip/hotspot/user/print", "?=.id=*2", "?=.id=*5", "?#|"])
    rows = users.handle("print", command, Context(0.0, API_POLICIES, {})).rows
    assert [dict(row)[".id"] for row in rows] == ["*5", "*2"]
