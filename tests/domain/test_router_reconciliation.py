"""Router reconciliation after a reboot: the customers it cut off come back in one router pass
(no outbox row, no per-device lookups), their time credited; others keep the per-device path.
The RouterOS emulator over TCP, the ledger, a real Redis, a manual clock."""

from __future__ import annotations

from typing import Any

from portal.domain.outbox import device_grant, device_lock, process_outbox
from portal.domain.router_reconciliation import reconcile_router, watch_and_reconcile
from portal.ledger.models import Grant, OutboxItem, PaymentEvent
from tests.grant_factory import grant_now, stacked_purchase, unconfirmed_grant


def reboot_for_20_seconds(services: Any, emulator: Any) -> int:
    """Reboot the router and let 20 s pass (it is back); returns where its command log stood."""
    emulator.reboot(boot_seconds=20)
    services.clock.advance(20)
    emulator.advance(0)
    return len(emulator.command_log)


def lookups_per_device(emulator: Any, since: int) -> list[Any]:
    """The host-table lookups of one device each that the router answered after ``since``."""
    return [c for c in emulator.command_log[since:] if c[0] == "/ip/hotspot/host/print" and "?" in c[1]]


def test_a_reboot_brings_everyone_back_in_one_pass_with_the_boot_time_credited(services, package, emulator):
    grants = [grant_now(services, package, emulator, seconds=600) for _ in range(30)]
    watch_and_reconcile(services, "main")  # the probe's last sign of life before the reboot
    logged = reboot_for_20_seconds(services, emulator)
    outbox_before = OutboxItem.select().count()

    watch_and_reconcile(services, "main")

    assert all(emulator.is_online(grant.mac) for grant in grants)
    assert OutboxItem.select().count() == outbox_before, "restored in the batch, not one by one"
    host_lookups = lookups_per_device(emulator, logged)
    assert host_lookups == [], "one listing of the host table, no lookup per device"
    assert {Grant.get_by_id(g.id).credited_seconds for g in grants} == {20}


def test_a_purchase_whose_login_waited_for_the_boot_comes_in_with_the_reboots_batch(services, package, emulator):
    online = grant_now(services, package, emulator, seconds=600)
    watch_and_reconcile(services, "main")
    paid = unconfirmed_grant(services, package, emulator, seconds=600)  # its first login not run yet
    logged = reboot_for_20_seconds(services, emulator)
    outbox_before = OutboxItem.select().count()

    watch_and_reconcile(services, "main")

    assert emulator.is_online(online.mac) and emulator.is_online(paid.mac)
    commands = [c[0] for c in emulator.command_log[logged:]]
    assert "/ip/hotspot/user/add" in commands, "its user added in the batch"
    host_lookups = lookups_per_device(emulator, logged)
    assert host_lookups == [] and OutboxItem.select().count() == outbox_before, "in the batch, not one by one"
    grant = Grant.get_by_id(paid.id)
    now = services.clock.now()
    assert grant.online_at == now and grant.router_state == "online" and grant.credited_seconds == 0
    assert grant.starts_at == now and (grant.expires_at - now).total_seconds() == 600, "its clock starts at the login"
    assert not OutboxItem.select().where(OutboxItem.grant == paid.id, OutboxItem.done_at.is_null()).exists()
    logins = [
        e.detail
        for e in PaymentEvent.select().where(
            PaymentEvent.payment == paid.payment_id, PaymentEvent.kind == "router_authorized"
        )
    ]
    assert len(logins) == 1 and '"restored_after": "login waiting"' in logins[0]
    assert Grant.get_by_id(online.id).credited_seconds == 20
    assert process_outbox(services) == 0, "nothing left to log in again"


