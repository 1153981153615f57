"""The handle the business rules receive: every outside system, behind its interface.

:class:`Services` is built once per process by :mod:`portal.wiring` (which picks the real
implementation or the simulator by config) and passed to every rule and job. The rules
never see Flask, never open connections, and never read the clock themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import peewee

from portal.clock import Clock
from portal.config import Settings
from portal.ledger.database import close_connections, connection_outlives_request
from portal.live import LiveStore
from portal.live.meters import Meters
from portal.mpesa.gateway import MpesaGateway
from portal.notify import Channel
from router import Router

if TYPE_CHECKING:
    from portal.mpesa.simulator import DarajaSimulator
    from portal.notify.sms_simulator import SmsGatewaySimulator
    from portal.notify.smtp_outbox import SmtpOutboxPage
    from portal.notify.smtp_simulator import SmtpSimulator
    from portal.notify.webhook_simulator import WebhookReceiver
    from router.emulator import RouterEmulator

log = logging.getLogger(__name__)


def _run_inline(job: Callable[[], object]) -> object:
    return job()


@dataclass
class Services:
    """Settings, clock, ledger, live state, meters, M-Pesa, routers and outbound channels of one process."""

    settings: Settings
    clock: Clock
    db: peewee.Database
    live: LiveStore
    gateway: MpesaGateway
    routers: dict[str, Router]
    #: Counters and histograms shared by every process through Redis (``/metrics``).
    meters: Meters
    #: Outbound channels by name (``sms``, ``email``, ``webhook``): only those configured.
    channels: dict[str, Channel] = field(default_factory=dict)
    #: In-process SMS gateway, SMTP server (and its outbox page) and webhook receiver, when
    #: config says ``simulator`` (demo, tests).
    sms_gateway: SmsGatewaySimulator | None = None
    smtp_server: SmtpSimulator | None = None
    smtp_outbox: SmtpOutboxPage | None = None
    webhook_receiver: WebhookReceiver | None = None
    #: The in-process Daraja simulator when this process runs one (demo, tests).
    simulator: DarajaSimulator | None = None
    #: In-process RouterOS emulators by router name (demo, tests).
    emulators: dict[str, RouterEmulator] = field(default_factory=dict)
    #: What this process started, stopped in reverse order by :meth:`close`.
    closers: list[Callable[[], None]] = field(default_factory=list)
    #: How slow side work (router calls after a callback) runs: inline in tests, on a
    #: thread pool in servers so the callback is answered at once.
    dispatch: Callable[[Callable[[], object]], object] = _run_inline

    def router(self, name: str) -> Router | None:
        return self.routers.get(name)

    @property
    def keeps_connection_between_requests(self) -> bool:
        """Whether a server thread keeps its ledger connection from one request to the next
        (SQLite; see :func:`portal.ledger.database.connection_outlives_request`)."""
        return connection_outlives_request(self.db)

    def close(self) -> None:
        """Stop everything this process started, in reverse order."""
        self.meters.close()  # its last observations, while Redis is still there
        for router in self.routers.values():
            try:
                router.close()
            except Exception as err:  # noqa: BLE001 - closing must not fail the shutdown
                log.debug("closing router: %s", err)
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception as err:  # noqa: BLE001 - closing must not fail the shutdown
                log.debug("closing channel: %s", err)
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception as err:  # noqa: BLE001 - closing must not fail the shutdown
                log.debug("stopping: %s", err)
        close_connections(self.db)
