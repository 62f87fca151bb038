"""TF Serving's own test models answer as TF Serving answers (its reference files included).

The suite's tables (tests/test_rest_api.py) were written for the project's rebuilt models;
here they run again on the originals, so the rebuilt twins cannot drift from what they copy.
"""
import json

import pytest

from tests.conformance.conftest import PEER_MODELS
from tests.e2e.test_rest_api import CLASSIFY_REGRESS_CASES, PREDICT_CASES, assert_answers


@pytest.mark.parametrize("model, body, expected", PREDICT_CASES.values(), ids=PREDICT_CASES)
def test_predict_on_tf_servings_models(peer_server, model, body, expected):
    assert_answers(peer_server, model, "predict", body, expected)


@pytest.mark.parametrize("model, verb, body, results", CLASSIFY_REGRESS_CASES.values(),
                         ids=CLASSIFY_REGRESS_CASES)
def test_classify_and_regress_on_tf_servings_models(peer_server, model, verb, body, results):
    assert_answers(peer_server, model, verb, body, {"results": results})


METADATA_REFERENCES = {
    "half_plus_two": ("/v1/models/half_plus_two/metadata", "half_plus_two_model_metadata.json"),
    "two_versions": ("/v1/models/two_versions/versions/123/metadata",
                     "saved_model_half_plus_two_2_versions_metadata.json"),
}


@pytest.mark.parametrize("path, reference", METADATA_REFERENCES.values(), ids=METADATA_REFERENCES)
def test_metadata_equals_tf_servings_reference_file(peer_server, path, reference):
    expected = json.loads((PEER_MODELS / reference).read_text())
    answer = peer_server.get(path)
    assert answer.status_code == 200
    got = answer.json()
    assert got["model_spec"] == {**expected["model_spec"], "name": path.split("/")[3]}
    assert got["metadata"] == expected["metadata"]


def test_tf2_metadata_matches_tf_servings_reference_but_for_defaults(peer_server):
    # The reference was written for a sibling TF2 export whose serving_default records no
    # `defaults`; this one records x's default, so everything but that map is compared.
    expected = json.loads((PEER_MODELS / "saved_model_half_plus_two_tf2_2_versions_metadata.json")
                          .read_text())["metadata"]["signature_def"]["signature_def"]
    got = peer_server.get("/v1/models/tf2/metadata").json()
    got = got["metadata"]["signature_def"]["signature_def"]
    assert set(got) == set(expected)
    for key, signature in expected.items():
        assert {k: v for k, v in got[key].items() if k != "defaults"} == \
               {k: v for k, v in signature.items() if k != "defaults"}, key


def test_the_model_without_saved_model_pb_fails_while_the_others_serve(peer_server):
    status = peer_server.get("/v1/models/bad").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("123", "END")]
    assert "saved_model.pb" in status[0]["status"]["error_message"]
    assert peer_server.get("/v1/models/half_plus_two").json()["model_version_status"][0][
        "state"] == "AVAILABLE"


def test_tf_servings_monitoring_and_bad_config_files_are_read_as_tf_serving_reads_them():
    from serving.config.model_config import ConfigError, read_model_config
    from serving.config.monitoring import metrics_path
    assert metrics_path(str(PEER_MODELS / "monitoring_config.txt")) == \
        "/monitoring/prometheus/metrics"
    with pytest.raises(ConfigError, match="Error parsing text-format"):
        read_model_config(str(PEER_MODELS / "bad_model_config.txt"))
