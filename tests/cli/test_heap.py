"""settle_heap: what a long-running process keeps is out of the collector's sight, and the
full passes come less often; cycles made afterwards are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from portal.cli.heap import YOUNG_GENERATION_SIZE, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_heap_freezes_what_exists_and_enlarges_the_young_generation(restored_collector: None) -> None:
    _middle_before, old_before = gc.get_threshold()[1:]
    kept = [object() for _ in range(10)] + [{"row": n} for n in range(100)]

    settle_heap()

    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (YOUNG_GENERATION_SIZE, _middle_before, old_before)


def test_a_cycle_made_after_settling_is_still_collected(restored_collector: None) -> None:
    settle_heap()
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    watcher = weakref.ref(first)
    del first, second

    gc.collect()

    assert watcher() is None
