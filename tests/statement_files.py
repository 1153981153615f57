"""Build M-Pesa statement CSV files the way the M-Pesa org portal lays them out (see
tests/mpesa/statements/README.md), from the Daraja simulator's transactions plus planted lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.clock import to_nairobi

HEADER = (
    "Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,"
    "Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No."
)


@dataclass
class Line:
    receipt: str
    completed_at: datetime
    amount: str  # as printed, e.g. "1,000.00"
    phone: str = "254712345678"
    name: str = "JANE WANJIKU"

    @property
    def party(self) -> str:
        return f"{self.phone[:4]}*****{self.phone[-3:]} - {self.name}"  # masked, as statements print it


def from_simulator(transactions) -> list[Line]:
    """One statement line per paid simulator transaction."""
    return [
        Line(t.receipt, t.completed_at, f"{t.amount:,.2f}", t.phone)
        for t in transactions
        if t.receipt and t.completed_at is not None
    ]


def eat(moment: datetime) -> str:
    return to_nairobi(moment).strftime("%d-%m-%Y %H:%M:%S")


def org_portal_csv(lines: list[Line], start: datetime, end: datetime) -> bytes:
    rows = [
        "Account Holder:,KAHAWA CAFE WIFI,,,,,,,,,,,",
        "Short Code:,174379,,,,,,,,,,,",
        "Account:,Utility Account,,,,,,,,,,,",
        f"Time Period:,,From {eat(start)},,To {eat(end)},,,,,,,,",
        f"Operator:,owner,,,Date of Report:,{eat(end)},,,,,,,",
        'Opening Balance:,"0.00",Closing Balance:,"0.00",Available Balance:,"0.00",'
        "Total Paid In:,0,Total Withdrawn:,0,,,",
        HEADER,
    ]
    for line in lines:
        initiated = eat(line.completed_at - timedelta(seconds=11))
        rows.append(
            f"{line.receipt},{eat(line.completed_at)},{initiated},Pay Utility from {line.party},Completed,"
            f'"{line.amount}",,"0.00",true,Pay Utility,{line.party},,WIFI'
        )
    rows.append(  # the day's settlement to the bank: money out, never matched against payments
        f"UZ9SETTLE01,{eat(end)},{eat(end)},Utility Account to Organization Settlement Account,Completed,,"
        '"-1,000.00","0.00",true,Utility Account to Organization Settlement Account,KAHAWA CAFE WIFI,,'
    )
    return ("\r\n".join(rows) + "\r\n").encode()
