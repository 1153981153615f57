"""Issue 4's walk-through in headless Chromium: splash -> pay -> virtual phone -> connected
-> expired, on the demo stack (the same code `pay2connect demo` runs), with the clock
injected. Plus a smoke test of the demo command. Screenshots go to ``tests.browser.chrome.SHOTS``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.browser.chrome import SHOTS, needs_chromium, wait_until
from tests.conftest import free_port


@pytest.fixture
def demo_stack(tmp_path, http_server, clock):
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


@pytest.mark.browser
@needs_chromium
def test_a_person_buys_wifi_in_the_browser(browser, demo_stack, clock):
    from selenium.webdriver.common.by import By

    from portal.worker.scheduler import run_all_jobs_once

    SHOTS.mkdir(parents=True, exist_ok=True)
    mac, ip = demo_stack.devices[0]
    emulator = demo_stack.services.emulators["main"]
    simulator = demo_stack.services.simulator

    browser.get(demo_stack.splash_url(mac, ip))
    assert "KSh 1" in browser.page_source and "5 minutes" in browser.page_source
    browser.save_screenshot(str(SHOTS / "01-splash.png"))

    browser.find_elements(By.CSS_SELECTOR, "input[type=radio]")[0].click()
    phone = browser.find_element(By.CSS_SELECTOR, "input[type=tel]")
    phone.clear()
    phone.send_keys("0708374149")
    browser.find_element(
        By.CSS_SELECTOR, "form[action$='/pay'] button[type=submit], form[action$='/pay'] input[type=submit]"
    ).click()
    wait_until(lambda: "/pay/" in browser.current_url, "the status page")
    status_url = browser.current_url
    assert "PIN" in browser.page_source
    browser.save_screenshot(str(SHOTS / "02-waiting-for-pin.png"))
    assert not emulator.is_online(mac)

    browser.get(simulator.phone_page_url)
    assert "Pay KSh 1" in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "input[name=pin]").send_keys("1234")
    browser.save_screenshot(str(SHOTS / "03-virtual-phone.png"))
    browser.find_element(By.CSS_SELECTOR, "button[name=answer][value=approve]").click()
    wait_until(lambda: not simulator.pending_prompts(), "the virtual phone to take the approval")
    simulator.process_due()  # the approval becomes a callback to the portal
    wait_until(lambda: emulator.is_online(mac), "the router login")

    browser.get(status_url)
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Connected" in text or "connected" in text
    assert "5 min" in text or "4 min" in text
    browser.save_screenshot(str(SHOTS / "04-connected.png"))

    clock.advance(5 * 60 + demo_stack.settings.worker.sweep_interval_seconds)
    run_all_jobs_once(demo_stack.services)
    assert not emulator.is_online(mac)
    assert not [u for u in emulator.users() if u["name"] == mac]
    browser.get(demo_stack.splash_url(mac, ip))
    assert "KSh 1" in browser.page_source  # back to buying
    browser.save_screenshot(str(SHOTS / "05-after-expiry.png"))

    browser.get(demo_stack.splash_url(mac, ip) + "&lang=sw")
    assert 'lang="sw"' in browser.page_source
    browser.save_screenshot(str(SHOTS / "06-splash-swahili.png"))


def test_the_demo_command_starts_and_prints_the_urls(tmp_path):
    port = free_port()
    script = Path(sys.executable).parent / "pay2connect"
    lines: list[str] = []
    with subprocess.Popen(
        [str(script), "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    ) as process:
        assert process.stdout is not None
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if "Press Ctrl-C" in line:
                    break
            output = "".join(lines)
            assert "Press Ctrl-C" in output, output
            splash = next(word for word in output.split() if word.startswith(f"http://127.0.0.1:{port}/?mac="))
            page = requests.get(splash, timeout=10)
            assert page.status_code == 200 and "KSh 20" in page.text
            assert "/phone" in output and "/admin/" in output
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            lines.append(process.stdout.read())  # what it said while stopping
    assert "Traceback" not in "".join(lines)
