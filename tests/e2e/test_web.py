"""The upload page and /v1/images/... through the real server (gunicorn, real HTTP)."""
import base64
import re

import numpy as np
import pytest
import requests

from tests.support.pictures import UPLOAD_LIMIT, draw, encode

pytestmark = pytest.mark.e2e

SEVEN = encode(draw(), ".png")


def rgba_seven():
    ink = draw() < 128
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[ink] = (30, 30, 200, 255)                     # blue strokes on a transparent canvas
    return rgba


def colour_seven():
    return np.repeat(draw()[:, :, None], 3, axis=2)


@pytest.mark.parametrize("name, picture, extension", [
    ("seven.png", draw, ".png"), ("seven-alpha.png", rgba_seven, ".png"),
    ("seven.jpg", colour_seven, ".jpg"), ("seven.gif", draw, ".gif"),
    ("seven.bmp", colour_seven, ".bmp"), ("seven.webp", rgba_seven, ".webp"),
    ("seven.tiff", draw, ".tiff"),
])
def test_every_supported_format_is_classified(models_server, name, picture, extension):
    answer = models_server.post("/v1/images/digits:classify",
                                files={"image": (name, encode(picture(), extension))})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model"], body["version"], body["label"]) == ("digits", 1, "7")
    assert body["probability"] == body["top_k"][0]["probability"] > 0.9
    assert [row["label"] for row in body["top_k"]][0] == "7" and len(body["top_k"]) == 5


def test_a_json_b64_body_and_a_chosen_version_and_top_k(models_server):
    answer = models_server.post("/v1/images/digits/versions/1:classify",
                                json={"b64": base64.b64encode(SEVEN).decode(), "top_k": 3})
    assert answer.status_code == 200 and answer.json()["label"] == "7"
    assert len(answer.json()["top_k"]) == 3


def test_a_raw_image_body_works_too(models_server):
    answer = models_server.post("/v1/images/digits:classify", data=SEVEN,
                                headers={"Content-Type": "image/png"})
    assert answer.json()["label"] == "7"


def test_preview_returns_the_28x28_picture_the_model_saw(models_server):
    answer = models_server.post("/v1/images/digits:classify?preview=true", files={"image": SEVEN})
    url = answer.json()["input_image"]
    assert url.startswith("data:image/png;base64,")
    from wrappers.image_io import decode
    seen = decode(base64.b64decode(url.split(",", 1)[1]), 28 * 28)
    assert seen.shape == (28, 28) and seen[0, 0] == 0 and seen.max() == 1.0


@pytest.mark.parametrize("path, files, status, message", [
    ("/v1/images/digits:classify", {"image": ("notes.txt", b"just text")}, 400, "PNG, JPEG"),
    ("/v1/images/digits:classify", {"image": ("empty.png", b"")}, 400, "empty"),
    ("/v1/images/model_a:classify", {"image": SEVEN}, 400, "not an image classifier"),
    ("/v1/images/nope:classify", {"image": SEVEN}, 404, "nope"),
    ("/v1/images/digits/versions/7:classify", {"image": SEVEN}, 404, "7"),
    ("/v1/images/digits:classify", {"other": b"x"}, 400, None),
])
def test_mistakes_get_a_clear_json_error(models_server, path, files, status, message):
    answer = models_server.post(path, files=files)
    assert answer.status_code == status
    assert message is None or message in answer.json()["error"]


def test_an_oversized_upload_is_413_json_for_api_clients(models_server):
    big = SEVEN + b"\0" * UPLOAD_LIMIT
    answer = models_server.post("/v1/images/digits:classify", files={"image": big},
                                headers={"Accept": "application/json"})
    assert answer.status_code == 413 and "too large" in answer.json()["error"]


def test_image_models_are_listed(models_server):
    assert models_server.get("/v1/images").json() == {"models": [{"name": "digits",
                                                                  "versions": [1]}]}


def page_and_token(server):
    session = requests.Session()
    page = session.get(server.url + "/")
    return session, page, re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_the_page_offers_image_models_only_and_allows_only_its_own_scripts(models_server):
    _, page, token = page_and_token(models_server)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<option value="digits"' in page.text and 'value="model_a"' not in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
    assert page.cookies["csrf_token"] == token
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert models_server.get(asset).status_code == 200


def post_form(server, session, token, payload, **data):
    form = {"csrf_token": token, "model": "digits", "version": "latest", **data}
    return session.post(server.url + "/", data=form, files={"image": ("upload.png", payload)},
                        headers={"Accept": "text/html"})


def test_the_form_works_without_javascript(models_server):
    session, _, token = page_and_token(models_server)
    page = post_form(models_server, session, token, SEVEN, version="1")
    assert page.status_code == 200
    assert re.search(r'id="label">7<', page.text)
    assert page.text.count("<rect width=") == 5                      # the top-5 bar chart
    assert re.search(r'id="upload-img" alt="[^"]+" src="data:image/png;base64,', page.text)
    assert re.search(r'id="seen-img" class="pixelated" alt="[^"]+" src="data:image/png', page.text)


def test_the_form_shows_mistakes_as_messages_in_the_page(models_server):
    session, _, token = page_and_token(models_server)
    wrong = post_form(models_server, session, token, b"GIF? no, text")
    assert wrong.status_code == 400 and "Not a picture" in wrong.text and "<html" in wrong.text
    big = post_form(models_server, session, token, SEVEN + b"\0" * UPLOAD_LIMIT)
    assert big.status_code == 413 and "too large" in big.text and "<html" in big.text


def test_the_form_refuses_a_post_without_the_cookie_token(models_server):
    session, _, token = page_and_token(models_server)
    forged = post_form(models_server, requests.Session(), token, SEVEN)   # no cookie
    assert forged.status_code == 400 and "another site" in forged.text
    assert 'id="label"><' in forged.text                               # and no result


def test_a_model_dropped_into_models_without_labels_works_with_class_indices(mixed_server):
    inked = mixed_server.post("/v1/images/scribbles:classify", files={"image": SEVEN}).json()
    blank = mixed_server.post("/v1/images/scribbles:classify",
                              files={"image": encode(np.full((50, 50), 255, np.uint8), ".png")})
    assert [row["label"] for row in inked["top_k"]] == ["0", "1"]
    assert blank.json()["label"] == "1"
    names = [m["name"] for m in mixed_server.get("/v1/images").json()["models"]]
    assert names == ["digits", "faulty", "scribbles"]