def test_a_device_another_process_is_logging_in_is_left_out_of_the_reboots_batch(services, package, emulator):
    busy, other = (grant_now(services, package, emulator, seconds=600) for _ in range(2))
    watch_and_reconcile(services, "main")
    emulator.reboot(boot_seconds=20)
    services.clock.advance(20)
    emulator.advance(0)

    # The web process holds the device's lock (logging a new purchase in, its limit longer
    # than the one this batch would write): the batch leaves that device alone.
    with services.live.try_locks([device_lock("main", busy.mac)]) as locked:
        assert locked
        watch_and_reconcile(services, "main")
        assert emulator.is_online(other.mac)
        assert not emulator.is_online(busy.mac)

    assert process_outbox(services) >= 1  # the sweep logs it in once the lock is free
    assert emulator.is_online(busy.mac)
    assert Grant.get_by_id(busy.id).credited_seconds == 20


def test_a_device_that_walked_away_is_not_looked_for_with_full_listings(services, package, emulator):
    grant = grant_now(services, package, emulator, seconds=3600)
    emulator.device_leave(grant.mac)  # left the venue with time on it: no fault, its clock runs
    services.clock.advance(600)  # the hotspot's keepalive timeout ends its session
    assert not emulator.is_online(grant.mac)
    logged = len(emulator.command_log)

    watch_and_reconcile(services, "main")

    listings = [c for c in emulator.command_log[logged:] if c[0] == "/ip/hotspot/host/print" and "?" not in c[1]]
    assert listings == [] and Grant.get_by_id(grant.id).credited_seconds == 0


def test_a_stranger_removed_as_its_device_pays_again_is_logged_in_after_the_removal(services, package, emulator):
    """Reconciliation removes our user whose grant the ledger has ended, while the web
    process logs the same device's new purchase in: the purchase must end up online."""
    ended = grant_now(services, package, emulator, seconds=600)
    Grant.update(status="expired", ended_at=services.clock.now()).where(Grant.id == ended.id).execute()
    router = services.routers["main"]
    bought: list[Grant] = []

    class PurchaseLandsFirst:
        """The router, with the purchase landing between the ledger check and the removal."""

        def __getattr__(self, name: str) -> Any:
            return getattr(router, name)

        def revoke_many(self, macs: list[str]) -> None:
            bought.append(stacked_purchase(services, ended, seconds=600))  # paid and logged in, if it can
            router.revoke_many(macs)

    services.routers["main"] = PurchaseLandsFirst()
    try:
        assert reconcile_router(services, "main")["removed"] == 1
    finally:
        services.routers["main"] = router
    process_outbox(services)  # the worker's next sweep

    assert emulator.is_online(ended.mac), "the customer who just paid is online"
    assert Grant.get_by_id(bought[0].id).online_at == services.clock.now()


def test_while_the_router_recovers_probes_put_devices_back_and_leave_strangers_to_the_regular_pass(
    services, package, emulator
):
    grants = [grant_now(services, package, emulator, seconds=600) for _ in range(3)]
    late = grants[0]
    watch_and_reconcile(services, "main")
    emulator.reboot(boot_seconds=10)
    emulator.device_leave(late.mac)  # this phone finds the Wi-Fi again a little after the boot
    services.clock.advance(10)
    emulator.advance(0)
    watch_and_reconcile(services, "main", reconcile=False)  # the probe that finds the reboot
    assert [emulator.is_online(g.mac) for g in grants] == [False, True, True]
    emulator.device_join(late.mac, late.ip)
    stranger = "AA:BB:16:00:00:01"
    services.routers["main"].connection.call(  # type: ignore[attr-defined]
        "/ip/hotspot/user/add", {"name": stranger, "mac-address": stranger, "comment": "p2c:9000"}
    )
    services.clock.advance(20)  # still within the recovery grace
    logged = len(emulator.command_log)

    watch_and_reconcile(services, "main", reconcile=False)

    assert emulator.is_online(late.mac), "back at the next probe, not at the next regular pass"
    assert Grant.get_by_id(late.id).credited_seconds == 30
    assert any(user["name"] == stranger for user in emulator.users()), "strangers wait for the regular pass"
    services.clock.advance(20)
    logged = len(emulator.command_log)
    watch_and_reconcile(services, "main", reconcile=False)
    listed = [c[0] for c in emulator.command_log[logged:] if c[0].startswith("/ip/hotspot/")]
    assert listed == [], "nobody left to put back: no listing of users or sessions on every probe"

    watch_and_reconcile(services, "main")  # the regular pass

    assert not any(user["name"] == stranger for user in emulator.users())


