"""Driving the simulator: per-phone scripts, the virtual phone page, the JSON admin API,
identifiers, and knob validation."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

import pytest
import requests

from portal.clock import ManualClock
from portal.mpesa.client import DarajaClient
from portal.mpesa.request_fields import build_password, daraja_timestamp
from portal.mpesa.simulator import DarajaSimulator
from portal.mpesa.simulator.ids import IdFactory
from tests.mpesa.conftest import PHONE, push


def result_code(sim: DarajaSimulator, checkout_id: str) -> Any:
    return next(t for t in sim.transactions() if t.checkout_request_id == checkout_id).result_code


# -- scripts -----------------------------------------------------------------------------------


def test_script_for_a_number_of_pushes_then_default(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock
) -> None:
    sim.script_outcome("+254 712 345 678", "cancel", times=1)
    first = push(client)
    clock.advance(3)
    sim.process_due()
    second = push(client, amount=30)
    clock.advance(3)
    sim.process_due()
    assert (result_code(sim, first), result_code(sim, second)) == (1032, 0)


def test_script_after_seconds(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    sim.script_outcome(PHONE, "success", after_seconds=20)
    checkout_id = push(client)
    clock.advance(19)
    assert sim.process_due() == 0
    clock.advance(1)
    sim.process_due()
    assert result_code(sim, checkout_id) == 0


def test_scripts_are_per_phone(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    sim.script_outcome("0712345670", "insufficient")
    broke = push(client, phone="254712345670")
    fine = push(client, phone="254712345671")
    clock.advance(3)
    sim.process_due()
    assert (result_code(sim, broke), result_code(sim, fine)) == (1, 0)


def test_default_outcome_knob(sim: DarajaSimulator, client: DarajaClient, clock: ManualClock) -> None:
    sim.default_outcome = "wrong_pin"
    checkout_id = push(client)
    clock.advance(3)
    sim.process_due()
    assert result_code(sim, checkout_id) == 2001


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("0712345678", "explode"), {}),
        (("0712345678", "success"), {"times": 0}),
        (("0712345678", "success"), {"after_seconds": -1}),
        (("hello", "success"), {}),
    ],
)
def test_bad_scripts_are_refused(sim: DarajaSimulator, args: tuple[str, str], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sim.script_outcome(*args, **kwargs)


def test_ask_waits_for_a_person_and_times_out_with_1037(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock
) -> None:
    sim.script_outcome(PHONE, "ask")
    checkout_id = push(client)
    clock.advance(59)
    assert sim.process_due() == 0
    assert [p.checkout_request_id for p in sim.pending_prompts()] == [checkout_id]
    clock.advance(1)
    sim.process_due()
    assert result_code(sim, checkout_id) == 1037
    assert sim.pending_prompts() == []


def test_force_outcome(sim: DarajaSimulator, client: DarajaClient) -> None:
    checkout_id = push(client)
    snapshot = sim.force_outcome(checkout_id, "insufficient")
    assert (snapshot.status, snapshot.result_code) == ("completed", 1)
    with pytest.raises(ValueError):
        sim.force_outcome(checkout_id, "success")  # already answered
    with pytest.raises(KeyError):
        sim.force_outcome("ws_CO_nope", "success")
    other = push(client, phone="254712345679")
    with pytest.raises(ValueError):
        sim.force_outcome(other, "ask")


# -- the virtual phone page --------------------------------------------------------------------


def test_phone_page_shows_the_prompt_and_approve_pays(
    sim: DarajaSimulator, client: DarajaClient, receiver: Any
) -> None:
    sim.default_outcome = "ask"
    checkout_id = push(client, receiver.url)
    page = requests.get(sim.phone_page_url, timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '<meta http-equiv="refresh" content="30">' in html  # slow while a PIN is being typed
    assert "Pay KSh 20 to 174379 for\n <strong>WIFI1H</strong>? Enter PIN" in html
    assert f'name="checkout_request_id" value="{checkout_id}"' in html
    for label in ("Approve", "Cancel", "Wrong PIN", "Insufficient funds"):
        assert label in html
    assert "<script" not in html

    answer = requests.post(
        sim.base_url + "/phone/answer",
        data={"checkout_request_id": checkout_id, "answer": "approve", "pin": "1234"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/phone"
    assert sim.process_due() == 1  # the callback (the prompt already ended on the click)
    assert receiver.received[0].json()["Body"]["stkCallback"]["ResultCode"] == 0
    after = requests.get(sim.phone_page_url, timeout=5).text
    assert "No prompts right now" in after
    assert sim.transactions()[0].receipt in after


@pytest.mark.parametrize(("button", "code"), [("cancel", 1032), ("wrong_pin", 2001), ("insufficient", 1)])
def test_phone_page_buttons(sim: DarajaSimulator, client: DarajaClient, button: str, code: int) -> None:
    sim.default_outcome = "ask"
    checkout_id = push(client)
    requests.post(
        sim.base_url + "/phone/answer", data={"checkout_request_id": checkout_id, "answer": button}, timeout=5
    )
    assert result_code(sim, checkout_id) == code


def test_phone_page_unknown_answer_and_stale_clicks(sim: DarajaSimulator, client: DarajaClient) -> None:
    checkout_id = push(client)
    bad = requests.post(
        sim.base_url + "/phone/answer", data={"checkout_request_id": checkout_id, "answer": "explode"}, timeout=5
    )
    assert bad.status_code == 400
    sim.force_outcome(checkout_id, "cancel")
    late = requests.post(
        sim.base_url + "/phone/answer",
        data={"checkout_request_id": checkout_id, "answer": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    assert late.status_code == 303  # a double click is harmless
    assert result_code(sim, checkout_id) == 1032


def test_phone_page_filter_by_number(sim: DarajaSimulator, client: DarajaClient) -> None:
    push(client, phone="254712345670")
    push(client, phone="254712345671")
    html = requests.get(sim.phone_page_url, params={"msisdn": "0712 345 671"}, timeout=5).text
    assert "254712345671" in html and "254712345670" not in html


def test_phone_page_escapes_what_the_merchant_sent(
    sim: DarajaSimulator, client: DarajaClient, clock: ManualClock
) -> None:
    token = client.access_token()
    timestamp = daraja_timestamp(clock.now())
    response = requests.post(
        sim.base_url + "/mpesa/stkpush/v1/processrequest",
        json={
            "BusinessShortCode": "174379",
            "Password": build_password("174379", sim.merchant.passkey, timestamp),
            "Timestamp": timestamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 5,
            "PartyA": PHONE,
            "PartyB": "174379",
            "PhoneNumber": PHONE,
            "CallBackURL": "http://127.0.0.1:9/cb",
            "AccountReference": "<b>x</b>",
            "TransactionDesc": "t",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 200
    html = requests.get(sim.phone_page_url, timeout=5).text
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_root_redirects_to_the_phone_page(sim: DarajaSimulator) -> None:
    response = requests.get(sim.base_url + "/", allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers["Location"]) == (303, "/phone")


# -- JSON admin API ----------------------------------------------------------------------------


def test_admin_api_round_trip(sim: DarajaSimulator, client: DarajaClient, receiver: Any) -> None:
    api = sim.base_url + "/simulator"
    scripted = requests.post(api + "/scripts", json={"phone": "0712345678", "outcome": "ask"}, timeout=5)
    assert scripted.json() == {"ok": True}
    checkout_id = push(client, receiver.url)

    listed = requests.get(api + "/transactions", timeout=5).json()["transactions"]
    assert [t["checkout_request_id"] for t in listed] == [checkout_id]
    assert listed[0]["status"] == "pending" and listed[0]["outcome"] == "ask"

    forced = requests.post(f"{api}/transactions/{checkout_id}/outcome", json={"outcome": "cancel"}, timeout=5)
    assert forced.status_code == 200
    assert forced.json()["transaction"]["result_code"] == 1032
    again = requests.post(f"{api}/transactions/{checkout_id}/outcome", json={"outcome": "success"}, timeout=5)
    assert again.status_code == 409
    bad = requests.post(f"{api}/transactions/{checkout_id}/outcome", json={"outcome": "x"}, timeout=5)
    assert bad.status_code == 400
    missing = requests.post(f"{api}/transactions/ws_CO_nope/outcome", json={"outcome": "cancel"}, timeout=5)
    assert missing.status_code == 404

    assert requests.post(api + "/process", timeout=5).json() == {"handled": 1}
    attempts = requests.get(api + "/callbacks", timeout=5).json()["attempts"]
    assert attempts[0]["status"] == 200 and '"ResultCode": 1032' in attempts[0]["body"]
    replay = requests.post(f"{api}/transactions/{checkout_id}/replay", timeout=5).json()
    assert replay["attempt"]["kind"] == "replay"
    forged = requests.post(api + "/callbacks/forge", json={"url": receiver.url, "body": {"x": 1}}, timeout=5).json()
    assert forged["attempt"]["status"] == 200
    assert len(receiver.received) == 3

    one = requests.get(f"{api}/transactions/{checkout_id}", timeout=5).json()
    assert one["transaction"]["status"] == "completed"
    assert requests.post(api + "/reset", timeout=5).json() == {"ok": True}
    assert sim.transactions() == [] and sim.callback_attempts == []
    assert requests.get(f"{api}/transactions/{checkout_id}", timeout=5).status_code == 404


def test_admin_knobs(sim: DarajaSimulator) -> None:
    api = sim.base_url + "/simulator/knobs"
    assert requests.get(api, timeout=5).json()["knobs"]["token_mode"] == "rotate"
    changed = requests.post(api, json={"drop_callbacks": True, "callback_delay_seconds": 2.5}, timeout=5)
    assert changed.status_code == 200
    assert sim.drop_callbacks is True and sim.callback_delay_seconds == 2.5
    for bad in ({"drop_callbacks": "yes"}, {"no_such_knob": 1}, {"token_mode": "sometimes"}):
        assert requests.post(api, json=bad, timeout=5).status_code == 400


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("drop_callbacks", 1),
        ("duplicate_callbacks", -1),
        ("duplicate_callbacks", 1.5),
        ("token_mode", "never"),
        ("default_outcome", "explode"),
        ("callback_delay_seconds", "5"),
    ],
)
def test_knob_typos_fail_loudly(sim: DarajaSimulator, name: str, value: Any) -> None:
    with pytest.raises(ValueError):
        setattr(sim, name, value)


def test_unknown_knob_on_the_knobs_object(sim: DarajaSimulator) -> None:
    with pytest.raises(AttributeError):
        sim.knobs.drop_calbacks = True  # type: ignore[attr-defined]


# -- identifiers and lifecycle -----------------------------------------------------------------


def test_checkout_ids_stay_unique_at_the_same_instant(sim: DarajaSimulator, client: DarajaClient) -> None:
    ids = []
    for amount in (10, 11, 12):
        checkout_id = push(client, amount=amount)
        sim.force_outcome(checkout_id, "cancel")
        ids.append(checkout_id)
    assert len(set(ids)) == 3
    assert all(re.fullmatch(r"ws_CO_01032026120000\d{3}712345678", i) for i in ids)


def test_receipts_encode_the_date_and_are_unique() -> None:
    from datetime import datetime

    ids = IdFactory(seed=1)
    moment = datetime(2025, 12, 31, 21, 30, tzinfo=UTC)  # 00:30, 1 Jan 2026 in Nairobi
    receipts = {ids.receipt(moment) for _ in range(200)}
    assert len(receipts) == 200
    assert all(re.fullmatch(r"UA1[A-Z0-9]{7}", r) for r in receipts)
    assert ids.receipt(datetime(2024, 10, 31, 9, tzinfo=UTC)).startswith("SJV")


def test_simulator_lifecycle(clock: ManualClock) -> None:
    simulator = DarajaSimulator(clock=clock)
    with pytest.raises(RuntimeError):
        _ = simulator.base_url
    simulator.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", simulator.base_url)
        assert simulator.phone_page_url == simulator.base_url + "/phone"
        assert not simulator.auto_process  # a ManualClock means tests drive time
        assert simulator.token_mode == "rotate"  # the documented, harsher behaviour
        with pytest.raises(RuntimeError):
            simulator.start()
    finally:
        simulator.stop()
        simulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{simulator.port}/phone", timeout=2)
