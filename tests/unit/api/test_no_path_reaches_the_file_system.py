"""No path from a URL or a body reaches the file system: names are looked up among what is
loaded, and uploads stay in memory. Watched with Python's audit hooks (open, listdir, scandir,
mkdir, remove, tempfile, ...) and os.stat, in the thread that serves the request."""
from __future__ import annotations

import os
import sys
import tempfile
import threading

import pytest

from tests.support.helpers import ROOT

SENTINEL = "zz_sentinel"
_watching: dict[int, list] = {}  # thread id → what it touched, while a test watches it
FILE_EVENTS = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename",
               "os.rmdir", "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate",
               "os.utime", "os.chdir", "os.walk", "os.fwalk", "glob.glob"}


def _audit(event: str, args: tuple) -> None:
    touched = _watching.get(threading.get_ident())
    if touched is not None and (event in FILE_EVENTS or event.startswith(("shutil.", "tempfile."))):
        touched.append((event, args))


sys.addaudithook(_audit)  # cannot be removed: it records only while `_watching` names a thread


@pytest.fixture
def touched(monkeypatch):
    """Every file-system call this thread makes during the test (audit events and os.stat)."""
    me, calls = threading.get_ident(), []
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if threading.get_ident() == me:
            calls.append(("os.stat", (path,)))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    _watching[me] = calls
    yield calls
    del _watching[me]


def mentioning(calls: list, text: str) -> list:
    return [call for call in calls if any(text in str(arg) for arg in call[1])]


HOSTILE_URLS = [
    ("POST", f"/v1/models/..%2F..%2F{SENTINEL}:predict"),
    ("POST", f"/v1/models/%2Ftmp%2F{SENTINEL}:predict"),
    ("POST", f"/v1/models/{SENTINEL}/versions/1:predict"),
    ("POST", f"/v1/models/half_plus_two/labels/..%2F{SENTINEL}:predict"),
    ("POST", f"/v1/models/half_plus_two/labels/{SENTINEL}:regress"),
    ("GET", f"/v1/models/..%2F{SENTINEL}"),
    ("GET", f"/v1/models/{SENTINEL}/versions/1/metadata"),
    ("GET", f"/v1/models/half_plus_two/labels/{SENTINEL}/metadata"),
    ("POST", f"/v1/images/..%2F{SENTINEL}:classify"),
    ("GET", f"/?model=..%2F{SENTINEL}&version=..%2F{SENTINEL}"),
]


@pytest.mark.parametrize("method, url", HOSTILE_URLS)
def test_names_in_urls_are_looked_up_never_opened(client, touched, method, url):
    reply = client.open(url, method=method, json={"instances": [1.0]})
    assert reply.status_code in (200, 400, 404), reply.data[:200]
    assert mentioning(touched, SENTINEL) == []


def test_names_in_bodies_are_looked_up_never_opened(client, touched):
    reply = client.post("/get_my_predictions",
                        json={"instances": {f"../{SENTINEL}": [[1.0]], f"/{SENTINEL}": [1]}})
    assert reply.status_code in (200, 400)
    reply = client.post("/v1/models/half_plus_two:predict",
                        json={"signature_name": f"../{SENTINEL}", "instances": [1.0]})
    assert reply.status_code == 400
    assert mentioning(touched, SENTINEL) == []


def multipart(fields: dict[str, str], picture: bytes, filename: str) -> tuple[bytes, str]:
    """Encoded here, not by the test client (which itself spools big bodies to a temp file)."""
    parts = [f'--b\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--b\r\nContent-Disposition: form-data; name="image"; filename="{filename}"'
                 f'\r\nContent-Type: image/png\r\n\r\n'.encode() + picture + b"\r\n--b--\r\n")
    return b"".join(parts), "multipart/form-data; boundary=b"


def test_uploads_stay_in_memory_whatever_their_name_and_size(client, touched):
    picture = b"\x89PNG\r\n\x1a\n" + os.urandom(700 * 1024)  # past werkzeug's 500 KB spool size
    name = f"../../{SENTINEL}.png"
    body, kind = multipart({}, picture, name)
    reply = client.post(f"/v1/images/{SENTINEL}:classify", data=body, content_type=kind)
    assert reply.status_code == 404
    page = client.get("/")
    token = page.headers["Set-Cookie"].split("csrf_token=", 1)[1].split(";", 1)[0]
    body, kind = multipart({"csrf_token": token, "model": SENTINEL, "version": "latest"},
                           picture, name)
    reply = client.post("/", data=body, content_type=kind)
    assert reply.status_code == 404 and b"text/html" in reply.headers["Content-Type"].encode()
    assert mentioning(touched, SENTINEL) == []
    temp_files = [call for call in touched if call[0].startswith("tempfile")
                  or (call[0] == "open" and str(call[1][0]).startswith(tempfile.gettempdir())
                      and not str(call[1][0]).startswith(str(ROOT)))]  # a checkout in /tmp
    assert temp_files == []