def test_strangers_go_in_a_few_commands_and_a_device_being_logged_in_is_left_for_the_next_pass(
    services, package, emulator
):
    """Thirty users of ours whose grants the ledger has ended (their logouts on their way):
    one listing and a batch of removals, not six commands each; a device whose lock another
    process holds is not touched by this pass."""
    ended = [grant_now(services, package, emulator, seconds=600) for _ in range(30)]
    kept = grant_now(services, package, emulator, seconds=600)
    Grant.update(status="expired", ended_at=services.clock.now()).where(
        Grant.id.in_([grant.id for grant in ended])
    ).execute()
    busy = ended[0]
    logged = len(emulator.command_log)

    with services.live.try_locks([device_lock("main", busy.mac)]) as locked:
        assert locked
        assert reconcile_router(services, "main")["removed"] == 29

    ours = {grant.mac for grant in [*ended, kept]}
    names = {user["name"] for user in emulator.users()} & ours
    assert names == {busy.mac, kept.mac}, "every stranger gone but the busy one; the paying device kept"
    assert emulator.is_online(kept.mac)
    removals = [c for c in emulator.command_log[logged:] if c[0] == "/ip/hotspot/user/remove"]
    assert 1 <= len(removals) <= 2, f"removed in batches, not one by one: {len(removals)} removals"
    assert reconcile_router(services, "main")["removed"] == 1  # its lock free: the next pass
    assert {user["name"] for user in emulator.users()} & ours == {kept.mac}


def test_a_reboot_restored_in_two_parts_records_both_with_the_boot_time_credited(
    services, package, emulator, monkeypatch
):
    import router.mikrotik_restore as restore

    monkeypatch.setattr(restore, "PART_SIZE", 10)  # 30 devices: two parts of 15
    grants = [grant_now(services, package, emulator, seconds=600) for _ in range(30)]
    watch_and_reconcile(services, "main")
    reboot_for_20_seconds(services, emulator)

    watch_and_reconcile(services, "main")

    assert all(emulator.is_online(grant.mac) for grant in grants)
    after = [Grant.get_by_id(grant.id) for grant in grants]
    assert {grant.credited_seconds for grant in after} == {20}
    assert {grant.router_state for grant in after} == {"online"} and {g.offline_since for g in after} == {None}
    restored = PaymentEvent.select().where(
        PaymentEvent.kind == "router_authorized", PaymentEvent.detail.contains("session lost")
    )
    assert sorted(event.payment_id for event in restored) == sorted(grant.payment_id for grant in grants)


def test_the_router_restore_time_leaves_out_the_recording_of_its_parts(services, package, emulator, monkeypatch):
    """The parts are recorded while the router works, inside its call: the router latency
    metric must not count our ledger's time as the router's."""
    import router.mikrotik_restore as restore
    from portal.domain.observe import ROUTER_SECONDS, ObservedRouter

    monkeypatch.setattr(restore, "PART_SIZE", 10)
    grants = [grant_now(services, package, emulator, seconds=600) for _ in range(20)]
    watch_and_reconcile(services, "main")
    reboot_for_20_seconds(services, emulator)
    clock = [0.0]  # the metric's timer: only the recording moves it, 50 s a part
    observed = ObservedRouter(services.routers["main"].inner, services.meters, timer=lambda: clock[0])
    parts: list[list[str]] = []

    def record(macs: list[str]) -> None:
        clock[0] += 50.0
        parts.append(macs)

    restored = observed.restore_many([device_grant(grant, services.clock.now()) for grant in grants], record)

    assert len(parts) == 2 and sorted(restored) == sorted(grant.mac for grant in grants)
    histogram = services.meters.histograms(ROUTER_SECONDS.name)[(("operation", "restore"), ("router", "main"))]
    assert (histogram.count, histogram.total) == (1, 0.0), "100 s of recording, none of it the router's"
