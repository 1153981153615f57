"""kill -9 of the web process and of the worker in the middle of a burst of payments: the real
``serve`` and ``worker`` processes, the Daraja simulator over HTTP, the RouterOS emulator over
TCP, one Redis and one ledger. Whatever M-Pesa took is granted exactly once, and every
customer gets the time bought, to the second."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from portal.ledger.models import Grant, Payment
from tests.faults.report import REAL_TIME_TOLERANCE, check_losses, report
from tests.faults.world import World, wait_for

CUSTOMERS = 40
PACKAGE_SECONDS = 60


def burst(world: World, package_id: int, devices: list[tuple[str, str]], kill: Any, after: int) -> int:
    """Every customer pays (8 at a time); ``kill`` runs once ``after`` have been answered.
    A customer whose request failed (the process died under it) taps Pay again until the
    portal answers. Returns how many requests failed on the way."""
    answered = threading.Semaphore(0)
    failures = Counter[str]()

    def customer(n: int) -> None:
        mac, ip = devices[n]
        for _ in range(60):
            try:
                answer = world.pay(package_id, mac, ip, phone=f"0712{n:06d}", timeout=10)
            except requests.RequestException:
                failures["request"] += 1
                time.sleep(0.2)
                continue
            if answer.status_code == 200 or "pending" in answer.text:
                break  # a prompt is on the phone (this one, or one sent before the crash)
            failures[str(answer.status_code)] += 1
            time.sleep(0.2)
        answered.release()

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(customer, n) for n in range(len(devices))]
        for _ in range(after):
            answered.acquire(timeout=30)
        kill()
        for future in futures:
            future.result(timeout=120)
    return sum(failures.values())


def _took_money(transaction: Any) -> bool:
    return transaction.status == "completed" and str(transaction.result_code) == "0"


def money_taken(world: World) -> dict[str, int]:
    """What M-Pesa took, by device: successful transactions at the simulator, matched to our
    payment (by CheckoutRequestID) for its device."""
    taken = [t for t in world.simulator.transactions() if _took_money(t)]
    by_checkout = {p.checkout_request_id: p.mac for p in Payment.select() if p.checkout_request_id}
    unmatched = [t.checkout_request_id for t in taken if t.checkout_request_id not in by_checkout]
    assert not unmatched, f"M-Pesa took money for {len(unmatched)} prompt(s) the ledger never learnt of"
    return dict(Counter(by_checkout[t.checkout_request_id] for t in taken))


def settle_and_check(world: World, devices: list[tuple[str, str]]) -> tuple[int, int, str]:
    """Wait until everything paid is granted and online; run the grants out; check the money."""
    assert wait_for(lambda: all(t.status != "pending" for t in world.simulator.transactions()), 30)

    def all_granted() -> bool:
        paid = Payment.select().where(Payment.status == "paid").count()
        taken = sum(_took_money(t) for t in world.simulator.transactions())
        return paid == taken and all(world.emulator.is_online(mac) for mac, _ in devices if _paid_for(mac))

    assert wait_for(all_granted, 60), f"not everything paid was granted: {diagnose(world, devices)}"
    taken = money_taken(world)
    grants = Counter(grant.mac for grant in Grant.select())
    per_payment = Counter(grant.payment_id for grant in Grant.select())
    assert not [pid for pid, count in per_payment.items() if count > 1], "a payment granted twice"
    assert grants == Counter(taken), "granted differs from paid"
    receipts = [p.receipt for p in Payment.select() if p.receipt]
    assert len(receipts) == len(set(receipts)), "a receipt credited twice"
    while (first := Grant.select().where(Grant.status == "active").order_by(Grant.expires_at).first()) is not None:
        world.jump_to_first_end()  # a second before the next end; it ends in real time
        assert wait_for(lambda first=first: Grant.get_by_id(first.id).status != "active", 10)
    assert wait_for(lambda: not any(world.emulator.is_online(mac) for mac, _ in devices), 15)
    bought = {mac: PACKAGE_SECONDS * count for mac, count in taken.items()}
    lost = check_losses(world.emulator, bought, REAL_TIME_TOLERANCE)
    return sum(taken.values()), sum(grants.values()), lost


def diagnose(world: World, devices: list[tuple[str, str]]) -> str:
    sim = Counter(t.status for t in world.simulator.transactions())
    ours = Counter(p.status for p in Payment.select())
    offline = [mac for mac, _ in devices if _paid_for(mac) and not world.emulator.is_online(mac)]
    known = {p.checkout_request_id for p in Payment.select()}
    unknown = [t.phone for t in world.simulator.transactions() if _took_money(t) and t.checkout_request_id not in known]
    return (
        f"simulator {dict(sim)}, ledger {dict(ours)}, paid but offline {offline}, money taken unknown to us {unknown}"
    )


def _paid_for(mac: str) -> bool:
    return Payment.select().where(Payment.mac == mac, Payment.status == "paid").exists()


def test_kill_9_of_the_web_process_in_a_burst(world):
    package = world.package()
    devices = world.devices(CUSTOMERS)
    web = world.start_web()
    world.start_worker()

    def crash() -> None:
        web.signal(signal.SIGKILL)
        web.wait_exit(5)
        world.start_web()  # systemd: Restart=always

    failed = burst(world, package.id, devices, crash, after=CUSTOMERS // 3)
    paid, granted, lost = settle_and_check(world, devices)
    unsent = Payment.select().where(Payment.status == "created").count()  # died before its prompt left
    report(
        f"kill -9 of the web process in a burst of {CUSTOMERS}",
        f"paid {paid} = granted {granted}, no double grant ({failed} requests cut and tapped again; "
        f"{unsent} died before the prompt: nothing taken)",
        lost,
    )


def test_kill_9_of_the_worker_in_a_burst(world):
    package = world.package()
    devices = world.devices(CUSTOMERS)
    world.simulator.drop_next_callbacks = CUSTOMERS // 2  # half must be confirmed by the worker's STK Query
    world.start_web()
    worker = world.start_worker()

    def crash() -> None:
        worker.signal(signal.SIGKILL)
        worker.wait_exit(5)
        world.start_worker()  # a new leader once the dead one's lock runs out

    burst(world, package.id, devices, crash, after=CUSTOMERS // 2)
    paid, granted, lost = settle_and_check(world, devices)
    report(
        f"kill -9 of the worker in a burst of {CUSTOMERS} ({CUSTOMERS // 2} callbacks lost)",
        f"paid {paid} = granted {granted}, no double grant",
        lost,
    )
