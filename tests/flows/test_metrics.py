"""``/metrics`` after a demo-style purchase, the shipped Prometheus rules and Grafana dashboard,
and the totals across several processes.

The demo stack (``pay2connect demo``'s own builder) runs on a loopback socket; a person pays on
the splash form, approves on the virtual phone page over HTTP; the worker runs; then /metrics is
scraped and every metric the rules and the dashboard name must be in it."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from portal.ledger.models import Payment

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "docs/monitoring"
RULES = MONITORING / "pay2connect.rules.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
METRIC = re.compile(r"\bpay2connect_[a-z_]+\b")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: apt install prometheus)")


def base_names(text: str) -> set[str]:
    """Metric names used in PromQL, without the sample suffixes Prometheus adds."""
    names = set()
    for found in METRIC.findall(text):
        for suffix in ("_bucket", "_count", "_sum", "_total"):
            if found.endswith(suffix) and not found.endswith("_seconds_total"):
                found = found[: -len(suffix)]
                break
        names.add(found)
    return names


def scrape(base_url: str) -> dict[str, Any]:
    answer = requests.get(f"{base_url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


@pytest.fixture
def demo(tmp_path, http_server, clock) -> Iterator[Any]:
    from portal import create_app
    from portal.cli.demo import DemoStack, demo_settings
    from portal.mpesa.simulator import DarajaSimulator

    base_url, late = http_server
    port = int(base_url.rsplit(":", 1)[1])
    settings = demo_settings(host="127.0.0.1", port=port, data_dir=str(tmp_path / "demo"))
    simulator = DarajaSimulator(clock=clock, default_outcome="ask").start()
    stack = DemoStack.build(settings, clock=clock, simulator=simulator)
    late.app = create_app(services=stack.services)
    yield stack
    stack.close()


def buy_as_a_person(demo: Any, clock: Any, *, answer: str = "approve") -> None:
    from portal.worker.scheduler import run_all_jobs_once

    mac, ip = demo.devices[0]
    base = demo.settings.portal.public_url
    page = requests.get(demo.splash_url(mac, ip), timeout=10).text
    assert 'name="receipt_sms"' in page
    package = re.search(r'name="package" value="(\d+)"', page)
    assert package is not None
    form = {"mac": mac, "ip": ip, "router": "main", "phone": "0708374149", "package": package.group(1)}
    form.update(idempotency_key=secrets.token_hex(16), receipt_sms="1")
    assert requests.post(f"{base}/pay", data=form, timeout=10).status_code == 200  # the status page
    simulator = demo.services.simulator
    (prompt,) = simulator.pending_prompts()
    phone_page = requests.get(simulator.phone_page_url, timeout=10).text
    assert prompt.checkout_request_id in phone_page
    action = re.search(r'<form method="post" action="([^"]+)"', phone_page)
    assert action is not None
    requests.post(
        simulator.base_url + action.group(1),
        data={"checkout_request_id": prompt.checkout_request_id, "pin": "1234", "answer": answer},
        timeout=10,
    )
    clock.advance(2)
    simulator.process_due()  # the approval becomes a callback to the portal
    run_all_jobs_once(demo.services)
    run_all_jobs_once(demo.services)


def test_demo_purchase_then_metrics_has_every_name_the_rules_and_dashboard_use(demo, clock):
    buy_as_a_person(demo, clock)
    assert Payment.get().status == "paid"
    families = scrape(demo.settings.portal.public_url)

    wanted = base_names(RULES.read_text()) | base_names(DASHBOARD.read_text())
    assert wanted, "the rules name no metrics?"
    missing = sorted(name for name in wanted if name not in families)
    assert not missing, f"named in docs/monitoring but not on /metrics: {missing}"

    def sample(family: str, suffix: str = "", **labels: str) -> float:
        return next(
            s.value
            for s in families[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert sample("pay2connect_stk_push_outcomes", "_total", status="paid", result="0") == 1
    assert sample("pay2connect_callback_delay_seconds", "_count") == 1
    assert sample("pay2connect_payment_to_login_seconds", "_count") == 1
    assert sample("pay2connect_daraja_request_seconds", "_count", operation="stk_push") == 1
    assert sample("pay2connect_router_operation_seconds", "_count", router="main", operation="authorize") >= 1
    assert sample("pay2connect_live_sessions", router="main") == 1
    assert sample("pay2connect_payment_success_ratio") == 1.0
    assert sample("pay2connect_router_up", router="main") == 1.0
    assert sample("pay2connect_ledger_up") == 1.0
    assert sample("pay2connect_deliveries", "_total", channel="sms", kind="receipt", result="sent") == 1
    assert sample("pay2connect_outbox_depth") == 0


def test_the_demo_shows_receipts_and_alerts_in_the_outboxes(demo, clock):
    banner = demo.banner()
    for server in (demo.services.sms_gateway, demo.services.smtp_outbox, demo.services.webhook_receiver):
        assert server is not None and server.base_url in banner
    buy_as_a_person(demo, clock)
    sms_page = requests.get(demo.services.sms_gateway.outbox_url, timeout=10).text
    receipt = Payment.get().receipt
    assert receipt and receipt in sms_page and "Mama Njeri" in sms_page

    clock.advance(120)  # the next two customers decline; one of three paid: the owner is told
    for _ in range(2):
        clock.advance(10)
        buy_as_a_person(demo, clock, answer="cancel")
    assert "payment success rate is low" in requests.get(demo.services.smtp_outbox.outbox_url, timeout=10).text
    assert "payment success rate is low" in requests.get(demo.services.sms_gateway.outbox_url, timeout=10).text
    hooks = requests.get(f"{demo.services.webhook_receiver.base_url}/api/received", timeout=10).json()["received"]
    assert [h["json"]["data"]["alert"] for h in hooks] == ["payment_success_low"]


def test_the_dashboard_is_valid_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "pay2connect" and dashboard["panels"]
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert METRIC.search(target["expr"]), panel["title"]


@needs_promtool
def test_promtool_checks_and_unit_tests_the_shipped_rules():
    checked = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "pay2connect.rules.test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    print(checked.stdout.strip(), tested.stdout.strip(), sep="\n")


COUNTER_SCRIPT = """
import sys
import redis
from portal.domain.observe import DARAJA_SECONDS, DARAJA_ERRORS
from portal.live.meters import Meters

