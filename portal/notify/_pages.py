"""The simulators' HTML pages: one table, newest first, plain HTML and inline CSS, no
JavaScript (it refreshes itself with a meta tag). Every cell is HTML-escaped here, so callers
pass raw text and cannot forget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from portal.clock import to_nairobi

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#eef2f0;color:#1b1b1b}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.2rem 0}
.hint{color:#555;font-size:.9rem;margin:.2rem 0 1rem}
.empty{color:#555;font-style:italic}
table{width:100%;border-collapse:collapse;background:#fff;font-size:.9rem}
th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ddd;vertical-align:top}
td.text{white-space:pre-wrap;word-break:break-word}
"""


def eat_time(moment: datetime) -> str:
    """``2026-03-01 12:00:05`` in East Africa Time."""
    return to_nairobi(moment).strftime("%Y-%m-%d %H:%M:%S")


def render_list_page(
    *,
    title: str,
    hint: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    empty: str,
    wide_column: int | None = None,
    refresh_seconds: int = 5,
) -> str:
    """A whole page. ``rows`` are raw text, newest first; ``wide_column`` keeps line breaks."""
    if rows:
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="text">{escape(cell)}</td>' if i == wide_column else f"<td>{escape(cell)}</td>"
                for i, cell in enumerate(row)
            )
            + "</tr>"
            for row in rows
        )
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    else:
        table = f'<p class="empty">{escape(empty)}</p>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{int(refresh_seconds)}">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
<p class="hint">{escape(hint)}</p>
{table}
</main>
</body>
</html>
"""
