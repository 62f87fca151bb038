"""Hostile input through the real server: every malformed or oversized request is answered 4xx
with {"error": ...}, never a 500, and the very next correct request gets the correct answer."""
from __future__ import annotations

import http.client
import json

import pytest
import requests

from tests.support.guarded_server import BOTH, LIMITS
from tests.support.hostile import GOOD_ANSWER, GOOD_BODY, MALFORMED, OVER_LIMITS, PREDICT, nested


def send(server, method: str, path: str, body, headers: dict) -> requests.Response:
    return requests.request(method, server.url + path, data=body, timeout=60,
                            headers={**BOTH, **headers})


def assert_still_serving(server) -> None:
    reply = requests.post(server.url + PREDICT, json=GOOD_BODY, headers=BOTH, timeout=30)
    assert (reply.status_code, reply.json()) == (200, GOOD_ANSWER)


def assert_json_error(reply: requests.Response, status: int | None = None) -> str:
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text[:300])
    if status is not None:
        assert reply.status_code == status, reply.text[:300]
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    message = reply.json()["error"]
    assert isinstance(message, str) and message
    return message


@pytest.mark.parametrize("method, path, body, headers", [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_requests_get_a_4xx_json_error_and_the_server_keeps_serving(
        guarded_server, method, path, body, headers):
    reply = send(guarded_server, method, path, body, headers)
    if path == "/":  # the upload page answers its form with the page and the error on it
        assert 400 <= reply.status_code < 500 and reply.headers["Content-Type"].startswith(
            "text/html"), (reply.status_code, reply.text[:300])
    else:
        assert_json_error(reply)
    assert_still_serving(guarded_server)


@pytest.mark.parametrize("method, path, body, headers, status, words",
                         [case[1:] for case in OVER_LIMITS], ids=[case[0] for case in OVER_LIMITS])
def test_requests_past_a_limit_are_refused_with_the_limit_named(
        guarded_server, method, path, body, headers, status, words):
    message = assert_json_error(send(guarded_server, method, path, body, headers), status)
    assert words in message
    assert_still_serving(guarded_server)


def test_a_chunked_body_without_length_is_cut_off_at_max_request_bytes(guarded_server):
    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(LIMITS["max_request_bytes"] // 65536 + 2):
            yield b" " * 65536
    assert_json_error(send(guarded_server, "POST", PREDICT, chunks(), {}), 413)
    assert_still_serving(guarded_server)


def test_just_under_each_limit_is_served(guarded_server):
    rows = ",".join(["1.0"] * LIMITS["max_instances"])
    many = send(guarded_server, "POST", PREDICT, f'{{"instances": [{rows}]}}'.encode(), {})
    assert many.status_code == 200 and len(many.json()["predictions"]) == LIMITS["max_instances"]
    # TF runs a feed of any rank through this elementwise graph, as TF Serving does.
    deep = send(guarded_server, "POST", PREDICT,
                f'{{"instances": {nested(LIMITS["max_json_depth"])}}}'.encode(), {})
    assert deep.json() == {"predictions": json.loads(nested(LIMITS["max_json_depth"] - 1)
                                                     .replace("1.0", "[2.5]"))}


def test_nan_and_out_of_range_numbers_are_numbers_as_in_tf_serving(guarded_server):
    reply = send(guarded_server, "POST", PREDICT, b'{"instances": [NaN, 1e400, -Infinity]}', {})
    assert reply.status_code == 200
    assert reply.content == b'{"predictions":[NaN,Infinity,-Infinity]}'


@pytest.mark.parametrize("path", [
    "/v1/models/..%2F..%2Fetc%2Fpasswd:predict", "/v1/models/%2Fetc%2Fpasswd:predict",
    "/v1/models/half_plus_two%00:predict", "/v1/models/..:predict", "/v1/models/%2e%2e:predict",
    "/v1/models/half_plus_two%2F..%2F..%2Fmodel_a:predict",
    "/v1/models/half_plus_two/labels/..%2F123:predict",
    "/v1/models/half_plus_two/labels/%00:predict"])
def test_model_names_and_labels_that_look_like_paths_are_just_unknown_names(guarded_server, path):
    reply = requests.post(guarded_server.url + path, json=GOOD_BODY, headers=BOTH, timeout=30)
    message = assert_json_error(reply)
    assert "Servable not found" in message or "Unrecognized servable version label" in message


@pytest.mark.parametrize("path", [
    "/v1/images/..%2F..%2Fetc%2Fpasswd:classify", "/v1/images/digits/versions/..%2F1:classify",
    "/v1/admin/models/..%2F..%2Fetc", "/v1/admin/models/%2Fetc%2Fpasswd/default",
    "/v1/admin/models/half_plus_two/labels/..%2F..%2Fx"])
def test_other_routes_refuse_path_like_names_without_touching_files(guarded_server, path):
    method = ("GET" if path.startswith("/v1/admin/models/..")
              else "PUT" if "admin" in path else "POST")
    reply = requests.request(method, guarded_server.url + path, json={"version": 123},
                             headers={**BOTH, "Content-Type": "application/json"}, timeout=30)
    assert reply.status_code in (400, 404), reply.text


@pytest.mark.parametrize("raw_path", ["/static/../app.py", "/static/..%2Fapp.py",
                                      "/static/%2Fetc%2Fpasswd", "/static/app.js%00.py",
                                      "/static/../../../../etc/passwd", "/../app.py"])
def test_static_files_never_leave_the_static_folder(guarded_server, raw_path):
    connection = http.client.HTTPConnection("127.0.0.1", guarded_server.port, timeout=30)
    connection.request("GET", raw_path)  # sent as written: no client-side normalization
    reply = connection.getresponse()
    body = reply.read()
    connection.close()
    assert reply.status in (400, 401, 404), (reply.status, body[:200])
    assert b"create_app" not in body and b"root:" not in body


@pytest.mark.parametrize("path, headers, status", [
    ("/v1/models/" + "a" * 10_000 + ":predict", {}, 414),
    (PREDICT, {"X-Big": "a" * 10_000}, 431),
    (PREDICT, {f"X-Header-{i}": "a" for i in range(120)}, 431)],
    ids=["request line past 4094 bytes", "header past 8190 bytes", "more than 100 headers"])
def test_gunicorn_refuses_oversized_request_lines_and_headers_before_the_app(
        guarded_server, path, headers, status):
    reply = requests.post(guarded_server.url + path, json=GOOD_BODY, timeout=30,
                          headers={**BOTH, **headers})
    assert reply.status_code == status  # gunicorn's own (HTML) answer: the app never runs
    assert_still_serving(guarded_server)
