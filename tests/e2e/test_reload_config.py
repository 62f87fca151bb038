"""TF Serving's ModelService.HandleReloadConfigRequest through the real two-worker server and
tensorflow-serving-api's stubs: without --admin_token it is open as in TF Serving (add, remove,
swap, labels, TF Serving's codes and words); a removed model's versions stay listed in END;
the answer comes once every worker serves the new config; nothing is written into a models
folder; with --admin_token only that token may call it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from tests.e2e.test_grpc import predict_request
from tests.support.helpers import ServerProcess, copy_model, write_config
from tests.support.observe_sinks import access_lines
from tests.support.workers import worker_pids

pytestmark = pytest.mark.e2e
Code = grpc.StatusCode
X = np.array([[1.0], [2.0]], np.float32)
END = get_model_status_pb2.ModelVersionStatus.END
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
# Each channel its own connection, so that fresh channels land on every worker (SO_REUSEPORT).
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A models folder (what the servers scan or name) apart from the config's folder."""
    root = tmp_path_factory.mktemp("reload")
    models = root / "models"
    copy_model("saved_model_half_plus_two_cpu", models / "half_plus_two")
    copy_model("saved_model_half_plus_three", models / "half_plus_three")
    copy_model("saved_model_half_plus_two_2_versions", models / "two_versions")
    copy_model("bad_half_plus_two", models / "broken")
    (root / "config").mkdir()
    config = write_config(root / "config" / "models.config",
                          {"half_plus_two": models / "half_plus_two"})
    return models, config


@pytest.fixture(scope="module")
def server(folders):
    models, config = folders
    process = ServerProcess(f"--model_config_file={config}", "--workers=2",
                            f"--access_log={config.parent / 'access.log'}",
                            "--enable_grpc_healthcheck_service")
    yield process
    process.stop()


def reload_request(models: dict, platform: str = "tensorflow", extra=None):
    request = model_management_pb2.ReloadConfigRequest()
    for name, base in models.items():
        entry = request.config.model_config_list.config.add(name=name, base_path=str(base),
                                                            model_platform=platform)
        if extra:
            extra(entry)
    return request


def reload(server, request, timeout: float = 60):
    with grpc.insecure_channel(server.grpc_target) as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            request, timeout=timeout)


def refusal(server, request, timeout: float = 60) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        reload(server, request, timeout)
    return raised.value.code(), raised.value.details()


def on_every_worker(server, call, verb: str, model: str) -> set:
    """`call(channel)` on fresh connections until the access log shows that every worker
    answered `verb` for `model`; the set of answers (one element: they all agree)."""
    def over_grpc():
        with grpc.insecure_channel(server.grpc_target, options=OWN_CONNECTION) as channel:
            return call(channel)
    return until_every_worker_answered(
        server, over_grpc, lambda line: line["protocol"] == "grpc" and line["verb"] == verb
        and line["model"] == model)


def until_every_worker_answered(server, call, wanted) -> set:
    """`call()` until the access log's lines that are `wanted` since now name every live
    worker (each JSON line names its pid); the answers."""
    log = access_log(server)
    start = log.stat().st_size if log.exists() else 0
    answers, workers, served = set(), {str(pid) for pid in worker_pids(server)}, set()
    for _ in range(80):
        answers.add(call())
        with open(log, "rb") as handle:
            handle.seek(start)
            served = {str(line["pid"]) for line in
                      access_lines(handle.read().decode(errors="replace")) if wanted(line)}
        if served >= workers:
            return answers
    raise AssertionError(f"only workers {served} of {workers} answered")


def access_log(server) -> Path:
    (flag,) = [a for a in server.process.args if a.startswith("--access_log=")]
    return Path(flag.split("=", 1)[1])


