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
    gc.unfreeze()  # nothing frozen before: what is counted after is this call's doing
    _middle_before, old_before = gc.get_threshold()[1:]
    kept = [_Node() for _ in range(100)]

    settle_heap()

    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (YOUNG_GENERATION_SIZE, _middle_before, old_before)


def test_a_cycle_made_after_settling_is_collected_without_being_asked(restored_collector: None) -> None:
    settle_heap()
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    watcher = weakref.ref(first)
    del first, second

    # More new objects than the young generation holds: the collector runs by itself
    # (a settle_heap that disabled it, or froze later objects too, would leave the cycle).
    alive = [[] for _ in range(2 * YOUNG_GENERATION_SIZE)]

    assert watcher() is None
    assert len(alive) == 2 * YOUNG_GENERATION_SIZE
