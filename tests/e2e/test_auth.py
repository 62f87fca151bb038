"""Access control: the optional API token, the admin token kept apart, open probes, CORS from
config, browser security headers and the upload form's CSRF check, through the real server."""
from __future__ import annotations

import re

import pytest
import requests

from tests.support.guarded_server import ADMIN, ADMIN_TOKEN, API, API_TOKENS, BOTH, TINY_PNG
from tests.support.helpers import TEST_MODELS

PROTECTED = [("POST", "/v1/models/half_plus_two:predict"), ("GET", "/v1/models"),
             ("GET", "/v1/models/half_plus_two/metadata"), ("GET", "/v1/images"),
             ("POST", "/v1/images/digits:classify"), ("POST", "/get_my_predictions"),
             ("GET", "/"), ("POST", "/"), ("GET", "/v1/no/such/route")]
OPEN = ["/healthz", "/readyz", "/monitoring/prometheus/metrics", "/openapi.json", "/static/app.js"]


def call(server, method: str, path: str, headers: dict) -> requests.Response:
    return requests.request(method, server.url + path, headers=headers, timeout=30,
                            json={"instances": [1.0]} if method == "POST" else None)


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"X-API-Key": API_TOKENS[0].upper()},
                                     {"X-API-Key": API_TOKENS[0][:-1]},
                                     {"Authorization": f"Basic {API_TOKENS[0]}"}, ADMIN],
                         ids=["none", "wrong key", "wrong bearer", "wrong case", "prefix",
                              "basic scheme", "admin token"])
@pytest.mark.parametrize("method, path", PROTECTED)
def test_the_prediction_api_needs_the_api_token(guarded_server, method, path, headers):
    reply = call(guarded_server, method, path, headers)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert "API token" in reply.json()["error"]


@pytest.mark.parametrize("headers", [{"X-API-Key": API_TOKENS[0]}, {"X-API-Key": API_TOKENS[1]},
                                     {"Authorization": f"Bearer {API_TOKENS[0]}"},
                                     {"Authorization": f"bearer {API_TOKENS[1]}"}, BOTH],
                         ids=["key", "second key (rotation)", "bearer", "lower-case scheme",
                              "admin bearer and api key"])
def test_any_configured_token_in_either_header_opens_it(guarded_server, headers):
    reply = call(guarded_server, "POST", "/v1/models/half_plus_two:predict", headers)
    assert reply.json() == {"predictions": [2.5]}


@pytest.mark.parametrize("path", OPEN)
def test_probes_metrics_description_and_static_files_stay_open(guarded_server, path):
    assert requests.get(guarded_server.url + path, timeout=30).status_code == 200


def test_the_admin_routes_take_the_admin_token_not_the_api_token(guarded_server):
    url = guarded_server.url + "/v1/admin/models"
    assert requests.get(url, headers=API, timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {API_TOKENS[0]}"},
                        timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                        timeout=30).status_code == 200


def test_a_cors_preflight_needs_no_token_and_allows_the_token_headers(guarded_server):
    reply = requests.options(guarded_server.url + "/v1/models/half_plus_two:predict", timeout=30,
                             headers={"Origin": "https://app.example",
                                      "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "x-api-key,content-type"})
    assert reply.status_code == 200
    assert reply.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")
    assert "x-api-key" in reply.headers["Access-Control-Allow-Headers"].lower()


def test_cors_origins_come_from_config(tmp_path):
    from app import create_app
    app = create_app({"model_name": "hpt", "file_system_poll_wait_seconds": 0,
                      "model_base_path": str(TEST_MODELS / "saved_model_half_plus_two_cpu"),
                      "cors_origins": "https://good.example,https://other.example"})
    try:
        client = app.test_client()
        allowed = client.get("/v1/models/hpt", headers={"Origin": "https://good.example"})
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://good.example"
        refused = client.get("/v1/models/hpt", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in refused.headers
    finally:
        app.extensions["serving"].close()


def test_html_pages_carry_the_browser_security_headers(guarded_server):
    page = requests.get(guarded_server.url + "/", headers=API, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    script = re.search(r"script-src ([^;]*)", policy).group(1)
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] in ("same-origin", "no-referrer",
                                               "strict-origin-when-cross-origin")
    # The policy forbids inline script, so the page must have none to keep working.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert not re.search(r"\son[a-z]+\s*=", page.text)


def test_json_answers_are_never_sniffed_as_html(guarded_server):
    reply = call(guarded_server, "POST", "/v1/models/<script>:predict", API)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Content-Type"].startswith("application/json")


def upload(server, cookie: str | None, field: str | None) -> requests.Response:
    cookies = {"csrf_token": cookie} if cookie is not None else {}
    data = {"model": "digits", "version": "latest"}
    if field is not None:
        data["csrf_token"] = field
    return requests.post(server.url + "/", headers=API, cookies=cookies, data=data,
                         files={"image": ("digit.png", TINY_PNG, "image/png")}, timeout=30)


def test_the_upload_form_refuses_posts_without_its_csrf_token(guarded_server):
    page = requests.get(guarded_server.url + "/", headers=API, timeout=30)
    token = page.cookies["csrf_token"]
    assert f'value="{token}"' in page.text
    assert "samesite=strict" in page.headers["Set-Cookie"].lower()
    for cookie, field in [(None, None), (None, token), (token, None), (token, "x" * len(token)),
                          ("a" * 43, "b" * 43)]:
        refused = upload(guarded_server, cookie, field)
        assert refused.status_code == 400 and "another site" in refused.text
    accepted = upload(guarded_server, token, token)
    assert accepted.status_code == 200 and "digits v1" in accepted.text
