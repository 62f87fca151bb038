"""What every response and request body get, whatever blueprint serves them: browser
security headers, request bodies kept in memory and the optional API token.
"""
from __future__ import annotations

import io

from flask import Request, Response

from api import auth

# No inline script or style anywhere (templates/ load static/app.js and style.css), so the
# policy can forbid them; frame-ancestors 'none' (and X-Frame-Options for old browsers)
# stops the upload page from being framed for clickjacking.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HTML_HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin"}


class MemoryRequest(Request):
    """Uploads stay in memory (bounded by MAX_CONTENT_LENGTH): werkzeug would spool those over
    500 KB to a temporary file; nothing a client sends is ever written to disk."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return io.BytesIO()


def _headers(response: Response) -> Response:
    """nosniff on everything (JSON errors echo client text); the page headers on HTML.
    ~2 µs a response: plain header reads, no content-type parsing."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if headers.get("Content-Type", "").startswith("text/html"):
        for name, value in HTML_HEADERS.items():
            headers.setdefault(name, value)
    return response


def init_app(app, settings) -> None:
    app.request_class = MemoryRequest
    app.after_request(_headers)
    auth.init_app(app, settings)
