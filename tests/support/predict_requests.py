"""gRPC PredictRequests the e2e tests send to one-input models (x: float [1, 1])."""
from __future__ import annotations

from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2


def one_value(model: str, value: float) -> predict_pb2.PredictRequest:
    """`x` = [[value]] for `model` (half_plus_two, the slow model of slow_model.py)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[value], tensor_shape=tensor_shape_pb2.
        TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)] * 2)))
    return request