def predicted(model: str, label: str | None = None):
    def call(channel):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            reply = stub.Predict(predict_request(model, {"x": X}, label=label), timeout=30)
        except grpc.RpcError as error:
            return error.code(), error.details()
        return reply.model_spec.version.value, tuple(tf.make_ndarray(reply.outputs["y"]).ravel())
    return call


def statuses(model: str):
    def call(channel):
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        try:
            reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
                request, timeout=30)
        except grpc.RpcError as error:
            return error.code(), error.details()
        return tuple((s.version, s.state, s.status.error_code) for s in
                     reply.model_version_status)
    return call


# -- open as in TF Serving: add, remove, swap --------------------------------------------------
def test_the_start_log_says_the_reload_is_open_and_the_admin_routes_stay_off(server):
    assert "HandleReloadConfigRequest open as in TF Serving" in server.log_path.read_text()
    assert server.get("/v1/admin/models").status_code == 403


def test_a_reload_adds_a_model_that_every_worker_serves_when_it_answers(server, folders):
    models, _ = folders
    reply = reload(server, reload_request({"half_plus_two": models / "half_plus_two",
                                           "half_plus_three": models / "half_plus_three"}))
    assert reply.HasField("status") and (reply.status.error_code, reply.status.error_message) \
        == (0, "")
    # at once, on both workers: the reload answered after each worker had applied it
    assert on_every_worker(server, predicted("half_plus_three"), "predict",
                           "half_plus_three") == {(123, (3.5, 4.0))}


def test_a_removed_model_lists_its_versions_in_end_and_predict_is_not_found(server, folders):
    models, _ = folders
    reload(server, reload_request({"half_plus_two": models / "half_plus_two",
                                   "half_plus_three": models / "half_plus_three"}))
    reload(server, reload_request({"half_plus_two": models / "half_plus_two"}))
    assert on_every_worker(server, statuses("half_plus_three"), "status",
                           "half_plus_three") == {((123, END, 0),)}
    assert on_every_worker(server, predicted("half_plus_three"), "predict",
                           "half_plus_three") == {
        (Code.NOT_FOUND, "Servable not found for request: Latest(half_plus_three)")}
    rest = until_every_worker_answered(
        server, lambda: server.get("/v1/models/half_plus_three").text,
        lambda line: (line["method"], line["target"]) == ("GET", "/v1/models/half_plus_three"))
    assert [json.loads(text)["model_version_status"] for text in rest] == [[
        {"version": "123", "state": "END", "status": {"error_code": "OK", "error_message": ""}}]]
    time.sleep(1.5)  # the health thread's tick
    # NOT_SERVING, or NOT_FOUND on a worker whose health never saw the short-lived model
    assert health_of(server, "model/half_plus_three") <= {NOT_SERVING, Code.NOT_FOUND}
    assert health_of(server, "model/half_plus_two") == {SERVING}


def health_of(server, service: str) -> set:
    """grpc.health.v1's answers for `service` over 8 fresh connections (both workers)."""
    answers = set()
    for _ in range(8):
        with grpc.insecure_channel(server.grpc_target, options=OWN_CONNECTION) as channel:
            try:
                answers.add(health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=30).status)
            except grpc.RpcError as error:
                answers.add(error.code())
    return answers


def test_a_changed_base_path_is_followed_as_tf_serving_follows_it(server, folders):
    models, _ = folders
    reload(server, reload_request({"m": models / "half_plus_two"}))
    # the same version number under the new path is already loaded: it stays (TF Serving)
    reload(server, reload_request({"m": models / "half_plus_three"}))
    assert on_every_worker(server, predicted("m"), "predict", "m") == {(123, (2.5, 3.0))}
    # a newer version under the new path is loaded, the old one unloaded
    reload(server, reload_request({"m": models / "two_versions"}))
    assert on_every_worker(server, predicted("m"), "predict", "m") == {(124, (2.5, 3.0))}
    assert on_every_worker(server, statuses("m"), "status", "m") == {
        ((124, AVAILABLE, 0), (123, END, 0))}


