"""TF Serving's REST API through a live gunicorn server, on the project's test models.

The models (scripts/make_test_models.py) rebuild TF Serving's own test models, and the
reference answers are TF Serving's for those; the models are served together by the session
`server` fixture (tests/conftest.py). tests/conformance/ repeats the checks on the originals.
"""
import gzip
import json

import numpy as np
import pytest
import requests

from scripts.make_demo_models import MODEL_A_WEIGHT, MODEL_B_CONSTANT

PREDICT_CASES = {
    "row list": ("half_plus_two", {"instances": [1.0, 2.0, 5.0]}, {"predictions": [2.5, 3.0, 4.5]}),
    "columnar list": ("half_plus_two", {"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]}),
    "row of lists": ("half_plus_two", {"instances": [[1.0, 2.0], [3.0, 4.0]]},
                     {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    "row of named objects": ("half_plus_two", {"instances": [{"x": 1.0}, {"x": 2.0}]},
                             {"predictions": [2.5, 3.0]}),
    "columnar named": ("half_plus_two", {"inputs": {"x": [[1.0], [2.0]]}},
                       {"outputs": [[2.5], [3.0]]}),
    "columnar scalar": ("half_plus_two", {"inputs": 5.0}, {"outputs": 4.5}),
    "columnar empty": ("half_plus_two", {"inputs": []}, {"outputs": []}),
    "integers for a float input": ("half_plus_two", {"instances": [1, 2]},
                                   {"predictions": [2.5, 3.0]}),
    "explicit signature": ("half_plus_two",
                           {"signature_name": "serving_default", "instances": [0.0]},
                           {"predictions": [2.0]}),
    "half_plus_three": ("half_plus_three", {"instances": [1.0, 2.0, 5.0]},
                        {"predictions": [3.5, 4.0, 5.5]}),
    "tf2 export": ("tf2", {"instances": [2.0]}, {"predictions": [3.0]}),
    "gpu-pinned graph on cpu": ("gpu_pinned", {"instances": [2.0, 4.0]},
                                {"predictions": [3.0, 4.0]}),
    "two_versions latest": ("two_versions", {"instances": [[1.0, 2.0], [3.0, 4.0]]},
                            {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    "matrix batch of one": ("matrix", {"instances": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]},
                            {"predictions": [[[2.5, 3.0, 3.5], [4.0, 4.5, 5.0], [5.5, 6.0, 6.5]]]}),
    "matrix columnar": ("matrix", {"inputs": [[[0, 0, 0], [0, 0, 0], [2, 2, 2]]]},
                        {"outputs": [[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]]]}),
}


def assert_answers(server, model: str, verb: str, body: dict, expected: dict) -> None:
    answer = server.post(f"/v1/models/{model}:{verb}", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == expected


@pytest.mark.parametrize("model, body, expected", PREDICT_CASES.values(), ids=PREDICT_CASES)
def test_predict_answers_like_tf_serving(server, model, body, expected):
    assert_answers(server, model, "predict", body, expected)


@pytest.mark.parametrize("body, expected", [
    ({"inputs": {"int_tensor": [[[1, 2], [3, 4], [5, 6]]], "str_tensor": ["foo", "bar"],
                 "bin_tensor": {"b64": "aGVsbG8="}}},
     {"outputs": {"int_tensor": [[[1, 2], [3, 4], [5, 6]]], "str_tensor": ["foo", "bar"],
                  "bin_tensor": "hello"}}),
    ({"instances": [{"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": "foo",
                     "bin_tensor": {"b64": "aGVsbG8="}}]},
     {"predictions": [{"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": "foo",
                       "bin_tensor": "hello"}]}),
], ids=["columnar, one b64 object for a whole input", "row"])
def test_tf_servings_json_tensor_cases_with_string_and_binary_inputs(server, body, expected):
    # TF Serving's json_tensor tests: a scalar string output comes back as a JSON string.
    answer = server.post("/v1/models/multi_input:predict", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected


def test_whole_floats_are_written_with_a_decimal_point(server):
    # TF Serving writes 3.0, never 3: clients infer the type from the token.
    answer = server.post("/v1/models/half_plus_two:predict", json={"instances": [2.0]})
    assert answer.text.replace(" ", "") == '{"predictions":[3.0]}'


def test_nan_and_infinity_are_accepted_and_written_bare(server):
    body = b'{"instances": [NaN, Infinity, -Infinity, 2.0]}'
    answer = server.post("/v1/models/half_plus_two:predict", data=body)
    assert answer.status_code == 200
    assert answer.text.replace(" ", "") == '{"predictions":[NaN,Infinity,-Infinity,3.0]}'


def test_gzip_request_bodies_are_inflated(server):
    body = gzip.compress(json.dumps({"instances": [1.0, 2.0]}).encode())
    answer = server.post("/v1/models/half_plus_two:predict", data=body,
                         headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.json() == {"predictions": [2.5, 3.0]}


CLASSIFY_REGRESS_CASES = {
    "classify": ("half_plus_two", "classify",
                 {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
                 [[["", 3.0]]]),
    "regress": ("half_plus_two", "regress",
                {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]},
                [3.0, 4.0]),
    "regress with context": ("half_plus_two", "regress",
                             {"signature_name": "regress_x_to_y2", "context": {"x": 2.0},
                              "examples": [{}, {}]}, [4.0, 4.0]),
    "example overrides context": ("half_plus_two", "regress",
                                  {"signature_name": "regress_x_to_y", "context": {"x": 1.0},
                                   "examples": [{"x": 4.0}, {}]}, [4.0, 2.5]),
    "half_plus_three named signature": ("half_plus_three", "regress",
                                        {"signature_name": "tensorflow/serving/regress",
                                         "examples": [{"x": 1.0}, {"x": 2.0}]}, [3.5, 4.0]),
    "two_versions classify": ("two_versions", "classify",
                              {"signature_name": "classify_x_to_y",
                               "examples": [{"x": 20.0}, {"x": 10.0}]},
                              [[["", 12.0]], [["", 7.0]]]),
    "two_versions regress": ("two_versions", "regress",
                             {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
                             [42.0]),
    "tf2 classify (predict method name)": ("tf2", "classify",
                                           {"signature_name": "classify_x_to_y",
                                            "examples": [{"x": 2.0}]}, [[["", 3.0]]]),
    "tf2 regress": ("tf2", "regress",
                    {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}, [3.0]),
}


@pytest.mark.parametrize("model, verb, body, results", CLASSIFY_REGRESS_CASES.values(),
                         ids=CLASSIFY_REGRESS_CASES)
def test_classify_and_regress_answer_results(server, model, verb, body, results):
    assert_answers(server, model, verb, body, {"results": results})


def tensor_info(name: str, dtype: str = "DT_FLOAT", dims=(-1, 1)) -> dict:
    """A TensorInfo as TF Serving's metadata prints it (dims None: unknown rank)."""
    shape = ({"dim": [], "unknown_rank": True} if dims is None else
             {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False})
    return {"dtype": dtype, "tensor_shape": shape, "name": name}


def signature_def(inputs: dict, outputs: dict, method: str) -> dict:
    return {"inputs": inputs, "outputs": outputs, "method_name": f"tensorflow/serving/{method}",
            "defaults": {}}


EXAMPLES = {"inputs": tensor_info("tf_example:0", "DT_STRING", None)}
HALF_PLUS_TWO_SIGNATURES = {
    "serving_default": signature_def({"x": tensor_info("x:0")}, {"y": tensor_info("y:0")},
                                     "predict"),
    "classify_x_to_y": signature_def(EXAMPLES, {"scores": tensor_info("y:0")}, "classify"),
    "regress_x_to_y": signature_def(EXAMPLES, {"outputs": tensor_info("y:0")}, "regress"),
    "regress_x_to_y2": signature_def(EXAMPLES, {"outputs": tensor_info("y2:0")}, "regress"),
    "regress_x2_to_y3": signature_def({"inputs": tensor_info("x2:0")},
                                      {"outputs": tensor_info("y3:0")}, "regress"),
}


@pytest.mark.parametrize("path, version, extra", [
    ("/v1/models/half_plus_two/metadata", "123", {}),
    ("/v1/models/two_versions/versions/123/metadata", "123", {
        "classify_x2_to_y3": signature_def({"inputs": tensor_info("x2:0")},
                                           {"scores": tensor_info("y3:0")}, "classify")}),
    ("/v1/models/two_versions/labels/canary/metadata", "124", {
        "classify_x2_to_y3": signature_def({"inputs": tensor_info("x2:0")},
                                           {"scores": tensor_info("y3:0")}, "classify")}),
], ids=["half_plus_two", "two_versions 123", "two_versions by label"])
def test_metadata_prints_the_signature_def_map_as_tf_serving_does(server, path, version, extra):
    # The byte-exact TF Serving reference files are compared in tests/conformance/.
    answer = server.get(path)
    assert answer.status_code == 200
    name = path.split("/")[3]
    assert answer.json() == {
        "model_spec": {"name": name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": {**HALF_PLUS_TWO_SIGNATURES, **extra}}}}


def test_tf2_metadata_lists_every_signature_and_the_init_op(server):
    got = server.get("/v1/models/tf2/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert set(got) == {"serving_default", "classify_x_to_y", "regress_x_to_y", "regress_x_to_y2",
                        "regress_x2_to_y3", "classify_x2_to_y3", "__saved_model_init_op"}
    serving = got["serving_default"]
    assert serving["method_name"] == "tensorflow/serving/predict"
    assert serving["inputs"] == {"x": tensor_info("serving_default_x:0", dims=(1,))}
    assert serving["outputs"]["y"]["tensor_shape"] == tensor_info("", dims=(1,))["tensor_shape"]
    assert got["classify_x_to_y"]["inputs"]["inputs"] == \
        tensor_info("classify_x_to_y_inputs:0", "DT_STRING", (-1,))
    assert got["__saved_model_init_op"]["method_name"] == ""
    assert got["__saved_model_init_op"]["outputs"]["__saved_model_init_op"]["dtype"] == \
        "DT_INVALID"


def test_status_shows_an_available_version(server):
    answer = server.get("/v1/models/half_plus_two")
    assert answer.status_code == 200
    assert answer.json() == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}}]}


def test_status_lists_versions_newest_first_and_can_pick_one(server):
    every = server.get("/v1/models/two_versions").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in every] == \
        [("124", "AVAILABLE"), ("123", "AVAILABLE")]
    one = server.get("/v1/models/two_versions/versions/123").json()["model_version_status"]
    assert [s["version"] for s in one] == ["123"]


def test_status_ignores_a_label_like_tf_serving(server):
    answer = server.get("/v1/models/two_versions/labels/stable")
    assert [s["version"] for s in answer.json()["model_version_status"]] == ["124", "123"]


@pytest.mark.parametrize("suffix, version", [
    ("", "124"), ("/versions/123", "123"), ("/versions/124", "124"),
    ("/labels/stable", "123"), ("/labels/canary", "124")])
def test_version_and_label_urls_pick_the_right_version(server, suffix, version):
    # Both versions compute the same thing; the version that answered is what tells them apart.
    metadata = server.get(f"/v1/models/two_versions{suffix}/metadata").json()
    assert metadata["model_spec"]["version"] == version
    predict = server.post(f"/v1/models/two_versions{suffix}:predict", json={"instances": [1.0]})
    assert predict.json() == {"predictions": [2.5]}
    assert predict.headers["X-Model-Version"] == version
    regress = server.post(f"/v1/models/two_versions{suffix}:regress",
                          json={"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]})
    assert (regress.json(), regress.headers["X-Model-Version"]) == ({"results": [3.0]}, version)


def test_counter_scalar_output_works_in_columnar_format_only(server):
    def add(delta):
        return server.post("/v1/models/counter:predict",
                           json={"signature_name": "incr_counter_by", "inputs": {"delta": delta}})
    first = add(2.0)
    assert first.status_code == 200
    assert isinstance(first.json()["outputs"], float)  # a rank-0 tensor is a bare number
    assert add(3.0).json()["outputs"] == first.json()["outputs"] + 3.0  # state is kept
    row = server.post("/v1/models/counter:predict",
                      json={"signature_name": "incr_counter_by", "instances": [1.0]})
    assert row.status_code == 400
    assert set(row.json()) == {"error"}


def test_a_model_that_fails_to_load_is_reported_while_others_serve(server):
    status = server.get("/v1/models/bad").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("123", "END")]
    assert status[0]["status"]["error_code"] != "OK"
    assert "saved_model.pb" in status[0]["status"]["error_message"]
    assert server.post("/v1/models/bad:predict", json={"instances": [1.0]}).status_code == 404
    serving = server.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
    assert serving.status_code == 200


def test_list_of_models_shows_every_model_with_its_versions(server):
    answer = server.get("/v1/models")
    assert answer.status_code == 200
    models = {m["name"]: m["model_version_status"] for m in answer.json()["models"]}
    assert set(models) == {"half_plus_two", "half_plus_three", "two_versions", "tf2", "counter",
                           "matrix", "gpu_pinned", "bad", "model_a", "model_b", "multi_input",
                           "every_dtype"}
    assert [s["version"] for s in models["two_versions"]] == ["124", "123"]
    assert models["bad"][0]["state"] == "END"
    assert all(s["state"] == "AVAILABLE" for name, versions in models.items() if name != "bad"
               for s in versions)


def test_names_and_labels_are_percent_decoded(server):
    assert server.post("/v1/models/half%5Fplus%5Ftwo:predict",
                       json={"instances": [0.0]}).json() == {"predictions": [2.0]}
    metadata = server.get("/v1/models/two_versions/labels/st%61ble/metadata").json()
    assert metadata["model_spec"]["version"] == "123"
    # %2F is part of the name, not a path separator.
    missing = server.get("/v1/models/a%2Fb")
    assert (missing.status_code, missing.json()) == \
        (404, {"error": "Could not find any versions of model a/b"})


def test_url_matching_ignores_case_but_model_names_and_verbs_do_not(server):
    answer = server.post("/V1/Models/half_plus_two/VERSIONS/123:predict", json={"instances": [0.0]})
    assert (answer.status_code, answer.json()) == (200, {"predictions": [2.0]})
    upper = server.post("/v1/models/HALF_PLUS_TWO:predict", json={"instances": [0.0]})
    assert upper.status_code == 404
    # TF Serving's URL regex ignores case, then it compares the verb exactly.
    verb = server.post("/v1/models/half_plus_two:PREDICT", json={"instances": [0.0]})
    assert (verb.status_code, verb.json()) == \
        (400, {"error": "Malformed request: POST /v1/models/half_plus_two:PREDICT"})
    # ... and a subresource other than exactly "metadata" is a status request.
    status = server.get("/v1/MODELS/half_plus_two/METADATA")
    assert status.status_code == 200
    assert status.json()["model_version_status"][0]["version"] == "123"


def test_cors_headers_on_api_responses(server):
    answer = server.get("/v1/models/half_plus_two", headers={"Origin": "http://example.org"})
    assert answer.headers["Access-Control-Allow-Origin"] in ("*", "http://example.org")
    error = server.get("/v1/models/nope", headers={"Origin": "http://example.org"})
    assert error.headers["Access-Control-Allow-Origin"] in ("*", "http://example.org")


def test_cors_preflight_is_answered(server):
    answer = requests.options(
        server.url + "/v1/models/half_plus_two:predict", timeout=30,
        headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "Content-Type"})
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Access-Control-Allow-Origin"] in ("*", "http://example.org")
    methods = {m.strip() for m in answer.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST"} <= methods
    assert "content-type" in answer.headers["Access-Control-Allow-Headers"].lower()


def test_demo_models_compute_with_their_checkpoint_weights(server):
    rng = np.random.default_rng(7)
    x_a = rng.integers(-4, 5, size=(2, 10, 10)).astype(np.float32)
    x_b = rng.integers(-4, 5, size=(3, 4, 4)).astype(np.float32)
    answer_a = server.post("/v1/models/model_a:predict", json={"instances": x_a.tolist()})
    answer_b = server.post("/v1/models/model_b:predict", json={"inputs": {"x": x_b.tolist()}})
    np.testing.assert_allclose(answer_a.json()["predictions"], x_a @ MODEL_A_WEIGHT,
                               rtol=1e-5, atol=1e-5)
    assert answer_b.json() == {"outputs": (x_b + MODEL_B_CONSTANT).tolist()}
