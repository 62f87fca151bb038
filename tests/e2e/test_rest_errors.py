"""Client mistakes get TF Serving's status code and a JSON `{"error": ...}` body, never a 500."""
import shutil

import pytest
import requests

from tests.support.guarded_server import API, TINY_PNG
from tests.support.helpers import copy_model, write_config

PREDICT = "/v1/models/half_plus_two:predict"
REGRESS = "/v1/models/half_plus_two:regress"

# (method, path, raw body, status, a fragment of TF Serving's message)
ERRORS = {
    # which model / version
    "unknown model": ("POST", "/v1/models/nope:predict", b'{"instances": [1.0]}', 404,
                      "Servable not found for request: Latest(nope)"),
    "unknown model classify": ("POST", "/v1/models/nope:classify", b'{"examples": [{}]}', 404,
                               "Latest(nope)"),
    "unknown model status": ("GET", "/v1/models/nope", None, 404,
                             "Could not find any versions of model nope"),
    "unknown model metadata": ("GET", "/v1/models/nope/metadata", None, 404, "Latest(nope)"),
    "unknown version": ("POST", "/v1/models/two_versions/versions/125:predict",
                        b'{"instances": [1.0]}', 404,
                        "Servable not found for request: Specific(two_versions, 125)"),
    "unknown version status": ("GET", "/v1/models/two_versions/versions/125", None, 404,
                               "Could not find version 125 of model two_versions"),
    "unknown version metadata": ("GET", "/v1/models/two_versions/versions/125/metadata", None,
                                 404, "Specific(two_versions, 125)"),
    "unknown label": ("POST", "/v1/models/two_versions/labels/beta:predict",
                      b'{"instances": [1.0]}', 400, "Unrecognized servable version label: beta"),
    "unknown label metadata": ("GET", "/v1/models/two_versions/labels/beta/metadata", None, 400,
                               "Unrecognized servable version label: beta"),
    "failed model": ("POST", "/v1/models/bad:predict", b'{"instances": [1.0]}', 404,
                     "Latest(bad)"),
    # body
    "bad JSON": ("POST", PREDICT, b'{"instances": [1.0,', 400, "JSON Parse error"),
    "empty body": ("POST", PREDICT, b"", 400, "JSON Parse error: The document is empty"),
    "blank body": ("POST", PREDICT, b"  \n", 400, "The document is empty"),
    "non-object body": ("POST", PREDICT, b"[1.0, 2.0]", 400, "JSON Value: [1.0,2.0] Is not object"),
    "bad JSON to unknown model": ("POST", "/v1/models/nope:predict", b"{", 400, "JSON Parse error"),
    "signature_name not a string": ("POST", PREDICT, b'{"signature_name": 1, "instances": [1]}',
                                    400, "'signature_name' key must be a string value."),
    "unknown signature": ("POST", PREDICT, b'{"signature_name": "nope", "instances": [1]}', 400,
                          'Serving signature name: "nope" not found in signature def'),
    "both instances and inputs": ("POST", PREDICT, b'{"instances": [1.0], "inputs": [1.0]}', 400,
                                  "expecting only one of 'inputs' or 'instances' keys to exist"),
    "neither instances nor inputs": ("POST", PREDICT, b'{"signature_name": "serving_default"}', 400,
                                     "Missing 'inputs' or 'instances' key"),
    "instances not a list": ("POST", PREDICT, b'{"instances": 1.0}', 400,
                             "Expecting 'instances' to be an list/array"),
    "instances empty": ("POST", PREDICT, b'{"instances": []}', 400, "No values in 'instances' array"),
    "wrong input name columnar": ("POST", PREDICT, b'{"inputs": {"z": [1.0]}}', 400,
                                  "Missing named input: x in 'inputs' object."),
    "wrong input name row": ("POST", PREDICT, b'{"instances": [{"z": 1.0}]}', 400,
                             "keys must be equal to: x"),
    "objects mixed with values": ("POST", PREDICT, b'{"instances": [1.0, {"x": 1.0}]}', 400,
                                  "Expecting value/list but got object at item 1 of input list"),
    "ragged instances": ("POST", PREDICT, b'{"instances": [[1.0, 2.0], [3.0]]}', 400,
                         "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
                         "Expecting tensor size: 2 but got: 1"),
    "instances of different shapes": ("POST", PREDICT, b'{"instances": [[1.0, 2.0], [[3.0, 4.0]]]}',
                                      400, "Expecting shape [2] but got: [1,2]"),
    "ragged inputs": ("POST", PREDICT, b'{"inputs": [[1.0, 2.0], [3.0]]}', 400,
                      "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
    "leaves at different depths": ("POST", PREDICT, b'{"inputs": [1.0, [2.0]]}', 400,
                                   "Encountered list at unexpected level"),
    "string for a float": ("POST", PREDICT, b'{"instances": ["a"]}', 400,
                           'JSON Value: "a" Type: String is not of expected type: float'),
    "null for a float": ("POST", PREDICT, b'{"inputs": [1.0, null]}', 400,
                         "JSON Value: null Type: Null is not of expected type: float"),
    "bool among floats": ("POST", PREDICT, b'{"inputs": [1.0, true]}', 400,
                          "JSON Value: true Type: True is not of expected type: float"),
    "b64 to a float input": ("POST", PREDICT, b'{"inputs": {"b64": "AAAA"}}', 400,
                             'JSON Value: {"b64":"AAAA"} Type: Object is not of expected type: float'),
    "zero-input signature": ("POST", "/v1/models/counter:predict",
                             b'{"signature_name": "get_counter", "inputs": {}}', 400,
                             "Failed to get input map for signature: get_counter"),
    # classify / regress
    "missing examples": ("POST", REGRESS, b'{"signature_name": "regress_x_to_y"}', 400,
                         "When method is regress, key 'examples' is expected and was not found"),
    "examples not a list": ("POST", REGRESS, b'{"examples": {"x": 1.0}}', 400,
                            "Expecting 'examples' value to be an list/array"),
    "examples empty": ("POST", REGRESS, b'{"examples": []}', 400, "'examples' value is an empty array"),
    "example not an object": ("POST", REGRESS, b'{"examples": [[1.0]]}', 400,
                              "Example must be JSON object but got JSON Array"),
    "null feature": ("POST", REGRESS, b'{"examples": [{"x": null}]}', 400,
                     "Feature: x has element with unexpected JSON type: Null"),
    "mixed feature kinds": ("POST", REGRESS, b'{"examples": [{"x": [1.0, "a"]}]}', 400,
                            "Unexpected element type in feature: x expecting type: float"),
    "context not an object": ("POST", REGRESS, b'{"context": [1], "examples": [{"x": 1.0}]}', 400,
                              "'context' must be a JSON object"),
    "int64 feature parsed as float": ("POST", REGRESS,
                                      b'{"signature_name": "regress_x_to_y", "examples": [{"x": 2}]}',
                                      400, "Data type: int64 but expected type: float"),
    "regress on a predict signature": ("POST", REGRESS, b'{"examples": [{"x": 1.0}]}', 400,
                                       "No regression inputs found in SignatureDef: inputs {\n  key: \"x\""),  # DebugString
    "classify on a predict signature": ("POST", "/v1/models/half_plus_three:classify",
                                        b'{"examples": [{"x": 1.0}]}', 400,
                                        "No classification inputs found in SignatureDef"),
    # URLs and methods
    "version singular": ("GET", "/v1/models/half_plus_two/version/123", None, 400,
                         "Malformed request: GET /v1/models/half_plus_two/version/123"),
    "version and label": ("GET", "/v1/models/two_versions/versions/123/labels/stable", None, 400,
                          "Malformed request"),
    "non-numeric version": ("POST", "/v1/models/half_plus_two/versions/abc:predict", b"{}", 400,
                            "Malformed request"),
    "predict with GET": ("GET", PREDICT, None, 400, "Malformed request: GET " + PREDICT),
    "POST to metadata": ("POST", "/v1/models/half_plus_two/metadata", b"{}", 400,
                         "Malformed request: POST /v1/models/half_plus_two/metadata"),
    "POST to a bare model": ("POST", "/v1/models/half_plus_two", b"{}", 400, "Malformed request"),
    "unknown verb": ("POST", "/v1/models/half_plus_two:explain", b"{}", 400, "Malformed request"),
    "encoded colon stays in the name": ("POST", "/v1/models/half_plus_two%3Apredict", b"{}", 400,
                                        "Malformed request"),
    "version overflow": ("GET", "/v1/models/half_plus_two/versions/99999999999999999999", None, 400,
                         "Failed to convert version: 99999999999999999999 to numeric."),
    "metadata without a model": ("GET", "/v1/models/versions/1/metadata", None, 400,
                                 "Missing model name in request."),
    "PUT": ("PUT", PREDICT, b"{}", 400, "Malformed request: PUT " + PREDICT),
    "DELETE": ("DELETE", "/v1/models/half_plus_two", None, 400, "Malformed request"),
    "unknown path under /v1": ("GET", "/v1/", None, 404, "The requested URL was not found"),
}


@pytest.mark.parametrize("method, path, body, status, message", ERRORS.values(), ids=ERRORS)
def test_client_mistakes_get_tf_serving_status_and_json_error(server, method, path, body, status,
                                                              message):
    answer = requests.request(method, server.url + path, data=body, timeout=30)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    payload = answer.json()
    assert list(payload) == ["error"] and isinstance(payload["error"], str) and payload["error"]
    assert message in payload["error"]


def test_corrupt_gzip_body_is_a_client_error(server):
    answer = server.post(PREDICT, data=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400
    assert "gzip" in answer.json()["error"]


def test_oversized_body_is_413_in_json(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)
    answer = client.post(PREDICT, data=b'{"instances": [' + b"1.0, " * 50 + b"1.0]}")
    assert answer.status_code == 413
    assert answer.mimetype == "application/json"
    assert set(answer.get_json()) == {"error"}


def test_tensorflow_run_errors_keep_their_status_code(server):
    # The feed reaches TensorFlow, which rejects it as INVALID_ARGUMENT: 400, TF's own words.
    answer = server.post("/v1/models/counter:predict",
                         json={"signature_name": "incr_counter_by", "instances": [1.0, 2.0]})
    assert answer.status_code == 400
    assert "Cannot update variable with shape [] using a Tensor with shape [2]" in \
        answer.json()["error"]


@pytest.fixture(scope="module")
def corrupt_model_dir(tmp_path_factory):
    """half_plus_two's version 123 beside a version 124 whose saved_model.pb is garbage."""
    base = copy_model("saved_model_half_plus_two_cpu", tmp_path_factory.mktemp("corrupt") / "hpt")
    shutil.copytree(base / "00000123", base / "00000124")
    (base / "00000124" / "saved_model.pb").write_bytes(b"\x08\x96\x01 this is not a SavedModel" * 10)
    return base


def _serve(settings):
    from app import create_app
    return create_app(settings)


def _status_and_answer(app):
    client = app.test_client()
    status = client.get("/v1/models/hpt").get_json()["model_version_status"]
    return status, client.post("/v1/models/hpt:predict", json={"instances": [1.0]})


def test_corrupt_version_is_reported_and_the_good_one_serves(corrupt_model_dir, tmp_path):
    config = write_config(tmp_path / "models.config", {"hpt": corrupt_model_dir},
                          extra="    model_version_policy { all {} }\n")
    app = _serve({"model_config_file": str(config)})
    try:
        status, answer = _status_and_answer(app)
    finally:
        app.extensions["serving"].close()
    assert [(s["version"], s["state"]) for s in status] == [("124", "END"), ("123", "AVAILABLE")]
    assert status[0]["status"]["error_code"] != "OK"
    assert "saved_model.pb" in status[0]["status"]["error_message"]
    assert answer.status_code == 200
    assert (answer.get_json(), answer.headers["X-Model-Version"]) == ({"predictions": [2.5]}, "123")


def test_corrupt_newest_version_falls_back_to_the_good_one(corrupt_model_dir):
    # The scenario with the default policy (latest): the server keeps answering.
    app = _serve({"model_name": "hpt", "model_base_path": str(corrupt_model_dir)})
    try:
        status, answer = _status_and_answer(app)
    finally:
        app.extensions["serving"].close()
    states = {s["version"]: s for s in status}
    assert states["124"]["state"] == "END" and states["124"]["status"]["error_code"] != "OK"
    assert answer.status_code == 200
    assert (answer.get_json(), answer.headers["X-Model-Version"]) == ({"predictions": [2.5]}, "123")


def test_a_model_with_no_version_yet_is_listed_empty_and_answers_404(tmp_path):
    (tmp_path / "empty").mkdir()
    app = _serve({"model_name": "empty", "model_base_path": str(tmp_path / "empty")})
    client = app.test_client()
    try:
        listing = client.get("/v1/models").get_json()
        status = client.get("/v1/models/empty")
        predict = client.post("/v1/models/empty:predict", json={"instances": [1.0]})
    finally:
        app.extensions["serving"].close()
    assert listing == {"models": [{"name": "empty", "model_version_status": []}]}
    assert (status.status_code, status.get_json()) == \
        (404, {"error": "Could not find any versions of model empty"})
    assert (predict.status_code, predict.get_json()) == \
        (404, {"error": "Servable not found for request: Latest(empty)"})


# -- a picture or other binary posted to the JSON API (the guarded server serves "digits")

def post_guarded(server, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
    return requests.post(server.url + path, headers={**API, **(headers or {})}, timeout=30,
                         **kwargs)


def json_error(reply: requests.Response, status: int) -> str:
    assert (reply.status_code, reply.headers["Content-Type"]) == (status, "application/json"), \
        reply.text[:300]
    payload = reply.json()
    assert list(payload) == ["error"]
    return payload["error"]


@pytest.mark.parametrize("verb", ["predict", "classify", "regress"])
def test_a_picture_posted_to_an_image_model_s_json_api_points_at_its_image_endpoint(
        guarded_server, verb):
    reply = post_guarded(guarded_server, f"/v1/models/digits:{verb}", data=TINY_PNG,
                         headers={"Content-Type": "image/png"})
    assert json_error(reply, 400) == (
        "JSON Parse error: the request body is a PNG image, not JSON. To classify a picture, "
        "POST it to /v1/images/digits:classify (the raw bytes, or a multipart field named "
        "'image').")
    # and the advice works: the same bytes there are classified
    there = post_guarded(guarded_server, "/v1/images/digits:classify", data=TINY_PNG)
    assert there.status_code == 200 and there.json()["model"] == "digits"


def test_a_form_upload_to_another_model_names_the_image_models(guarded_server):
    reply = post_guarded(guarded_server, "/v1/models/half_plus_two/versions/123:predict",
                         files={"image": ("cat.png", TINY_PNG, "image/png")})
    assert json_error(reply, 400) == (
        "JSON Parse error: the request body is a multipart/form-data upload, not JSON. "
        "half_plus_two is not an image model; to classify a picture, POST it to "
        "/v1/images/digits:classify (image models here: digits).")


def test_a_picture_sent_to_get_my_predictions_is_told_how_to_send_it(guarded_server):
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    reply = post_guarded(guarded_server, "/get_my_predictions", data=jpeg)
    assert json_error(reply, 400) == (
        'JSON Parse error: the request body is a JPEG image, not JSON. Send it here as JSON '
        '{"image": {"b64": "<the picture in base64>"}}, or POST it to '
        "/v1/images/digits:classify (image models here: digits).")


def test_binary_that_is_no_picture_is_named_by_its_first_bad_byte(server):
    reply = server.post(PREDICT, data=b"\x00\x01\xfe\xff binary")
    assert json_error(reply, 400) == ("JSON Parse error: the request body is not JSON: it is "
                                      "not UTF-8 text (byte 0xfe at offset 2); JSON is UTF-8 text")


# -- past max_instances (100,000 by default), whichever path reads the body

PAST = 100_001
PADDING = b" " * (4 << 20)  # big enough to be counted before parsing (api/codec/rows.py)
TOO_MANY = {
    "float rows (the dense path)": ("predict", b'{"instances": [%s]}' % b",".join([b"1.0"] * PAST),
                                    "instances"),
    "float columns (the dense path)": ("predict", b'{"inputs": [%s]}' % b",".join([b"1.0"] * PAST),
                                       "instances"),
    "object rows": ("predict", b'{"instances": [%s]}' % b",".join([b'{"x": 1.0}'] * PAST),
                    "instances"),
    "named columns": ("predict", b'{"inputs": {"x": [%s]}}' % b",".join([b"1.0"] * PAST),
                      "instances"),
    "examples to classify": ("classify", b'{"examples": [%s]}' % b",".join([b'{"x": 1}'] * PAST),
                             "examples"),
    "examples to regress": ("regress", b'{"examples": [%s]}' % b",".join([b'{"x": 1}'] * PAST),
                            "examples"),
}


@pytest.mark.parametrize("padding", [b"", PADDING], ids=["small", "big"])
@pytest.mark.parametrize("verb, body, what", TOO_MANY.values(), ids=TOO_MANY)
def test_a_body_past_max_instances_is_413_with_its_count(server, verb, body, what, padding):
    reply = server.post(f"/v1/models/half_plus_two:{verb}", data=body + padding)
    assert json_error(reply, 413) == (f"The request has {PAST} {what}; at most 100000 are "
                                      f"accepted in one request (max_instances)")
