"""The request class of the app: Flask's, with two holes in multipart parsing closed.

Both were found by the fuzz suite (tests/security/test_fuzz.py):

- Werkzeug's multipart parser opens a buffer (a SpooledTemporaryFile) for each file part.
  When a body ends in the middle of a file part (a cut-off or hostile upload), the buffer
  never reaches ``request.files``, so ``Request.close`` cannot close it: it leaked until
  garbage collection. Flask calls ``close`` after every request; here it closes them all.
- A part whose Content-Disposition has no ``name`` became a form field named None, and
  Flask-WTF's CSRF check calls ``key.endswith(...)`` on every field name: a 500 on every
  admin form. RFC 7578 requires a name, so such parts are dropped.
"""

from __future__ import annotations

from typing import IO

from flask import Request


class PortalRequest(Request):
    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(total_content_length, content_type, filename, content_length)
        self.__dict__.setdefault("_upload_buffers", []).append(stream)
        return stream

    def _load_form_data(self) -> None:
        super()._load_form_data()
        for attribute in ("form", "files"):
            fields = self.__dict__.get(attribute)
            if fields is not None and None in fields:
                named = [(key, value) for key, value in fields.items(multi=True) if key is not None]
                self.__dict__[attribute] = self.parameter_storage_class(named)

    def close(self) -> None:
        try:
            super().close()
        finally:
            for stream in self.__dict__.pop("_upload_buffers", []):
                stream.close()
