"""The Open Inference Protocol (KServe v2) through the real server (gunicorn, two workers),
driven by Triton's own clients, tritonclient.http (binary and JSON) and tritonclient.grpc,
as a script written for Triton would: one server for the module, the repository test last.
Hostile bodies go through `requests`, each answered 400 before any tensor is built."""
from __future__ import annotations

import json
import os
import re
import struct
import subprocess

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from scripts.make_test_models import ECHO_DTYPES
from tests.support.helpers import ROOT, ServerProcess, copy_model, eventually, write_config
from tests.support.triton_clients import grpc, http, triton_input  # noqa: F401 (fixtures)
from tests.support.kserve_venv import kserve_python
from tests.support.perf_analyzer import perf_analyzer

ADMIN_TOKEN = "oip-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MODELS = {"half_plus_two": "saved_model_half_plus_two_cpu",
          "two_versions": "saved_model_half_plus_two_2_versions",
          "every_dtype": "every_dtype", "multi_input": "multi_input"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("oip")
    config = write_config(base / "models.config",
                          {name: copy_model(source, base / name)
                           for name, source in MODELS.items()})
    config.write_text(config.read_text().replace(
        'name: "two_versions"', 'name: "two_versions"\n    model_version_policy { all {} }'))
    process = ServerProcess(f"--model_config_file={config}", "--workers=2",
                            "--enable_batching=true", "--file_system_poll_wait_seconds=0",
                            f"--admin_token={ADMIN_TOKEN}")
    yield process
    process.stop()


def _echo_value(dtype: str) -> np.ndarray:
    if dtype == "string":
        return np.array([[b"a", "é".encode()], [b"\xff\x00", b""]], dtype=object)
    if dtype == "bool":
        return np.array([[True, False], [False, True]])
    return np.array([[1, 2], [3, 127]], dtype=dtype)


# -- health and metadata ---------------------------------------------------------------------
@pytest.mark.parametrize("client", ["http", "grpc"])
def test_a_triton_health_and_metadata_script_runs_unchanged(client, request):
    c = request.getfixturevalue(client)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("half_plus_two") and c.is_model_ready("two_versions", "124")
    assert not c.is_model_ready("two_versions", "7")
    metadata = c.get_server_metadata()
    extensions = metadata["extensions"] if client == "http" else list(metadata.extensions)
    assert {"binary_tensor_data", "model_repository", "statistics"} <= set(extensions)
    model = c.get_model_metadata("half_plus_two", as_json=True) if client == "grpc" \
        else c.get_model_metadata("half_plus_two")
    assert model["platform"] == "tensorflow_savedmodel"
    assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in model["inputs"]] \
        == [("x", "FP32", [-1, 1])]
    assert model["outputs"][0]["name"] == "y"


def test_unknown_models_and_versions_are_404_over_http_and_not_found_over_grpc(http, grpc):
    for call in (lambda: http.get_model_metadata("nope"),
                 lambda: http.get_model_metadata("two_versions", "9")):
        with pytest.raises(InferenceServerException) as raised:
            call()
        assert raised.value.status() == "404" and "unknown model" in raised.value.message()
    assert not http.is_model_ready("nope")
    with pytest.raises(InferenceServerException) as raised:
        grpc.get_model_metadata("nope")
    assert raised.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as raised:
        grpc.is_model_ready("nope")          # unknown: an error, as for metadata (our choice)
    assert raised.value.status() == "StatusCode.NOT_FOUND"
    assert grpc.is_model_ready("two_versions", "9") is False  # known model, no such version


def test_health_answers_json_for_strict_clients(server):
    assert server.get("/v2/health/live").json() == {"live": True}
    assert server.get("/v2/health/ready").json() == {"ready": True}
    assert server.get("/v2/models/half_plus_two/ready").json()["ready"] is True
    unknown = server.get("/v2/models/nope/ready")
    assert unknown.status_code == 404 and "error" in unknown.json()
    not_ready = server.get("/v2/models/two_versions/versions/7/ready")
    assert not_ready.status_code == 400 and not_ready.json()["ready"] is False


