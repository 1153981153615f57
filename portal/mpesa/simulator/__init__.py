"""The built-in Daraja simulator: STK Push, STK Query, OAuth, callbacks and a virtual phone.

``DarajaSimulator`` is for tests and the demo; :func:`serve_forever` backs the
``pay2connect simulate-daraja --port N`` command.
"""

from __future__ import annotations

import threading

from portal.clock import SystemClock
from portal.mpesa.simulator.callbacks import CallbackAttempt, build_callback_body
from portal.mpesa.simulator.server import DarajaSimulator
from portal.mpesa.simulator.settings import OUTCOMES, SCRIPTABLE_OUTCOMES
from portal.mpesa.simulator.state import TransactionSnapshot

__all__ = [
    "OUTCOMES",
    "SCRIPTABLE_OUTCOMES",
    "CallbackAttempt",
    "DarajaSimulator",
    "TransactionSnapshot",
    "build_callback_body",
    "serve_forever",
]


def serve_forever(host: str = "127.0.0.1", port: int = 8900) -> None:
    """Run a simulator on the real clock until Ctrl-C, printing where to find it."""
    simulator = DarajaSimulator(clock=SystemClock(), host=host, port=port, default_outcome="ask")
    simulator.start()
    merchant = simulator.merchant
    print(f"Daraja simulator:  {simulator.base_url}")
    print(f"Virtual phone:     {simulator.phone_page_url}")
    print(
        f"Credentials:       consumer_key={merchant.consumer_key} "
        f"consumer_secret={merchant.consumer_secret} shortcode={merchant.shortcode} "
        "passkey=<Daraja sandbox test passkey>"
    )
    print("Press Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        print("Daraja simulator stopped.")
