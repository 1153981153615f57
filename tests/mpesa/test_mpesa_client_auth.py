"""OAuth: token caching, single-flight minting, refresh-once, bad credentials. Real HTTP
between DarajaClient and the simulator unless a test says otherwise."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable

import pytest
import requests
import responses

from portal.clock import ManualClock
from portal.mpesa.client import DarajaClient
from portal.mpesa.errors import DarajaAuthError, DarajaRequestInvalid, DarajaUnavailable
from portal.mpesa.request_fields import DarajaCredentials
from portal.mpesa.simulator import DarajaSimulator
from tests.mpesa.conftest import push


def test_one_token_serves_many_calls(sim: DarajaSimulator, client: DarajaClient) -> None:
    for n in range(5):
        push(client, phone=f"25471234567{n}")
    client.stk_query(sim.transactions()[0].checkout_request_id)
    assert sim.tokens_minted == 1
    assert len(sim.transactions()) == 5


def test_token_is_refreshed_before_it_expires(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    first = client.access_token()
    clock.advance(3599 - 120 - 1)
    assert client.access_token() == first
    assert sim.tokens_minted == 1
    clock.advance(1)  # now inside the 120 s safety margin
    second = client.access_token()
    assert second != first
    assert sim.tokens_minted == 2


def test_force_refresh_always_mints(sim: DarajaSimulator, client: DarajaClient) -> None:
    first = client.access_token()
    assert client.access_token(force_refresh=True) != first
    assert sim.tokens_minted == 2


def test_another_client_minting_invalidates_ours_and_we_refresh_once(
    sim: DarajaSimulator,
    client: DarajaClient,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    push(client, phone="254712345670")
    other = make_client(credentials_for(sim))
    other.access_token()  # rotate mode: our cached token is now dead (404.001.03)
    push(client, phone="254712345671")
    assert sim.tokens_minted == 3
    assert len(sim.transactions()) == 2  # the rejected attempt created nothing


def test_reuse_mode_keeps_older_tokens_valid(
    sim: DarajaSimulator,
    client: DarajaClient,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    sim.token_mode = "reuse"
    push(client, phone="254712345670")
    make_client(credentials_for(sim)).access_token()
    push(client, phone="254712345671")
    assert sim.tokens_minted == 2


def test_tokens_expired_server_side_are_replaced(sim: DarajaSimulator, client: DarajaClient) -> None:
    push(client, phone="254712345670")
    sim.expire_tokens()
    push(client, phone="254712345671")
    assert sim.tokens_minted == 2


def test_simulator_expires_tokens_by_its_clock(sim: DarajaSimulator, clock: ManualClock) -> None:
    auth = base64.b64encode(b"sim-consumer-key:sim-consumer-secret").decode()
    token = requests.get(
        sim.base_url + "/oauth/v1/generate?grant_type=client_credentials",
        headers={"Authorization": f"Basic {auth}"},
        timeout=5,
    ).json()["access_token"]

    def query_status() -> int:
        return requests.post(
            sim.base_url + "/mpesa/stkpushquery/v1/query",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).status_code

    clock.advance(3598)
    assert query_status() == 400  # token accepted; the empty body is what is wrong
    clock.advance(1)
    assert query_status() == 404


def test_a_fresh_token_that_is_still_refused_raises_auth_error_after_one_retry(
    sim: DarajaSimulator, client: DarajaClient
) -> None:
    sim.product_enabled = False  # Daraja answers 404.001.03 when M-Pesa Express is not enabled for the app
    with pytest.raises(DarajaAuthError) as caught:
        push(client)
    assert caught.value.error_code == "404.001.03"
    assert caught.value.retryable is False
    assert sim.tokens_minted == 2  # the first token and exactly one refresh


def test_concurrent_callers_mint_a_single_token(sim: DarajaSimulator, client: DarajaClient) -> None:
    tokens: list[str] = []
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        tokens.append(client.access_token())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert sim.tokens_minted == 1


def test_concurrent_rejections_refresh_only_once(sim: DarajaSimulator, client: DarajaClient) -> None:
    checkout_id = push(client)
    sim.expire_tokens()
    start = threading.Barrier(6)
    results: list[bool] = []

    def query() -> None:
        start.wait()
        results.append(client.stk_query(checkout_id).pending)

    threads = [threading.Thread(target=query) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [True] * 6
    assert sim.tokens_minted == 2


def test_wrong_consumer_secret_is_an_auth_error(
    sim: DarajaSimulator,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    client = make_client(credentials_for(sim, consumer_secret="wrong"))
    with pytest.raises(DarajaAuthError) as caught:
        push(client)
    assert caught.value.http_status == 400
    assert caught.value.error_code is None  # Daraja's usual answer is an empty 400
    assert sim.transactions() == []


def test_wrong_key_with_the_envelope_variant(
    sim: DarajaSimulator,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    sim.wrong_credentials_envelope = True
    client = make_client(credentials_for(sim, consumer_key="wrong"))
    with pytest.raises(DarajaAuthError) as caught:
        client.access_token()
    assert caught.value.error_code == "400.008.01"
    assert caught.value.request_id


def test_numeric_expires_in_is_understood(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    sim.expires_in_as_number = True
    first = client.access_token()
    clock.advance(3000)
    assert client.access_token() == first


def test_wrong_base_path_is_a_request_error(
    sim: DarajaSimulator,
    make_client: Callable[..., DarajaClient],
    credentials_for: Callable[..., DarajaCredentials],
) -> None:
    client = make_client(credentials_for(sim, base_url=sim.base_url + "/v2"))
    with pytest.raises(DarajaRequestInvalid) as caught:
        client.access_token()
    assert caught.value.error_code == "404.001.01"


@pytest.mark.parametrize(
    ("query", "authorization", "code"),
    [
        ("", "Basic c2ltLWNvbnN1bWVyLWtleTpzaW0tY29uc3VtZXItc2VjcmV0", "400.008.02"),
        ("?grant_type=password", "Basic c2ltLWNvbnN1bWVyLWtleTpzaW0tY29uc3VtZXItc2VjcmV0", "400.008.02"),
        ("?grant_type=client_credentials", "Bearer abc", "400.008.01"),
        ("?grant_type=client_credentials", "Basic !!!not-base64!!!", "400.008.01"),
        ("?grant_type=client_credentials", "Basic bm9jb2xvbg==", "400.008.01"),  # "nocolon"
        ("?grant_type=client_credentials", "", "400.008.01"),
    ],
)
def test_simulator_oauth_error_envelopes(sim: DarajaSimulator, query: str, authorization: str, code: str) -> None:
    response = requests.get(
        sim.base_url + "/oauth/v1/generate" + query,
        headers={"Authorization": authorization} if authorization else {},
        timeout=5,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == code
    assert set(body) == {"requestId", "errorCode", "errorMessage"}


def test_simulator_oauth_success_shape(sim: DarajaSimulator) -> None:
    response = requests.get(
        sim.base_url + "/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=("sim-consumer-key", "sim-consumer-secret"),
        timeout=5,
    )
    body = response.json()
    assert response.status_code == 200
    assert body["expires_in"] == "3599"  # a string, as Daraja really sends it
    assert body["access_token"].isalnum() and len(body["access_token"]) == 28


def test_simulator_wrong_secret_gives_empty_400(sim: DarajaSimulator) -> None:
    response = requests.get(
        sim.base_url + "/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=("sim-consumer-key", "nope"),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.content == b""


# -- edge cases a real peer cannot easily produce (responses) ---------------------------------

BASE = "https://daraja.test"


def _creds() -> DarajaCredentials:
    return DarajaCredentials(base_url=BASE, consumer_key="k", consumer_secret="s", shortcode="174379", passkey="p")


@responses.activate
def test_html_answer_to_oauth_is_unavailable(clock: ManualClock) -> None:
    responses.get(BASE + "/oauth/v1/generate", body="<html>gateway</html>", content_type="text/html")
    with pytest.raises(DarajaUnavailable) as caught:
        DarajaClient(_creds(), clock=clock).access_token()
    assert caught.value.retryable


@responses.activate
def test_401_on_an_api_call_refreshes_once_then_succeeds(clock: ManualClock) -> None:
    oauth = responses.get(BASE + "/oauth/v1/generate", json={"access_token": "t1", "expires_in": "3599"})
    responses.post(BASE + "/mpesa/stkpushquery/v1/query", status=401, body="")
    responses.post(
        BASE + "/mpesa/stkpushquery/v1/query",
        json={
            "ResponseCode": "0",
            "ResponseDescription": "ok",
            "MerchantRequestID": "m",
            "CheckoutRequestID": "ws_CO_1",
            "ResultCode": "1032",
            "ResultDesc": "cancelled",
        },
    )
    result = DarajaClient(_creds(), clock=clock).stk_query("ws_CO_1")
    assert result.result_code == "1032" and result.status == "cancelled"
    assert oauth.call_count == 2


@responses.activate
def test_oauth_request_carries_basic_auth_and_a_timeout(clock: ManualClock) -> None:
    responses.get(BASE + "/oauth/v1/generate", json={"access_token": "t", "expires_in": 3599})
    DarajaClient(_creds(), clock=clock, timeout=7.5).access_token()
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"k:s").decode()
    assert request.req_kwargs["timeout"] == 7.5
    assert "grant_type=client_credentials" in request.url