# -- inference -------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [True, False])
def test_http_infer_in_binary_and_json_modes(http, binary):
    x = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)
    outputs = [httpclient.InferRequestedOutput("y", binary_data=binary)]
    result = http.infer("half_plus_two", [triton_input(httpclient, "x", x, binary)], outputs=outputs,
                        request_id="req-1")
    np.testing.assert_allclose(result.as_numpy("y"), x / 2 + 2)
    response = result.get_response()
    assert response["id"] == "req-1" and response["model_version"] == "123"


def test_grpc_infer_answers_in_raw_output_contents(grpc):
    x = np.array([[1.0], [3.0]], dtype=np.float32)
    result = grpc.infer("half_plus_two", [triton_input(grpcclient, "x", x)], request_id="g-1")
    np.testing.assert_allclose(result.as_numpy("y"), x / 2 + 2)
    response = result.get_response()
    assert response.id == "g-1" and len(response.raw_output_contents) == 1


@pytest.mark.parametrize("dtype", ECHO_DTYPES)
@pytest.mark.parametrize("mode", ["http-binary", "http-json", "grpc"])
def test_every_datatype_round_trips(http, grpc, dtype, mode):
    value = _echo_value(dtype)
    if mode == "http-json" and dtype == "string":
        value = np.array([["a", "é"], ["b", ""]], dtype=object)  # JSON carries text only
    module, client = (grpcclient, grpc) if mode == "grpc" else (httpclient, http)
    binary = mode != "http-json"
    if dtype == "float16" and not binary:
        binary = True  # tritonclient itself refuses FP16 in JSON
    outputs = None if mode == "grpc" else [httpclient.InferRequestedOutput("y", binary)]
    result = client.infer("every_dtype", [triton_input(module, "x", value, binary)], outputs=outputs,
                          parameters={"signature_name": f"echo_{dtype}"})
    got = result.as_numpy("y")
    if dtype == "string":
        expected = [v.encode() if isinstance(v, str) else v for v in value.reshape(-1)]
        got = [v.encode() if isinstance(v, str) else v for v in got.reshape(-1)]
        assert got == expected
    else:
        assert got.dtype == value.dtype and got.tolist() == value.tolist()


def test_version_routing_and_output_selection(http, grpc, server):
    x = np.array([[2.0]], dtype=np.float32)
    for version in ("123", "124"):
        result = http.infer("two_versions", [triton_input(httpclient, "x", x)], model_version=version)
        assert result.get_response()["model_version"] == version
        assert grpc.infer("two_versions", [triton_input(grpcclient, "x", x)],
                          model_version=version).get_response().model_version == version
    newest = http.infer("two_versions", [triton_input(httpclient, "x", x)])
    assert newest.get_response()["model_version"] == "124"   # the routed default
    wrong = server.post("/v2/models/half_plus_two/infer", json={
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1]}],
        "outputs": [{"name": "nope"}]})
    assert wrong.status_code == 400 and "unexpected inference output" in wrong.json()["error"]


@pytest.mark.parametrize("client", ["http", "grpc"])
def test_class_count_answers_the_largest_values_of_each_row(client, request):
    c, module = request.getfixturevalue(client), httpclient if client == "http" else grpcclient
    x = np.array([[1, 5, 3], [9, 0, 7]], dtype=np.float32)
    result = c.infer("every_dtype", [triton_input(module, "x", x)],
                     outputs=[module.InferRequestedOutput("y", class_count=2)],
                     parameters={"signature_name": "echo_float32"})
    assert result.as_numpy("y").tolist() == [[b"5.000000:1", b"3.000000:2"],
                                             [b"9.000000:0", b"7.000000:2"]]


def test_nan_and_infinity_in_json_outputs_parse_as_strict_json(server):
    answer = server.post("/v2/models/half_plus_two/infer", data=json.dumps({
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 1],
                    "data": [1, None, 1e39]}]}))      # null is NaN; 1e39 overflows FP32
    assert answer.status_code == 200

    def refuse(constant):
        raise ValueError(constant)
    document = json.loads(answer.content, parse_constant=refuse)
    assert document["outputs"][0]["data"] == [2.5, None, None]


