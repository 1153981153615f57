"""`SmtpOutboxPage`: the SMTP simulator's mail as a web page, for the demo.

The SMS simulator and the webhook receiver are HTTP servers with their own outbox pages; the
SMTP simulator speaks SMTP only, so this small HTTP server beside it lists what it captured:
``GET /`` (HTML, newest first) and ``GET /api/messages`` (JSON).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request

from portal.loopback import LoopbackServer
from portal.notify._pages import eat_time, render_list_page
from portal.notify._responses import html_response, json_response, text_response
from portal.notify.smtp_simulator import SmtpSimulator


class SmtpOutboxPage(LoopbackServer):
    """Serves the messages of one :class:`SmtpSimulator` on 127.0.0.1."""

    thread_name = "smtp-outbox-page"

    def __init__(self, smtp: SmtpSimulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.smtp = smtp

    @property
    def outbox_url(self) -> str:
        return self.base_url + "/"

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.method != "GET":
            response = text_response("Method Not Allowed", 405)
        elif request.path == "/":
            response = html_response(self._page())
        elif request.path == "/api/messages":
            response = json_response(
                {
                    "messages": [
                        {
                            "at": m.at.isoformat(),
                            "from": m.mail_from,
                            "to": list(m.rcpt_tos),
                            "subject": m.subject,
                            "body": m.body,
                            "tls": m.tls_version,
                        }
                        for m in self.smtp.messages()
                    ]
                }
            )
        else:
            response = text_response("Not Found", 404)
        return response(environ, start_response)

    def _page(self) -> str:
        rows = [
            (eat_time(m.at), ", ".join(m.rcpt_tos), m.subject, m.tls_version or "no TLS", m.body)
            for m in reversed(self.smtp.messages())
        ]
        return render_list_page(
            title="Email outbox - SMTP simulator",
            hint=f"Every email the portal sent to the SMTP simulator on port {self.smtp.port}, newest first "
            "(EAT). Nothing leaves this machine. The page refreshes every 5 seconds.",
            columns=("Time (EAT)", "To", "Subject", "TLS", "Message"),
            rows=rows,
            empty="No email sent yet.",
            wide_column=4,
        )