# -- labels --------------------------------------------------------------------------------------
def all_versions(entry):
    entry.model_version_policy.all.SetInParent()


def test_labels_in_a_reloaded_config_name_available_versions_on_every_worker(server, folders):
    models, _ = folders
    base = {"two_versions": models / "two_versions"}
    reload(server, reload_request(base, extra=all_versions))

    def labelled(entry):
        all_versions(entry)
        entry.version_labels.update({"stable": 123, "canary": 124})
    reload(server, reload_request(base, extra=labelled))
    assert on_every_worker(server, predicted("two_versions", label="canary"), "predict",
                           "two_versions") == {(124, (2.5, 3.0))}

    def unavailable(entry):
        all_versions(entry)
        entry.version_labels.update({"stable": 123, "next": 125})
    assert refusal(server, reload_request(base, extra=unavailable)) == (
        Code.FAILED_PRECONDITION, "Request to assign label to version 125 of model "
        "two_versions, which is not currently available for inference")
    assert on_every_worker(server, predicted("two_versions", label="canary"), "predict",
                           "two_versions") == {(124, (2.5, 3.0))}  # the old labels stay


# -- TF Serving's checks -------------------------------------------------------------------------
def custom_config():
    request = model_management_pb2.ReloadConfigRequest()
    request.config.custom_model_config.Pack(model_management_pb2.ReloadConfigRequest())
    return request


def both_platform_fields(entry):
    entry.model_type = 1


@pytest.mark.parametrize("request_for, code, message", [
    (lambda m: model_management_pb2.ReloadConfigRequest(), Code.INVALID_ARGUMENT,
     "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList "
     "is currently supported"),
    (lambda m: custom_config(), Code.INVALID_ARGUMENT,
     "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList "
     "is currently supported"),
    (lambda m: reload_request({"a": m / "half_plus_two", "b": m / "half_plus_three"},
                              extra=lambda entry: setattr(entry, "name", "a")),
     Code.INVALID_ARGUMENT,
     "Illegal to list model a multiple times in config list"),
    (lambda m: reload_request({"a": "half_plus_two"}), Code.INVALID_ARGUMENT,
     "Expected model a to have an absolute path or URI; got base_path()=half_plus_two"),
    (lambda m: reload_request({"a": ""}), Code.INVALID_ARGUMENT,
     "Expected model a to have an absolute path or URI; got base_path()="),
    (lambda m: reload_request({"half_plus_two": m / "half_plus_two"}, "tensorflow_lite"),
     Code.INVALID_ARGUMENT, "Illegal to change a model's platform. For model half_plus_two "
     "platform was tensorflow and new platform requested is tensorflow_lite"),
    (lambda m: reload_request({"a": m / "half_plus_two"}, ""), Code.INVALID_ARGUMENT,
     "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
     "ModelServerConfig::model_platform, model name is a"),
    (lambda m: reload_request({"a": m / "half_plus_two"}, extra=both_platform_fields),
     Code.INVALID_ARGUMENT, "Illegal setting both ModelServerConfig::model_type (deprecated) "
     "and ModelServerConfig::model_platform, model name is a"),
    (lambda m: reload_request({"a": m / "half_plus_two"}, "pytorch"), Code.INVALID_ARGUMENT,
     "Model a requests unsupported platform pytorch"),
], ids=["no config", "custom config", "duplicate name", "relative path", "empty base path",
        "platform change", "no platform", "both platform fields", "unsupported platform"])
def test_a_config_tf_serving_refuses_is_refused_with_its_code_and_words_and_changes_nothing(
        server, folders, request_for, code, message):
    models, _ = folders
    reload(server, reload_request({"half_plus_two": models / "half_plus_two"}))
    assert refusal(server, request_for(models)) == (code, message)
    assert on_every_worker(server, predicted("half_plus_two"), "predict",
                           "half_plus_two") == {(123, (2.5, 3.0))}
    with grpc.insecure_channel(server.grpc_target) as channel:
        assert predicted("a")(channel)[0] == Code.NOT_FOUND


