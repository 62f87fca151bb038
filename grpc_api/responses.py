"""The core's results as TensorFlow Serving's response messages: outputs as TensorProtos, the
model_spec echo (the name as sent, the numeric version that answered, the signature used),
classifications and regressions in request order, version status as TF Serving's enums."""
from __future__ import annotations

import numpy as np
from google.protobuf import any_pb2
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

from serving import tensor_proto
from serving.inference import CLASSIFY, Classification

_STATE = get_model_status_pb2.ModelVersionStatus.State


def model_spec(name: str, version: int, signature_name: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def predict(request, target, outputs: dict[str, np.ndarray], as_content: bool):
    signature = target.signature()
    response = predict_pb2.PredictResponse(
        model_spec=model_spec(request.model_spec.name, target.version,
                              target.spec.signature_key))
    for alias, array in outputs.items():
        response.outputs[alias].CopyFrom(tensor_proto.from_array(
            array, signature.outputs[alias].dtype, as_content))
    return response


def _classification_result(result: Classification) -> classification_pb2.ClassificationResult:
    message = classification_pb2.ClassificationResult()
    scores, classes = result.scores, result.classes
    rows, width = (scores if scores is not None else classes).shape[:2]
    for row in range(rows):
        classifications = message.classifications.add()
        for column in range(width):
            label = classifications.classes.add()
            if classes is not None:
                value = classes[row, column]
                label.label = value.decode("utf-8", "replace") if isinstance(value, bytes) \
                    else str(value)
            if scores is not None:
                label.score = float(scores[row, column])
    return message


def _regression_result(values: np.ndarray) -> regression_pb2.RegressionResult:
    message = regression_pb2.RegressionResult()
    for value in values.tolist():
        message.regressions.add(value=value)
    return message


def classify(request, target, result: Classification):
    return classification_pb2.ClassificationResponse(
        model_spec=model_spec(request.model_spec.name, target.version, target.spec.signature_key),
        result=_classification_result(result))


def regress(request, target, values: np.ndarray):
    return regression_pb2.RegressionResponse(
        model_spec=model_spec(request.model_spec.name, target.version, target.spec.signature_key),
        result=_regression_result(values))


def multi_inference(target, tasks, results):
    response = inference_pb2.MultiInferenceResponse()
    for task, result in zip(tasks, results):
        entry = response.results.add(model_spec=model_spec(
            task.model_name, target.version, task.signature_name or "serving_default"))
        if task.method_name == CLASSIFY:
            entry.classification_result.CopyFrom(_classification_result(result))
        else:
            entry.regression_result.CopyFrom(_regression_result(result))
    return response


def metadata(name: str, version: int, signatures) -> get_model_metadata_pb2.GetModelMetadataResponse:
    response = get_model_metadata_pb2.GetModelMetadataResponse(
        model_spec=model_spec(name, version, None))
    packed = any_pb2.Any()
    packed.Pack(signatures)
    response.metadata["signature_def"].CopyFrom(packed)
    return response


def status(statuses) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in statuses:
        version = response.model_version_status.add(version=entry.version,
                                                     state=_STATE.Value(entry.state))
        code = entry.error_code if entry.error_code in error_codes_pb2.Code.keys() else "UNKNOWN"
        version.status.error_code = error_codes_pb2.Code.Value(code)
        if code != "OK":
            version.status.error_message = entry.error_message
    return response
