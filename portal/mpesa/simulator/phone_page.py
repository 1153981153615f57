"""The "virtual phone": an HTML page where a person answers simulated STK prompts.

Plain HTML with inline CSS, no JavaScript; it refreshes itself every 3 seconds (30 while a
prompt waits for its PIN) and every
button is a form POST, so it works in any browser during a demo.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import quote

from portal.clock import to_nairobi
from portal.mpesa.simulator.state import TransactionSnapshot

#: Buttons on a prompt: (form value, label, outcome it forces).
ANSWERS: tuple[tuple[str, str, str], ...] = (
    ("approve", "Approve (send PIN)", "success"),
    ("cancel", "Cancel", "cancel"),
    ("wrong_pin", "Wrong PIN", "wrong_pin"),
    ("insufficient", "Insufficient funds", "insufficient"),
)
ANSWER_OUTCOMES = {value: outcome for value, _label, outcome in ANSWERS}

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#eef2f0;color:#1b1b1b}
main{max-width:34rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.2rem 0}
h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
.hint{color:#555;font-size:.9rem;margin:.2rem 0 1rem}
.prompt{background:#fff;border:2px solid #2e7d32;border-radius:12px;padding:1rem;margin:.8rem 0}
.to{font-size:.85rem;color:#555}
.ask{font-size:1.1rem;margin:.4rem 0 .8rem}
label{display:block;font-size:.9rem;margin-bottom:.2rem}
input[type=password],input[type=text]{font-size:1.1rem;padding:.4rem;width:9rem}
.buttons{display:flex;flex-wrap:wrap;gap:.4rem;margin-top:.6rem}
button{font-size:1rem;padding:.5rem .8rem;border-radius:8px;border:1px solid #888;
background:#f5f5f5;cursor:pointer}
button.approve{background:#2e7d32;color:#fff;border-color:#2e7d32}
.empty{color:#555;font-style:italic}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.85rem}
th,td{text-align:left;padding:.35rem;border-bottom:1px solid #ddd;vertical-align:top}
.ok{color:#2e7d32;font-weight:600}.bad{color:#b71c1c;font-weight:600}
"""


def render_phone_page(
    *,
    prompts: list[TransactionSnapshot],
    recent: list[TransactionSnapshot],
    payee: str,
    now: datetime,
    msisdn_filter: str = "",
    refresh_seconds: int = 3,
) -> str:
    """The whole page as a string; every value from a request is escaped.

    While a prompt waits for a PIN the page refreshes slowly, so typing is not wiped.
    """
    if prompts:
        refresh_seconds = max(refresh_seconds, 30)
    action = "/phone/answer" + (f"?msisdn={quote(msisdn_filter)}" if msisdn_filter else "")
    prompt_html = "".join(_prompt(p, payee, now, action) for p in prompts) or (
        '<p class="empty">No prompts right now. Start a payment on the portal; '
        "it will appear here within a few seconds.</p>"
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{refresh_seconds}">
<title>Virtual phone - Daraja simulator</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>Virtual phone</h1>
<p class="hint">Daraja simulator. STK prompts sent to any number show up here.
This page refreshes every {refresh_seconds} seconds.</p>
<form method="get" action="/phone">
<label for="msisdn">Show only this phone number (optional)</label>
<input type="text" id="msisdn" name="msisdn" value="{escape(msisdn_filter)}"
 inputmode="numeric" placeholder="2547...">
<button type="submit">Filter</button>
</form>
<h2>Prompts waiting for an answer</h2>
{prompt_html}
<h2>Recent results</h2>
{_results_table(recent)}
</main>
</body>
</html>
"""


def _prompt(prompt: TransactionSnapshot, payee: str, now: datetime, action: str) -> str:
    seconds_left = max(0, int((prompt.due_at - now).total_seconds()))
    buttons = "".join(_button(value, label) for value, label, _outcome in ANSWERS)
    return f"""<div class="prompt">
<div class="to">To {escape(prompt.phone)} - {escape(_eat(prompt.created_at))}</div>
<p class="ask">Pay KSh {prompt.amount} to {escape(payee)} for
 <strong>{escape(prompt.account_reference)}</strong>? Enter PIN</p>
<form method="post" action="{escape(action)}">
<input type="hidden" name="checkout_request_id" value="{escape(prompt.checkout_request_id)}">
<label for="pin-{escape(prompt.checkout_request_id)}">M-PESA PIN (any digits)</label>
<input type="password" id="pin-{escape(prompt.checkout_request_id)}" name="pin"
 inputmode="numeric" maxlength="6" autocomplete="off">
<div class="buttons">{buttons}</div>
</form>
<div class="to">Answer within about {seconds_left} s.</div>
</div>
"""


def _button(value: str, label: str) -> str:
    css = ' class="approve"' if value == "approve" else ""
    return f'<button type="submit" name="answer" value="{value}"{css}>{escape(label)}</button>'


def _results_table(recent: list[TransactionSnapshot]) -> str:
    if not recent:
        return '<p class="empty">Nothing finished yet.</p>'
    rows = "".join(
        "<tr>"
        f"<td>{escape(_eat(t.completed_at or t.created_at))}</td>"
        f"<td>{escape(t.phone)}</td>"
        f"<td>KSh {t.amount}</td>"
        f'<td class="{"ok" if t.result_code == 0 else "bad"}">'
        f"{escape(str(t.result_code))} {escape(t.result_desc or '')}</td>"
        f"<td>{escape(t.receipt or '')}</td>"
        "</tr>"
        for t in recent
    )
    return (
        "<table><thead><tr><th>Time (EAT)</th><th>Phone</th><th>Amount</th>"
        f"<th>Result</th><th>Receipt</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _eat(moment: datetime) -> str:
    return to_nairobi(moment).strftime("%H:%M:%S")
