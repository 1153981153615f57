"""Fuzz every public endpoint with generated bodies, forms and paths: zero 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
pay_bodies = st.fixed_dictionaries(
    {},
    optional={
        "phone": json_values,
        "packageId": json_values,
        "macAddress": json_values,
        "ip": json_values,
        "router": json_values,
        "lang": json_values,
        "idempotencyKey": json_values,
    },
)
form_fields = st.dictionaries(
    st.sampled_from(
        [
            "phone",
            "package",
            "package_id",
            "mac",
            "ip",
            "router",
            "link-orig",
            "link_orig",
            "link-login-only",
            "lang",
            "idem",
            "receipt",
            "username",
            "password",
            "next",
        ]
    ),
    st.text(max_size=60),
    max_size=8,
)
raw_bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()))


def assert_not_5xx(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:300]}"


@FUZZ
@given(body=st.one_of(pay_bodies.map(json.dumps), st.binary(max_size=200)))
def test_api_pay(client, package, emulator, body):
    emulator.device_join("AA:BB:CC:00:00:01", "10.5.50.11")
    assert_not_5xx(client.post("/api/portal/pay", data=body, content_type="application/json"), "POST /api/portal/pay")


@FUZZ
@given(reference=st.text(min_size=1, max_size=120))
def test_api_status(client, reference):
    assert_not_5xx(client.get(f"/api/portal/status/{quote(reference, safe='')}"), "GET status")


@FUZZ
@given(body=raw_bodies)
def test_callback(client, body):
    response = client.post("/api/portal/mpesa/callback", data=body, content_type="application/json")
    assert_not_5xx(response, "POST callback")


@FUZZ
@given(query=form_fields)
def test_splash(client, package, query):
    assert_not_5xx(client.get("/", query_string=query), "GET /")


@FUZZ
@given(form=form_fields)
def test_pay_form(client, package, emulator, form):
    emulator.device_join("AA:BB:CC:00:00:01", "10.5.50.11")
    assert_not_5xx(client.post("/pay", data=form), "POST /pay")


@FUZZ
@given(public_id=st.text(min_size=1, max_size=80), query=form_fields)
def test_pay_status_page(client, public_id, query):
    assert_not_5xx(client.get(f"/pay/{quote(public_id, safe='')}", query_string=query), "GET /pay/<id>")


@FUZZ
@given(form=form_fields)
def test_reconnect(client, package, emulator, form):
    emulator.device_join("AA:BB:CC:00:00:01", "10.5.50.11")
    assert_not_5xx(client.get("/reconnect", query_string=form), "GET /reconnect")
    assert_not_5xx(client.post("/reconnect", data=form), "POST /reconnect")


@FUZZ
@given(form=form_fields)
def test_admin_login(app, form):
    app.config["WTF_CSRF_ENABLED"] = False  # fuzz the handler itself, not the CSRF wall
    client = app.test_client()
    assert_not_5xx(client.post("/admin/login", data=form), "POST /admin/login")


def test_health_and_metrics_answer(client):
    assert client.get("/api/health?daraja=0").status_code in (200, 503)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"pay2connect_payments" in metrics.data
