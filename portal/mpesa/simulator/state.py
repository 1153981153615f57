"""The simulator's memory and rules: tokens, STK transactions, per-phone scripts, throttling,
and the clock-driven life of a prompt. No HTTP in here, so every rule is easy to test and to
read. All times come from the injected clock; nothing waits in real time.

One module over 300 lines because these rules share one lock and one table of transactions
and are read together.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.clock import Clock
from portal.mpesa.request_fields import PAYBILL, TILL
from portal.mpesa.simulator.ids import IdFactory
from portal.mpesa.simulator.settings import (
    ASK,
    FORCEABLE_OUTCOMES,
    OUTCOMES,
    SCRIPTABLE_OUTCOMES,
    TOKEN_LIFETIME_SECONDS,
    Merchant,
    Outcome,
    SimulatorKnobs,
)
from portal.mpesa.simulator.validation import MERCHANT_ERROR, ApiError, PushRequest

PENDING = "pending"
COMPLETED = "completed"
SUBSCRIBER_LOCKED_MESSAGE = "Unable to lock subscriber, a transaction is already in process for the current subscriber"


@dataclass(frozen=True)
class TransactionSnapshot:
    """A copy of one STK transaction as the simulator sees it, safe to hand to tests."""

    checkout_request_id: str
    merchant_request_id: str
    phone: str
    amount: int
    account_reference: str
    description: str
    callback_url: str
    transaction_type: str
    party_b: str
    created_at: datetime
    outcome: str
    due_at: datetime
    prompted: bool
    status: str
    result_code: int | str | None
    result_desc: str | None
    receipt: str | None
    completed_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "due_at", "completed_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass
class _Transaction:
    checkout_request_id: str
    merchant_request_id: str
    phone: str
    amount: int
    account_reference: str
    description: str
    callback_url: str
    transaction_type: str
    party_b: str
    created_at: datetime
    outcome: str
    due_at: datetime
    prompted: bool
    status: str = PENDING
    result_code: int | str | None = None
    result_desc: str | None = None
    receipt: str | None = None
    completed_at: datetime | None = None

    def snapshot(self) -> TransactionSnapshot:
        return TransactionSnapshot(**vars(self))  # every field a plain value: no deep copy needed


@dataclass
class _Script:
    outcome: str
    after_seconds: float | None
    times_left: int | None


class SimulatorState:
    """Everything the simulator remembers. Thread-safe: HTTP threads, the ticker and tests
    all call in concurrently."""

    def __init__(self, *, clock: Clock, merchant: Merchant, knobs: SimulatorKnobs, ids: IdFactory) -> None:
        self.clock = clock
        self.merchant = merchant
        self.knobs = knobs
        self.ids = ids
        self._lock = threading.RLock()
        self._tokens: dict[str, datetime] = {}
        self._transactions: dict[str, _Transaction] = {}
        # Indexes, so a push or a tick costs the same after 100,000 transactions as after 10:
        # the pending ones (oldest first) and each phone's, for the per-phone rules.
        self._pending: dict[str, _Transaction] = {}
        self._by_phone: dict[str, list[_Transaction]] = {}
        self._scripts: dict[str, _Script] = {}
        self._requests_this_second: dict[tuple[str, int], int] = {}
        self.tokens_minted = 0

    # -- OAuth tokens -----------------------------------------------------------------------

    def mint_token(self) -> str:
        """A new token; in "rotate" mode every older token stops working (as documented)."""
        now = self.clock.now()
        token = self.ids.access_token()
        with self._lock:
            if self.knobs.token_mode == "rotate":
                self._tokens.clear()
            else:
                self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + timedelta(seconds=TOKEN_LIFETIME_SECONDS)
            self.tokens_minted += 1
        return token

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            expires_at = self._tokens.get(token)
        return expires_at is not None and self.clock.now() < expires_at

    def expire_tokens(self) -> None:
        """Forget every token, as if they had all expired."""
        with self._lock:
            self._tokens.clear()

    # -- throttling -------------------------------------------------------------------------

    def take_still_processing(self) -> bool:
        """True (and one fewer left) while ``query_still_processing_next`` is above 0."""
        with self._lock:
            if self.knobs.query_still_processing_next > 0:
                self.knobs.query_still_processing_next -= 1
                return True
            return False

    def check_throttle(self, endpoint: str) -> None:
        """Spike arrest (forced, or over ``tps_limit`` per clock second) and quota."""
        knobs = self.knobs
        with self._lock:
            if knobs.fail_next_requests > 0:
                knobs.fail_next_requests -= 1
                raise ApiError(500, "500.003.1001", "Internal Server Error")
            if knobs.throttle_next_requests > 0:
                knobs.throttle_next_requests -= 1
                raise ApiError(500, "500.003.02", "Error Occurred: Spike Arrest Violation")
            if knobs.tps_limit is not None:
                key = (endpoint, int(self.clock.now().timestamp()))
                count = self._requests_this_second.get(key, 0)
                if count >= knobs.tps_limit:
                    raise ApiError(500, "500.003.02", "Error Occurred: Spike Arrest Violation")
                self._requests_this_second = {k: v for k, v in self._requests_this_second.items() if k[1] == key[1]}
                self._requests_this_second[key] = count + 1
            if knobs.quota_remaining is not None:
                if knobs.quota_remaining <= 0:
                    raise ApiError(500, "500.003.03", "Quota Violation")
                knobs.quota_remaining -= 1

    # -- pushes -----------------------------------------------------------------------------

    def accept_push(self, request: PushRequest) -> TransactionSnapshot:
        """Record an accepted push and decide how (and when) it will end."""
        now = self.clock.now()
        with self._lock:
            prompted = False
            if self._prompt_pending_for(request.phone):
                if not self.knobs.subscriber_lock_in_callback:
                    raise ApiError(500, MERCHANT_ERROR, SUBSCRIBER_LOCKED_MESSAGE)
                outcome, delay = "subscriber_locked", 0.0
            elif not self._party_matches(request):
                outcome, delay = self.knobs.wrong_party_outcome, 0.0
            elif self._paid_recently(request.phone, request.amount, now):
                outcome, delay = "rule_limited", 0.0
            else:
                outcome, delay = self._planned_outcome(request.phone)
                prompted = True
            checkout_id = self.ids.checkout_request_id(now, request.phone, self._transactions)
            transaction = _Transaction(
                checkout_request_id=checkout_id,
                merchant_request_id=self.ids.merchant_request_id(),
                phone=request.phone,
                amount=request.amount,
                account_reference=request.account_reference,
                description=request.description,
                callback_url=request.callback_url,
                transaction_type=request.transaction_type,
                party_b=request.party_b,
                created_at=now,
                outcome=outcome,
                due_at=now + timedelta(seconds=delay),
                prompted=prompted,
            )
            self._transactions[checkout_id] = transaction
            self._pending[checkout_id] = transaction
            self._by_phone.setdefault(request.phone, []).append(transaction)
            return transaction.snapshot()

    def script_outcome(self, phone: str, outcome: str, *, after_seconds: float | None, times: int | None) -> None:
        """Decide how the next pushes to ``phone`` end (replacing any earlier script).

        ``times=None`` applies to every push from now on; otherwise to the next ``times``
        pushes, after which ``default_outcome`` applies again.
        """
        if outcome not in SCRIPTABLE_OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(SCRIPTABLE_OUTCOMES)}")
        if after_seconds is not None and after_seconds < 0:
            raise ValueError("after_seconds must be >= 0")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._scripts[phone] = _Script(outcome, after_seconds, times)

    def resolve_due(self) -> list[TransactionSnapshot]:
        """End every prompt whose time has come; return what ended."""
        now = self.clock.now()
        ended: list[TransactionSnapshot] = []
        with self._lock:
            for transaction in list(self._pending.values()):
                if transaction.due_at <= now:
                    name = "timeout" if transaction.outcome == ASK else transaction.outcome
                    self._complete(transaction, OUTCOMES[name], at=transaction.due_at)
                    ended.append(transaction.snapshot())
        return ended

    def force_outcome(self, checkout_request_id: str, outcome: str) -> TransactionSnapshot:
        """Answer a pending prompt now, as the person holding the phone would."""
        if outcome not in FORCEABLE_OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(FORCEABLE_OUTCOMES)}")
        with self._lock:
            transaction = self._transactions.get(checkout_request_id)
            if transaction is None:
                raise KeyError(checkout_request_id)
            if transaction.status != PENDING or not transaction.prompted:
                raise ValueError("this transaction has no prompt waiting for an answer")
            self._complete(transaction, OUTCOMES[outcome], at=self.clock.now())
            return transaction.snapshot()

    # -- reading ----------------------------------------------------------------------------

    def get(self, checkout_request_id: str) -> TransactionSnapshot | None:
        with self._lock:
            transaction = self._transactions.get(checkout_request_id)
            return transaction.snapshot() if transaction else None

    def transactions(self) -> list[TransactionSnapshot]:
        """Every transaction, oldest first."""
        with self._lock:
            return [t.snapshot() for t in self._transactions.values()]

    def pending_prompts(self) -> list[TransactionSnapshot]:
        """Prompts showing on a phone right now, oldest first."""
        with self._lock:
            return [t.snapshot() for t in self._pending.values() if t.prompted]

    def reset(self) -> None:
        """Forget transactions, scripts and throttling counters (tokens stay valid)."""
        with self._lock:
            self._transactions.clear()
            self._pending.clear()
            self._by_phone.clear()
            self._scripts.clear()
            self._requests_this_second.clear()

    # -- rules ------------------------------------------------------------------------------

    def _prompt_pending_for(self, phone: str) -> bool:
        return any(t.status == PENDING and t.prompted for t in self._by_phone.get(phone, ()))

    def _party_matches(self, request: PushRequest) -> bool:
        """PayBill pays the shortcode itself; a Till merchant's PartyB must be the till."""
        till = self.merchant.till_number
        if request.transaction_type == PAYBILL:
            return till is None and request.party_b == self.merchant.shortcode
        return request.transaction_type == TILL and till is not None and request.party_b == till

    def _paid_recently(self, phone: str, amount: int, now: datetime) -> bool:
        """Rule 17: the same amount from the same phone within the window after a payment."""
        window_start = now - timedelta(seconds=self.knobs.rule17_window_seconds)
        return any(
            t.amount == amount and t.result_code == 0 and t.completed_at is not None and t.completed_at > window_start
            for t in self._by_phone.get(phone, ())
        )

    def _planned_outcome(self, phone: str) -> tuple[str, float]:
        script = self._scripts.get(phone)
        after: float | None = None
        if script is None:
            name = self.knobs.default_outcome
        else:
            name, after = script.outcome, script.after_seconds
            if script.times_left is not None:
                script.times_left -= 1
                if script.times_left <= 0:
                    del self._scripts[phone]
        if after is None:
            after = self._default_wait(name)
        return name, after

    def _default_wait(self, name: str) -> float:
        if name == ASK:
            return self.knobs.prompt_timeout_seconds
        wait = OUTCOMES[name].wait
        if wait == "approve":
            return self.knobs.approve_after_seconds
        if wait == "timeout":
            return self.knobs.prompt_timeout_seconds
        return 0.0

    def _complete(self, transaction: _Transaction, outcome: Outcome, *, at: datetime) -> None:
        transaction.status = COMPLETED
        self._pending.pop(transaction.checkout_request_id, None)
        transaction.result_code = outcome.result_code
        transaction.result_desc = outcome.result_desc
        transaction.completed_at = at
        if outcome.result_code == 0:
            transaction.receipt = self.ids.receipt(at)