def test_a_body_without_content_type_is_read(server):
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1],
                                   "data": [4]}]}).encode()
    answer = requests.post(server.url + "/v2/models/half_plus_two/infer", data=body,
                           headers={"Content-Type": ""}, timeout=30)
    assert answer.status_code == 200 and answer.json()["outputs"][0]["data"] == [4.0]


def _binary(header: dict, blob: bytes, length: int | None = None):
    head = json.dumps(header).encode()
    return head + blob, {"Inference-Header-Content-Length": str(len(head) if length is None
                                                                  else length)}


def _x(shape, size=None, datatype="FP32"):
    parameters = {} if size is None else {"binary_data_size": size}
    return {"inputs": [{"name": "x", "datatype": datatype, "shape": shape,
                        "parameters": parameters}]}


HOSTILE = {
    "truncated binary": lambda: _binary(_x([2, 1], 8), b"\0" * 4),
    "header past the body": lambda: _binary(_x([1, 1], 4), b"\0" * 4, length=10 ** 6),
    "header not a number": lambda: _binary(_x([1, 1], 4), b"\0" * 4, length=-3),
    "binary without header": lambda: (json.dumps(_x([1, 1], 4)).encode() + b"\0" * 4, {}),
    "negative shape": lambda: (json.dumps({"inputs": [{"name": "x", "datatype": "FP32",
                                                        "shape": [-1, 1], "data": [1]}]}), {}),
    "huge shape": lambda: _binary(_x([2 ** 40, 2 ** 40], 4), b"\0" * 4),
    "data and binary size mismatched": lambda: _binary(_x([3, 1], 8), b"\0" * 8),
    "element count mismatch": lambda: (json.dumps({"inputs": [{
        "name": "x", "datatype": "FP32", "shape": [3, 1], "data": [1, 2]}]}), {}),
    "wrong datatype": lambda: (json.dumps({"inputs": [{
        "name": "x", "datatype": "INT32", "shape": [1, 1], "data": [1]}]}), {}),
    "strings for numbers": lambda: (json.dumps({"inputs": [{
        "name": "x", "datatype": "FP32", "shape": [1, 1], "data": ["a"]}]}), {}),
    "not json": lambda: (b"{nope", {}),
    "no inputs": lambda: (b"{}", {}),
    "unclaimed binary bytes": lambda: _binary(_x([1, 1], 4), b"\0" * 12),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_infer_bodies_are_clear_400s(server, case):
    body, headers = HOSTILE[case]()
    answer = requests.post(server.url + "/v2/models/half_plus_two/infer", data=body,
                           headers=headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_a_bytes_length_prefix_past_the_end_is_a_400(server):
    blob = struct.pack("<I", 100) + b"abc"
    body, headers = _binary({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1],
                                         "parameters": {"binary_data_size": len(blob)}}],
                             "parameters": {"signature_name": "echo_string"}}, blob)
    answer = requests.post(server.url + "/v2/models/every_dtype/infer", data=body,
                           headers=headers, timeout=30)
    assert answer.status_code == 400 and "claims 100 bytes" in answer.json()["error"]


def test_grpc_rejects_bad_inputs_with_invalid_argument(grpc):
    bad = grpcclient.InferInput("x", [2, 1], "FP32")
    bad.set_data_from_numpy(np.zeros([2, 1], np.float32))
    bad.set_shape([4, 1])  # 8 bytes of raw contents for 4 elements
    with pytest.raises(InferenceServerException) as raised:
        grpc.infer("half_plus_two", [bad])
    assert raised.value.status() == "StatusCode.INVALID_ARGUMENT"


def _raw_request(shape, raw, datatype="FP32", model="half_plus_two", **extra):
    from tritonclient.grpc import service_pb2
    request = service_pb2.ModelInferRequest(model_name=model, **extra)
    request.inputs.add(name="x", datatype=datatype, shape=shape)
    if raw is not None:
        request.raw_input_contents.append(raw)
    return request


GRPC_HOSTILE = {
    "truncated raw contents": lambda: _raw_request([2, 1], b"\0" * 4),
    "negative shape": lambda: _raw_request([-1, 1], b"\0" * 4),
    "huge shape": lambda: _raw_request([2 ** 40, 2 ** 40], b"\0" * 4),
    "bytes prefix past the end": lambda: _raw_request(
        [1], struct.pack("<I", 100) + b"abc", "BYTES", "every_dtype",
        parameters={"signature_name": _string_parameter("echo_string")}),
    "typed contents count mismatch": lambda: _typed_request([3, 1], [1.0, 2.0]),
    "no contents at all": lambda: _raw_request([1, 1], None),
}


