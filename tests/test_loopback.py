"""portal/loopback.py: a WSGI app served from a background thread over a real loopback socket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from portal.loopback import LoopbackServer, checked_port, free_port


class Hello(LoopbackServer):
    thread_name = "hello-test"

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"hello {environ['PATH_INFO']}".encode()]


def test_serves_on_a_free_port_until_stopped() -> None:
    with Hello() as server:
        assert server.started and server.port > 0
        assert requests.get(f"{server.base_url}/there", timeout=5).text == "hello /there"
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
        url = server.base_url
    assert not server.started
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    server.stop()  # a second stop is harmless


@pytest.mark.parametrize("port", [-1, 65536, True, "80", 1.5])
def test_a_port_that_is_not_a_port_is_refused(port: Any) -> None:
    with pytest.raises(ValueError, match="port must be between 0 and 65535"):
        checked_port(port)
    with pytest.raises(ValueError):
        Hello(port=port)


def test_a_free_port_lies_below_the_range_the_system_hands_out_for_port_zero() -> None:
    low, _high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = {free_port() for _ in range(20)}
    assert all(20000 <= port < min(32000, low) for port in ports)
    assert len(ports) > 1  # picked at random, not one fixed port