def test_an_added_model_that_does_not_load_is_unknown_with_tf_servings_words(server, folders):
    models, _ = folders
    code, message = refusal(server, reload_request({"broken": models / "broken"}))
    assert code == Code.UNKNOWN
    assert message.startswith("1 model(s) did not become available: {{{name: broken version: "
                              "123} due to error: NOT_FOUND: ")  # TF Serving's three braces
    ghost = models.parent / "nowhere"
    assert refusal(server, reload_request({"ghost": ghost}), timeout=3) == (
        Code.UNKNOWN, f"1 model(s) did not become available: {{{{{{name: ghost version: 0}} due "
                      f"to error: NOT_FOUND: Could not find base path {ghost} for servable "
                      f"ghost}}, }}")


def test_the_reloaded_config_is_kept_beside_the_config_and_never_in_the_models_folder(
        server, folders):
    models, config = folders
    reload(server, reload_request({"half_plus_two": models / "half_plus_two"}))
    assert sorted(p.name for p in models.iterdir()) == [
        "broken", "half_plus_three", "half_plus_two", "two_versions"]
    assert not any(p.is_file() for p in models.rglob("*.config"))
    assert 'name: "half_plus_two"' in config.with_name("models.config.reloaded").read_text()


# -- with --admin_token --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded(folders, tmp_path_factory):
    """Serving a models folder (no config file), the reload guarded by the admin token."""
    models, _ = folders
    log = tmp_path_factory.mktemp("guarded") / "access.log"
    process = ServerProcess(f"--models_dir={models}", "--workers=2", "--admin_token=admin-1",
                            "--allow_version_labels_for_unavailable_models",
                            f"--access_log={log}")
    yield process
    process.stop()


def test_with_an_admin_token_only_that_token_may_reload(guarded, folders):
    models, _ = folders
    assert "HandleReloadConfigRequest guarded by the admin token" in \
        guarded.log_path.read_text()
    request = reload_request({"half_plus_two": models / "half_plus_two"})
    with grpc.insecure_channel(guarded.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.HandleReloadConfigRequest(request, timeout=30, metadata=metadata)
            assert refused.value.code() == Code.UNAUTHENTICATED
        reply = stub.HandleReloadConfigRequest(
            request, timeout=60, metadata=(("authorization", "Bearer admin-1"),))
    assert reply.status.error_code == 0
    assert on_every_worker(guarded, statuses("half_plus_three"), "status",
                           "half_plus_three") == {((123, END, 0),)}
    assert sorted(p.name for p in models.iterdir()) == [  # reloaded_models.config is not here
        "broken", "half_plus_three", "half_plus_two", "two_versions"]


def test_allowed_a_new_label_may_name_an_unavailable_version_but_not_move_there(guarded,
                                                                                 folders):
    models, _ = folders
    admin = (("authorization", "Bearer admin-1"),)
    base = {"two_versions": models / "two_versions"}

    def labels(**named):
        def extra(entry):
            entry.version_labels.update(named)
        return reload_request(base, extra=extra)
    with grpc.insecure_channel(guarded.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        stub.HandleReloadConfigRequest(labels(stable=124, next=125), timeout=60, metadata=admin)
        with pytest.raises(grpc.RpcError) as refused:
            stub.HandleReloadConfigRequest(labels(stable=126), timeout=60, metadata=admin)
    assert (refused.value.code(), refused.value.details()) == (
        Code.FAILED_PRECONDITION, "Request to assign label to version 126 of model "
        "two_versions, which is not currently available for inference")
    assert on_every_worker(guarded, predicted("two_versions", label="next"), "predict",
                           "two_versions") == {
        (Code.NOT_FOUND, "Servable not found for request: Specific(two_versions, 125)")}