def _string_parameter(text):
    from tritonclient.grpc import service_pb2
    return service_pb2.InferParameter(string_param=text)


def _typed_request(shape, values):
    request = _raw_request(shape, None)
    request.inputs[0].contents.fp32_contents.extend(values)
    return request


@pytest.mark.parametrize("case", sorted(GRPC_HOSTILE))
def test_hostile_grpc_requests_are_invalid_argument(server, case):
    import grpc as grpc_module
    from tritonclient.grpc import service_pb2_grpc
    with grpc_module.insecure_channel(server.grpc_target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc_module.RpcError) as raised:
            stub.ModelInfer(GRPC_HOSTILE[case](), timeout=30)
    assert raised.value.code() == grpc_module.StatusCode.INVALID_ARGUMENT, raised.value.details()


# -- model config, statistics ----------------------------------------------------------------
def test_model_config_says_how_the_model_is_served(http, grpc):
    config = http.get_model_config("half_plus_two")
    assert config["platform"] == "tensorflow_savedmodel"
    assert config["max_batch_size"] == 64 and "dynamic_batching" in config  # --enable_batching
    assert config["input"][0].items() >= {"name": "x", "data_type": "TYPE_FP32", "dims": [1],
                                          "format": "FORMAT_NONE"}.items()
    over_grpc = grpc.get_model_config("half_plus_two").config
    assert over_grpc.max_batch_size == 64 and list(over_grpc.input[0].dims) == [1]


def test_statistics_count_inferences(http, grpc):
    x = np.array([[1.0]], dtype=np.float32)
    http.infer("half_plus_two", [triton_input(httpclient, "x", x)])
    stats = http.get_inference_statistics("half_plus_two")["model_stats"]
    assert stats[0]["name"] == "half_plus_two" and stats[0]["inference_stats"]["success"]["count"]
    assert grpc.get_inference_statistics("half_plus_two").model_stats[0].version == "123"


def test_grpc_streaming_answers_each_request_in_turn(server):
    import queue
    answers: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_target)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    x = np.array([[4.0]], dtype=np.float32)
    client.async_stream_infer("half_plus_two", [triton_input(grpcclient, "x", x)], request_id="s1")
    client.async_stream_infer("nope", [triton_input(grpcclient, "x", x)])
    first, second = answers.get(timeout=30), answers.get(timeout=30)
    client.stop_stream()
    assert first[1] is None and first[0].as_numpy("y").tolist() == [[4.0]]
    assert second[0] is None and "unknown model" in str(second[1])


def test_a_model_without_serving_default_names_its_signature_or_says_which_is_missing(http,
                                                                                     server):
    with pytest.raises(InferenceServerException) as raised:
        http.get_model_metadata("every_dtype")
    assert raised.value.status() == "400" and "serving_default" in raised.value.message()
    meta = server.get("/v2/models/every_dtype", params={"signature_name": "echo_int8"})
    assert meta.json()["inputs"][0]["datatype"] == "INT8"


