"""The webhook receiver on its own: its page, its JSON list, its knobs."""

from __future__ import annotations

import requests

from portal.clock import ManualClock
from portal.notify import sign
from portal.notify.webhook import SIGNATURE_HEADER
from portal.notify.webhook_simulator import WebhookReceiver

SECRET = "s3cret-for-the-owner-endpoint"


def signed_post(receiver: WebhookReceiver, body: bytes, path: str = "") -> requests.Response:
    return requests.post(
        receiver.url + path,
        data=body,
        headers={SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"},
        timeout=5,
    )


def test_the_page_lists_newest_first_and_escapes_everything(receiver: WebhookReceiver, clock: ManualClock) -> None:
    signed_post(receiver, b'{"title": "first", "text": "hello"}')
    clock.advance(5)
    signed_post(receiver, b'{"title": "<img src=x onerror=alert(1)>", "text": "<script>x</script>"}')
    requests.post(receiver.url, data=b"not json <script>", timeout=5)  # unsigned, refused
    response = requests.get(receiver.base_url + "/", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.index("not json") < page.index("onerror") < page.index("hello")
    assert "INVALID" in page and "valid" in page
    assert "2026-03-01 12:00:05" in page


def test_the_json_list_and_reset(receiver: WebhookReceiver) -> None:
    assert signed_post(receiver, b'{"event": "x"}', "/other").status_code == 200
    listed = requests.get(receiver.base_url + "/api/received", timeout=5).json()["received"]
    assert [(r["path"], r["json"], r["signature_valid"], r["answered"]) for r in listed] == [
        ("/hooks/pay2connect/other", {"event": "x"}, True, 200)
    ]
    receiver.fail_with_status = 503
    receiver.reset()
    assert receiver.received() == []
    assert signed_post(receiver, b"{}").status_code == 503  # knobs survive a reset
    receiver.fail_with_status = None
    assert signed_post(receiver, b"{}").status_code == 200


def test_other_methods_and_paths(receiver: WebhookReceiver) -> None:
    assert requests.get(receiver.base_url + "/nothing", timeout=5).status_code == 404
    assert requests.put(receiver.url, data=b"{}", timeout=5).status_code == 405
    assert receiver.received() == []


def test_an_oversized_body_is_refused(receiver: WebhookReceiver) -> None:
    response = signed_post(receiver, b"x" * (300 * 1024))
    assert response.status_code == 413
    assert receiver.received() == []
