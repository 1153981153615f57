"""The Africa's Talking simulator on its own: the API it speaks, the outbox page, the knobs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from portal.clock import ManualClock
from portal.notify import AfricasTalkingSms, Outgoing
from portal.notify.sms_simulator import SmsGatewaySimulator

PHONE = "254712345678"


def post(
    gateway: SmsGatewaySimulator,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    sent_headers = {"apiKey": gateway.api_key, "Accept": "application/json"}
    sent_headers.update(headers or {})
    body = {"username": gateway.username, "to": "+" + PHONE, "message": "Hello"}
    body.update(form or {})
    return requests.post(gateway.base_url + "/version1/messaging", data=body, headers=sent_headers, timeout=5)


def test_the_answer_has_the_real_shape(sms_gateway: SmsGatewaySimulator) -> None:
    response = post(sms_gateway, {"to": "+254712345678,0712345678,254110000001", "from": "VENUE"})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    data = response.json()["SMSMessageData"]
    assert data["Message"] == "Sent to 2/3 Total Cost: KES 1.6000"
    ok, bad, other = data["Recipients"]
    assert ok["statusCode"] == 101 and ok["status"] == "Success"
    assert ok["number"] == "+254712345678" and ok["cost"] == "KES 0.8000"
    assert ok["messageId"].startswith("ATXid_") and ok["messageParts"] == 1
    assert bad == {
        "statusCode": 403,
        "number": "0712345678",
        "status": "InvalidPhoneNumber",
        "cost": "0",
        "messageId": "None",
    }
    assert other["number"] == "+254110000001" and other["statusCode"] == 101
    assert [m.number for m in sms_gateway.messages()] == ["+254712345678", "+254110000001"]
    assert [m.status for m in sms_gateway.rejected()] == ["InvalidPhoneNumber"]


@pytest.mark.parametrize(
    ("text", "parts"), [("x" * 160, 1), ("x" * 161, 2), ("x" * 307, 3), ("ü" * 70, 1), ("ü" * 71, 2)]
)
def test_long_and_unicode_messages_take_several_parts(sms_gateway: SmsGatewaySimulator, text: str, parts: int) -> None:
    entry = post(sms_gateway, {"message": text}).json()["SMSMessageData"]["Recipients"][0]
    assert entry["messageParts"] == parts
    assert entry["cost"] == f"KES {0.8 * parts:.4f}"


@pytest.mark.parametrize(
    ("headers", "form", "status", "text"),
    [
        ({"apiKey": "wrong"}, {}, 401, "The supplied authentication is invalid"),
        ({"apiKey": ""}, {}, 401, "The supplied authentication is invalid"),
        ({}, {"username": "intruder"}, 401, "The supplied authentication is invalid"),
        ({"Accept": "text/xml"}, {}, 406, "JSON only"),
        ({}, {"to": ""}, 400, "missing required form field 'to'"),
        ({}, {"message": "  "}, 400, "missing required form field 'message'"),
        ({}, {"message": "x" * 1601}, 400, "longer than"),
    ],
)
def test_bad_requests_get_the_gateways_answers(
    sms_gateway: SmsGatewaySimulator,
    headers: dict[str, str],
    form: dict[str, str],
    status: int,
    text: str,
) -> None:
    response = post(sms_gateway, form, headers)
    assert response.status_code == status
    assert text in response.text
    assert sms_gateway.messages() == []


def test_other_paths_and_methods(sms_gateway: SmsGatewaySimulator) -> None:
    base = sms_gateway.base_url
    assert requests.get(base + "/version1/messaging", timeout=5).status_code == 405
    assert requests.get(base + "/nothing-here", timeout=5).status_code == 404
    assert requests.post(base + "/", timeout=5).status_code == 405


def test_the_outbox_page_lists_newest_first_and_escapes_everything(
    sms_gateway: SmsGatewaySimulator, clock: ManualClock
) -> None:
    post(sms_gateway, {"message": "first message"})
    clock.advance(60)
    post(sms_gateway, {"message": "<script>alert('x')</script> & more", "from": "<b>"})
    response = requests.get(sms_gateway.outbox_url, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert page.index("alert") < page.index("first message")  # newest first
    assert "2026-03-01 12:01:00" in page and "2026-03-01 12:00:00" in page  # EAT


def test_the_outbox_json_and_reset(sms_gateway: SmsGatewaySimulator) -> None:
    post(sms_gateway)
    listed = requests.get(sms_gateway.base_url + "/api/messages", timeout=5).json()["messages"]
    assert [(m["number"], m["message"], m["status_code"]) for m in listed] == [("+" + PHONE, "Hello", 101)]
    assert listed[0]["at"] == "2026-03-01T09:00:00+00:00"
    sms_gateway.set_number_status(PHONE, 406)
    sms_gateway.fail_with_status = 503
    sms_gateway.reset()
    assert sms_gateway.messages() == [] and sms_gateway.requests_seen == 0
    assert post(sms_gateway).status_code == 503  # knobs survive a reset
    sms_gateway.fail_with_status = None
    assert post(sms_gateway).json()["SMSMessageData"]["Recipients"][0]["statusCode"] == 101


def test_a_gateway_failure_is_an_html_page(sms_gateway: SmsGatewaySimulator) -> None:
    sms_gateway.fail_next = 1
    sms_gateway.fail_next_status = 502
    response = post(sms_gateway)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert post(sms_gateway).status_code == 201
    assert sms_gateway.requests_seen == 2


def test_unknown_status_codes_are_refused_as_a_knob(sms_gateway: SmsGatewaySimulator) -> None:
    with pytest.raises(ValueError, match="status_code"):
        sms_gateway.set_number_status(PHONE, 999)


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="port"):
        SmsGatewaySimulator(port=70000)


def test_start_stop_and_context_manager(clock: ManualClock, message: Callable[..., Outgoing]) -> None:
    simulator = SmsGatewaySimulator(clock=clock)
    with pytest.raises(RuntimeError):
        _ = simulator.base_url
    simulator.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            simulator.start()
        sms = AfricasTalkingSms(simulator.username, simulator.api_key, base_url=simulator.base_url)
        sms.send(message("sms"))
        sms.close()
        assert len(simulator.messages()) == 1
    finally:
        simulator.stop()
        simulator.stop()  # twice is fine
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{simulator.port}/", timeout=2)
