"""The composition root: build :class:`~portal.domain.context.Services` from the settings.

This is the one place that chooses implementations by config: the Daraja client aimed at
Safaricom or at the in-process simulator, the MikroTik adapter aimed at a real router or
at the in-process RouterOS emulator, Redis at a URL or embedded. Built once per process
(web, worker, demo); nothing here starts on import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from portal.clock import Clock, SystemClock
from portal.config import RouterSettings, Settings
from portal.domain.context import Services
from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.live import LiveStore, RedisHandle, open_redis
from portal.live.tokens import RedisTokenStore
from portal.mpesa.client import DarajaClient, DarajaCredentials, TokenStore
from router import Router

if TYPE_CHECKING:
    from portal.mpesa.simulator import DarajaSimulator
    from router.emulator import RouterEmulator

log = logging.getLogger(__name__)


def _logged(job: Callable[[], object]) -> object:
    try:
        return job()
    except Exception:
        log.exception("background job failed")
        return None


def build_router(
    config: RouterSettings,
    emulators: dict[str, RouterEmulator],
    clock: Clock,
    closers: list[Callable[[], None]],
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


def build_gateway(
    settings: Settings, clock: Clock, simulator: DarajaSimulator | None, token_store: TokenStore | None = None
) -> DarajaClient:
    """The Daraja client, aimed at Safaricom or at the in-process simulator."""
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
    return DarajaClient(credentials, clock=clock, timeout=m.request_timeout, token_store=token_store)


def _token_store(handle: RedisHandle, settings: Settings, simulator: DarajaSimulator | None) -> TokenStore:
    base_url = settings.mpesa.base_url or (simulator.base_url if simulator is not None else settings.daraja_base_url)
    return RedisTokenStore(handle.client, base_url, settings.mpesa.consumer_key)


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    simulator: DarajaSimulator | None = None,
    emulators: dict[str, RouterEmulator] | None = None,
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
    if settings.mpesa.environment == "simulator":
        migrations.upgrade(db)  # demo, tests, staging: a throwaway ledger follows the code
    else:
        migrations.check_current(db)  # a real ledger is upgraded on purpose: `pay2connect migrate`
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
    services = Services(
        settings=settings,
        clock=clock,
        db=db,
        live=LiveStore(redis_handle.client),
        # One Daraja token for every process on this Redis (each minting its own would churn).
        gateway=build_gateway(settings, clock, simulator, _token_store(redis_handle, settings, simulator)),
        routers=routers,
        simulator=simulator,
        emulators=emulators,
        closers=closers,
    )
    if background:
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="p2c-side")
        closers.append(lambda: pool.shutdown(wait=True))
        services.dispatch = lambda job: pool.submit(_logged, job)
    return services
