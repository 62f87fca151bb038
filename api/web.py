"""The upload page (/) and the JSON image endpoint (/v1/images/...) that its script calls.

The page works without JavaScript: the form posts multipart to / and gets the result page
back. A double-submit cookie guards that form against cross-site posts; it needs no shared
secret, so any number of gunicorn workers agree on it.
"""
from __future__ import annotations

import base64
import hmac
import secrets

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from api import core
from api.codec import jsonio
from api.errors import HTTP_STATUS, error_response
from serving import images
from serving.errors import InvalidArgument, ServingError

bp = Blueprint("web", __name__)

CSRF_COOKIE = "csrf_token"
ACCEPT = "image/png,image/jpeg,image/gif,image/bmp,image/webp,image/tiff"


def _settings():
    return current_app.config["SETTINGS"]


def _limit_body() -> None:
    """Image routes take less than the API's limit; base64 in JSON needs a third more."""
    request.max_content_length = _settings().max_image_bytes * 4 // 3 + 64 * 1024


def _image_bytes(data: bytes) -> bytes:
    if len(data) > _settings().max_image_bytes:
        raise RequestEntityTooLarge()
    return data


def _size(count: int) -> str:
    """A byte count for people: 100 KB, 2 MB, 10.5 MB."""
    value, unit = (count / 1048576, "MB") if count >= 1048576 else (count / 1024, "KB")
    return f"{value:.1f}".removesuffix(".0") + " " + unit


def _version(text: str | None) -> int | None:
    if not text or text == "latest":
        return None
    if not text.isdigit():
        raise InvalidArgument(f"Version must be a number, got {text!r}")
    return int(text)


def _page(status: int = 200, **context) -> Response:
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
    html = render_template("index.html", choices=core().images.choices(), accept=ACCEPT,
                           max_bytes=_settings().max_image_bytes,
                           max_size=_size(_settings().max_image_bytes), csrf_token=token, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict")
    return response


@bp.app_template_filter("knows")
def knows(choice: images.Choice) -> str:
    """What a model can tell apart, and where its labels come from, in one sentence."""
    labels = list(choice.labels)
    shown = ", ".join(labels[:12]) + (f", … ({len(labels)} in all)" if len(labels) > 12 else "")
    if choice.labels_source:
        return f"{choice.name} knows {len(labels)} labels: {shown} (from {choice.labels_source})."
    return (f"{choice.name} knows {len(labels)} classes, shown as their numbers {shown} "
            f"(it has no assets.extra/labels.txt).")


@bp.get("/")
def index():
    return _page(model=request.args.get("model"), version=request.args.get("version"))


@bp.post("/")
def upload():
    """The form without JavaScript: classify and render the same page with the result."""
    _limit_body()
    form = {"model": request.form.get("model"), "version": request.form.get("version")}
    cookie, sent = request.cookies.get(CSRF_COOKIE, ""), request.form.get("csrf_token", "")
    try:
        if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
            return _page(400, error="The form expired or came from another site; "
                                    "reload the page and try again.", **form)
        upload_file = request.files.get("image")
        if upload_file is None or not upload_file.filename:
            raise InvalidArgument("Choose a picture to upload.")
        answer = core().images.classify(form["model"] or "", _version(form["version"]),
                                        _image_bytes(upload_file.read()))
    except ServingError as error:
        return _page(HTTP_STATUS.get(error.code, 500), error=error.message, **form)
    return _page(result=answer.payload, seen_url=_data_url(answer.seen_png()),
                 upload_url=_data_url(answer.upload_png()), **form)


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@bp.get("/v1/images")
def list_image_models():
    return {"models": [{"name": c.name, "versions": list(c.versions)}
                       for c in core().images.choices()]}


@bp.post("/v1/images/<name>:classify")
@bp.post("/v1/images/<name>/versions/<version>:classify")
def classify(name: str, version: str | None = None):
    """Multipart (field `image`), a raw image body, or JSON {"b64": ...} → label and top-k."""
    _limit_body()
    top_k, preview = request.args.get("top_k", "5"), request.args.get("preview", "")
    if request.mimetype == "application/json":
        body = jsonio.loads(request.get_data())
        if not isinstance(body, dict) or not isinstance(body.get("b64"), str):
            raise InvalidArgument('Expected a JSON object {"b64": "<base64 of a picture>"}')
        data = images.picture_bytes(body["b64"])
        top_k = str(body.get("top_k", top_k))
    elif request.mimetype.startswith("multipart/"):
        upload_file = request.files.get("image") or next(iter(request.files.values()), None)
        if upload_file is None:
            raise InvalidArgument("Send the picture in a multipart field named 'image'.")
        data = upload_file.read()
    else:
        data = request.get_data()
    if not top_k.isdigit():
        raise InvalidArgument(f"top_k must be a positive integer, got {top_k!r}")
    answer = core().images.classify(name, _version(version), _image_bytes(data), int(top_k))
    payload = dict(answer.payload)
    if preview.lower() in ("1", "true", "yes"):
        payload["input_image"] = _data_url(answer.seen_png())
    return Response(jsonio.dumps(payload), mimetype="application/json")


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge):
    message = (f"The picture is too large: the limit is {_size(_settings().max_image_bytes)}. "
               "Try a smaller or more compressed picture.")
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return _page(413, error=message, model=request.args.get("model"))
    return error_response(message, 413)