@pytest.mark.parametrize("mode", ["http-binary", "http-json", "grpc"])
def test_perf_analyzer_measures_the_server(server, mode):
    """Triton's own load generator (C++; tests/support/perf_analyzer.py fetches it), reading
    the model's metadata and config, then loading it at 1 and 2 concurrent requests. Around
    each window it reads the statistics extension, and aborts when its three compute counts
    differ ("Server side statistics compute counts must be the same")."""
    argv, env = perf_analyzer()
    protocol, _, tensors = mode.partition("-")
    url = server.url.split("//", 1)[1] if protocol == "http" else server.grpc_target
    formats = [f"--{side}-tensor-format={tensors}" for side in ("input", "output")] \
        if tensors else []
    run = subprocess.run([*argv, "-m", "half_plus_two", "-u", url, "-i", protocol, *formats,
                          "--concurrency-range", "1:2", "--measurement-mode=count_windows",
                          "--measurement-request-count=100", "--stability-percentage=1000"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    throughput = [float(value) for value in re.findall(
        r"Concurrency: (?:1|2), throughput: ([\d.]+) infer/sec", run.stdout)]
    assert len(throughput) == 2 and all(value > 0 for value in throughput), run.stdout[-3000:]


def test_a_request_without_a_version_follows_the_pinned_default_in_every_worker(server):
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [2.0]}]}

    def versions():  # each on a new connection: whichever worker the kernel picks
        return {server.post("/v2/models/two_versions/infer", json=body).json()["model_version"]
                for _ in range(8)}
    pin = requests.put(server.url + "/v1/admin/models/two_versions/default",
                       json={"version": 123}, headers=ADMIN, timeout=30)
    assert pin.ok, pin.text
    try:
        assert eventually(lambda: versions() == {"123"})
    finally:
        requests.delete(server.url + "/v1/admin/models/two_versions/default", headers=ADMIN,
                        timeout=30)
    assert eventually(lambda: versions() == {"124"})


def test_kserve_sdk_clients_work_unchanged(server):
    """KServe's SDK from its own virtual environment (tests/support/kserve_venv.py: its
    protobuf<7 pin clashes with ours); $KSERVE_PYTHON names another interpreter holding it."""
    python = os.environ.get("KSERVE_PYTHON") or kserve_python()
    run = subprocess.run([str(python), str(ROOT / "tests/support/kserve_client.py"),
                          server.url, server.grpc_target], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines() == ["rest False k1 [2.5, 3.0]", "rest True k1 [2.5, 3.0]",
                                       "grpc [2.5, 3.5]"]


# -- model repository (last: it unloads and loads again) -------------------------------------
def _everywhere(server, path: str, status: int) -> bool:
    """Whether `path` answers `status` eight times in a row, each on a new connection, so the
    kernel picks the worker each time (tritonclient keeps its connection, and one worker)."""
    return all(server.get(path).status_code == status for _ in range(8))


def test_repository_index_unload_and_load_reach_every_worker(http, grpc, server):
    index = http.get_model_repository_index()
    assert {"name": "half_plus_two", "version": "123", "state": "READY", "reason": ""} in index
    with pytest.raises(InferenceServerException) as raised:
        http.unload_model("half_plus_two")                  # --admin_token is set: needed
    assert raised.value.status() == "401"
    http.unload_model("half_plus_two", headers=ADMIN)
    # As on Triton, the change is in force in every worker when the call answers.
    assert _everywhere(server, "/v2/models/half_plus_two/ready", 400)
    assert server.get("/v2/health/ready").status_code == 200  # unloaded on purpose
    state = {e["name"]: e["state"] for e in grpc.get_model_repository_index(
        as_json=True)["models"]}["half_plus_two"]
    assert state == "UNAVAILABLE"
    with pytest.raises(InferenceServerException) as raised:
        http.load_model("nope", headers=ADMIN)
    assert raised.value.status() == "404"
    grpc.load_model("half_plus_two", headers={"authorization": ADMIN["Authorization"]})
    assert _everywhere(server, "/v2/models/half_plus_two/ready", 200)


def test_a_triton_model_control_script_sees_each_change_at_once(server):
    """Triton's simple_http_model_control.py: unload, not ready; load, ready and infers —
    each call on a new client, so on either worker."""
    x = np.array([[1.0]], np.float32)
    for _ in range(3):
        httpclient.InferenceServerClient(server.url.split("//", 1)[1]).unload_model(
            "half_plus_two", headers=ADMIN)
        for _ in range(4):
            client = httpclient.InferenceServerClient(server.url.split("//", 1)[1])
            assert not client.is_model_ready("half_plus_two")
        httpclient.InferenceServerClient(server.url.split("//", 1)[1]).load_model(
            "half_plus_two", headers=ADMIN)
        for _ in range(4):
            client = httpclient.InferenceServerClient(server.url.split("//", 1)[1])
            assert client.is_model_ready("half_plus_two")
            answer = client.infer("half_plus_two", [triton_input(httpclient, "x", x)])
            assert answer.as_numpy("y").tolist() == [[2.5]]
