"""`DarajaSimulator`: a real HTTP server that behaves like Safaricom's Daraja STK API.

It runs werkzeug's threaded server in a daemon thread on 127.0.0.1 (port 0 = any free port).
Prompts end when the injected clock passes their due time: with a real clock a ticker thread
calls :meth:`DarajaSimulator.process_due` every 50 ms; with a ``ManualClock`` tests advance the
clock and call ``process_due()`` themselves, so every run is deterministic.

One module over 300 lines because it is the simulator's one facade: each knob and scenario
control the tests and the CLI use is a line or two here, handing off to state, app or callbacks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from portal.clock import Clock, ManualClock, SystemClock
from portal.loopback import LoopbackServer
from portal.mpesa.client import SANDBOX_PASSKEY
from portal.mpesa.phones import normalize_phone
from portal.mpesa.simulator.app import SimulatorApp
from portal.mpesa.simulator.callbacks import (
    CallbackAttempt,
    CallbackDispatcher,
    build_callback_body,
)
from portal.mpesa.simulator.ids import IdFactory
from portal.mpesa.simulator.settings import Merchant, SimulatorKnobs
from portal.mpesa.simulator.state import SimulatorState, TransactionSnapshot

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05
HANG_LIMIT_SECONDS = 30.0


def _knob(name: str, doc: str) -> property:
    """Expose ``self.knobs.<name>`` as a read/write attribute of the simulator."""

    def read(self: DarajaSimulator) -> Any:
        return getattr(self.knobs, name)

    def write(self: DarajaSimulator, value: Any) -> None:
        setattr(self.knobs, name, value)

    return property(read, write, doc=doc)


class DarajaSimulator(LoopbackServer):
    """A faithful, scriptable stand-in for Daraja: OAuth, STK Push, STK Query and callbacks."""

    thread_name = "daraja-sim-http"
    title = "Daraja simulator"

    # OAuth
    token_mode = _knob("token_mode", '"rotate": a new token invalidates older ones; "reuse".')
    expires_in_as_number = _knob("expires_in_as_number", 'Send expires_in as 3599, not "3599".')
    wrong_credentials_envelope = _knob(
        "wrong_credentials_envelope", "Wrong key/secret gets 400.008.01 instead of an empty 400."
    )
    product_enabled = _knob("product_enabled", "False: every API call gets 404.001.03, even with a fresh token.")
    # prompts
    default_outcome = _knob("default_outcome", "Outcome for phones without a script.")
    approve_after_seconds = _knob("approve_after_seconds", "When a scripted answer arrives.")
    prompt_timeout_seconds = _knob("prompt_timeout_seconds", "When an unanswered prompt ends.")
    rule17_window_seconds = _knob("rule17_window_seconds", "Same phone+amount window (rule 17).")
    subscriber_lock_in_callback = _knob(
        "subscriber_lock_in_callback", "Accept a second push and fail it with 1001 instead."
    )
    wrong_party_outcome = _knob("wrong_party_outcome", '"operator_missing" (SFC_IC0003) or "not_permitted" (2028).')
    # validation and throttling
    max_amount = _knob("max_amount", "Largest accepted Amount.")
    strict_lengths = _knob("strict_lengths", "Refuse AccountReference > 12, TransactionDesc > 13.")
    timestamp_window_seconds = _knob("timestamp_window_seconds", "Max Timestamp drift, or None.")
    throttle_next_requests = _knob("throttle_next_requests", "Answer the next N with 500.003.02.")
    fail_next_requests = _knob("fail_next_requests", "Answer the next N with HTTP 500 500.003.1001 (an outage).")
    tps_limit = _knob("tps_limit", "Requests per clock second per endpoint, or None.")
    quota_remaining = _knob("quota_remaining", "Requests left before 500.003.03, or None.")
    hang_push_responses = _knob(
        "hang_push_responses",
        "Accept pushes but hold the HTTP answer until release_hung_requests() (client timeouts).",
    )
    query_still_processing_next = _knob(
        "query_still_processing_next", 'Answer the next N STK Queries 200 ResultCode "4999".'
    )
    sandbox_lies = _knob("sandbox_lies", "Query reports 1032 for a success (a sandbox quirk).")
    # callbacks
    callback_delay_seconds = _knob("callback_delay_seconds", "Clock seconds before a callback.")
    drop_callbacks = _knob("drop_callbacks", "Lose every callback (STK Query still works).")
    drop_next_callbacks = _knob("drop_next_callbacks", "Lose the next N callbacks.")
    duplicate_callbacks = _knob("duplicate_callbacks", "Extra identical copies of each callback.")
    duplicate_delay_seconds = _knob("duplicate_delay_seconds", "Clock seconds between copies.")
    callback_retries = _knob("callback_retries", "Retries after a non-2xx answer (default 0).")
    callback_retry_delay_seconds = _knob("callback_retry_delay_seconds", "Seconds between retries.")
    callback_timeout_seconds = _knob("callback_timeout_seconds", "HTTP timeout for a callback.")
    callback_keep_alive = _knob(
        "callback_keep_alive", "Keep callback connections open between callbacks (False: one each, as Daraja)."
    )
    include_balance_item = _knob("include_balance_item", "Add the Balance item with no Value.")
    callback_phone_style = _knob(
        "callback_phone_style", "PhoneNumber in success callbacks: number, text, star_masked, ..."
    )

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        consumer_key: str = "sim-consumer-key",
        consumer_secret: str = "sim-consumer-secret",
        shortcode: str = "174379",
        passkey: str = SANDBOX_PASSKEY,
        till_number: str | None = None,
        token_mode: str = "rotate",
        default_outcome: str = "success",
        approve_after_seconds: float = 3.0,
        prompt_timeout_seconds: float = 60.0,
        callback_delay_seconds: float = 0.0,
        auto_process: bool | None = None,
        seed: int | None = None,
    ) -> None:
        """``auto_process`` runs the 50 ms ticker; by default on for a real clock and off for
        a ``ManualClock`` (tests call :meth:`process_due` after advancing it)."""
        super().__init__(host=host, port=port)
        self.clock: Clock = clock or SystemClock()
        self.merchant = Merchant(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            shortcode=shortcode,
            passkey=passkey,
            till_number=till_number,
        )
        self.knobs = SimulatorKnobs(
            token_mode=token_mode,
            default_outcome=default_outcome,
            approve_after_seconds=approve_after_seconds,
            prompt_timeout_seconds=prompt_timeout_seconds,
            callback_delay_seconds=callback_delay_seconds,
        )
        self.ids = IdFactory(seed)
        self.state = SimulatorState(clock=self.clock, merchant=self.merchant, knobs=self.knobs, ids=self.ids)
        self._dispatcher = CallbackDispatcher(clock=self.clock, knobs=self.knobs)
        if auto_process is None:
            auto_process = not isinstance(self.clock, ManualClock)
        self.auto_process = auto_process
        self._app = SimulatorApp(self)
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._process_lock = threading.Lock()
        self._hang_lock = threading.Lock()
        self._hang_release = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self._app(environ, start_response)

    def start(self) -> DarajaSimulator:
        """Bind the port and serve in background threads (HTTP, and the ticker). Returns self."""
        self._stopping.clear()
        super().start()
        if self.auto_process:
            self._ticker = threading.Thread(target=self._tick, name="daraja-sim-ticker", daemon=True)
            self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop serving and release any held requests. Safe to call twice."""
        if not self.started:
            return
        self._stopping.set()
        self.release_hung_requests()
        super().stop()
        self._dispatcher.close()
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.join(timeout=5)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: use it as the Daraja base URL."""
        return super().base_url

    @property
    def phone_page_url(self) -> str:
        return self.base_url + "/phone"

    @property
    def payee(self) -> str:
        """What the prompt says the customer pays: the till, or the PayBill number."""
        return self.merchant.till_number or self.merchant.shortcode

    # -- time -------------------------------------------------------------------------------

    def process_due(self) -> int:
        """End due prompts and deliver due callbacks, now, in this thread.

        Returns how many events were handled (prompts ended + callback jobs run).
        """
        with self._process_lock:
            ended = self.state.resolve_due()
            for transaction in ended:
                self._dispatcher.schedule(transaction)
            jobs = self._dispatcher.take_due()
            for job in jobs:
                self._dispatcher.deliver(job)
            return len(ended) + len(jobs)

    def _tick(self) -> None:
        while not self._stopping.wait(TICK_SECONDS):
            try:
                self.process_due()
            except Exception:  # keep ticking; one bad callback must not stop the simulator
                log.exception("Simulator tick failed")

    # -- scenario control -------------------------------------------------------------------

    def script_outcome(
        self,
        phone: str,
        outcome: str,
        *,
        after_seconds: float | None = None,
        times: int | None = None,
    ) -> None:
        """Decide how pushes to ``phone`` end: "success", "cancel" (1032), "timeout" (1037),
        "insufficient" (1), "wrong_pin" (2001), "expired" (1019), "pin_locked" (8006),
        "push_failed" (1025) or "ask" (wait for the phone page). ``times=None`` means from
        now on; otherwise for the next ``times`` pushes."""
        msisdn = normalize_phone(phone, safaricom_prefixes=())
        self.state.script_outcome(msisdn, outcome, after_seconds=after_seconds, times=times)

    def force_outcome(self, checkout_request_id: str, outcome: str) -> TransactionSnapshot:
        """Answer a pending prompt right now; its callback follows on the next process_due."""
        transaction = self.state.force_outcome(checkout_request_id, outcome)
        self._dispatcher.schedule(transaction)
        return transaction

    def transactions(self) -> list[TransactionSnapshot]:
        return self.state.transactions()

    def pending_prompts(self) -> list[TransactionSnapshot]:
        return self.state.pending_prompts()

    def reset(self) -> None:
        """Forget transactions, scripts, queued callbacks and attempts. Knobs and tokens stay."""
        with self._process_lock:
            self.state.reset()
            self._dispatcher.reset()

    @property
    def tokens_minted(self) -> int:
        """How many OAuth tokens have been handed out (to check client-side caching)."""
        return self.state.tokens_minted

    def expire_tokens(self) -> None:
        """Invalidate every access token at once."""
        self.state.expire_tokens()

    # -- callbacks --------------------------------------------------------------------------

    @property
    def callback_attempts(self) -> list[CallbackAttempt]:
        """Every callback POST tried so far, oldest first."""
        return self._dispatcher.attempts

    @property
    def dropped_callbacks(self) -> list[str]:
        """CheckoutRequestIDs whose callback was deliberately lost."""
        return self._dispatcher.dropped

    def send_raw_callback(self, url: str, body: bytes | str | Mapping[str, Any]) -> CallbackAttempt:
        """POST any body to ``url`` now, as an attacker (or a confused Daraja) would."""
        if isinstance(body, Mapping):
            data = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = bytes(body)
        return self._dispatcher.send_now(url, data, kind="forged")

    def replay_callback(self, checkout_request_id: str, url: str | None = None) -> CallbackAttempt:
        """Send a finished transaction's callback again, byte for byte."""
        transaction = self.state.get(checkout_request_id)
        if transaction is None:
            raise KeyError(checkout_request_id)
        if transaction.pending:
            raise ValueError("transaction has not finished yet")
        body = build_callback_body(
            transaction,
            include_balance=self.knobs.include_balance_item,
            phone_style=self.knobs.callback_phone_style,
        )
        return self._dispatcher.send_now(
            url or transaction.callback_url,
            body,
            kind="replay",
            checkout_request_id=checkout_request_id,
        )

    # -- held answers -----------------------------------------------------------------------

    def wait_while_hung(self) -> None:
        """Called by the push handler when ``hang_push_responses`` is on."""
        with self._hang_lock:
            release = self._hang_release
        release.wait(HANG_LIMIT_SECONDS)

    def release_hung_requests(self) -> None:
        """Let every held push answer now."""
        with self._hang_lock:
            self._hang_release.set()
            self._hang_release = threading.Event()