meters = Meters(redis.Redis.from_url(sys.argv[1]))
for i in range(int(sys.argv[2])):
    meters.observe(DARAJA_SECONDS.name, {"operation": "stk_query"}, 0.2, DARAJA_SECONDS.buckets)
    meters.inc(DARAJA_ERRORS.name, {"operation": "stk_query", "error": "500.003.1001"})
"""


def test_counts_from_several_processes_add_up_on_any_scrape(app, base_url, redis_handle):
    """Two other OS processes (a worker, another web process) record into the shared Redis;
    this process's /metrics shows the sum, as every other process's would."""
    where = redis_handle.client.connection_pool.connection_kwargs
    url = f"unix://{where['path']}" if "path" in where else f"redis://{where['host']}:{where['port']}/{where['db']}"
    runs = [subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, url, str(n)], cwd=REPO) for n in (7, 5)]
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    families = scrape(base_url)
    count = next(
        s.value
        for s in families["pay2connect_daraja_request_seconds"].samples
        if s.name.endswith("_count") and s.labels["operation"] == "stk_query"
    )
    assert count == 12
    errors = [s.value for s in families["pay2connect_daraja_errors"].samples if s.name.endswith("_total")]
    assert errors == [12]
    buckets = {
        s.labels["le"]: s.value
        for s in families["pay2connect_daraja_request_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["operation"] == "stk_query"
    }
    assert buckets["0.1"] == 0 and buckets["0.25"] == 12 and buckets["+Inf"] == 12
