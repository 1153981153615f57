"""Odd multipart bodies over a real socket (found by the fuzz suite, issue 12).

- A cut-off upload: werkzeug's parser opens a buffer for a file part; when the body ends
  inside that part the buffer never reached ``request.files`` and was left for the garbage
  collector (ResourceWarning: unclosed SpooledTemporaryFile). ``PortalRequest`` closes it.
- A part without a name became a form field named None, and the CSRF check on every admin
  form crashed on it (``None.endswith``): 500. ``PortalRequest`` drops such parts.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import pytest
import requests

from portal.ledger.models import Package

BOUNDARY = "cutoffboundary"
CUT_OFF = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="phone"\r\n\r\n0712345678\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
    "Content-Type: text/csv\r\n\r\nnever,finished"
).encode()


@pytest.mark.parametrize(
    "method, path", [("POST", "/pay"), ("POST", "/reconnect"), ("POST", "/api/portal/pay"), ("PUT", "/nowhere")]
)
def test_a_cut_off_upload_leaves_no_file_open(
    base_url: str, app: Any, monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    ignored: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: ignored.append(f"{info.exc_type.__name__}: {info.object}"))
    answer = requests.request(
        method,
        base_url + path,
        data=CUT_OFF,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=10,
    )
    gc.collect()
    assert answer.status_code < 500
    assert ignored == []


NAMELESS = (
    f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nwho am I\r\n"
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="active"\r\n\r\n0\r\n--{BOUNDARY}--\r\n'
).encode()


@pytest.mark.parametrize("path", ["/admin/login", "/admin/logout", "/admin/packages/new", "/admin/packages/1/active"])
def test_a_part_without_a_name_is_dropped_not_a_500(admin_http: Any, package: Any, path: str) -> None:
    answer = admin_http.session.post(
        admin_http.base_url + path,
        data=NAMELESS,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400, answer.text[:300]  # no CSRF token in the form: refused, clearly
    assert "This form has expired" in answer.text
    assert Package.get_by_id(package.id).active is True


def test_named_parts_next_to_a_nameless_one_still_count(admin_http: Any, package: Any) -> None:
    token = admin_http.token("/admin/packages")
    body = NAMELESS.replace(
        f"--{BOUNDARY}--".encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n--{BOUNDARY}--'.encode(),
    )
    answer = admin_http.session.post(
        f"{admin_http.base_url}/admin/packages/{package.id}/active",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text[:300]
    assert Package.get_by_id(package.id).active is False
