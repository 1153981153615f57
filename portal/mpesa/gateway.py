"""The M-Pesa gateway as the business rules see it: push a prompt, ask how it ended.

One protocol, :class:`MpesaGateway`. Its implementation is :class:`portal.mpesa.client.
DarajaClient`, aimed by config at Safaricom's sandbox, at production, or at the Daraja
simulator (:mod:`portal.mpesa.simulator`, a real HTTP server). Every failure arrives as a
:class:`portal.mpesa.errors.DarajaError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from portal.mpesa.results import classify_result


@dataclass(frozen=True)
class StkPushAccepted:
    """Daraja accepted the push for processing; the outcome comes later."""

    merchant_request_id: str
    checkout_request_id: str
    customer_message: str
    response_description: str


@dataclass(frozen=True)
class StkQueryResult:
    """One STK Query answer: still pending, or a final ``result_code`` (always text).

    A pending answer may still carry Daraja's code and text (4999 "The transaction is still
    under processing"), so the payment's timeline can show what M-Pesa said.
    """

    pending: bool
    result_code: str | None
    result_desc: str | None
    merchant_request_id: str | None
    checkout_request_id: str

    @property
    def status(self) -> str:
        """ "pending", or the final status from :func:`classify_result`."""
        if self.pending or self.result_code is None:
            return "pending"
        return classify_result(self.result_code)[0]


class MpesaGateway(Protocol):
    """What the product asks of M-Pesa."""

    def access_token(self, force_refresh: bool = False) -> str:
        """A valid OAuth token (also the cheapest "can we reach Daraja?" check)."""
        ...

    def stk_push(
        self, *, phone: str, amount: int, account_reference: str, description: str, callback_url: str
    ) -> StkPushAccepted:
        """Prompt ``phone`` to pay ``amount`` whole shillings; never sent twice."""
        ...

    def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        """How a push ended, or that it is still pending."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...
