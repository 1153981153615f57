"""The SMTP simulator's mail as a web page (the demo's email outbox), over real sockets."""

from __future__ import annotations

import requests

from portal.notify import Outgoing, SmtpEmail
from portal.notify.smtp_outbox import SmtpOutboxPage
from portal.notify.smtp_simulator import SmtpSimulator


def test_the_page_lists_what_the_smtp_server_received(clock):
    with SmtpSimulator(clock=clock) as smtp, SmtpOutboxPage(smtp) as page:
        assert "No email sent yet." in requests.get(page.outbox_url, timeout=10).text
        sender = SmtpEmail(smtp.host, smtp.port, sender="wifi@venue.co.ke", security="none", clock=clock)
        sender.send(
            Outgoing(
                channel="email", to="owner@venue.co.ke", subject="<Router> down", body="main\nis down", reference="a1"
            )
        )
        html = requests.get(page.outbox_url, timeout=10).text
        assert "owner@venue.co.ke" in html and "&lt;Router&gt; down" in html and "<Router>" not in html
        listed = requests.get(page.base_url + "/api/messages", timeout=10).json()["messages"]
        assert listed[0]["subject"] == "<Router> down" and listed[0]["body"] == "main\nis down\n"
        assert requests.post(page.outbox_url, timeout=10).status_code == 405
        assert requests.get(page.base_url + "/nope", timeout=10).status_code == 404
