"""The composition root: build :class:`~portal.domain.context.Services` from the settings.

This is the one place that chooses implementations by config: the Daraja client aimed at
Safaricom or at the in-process simulator, the MikroTik adapter aimed at a real router or
at the in-process RouterOS emulator, Redis at a URL or embedded, and the SMS, email and
webhook channels aimed at the real services or at their in-process simulators. The gateway
and the routers are wrapped so every call is timed for ``/metrics``. Built once per process
(web, worker, demo); nothing here starts on import.

One module a little over 300 lines on purpose: it is the one place implementations are chosen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from portal.clock import Clock, SystemClock
from portal.config import ConfigError, RouterSettings, Settings
from portal.config.notify_settings import WEBHOOK_SIMULATOR
from portal.domain.context import Services
from portal.domain.observe import ObservedGateway, ObservedRouter, record_first_login
from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.live import LiveStore, RedisHandle, open_redis
from portal.live.meters import Meters
from portal.live.tokens import RedisTokenStore
from portal.mpesa.client import DarajaClient, TokenStore
from portal.mpesa.request_fields import DarajaCredentials
from portal.notify import LIVE_BASE_URL, SANDBOX_BASE_URL, AfricasTalkingSms, JsonWebhook, SmtpEmail
from portal.notify.email import Security
from portal.notify.webhook import WebhookStyle
from router import Router

if TYPE_CHECKING:
    from portal.mpesa.simulator import DarajaSimulator
    from portal.notify.sms_simulator import SmsGatewaySimulator
    from portal.notify.smtp_simulator import SmtpSimulator
    from portal.notify.webhook_simulator import WebhookReceiver
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
    login_secret: bytes | None = None,
) -> Router:
    """The MikroTik adapter, aimed at a real router or at an in-process emulator; the
    install's secret key derives our hotspot users' passwords (every process alike)."""
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
        login_secret=login_secret,
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


def build_sms(services: Services, given: SmsGatewaySimulator | None) -> None:
    """``[sms]``: Africa's Talking (sandbox or live), or the in-process gateway simulator."""
    sms = services.settings.sms
    if sms.environment == "off":
        return
    username, api_key, base_url = sms.username, sms.api_key, sms.base_url
    if sms.environment == "simulator" and not base_url:
        gateway = given
        if gateway is None:
            from portal.notify.sms_simulator import SmsGatewaySimulator

            gateway = SmsGatewaySimulator(clock=services.clock).start()
            services.closers.append(gateway.stop)
        services.sms_gateway = gateway
        username, api_key, base_url = gateway.username, gateway.api_key, gateway.base_url
    elif sms.environment == "simulator":  # a stand-alone simulator: its defaults unless configured
        username, api_key = username or "sandbox", api_key or "sim-at-api-key"
    if not base_url:
        base_url = SANDBOX_BASE_URL if sms.environment == "sandbox" else LIVE_BASE_URL
    services.channels["sms"] = AfricasTalkingSms(
        username, api_key, sender_id=sms.sender_id or None, base_url=base_url, timeout=sms.request_timeout
    )


def build_email(services: Services, given: SmtpSimulator | None) -> None:
    """``[email]``: an SMTP server, or the in-process SMTP simulator (STARTTLS and AUTH, as a
    provider's port 587 would ask) with a web page listing what it received."""
    mail = services.settings.email
    if mail.environment == "off":
        return
    sender = mail.sender or "wifi@pay2connect.test"
    host, port, context = mail.host, mail.port, None
    login = (mail.username, mail.password) if mail.username else None
    security = cast(Security, mail.security)  # checked by portal.config.notify_checks
    if mail.environment == "simulator":
        smtp = given
        if smtp is None:
            import secrets

            from portal.notify.smtp_outbox import SmtpOutboxPage
            from portal.notify.smtp_simulator import SmtpSimulator

            password = secrets.token_urlsafe(12)
            smtp = SmtpSimulator(clock=services.clock, tls="starttls", username=sender, password=password).start()
            services.closers.append(smtp.stop)
            services.smtp_outbox = SmtpOutboxPage(smtp).start()
            services.closers.append(services.smtp_outbox.stop)
        services.smtp_server = smtp
        modes: dict[str, Security] = {"none": "none", "starttls": "starttls", "implicit": "ssl"}
        host, port, login, security = smtp.host, smtp.port, smtp.credentials, modes[smtp.tls]
        context = smtp.client_ssl_context() if smtp.tls != "none" else None
    services.channels["email"] = SmtpEmail(
        host,
        port,
        sender=sender,
        username=login[0] if login else None,
        password=login[1] if login else None,
        security=security,
        ssl_context=context,
        timeout=mail.request_timeout,
        clock=services.clock,
    )


