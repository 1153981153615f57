"""What the simulator pretends to be (the merchant), how it behaves (knobs), and the outcomes
a virtual phone can produce."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from portal.mpesa.client import SANDBOX_PASSKEY

TOKEN_MODES = frozenset({"rotate", "reuse"})
#: How a success callback writes PhoneNumber. Safaricom masks numbers elsewhere and
#: integrators have seen each of these in STK callbacks (tests/mpesa/corpus).
PHONE_STYLES = frozenset({"number", "text", "star_masked", "x_masked", "hashed", "local"})
TOKEN_LIFETIME_SECONDS = 3599


@dataclass(frozen=True)
class Outcome:
    """One way a prompt can end. ``wait`` says when: after the customer acts ("approve"),
    when the prompt times out ("timeout"), or straight away ("immediate")."""

    name: str
    result_code: int | str
    result_desc: str
    wait: str


OUTCOMES: dict[str, Outcome] = {
    outcome.name: outcome
    for outcome in (
        Outcome("success", 0, "The service request is processed successfully.", "approve"),
        Outcome("cancel", 1032, "Request cancelled by user", "approve"),
        Outcome("timeout", 1037, "DS timeout user cannot be reached", "timeout"),
        Outcome("insufficient", 1, "The balance is insufficient for the transaction.", "approve"),
        Outcome("wrong_pin", 2001, "The initiator information is invalid.", "approve"),
        Outcome("expired", 1019, "Transaction has expired.", "timeout"),
        Outcome("pin_locked", 8006, "The security credential is locked.", "approve"),
        Outcome("push_failed", 1025, "An error occurred while sending a push request.", "immediate"),
        # Decided by the simulator itself, never scripted:
        Outcome("rule_limited", 17, "Rule limited.", "immediate"),
        Outcome(
            "subscriber_locked",
            1001,
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            "immediate",
        ),
        Outcome(
            "not_permitted",
            2028,
            "The request is not permitted according to product assignment.",
            "immediate",
        ),
        Outcome("operator_missing", "SFC_IC0003", "The operator does not exist.", "immediate"),
    )
}

#: "ask" waits for a person on the virtual phone page (unanswered -> "timeout").
ASK = "ask"
SCRIPTABLE_OUTCOMES = frozenset(
    {"success", "cancel", "timeout", "insufficient", "wrong_pin", "expired", "pin_locked", "push_failed", ASK}
)
FORCEABLE_OUTCOMES = SCRIPTABLE_OUTCOMES - {ASK}
WRONG_PARTY_OUTCOMES = frozenset({"not_permitted", "operator_missing"})


@dataclass(frozen=True)
class Merchant:
    """The one merchant the simulator knows: a PayBill, or a Till when ``till_number`` is set
    (then ``shortcode`` is the store number used for the Password)."""

    consumer_key: str
    consumer_secret: str
    shortcode: str = "174379"
    passkey: str = SANDBOX_PASSKEY
    till_number: str | None = None


@dataclass
class SimulatorKnobs:
    """Behaviour switches, changeable while the simulator runs (DarajaSimulator forwards them)."""

    # OAuth
    token_mode: str = "rotate"
    expires_in_as_number: bool = False
    wrong_credentials_envelope: bool = False
    product_enabled: bool = True
    # prompts
    default_outcome: str = "success"
    approve_after_seconds: float = 3.0
    prompt_timeout_seconds: float = 60.0
    rule17_window_seconds: float = 120.0
    subscriber_lock_in_callback: bool = False
    wrong_party_outcome: str = "operator_missing"
    # validation
    max_amount: int = 250_000
    strict_lengths: bool = True
    timestamp_window_seconds: float | None = None
    # throttling
    throttle_next_requests: int = 0
    fail_next_requests: int = 0  # next N API calls answer HTTP 500 500.003.1001 (a Daraja outage)
    tps_limit: int | None = None
    quota_remaining: int | None = None
    # answers
    query_still_processing_next: int = 0  # next N STK Queries answer 200 ResultCode 4999
    hang_push_responses: bool = False
    sandbox_lies: bool = False
    # callbacks
    callback_delay_seconds: float = 0.0
    drop_callbacks: bool = False
    drop_next_callbacks: int = 0
    duplicate_callbacks: int = 0
    duplicate_delay_seconds: float = 0.0
    callback_retries: int = 0
    callback_retry_delay_seconds: float = 10.0
    callback_timeout_seconds: float = 5.0
    callback_keep_alive: bool = False  # reuse connections, as a proxy in front of the receiver does
    include_balance_item: bool = True
    callback_phone_style: str = "number"

    def __setattr__(self, name: str, value: Any) -> None:
        _check_knob(name, value)
        super().__setattr__(name, value)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


KNOB_NAMES = frozenset(f.name for f in fields(SimulatorKnobs))


def _check_knob(name: str, value: Any) -> None:
    """Refuse nonsense early, so a typo in a test fails loudly instead of doing nothing."""
    if name not in KNOB_NAMES:
        raise AttributeError(f"unknown simulator knob {name!r}")
    choices = _CHOICES.get(name)
    if choices is not None:
        if value not in choices:
            raise ValueError(f"{name} must be one of {sorted(choices)}")
    elif name in _BOOL_KNOBS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
    elif value is None and name in _OPTIONAL_KNOBS:
        return
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    elif name not in _FLOAT_KNOBS and not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number")


_CHOICES: dict[str, frozenset[str]] = {
    "token_mode": TOKEN_MODES,
    "default_outcome": SCRIPTABLE_OUTCOMES,
    "wrong_party_outcome": WRONG_PARTY_OUTCOMES,
    "callback_phone_style": PHONE_STYLES,
}
_BOOL_KNOBS = frozenset(f.name for f in fields(SimulatorKnobs) if isinstance(f.default, bool))
_OPTIONAL_KNOBS = frozenset({"timestamp_window_seconds", "tps_limit", "quota_remaining"})
_FLOAT_KNOBS = frozenset(
    {
        "approve_after_seconds",
        "prompt_timeout_seconds",
        "rule17_window_seconds",
        "timestamp_window_seconds",
        "callback_delay_seconds",
        "duplicate_delay_seconds",
        "callback_retry_delay_seconds",
        "callback_timeout_seconds",
    }
)
