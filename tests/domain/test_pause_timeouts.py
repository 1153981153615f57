"""The automatic pause counts Daraja timeouts (the simulator holds push answers past our timeout)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.domain import pause

from .test_pause import buy


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"mpesa": {"request_timeout": 0.3, "pause_after_failures": 2}}


def test_push_timeouts_count_too(portal, package, simulator, services):
    services.gateway.access_token()  # only the pushes hang, not the OAuth call
    simulator.hang_push_responses = True
    try:
        first, second = buy(portal, package, 0), buy(portal, package, 1)
    finally:
        simulator.hang_push_responses = False
        simulator.release_hung_requests()
    # A timed-out push may still reach the phone: that customer keeps the "wait 2 minutes" words.
    assert first.status_code == 502 and second.status_code == 502
    assert pause.state(services).slow
    assert buy(portal, package, 2).status_code == 503