def build_webhook(services: Services, given: WebhookReceiver | None) -> None:
    """``[webhook]``: the owner's URL, or an in-process receiver with a page (``"simulator"``)."""
    hook = services.settings.webhook
    if not hook.url:
        return
    url = hook.url
    if url == WEBHOOK_SIMULATOR:
        receiver = given
        if receiver is None:
            from portal.notify.webhook_simulator import WebhookReceiver

            receiver = WebhookReceiver(clock=services.clock, secret=hook.secret or None).start()
            services.closers.append(receiver.stop)
        services.webhook_receiver = receiver
        url = receiver.url
    services.channels["webhook"] = JsonWebhook(
        url,
        secret=hook.secret or None,
        style=cast(WebhookStyle, hook.style),  # checked by portal.config.notify_checks
        timeout=hook.request_timeout,
        clock=services.clock,
    )


def build_channels(
    services: Services,
    *,
    sms_gateway: SmsGatewaySimulator | None = None,
    smtp_server: SmtpSimulator | None = None,
    webhook_receiver: WebhookReceiver | None = None,
) -> None:
    """Every configured channel into ``services.channels`` (simulators started as needed)."""
    try:
        build_sms(services, sms_gateway)
        build_email(services, smtp_server)
        build_webhook(services, webhook_receiver)
    except ValueError as err:  # config checks catch these first; never a traceback at start
        raise ConfigError([f"notification channels: {err}"]) from None


def observe(services: Services) -> None:
    """Time every Daraja call and router operation (``/metrics``, the Daraja alerts)."""
    alerts = services.settings.alerts
    services.gateway = ObservedGateway(
        services.gateway,
        services.meters,
        clock_now=services.clock.now,
        slow_seconds=lambda: alerts.slow_response_seconds,
        keep_seconds=alerts.daraja_window_minutes * 60 + 60,
    )
    services.routers = {
        name: ObservedRouter(router, services.meters, on_authorized=lambda gid: record_first_login(services, gid))
        for name, router in services.routers.items()
    }


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    simulator: DarajaSimulator | None = None,
    emulators: dict[str, RouterEmulator] | None = None,
    redis_handle: RedisHandle | None = None,
    background: bool = True,
    sms_gateway: SmsGatewaySimulator | None = None,
    smtp_server: SmtpSimulator | None = None,
    webhook_receiver: WebhookReceiver | None = None,
) -> Services:
    """Open the ledger and Redis, and build the Daraja client, the routers and the channels.

    In the ``simulator`` environment with no ``base_url`` an in-process Daraja simulator
    is started (unless one is passed in); routers with ``backend = "emulator"`` get an
    in-process RouterOS emulator; channels set to ``simulator`` get theirs (or the ones
    passed in).
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
    login_secret = settings.portal.secret_key.encode() or None
    routers = {r.name: build_router(r, emulators, clock, closers, login_secret) for r in settings.routers}
    services = Services(
        settings=settings,
        clock=clock,
        db=db,
        live=LiveStore(redis_handle.client),
        # One Daraja token for every process on this Redis (each minting its own would churn).
        gateway=build_gateway(settings, clock, simulator, _token_store(redis_handle, settings, simulator)),
        routers=routers,
        meters=Meters(redis_handle.client),
        simulator=simulator,
        emulators=emulators,
        closers=closers,
    )
    observe(services)
    try:
        build_channels(services, sms_gateway=sms_gateway, smtp_server=smtp_server, webhook_receiver=webhook_receiver)
    except ConfigError:
        services.close()
        raise
    if background:
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="p2c-side")
        closers.append(lambda: pool.shutdown(wait=True))
        services.dispatch = lambda job: pool.submit(_logged, job)
    return services
