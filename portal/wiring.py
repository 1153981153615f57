"""The wiring: one object that holds every outside system the product talks to.

Built once per process (web, worker, demo) from :class:`~portal.config.Settings`. Views
and jobs receive it; nothing here starts on import.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import peewee

from portal.clock import Clock, SystemClock
from portal.config import RouterSettings, Settings
from portal.ledger.database import open_database
from portal.live.store import LiveStore, RedisHandle, open_redis
from portal.ledger.models import create_tables
from router import Router

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: peewee.Database
    live: LiveStore
    gateway: Any  # portal.mpesa.client.DarajaClient
    routers: dict[str, Router]
    simulator: Any = None  # portal.mpesa.simulator.DarajaSimulator when in use
    emulators: dict[str, Any] = field(default_factory=dict)  # router.emulator.RouterEmulator
    closers: list[Callable[[], None]] = field(default_factory=list)  # what this process started
    # How slow side work (router calls after a callback) is run: inline in tests, a
    # thread pool in servers so the callback is answered at once.
    dispatch: Callable[[Callable[[], object]], object] = field(default=lambda job: job())

    def router(self, name: str) -> Router | None:
        return self.routers.get(name)

    def close(self) -> None:
        """Stop everything this process started, in reverse order."""
        for router in self.routers.values():
            try:
                router.close()
            except Exception as err:  # noqa: BLE001 - closing must not fail the shutdown
                log.debug("closing router: %s", err)
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception as err:  # noqa: BLE001 - closing must not fail the shutdown
                log.debug("stopping: %s", err)
        if not self.db.is_closed():
            self.db.close()


def _logged(job: Callable[[], object]) -> object:
    try:
        return job()
    except Exception:  # noqa: BLE001 - the outbox retries; never lose the thread silently
        log.exception("background job failed")
        return None


def build_router(
    config: RouterSettings, emulators: dict[str, Any], clock: Clock, closers: list[Callable[[], None]]
) -> Router:
    """The MikroTik adapter, aimed at a real router or at an in-process emulator."""
    from router.mikrotik import MikrotikRouter

    host, port, tls_context = config.host, config.port, None
    if config.backend == "emulator":
        emulator = emulators.get(config.name)
        if emulator is None:
            from router.emulator import RouterEmulator

            emulator = RouterEmulator(
                clock=clock,
                host="127.0.0.1",
                port=config.port,  # 0: any free port; the emulator always listens on loopback
                identity=config.name,
                username=config.username,
                password=config.password,
                hotspot_server=config.hotspot_server,
                tls=config.tls,
            ).start()
            emulators[config.name] = emulator
            closers.append(emulator.stop)
        host, port = emulator.host, emulator.port
        tls_context = emulator.tls_context_for_clients() if config.tls else None
    return MikrotikRouter(
        config.name,
        host,
        port,
        config.username,
        config.password,
        hotspot_server=config.hotspot_server,
        tls=config.tls,
        tls_context=tls_context,
        timeout=config.timeout,
    )


def build_gateway(settings: Settings, clock: Clock, simulator: Any) -> Any:
    from portal.mpesa.client import DarajaClient, DarajaCredentials

    m = settings.mpesa
    base_url = settings.daraja_base_url
    key, secret, passkey = m.consumer_key, m.consumer_secret, m.passkey
    if simulator is not None:
        base_url = m.base_url or simulator.base_url
        key = key or simulator.merchant.consumer_key
        secret = secret or simulator.merchant.consumer_secret
        passkey = passkey or simulator.merchant.passkey
    credentials = DarajaCredentials(
        base_url=base_url,
        consumer_key=key,
        consumer_secret=secret,
        shortcode=m.shortcode,
        passkey=passkey,
        transaction_type=m.transaction_type,
        party_b=m.party_b,
    )
    return DarajaClient(credentials, clock=clock, timeout=m.request_timeout)


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    simulator: Any = None,
    emulators: dict[str, Any] | None = None,
    redis_handle: RedisHandle | None = None,
    background: bool = True,
) -> Services:
    """Open the ledger and Redis, and build the Daraja client and the routers.

    In the ``simulator`` environment with no ``base_url`` an in-process Daraja simulator
    is started (unless one is passed in); routers with ``backend = "emulator"`` get an
    in-process RouterOS emulator.
    """
    clock = clock or SystemClock()
    closers: list[Callable[[], None]] = []
    db = open_database(settings.database_url)
    create_tables()
    if redis_handle is None:
        redis_handle = open_redis(settings.redis.url, settings.data_path)
        closers.append(redis_handle.close)
    if simulator is None and settings.mpesa.environment == "simulator" and not settings.mpesa.base_url:
        from portal.mpesa.simulator import DarajaSimulator

        simulator = DarajaSimulator(clock=clock, shortcode=settings.mpesa.shortcode)
        simulator.start()
        closers.append(simulator.stop)
    emulators = emulators if emulators is not None else {}
    routers = {r.name: build_router(r, emulators, clock, closers) for r in settings.routers}
    dispatch: Callable[[Callable[[], object]], object] = lambda job: job()
    if background:
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="p2c-side")
        closers.append(lambda: pool.shutdown(wait=True))
        dispatch = lambda job: pool.submit(_logged, job)  # noqa: E731
    return Services(
        dispatch=dispatch,
        settings=settings,
        clock=clock,
        db=db,
        live=LiveStore(redis_handle.client),
        gateway=build_gateway(settings, clock, simulator),
        routers=routers,
        simulator=simulator,
        emulators=emulators,
        closers=closers,
    )
