"""Starting the embedded server: a first connection refused while it comes up is waited out."""

from __future__ import annotations

import socket
import threading

import pytest
import redis

from portal.live.server import open_redis, wait_until_answering


def test_a_server_bound_but_not_yet_listening_is_pinged_again_until_it_answers(tmp_path):
    """redis-server creates its socket file on bind and listens a moment later."""
    path = str(tmp_path / "redis.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)  # the file exists, nothing listens: a connect is refused
    pauses: list[float] = []

    def answer_one_ping() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"+PONG\r\n")

    def start_listening(seconds: float) -> None:
        pauses.append(seconds)
        server.listen(1)
        threading.Thread(target=answer_one_ping, daemon=True).start()

    # no CLIENT SETINFO on connect: the stand-in server answers one PING and nothing else
    client = redis.Redis(unix_socket_path=path, socket_timeout=5, lib_name=None, lib_version=None)
    try:
        wait_until_answering(client, seconds=10, pause=start_listening)
    finally:
        client.close()
        server.close()
    assert pauses == [0.05]  # refused once, answered the second time


def test_a_server_that_never_listens_is_given_up_on_with_the_connection_error(tmp_path):
    path = str(tmp_path / "redis.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    client = redis.Redis(unix_socket_path=path, socket_timeout=5)
    pauses: list[float] = []
    try:
        with pytest.raises(redis.ConnectionError):
            wait_until_answering(client, seconds=0, pause=pauses.append)
    finally:
        client.close()
        server.close()
    assert pauses == []


def test_the_embedded_server_starts_through_the_waiting_class(tmp_path):
    handle = open_redis("", tmp_path)
    try:
        assert handle.client.ping() is True
        assert type(handle.client).__name__ == "EmbeddedRedis"
    finally:
        handle.close()
