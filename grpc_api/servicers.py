"""TensorFlow Serving's PredictionService and ModelService over the serving core.

Each RPC is a thin translation: the request proto goes through serving/requests.py (the
same code warmup replays) to the core's verbs, and the result comes back as TF Serving's
response (responses.py). Errors leave through errors.py; every call is counted in the
Prometheus metrics (entrypoint GRPC) and, when the access log is on, logged there.
"""
from __future__ import annotations

import functools
import logging
import os
import time

import grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from grpc_api import errors, responses
from serving import metrics, requests
from serving.errors import InvalidArgument, ServingError

access_log = logging.getLogger("grpc_api.access")


def _deadline(context) -> float | None:
    """Seconds the client gave this call (its deadline), or None for the server's timeout."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > 1e7 else max(0.0, remaining)


def rpc(verb: str):
    """The call's error handling, metrics and access-log line, around one RPC method."""
    def wrap(method):
        @functools.wraps(method)
        def call(self, request, context):
            started, code, model, version = time.perf_counter(), grpc.StatusCode.OK, "", ""
            try:
                response = method(self, request, context)
                spec = getattr(response, "model_spec", None)
                model, version = (spec.name, str(spec.version.value)) if spec else ("", "")
                return response
            except ServingError as error:
                code = errors.status_code(error)
                errors.abort(context, error)
            except Exception as error:  # noqa: BLE001 - INTERNAL, logged, never a crash
                code = grpc.StatusCode.INTERNAL
                errors.abort(context, error)
            finally:
                self._account(verb, model, version, code, time.perf_counter() - started)
        return call
    return wrap


class _Servicer:
    def __init__(self, core, settings):
        self.core, self.inference, self.settings = core, core.inference, settings
        self.as_content = settings.enable_serialization_as_tensor_content

    def _account(self, verb: str, model: str, version: str, code, seconds: float) -> None:
        known = model if self.inference.knows(model) else ""
        metrics.observe_request("GRPC", known, version if known else "", verb, code.name, seconds)
        if access_log.handlers:
            access_log.info('grpc "%s" %s model=%s version=%s verb=%s latency=%.6fs pid=%d',
                            verb, code.name, model or "-", version or "-", verb, seconds,
                            os.getpid())


class PredictionService(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    @rpc("predict")
    def Predict(self, request, context):
        target, outputs = requests.predict(self.inference, self.inference.resolve, request,
                                           _deadline(context))
        return responses.predict(request, target, outputs, self.as_content)

    @rpc("classify")
    def Classify(self, request, context):
        target, result = requests.classify(self.inference, self.inference.resolve, request,
                                           _deadline(context))
        return responses.classify(request, target, result)

    @rpc("regress")
    def Regress(self, request, context):
        target, values = requests.regress(self.inference, self.inference.resolve, request,
                                          _deadline(context))
        return responses.regress(request, target, values)

    @rpc("multi_inference")
    def MultiInference(self, request, context):
        target, tasks, results = requests.multi_inference(self.inference,
                                                          self.inference.resolve, request)
        return responses.multi_inference(target, tasks, results)

    @rpc("metadata")
    def GetModelMetadata(self, request, context):
        if not request.HasField("model_spec"):
            raise InvalidArgument("Missing ModelSpec")
        if not request.metadata_field:
            raise InvalidArgument("GetModelMetadataRequest must specify at least one "
                                  "metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise InvalidArgument(f"Metadata field {field} is not supported")
        spec = requests.model_spec(request)
        version, signatures = self.inference.metadata(spec)
        return responses.metadata(spec.name, version, signatures)


class ModelService(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    @rpc("status")
    def GetModelStatus(self, request, context):
        if not request.HasField("model_spec"):
            raise InvalidArgument("Missing ModelSpec")
        spec = request.model_spec
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        return responses.status(self.inference.status(spec.name, version))

    @rpc("reload_config")
    def HandleReloadConfigRequest(self, request, context):
        """Open as in TF Serving, or guarded by --admin_token (server.py's interceptor);
        waits for the added models within the client's deadline."""
        self.core.control.reload_config(request.config, _deadline(context))
        response = model_management_pb2.ReloadConfigResponse()
        response.status.SetInParent()  # present and empty: OK, as TF Serving answers
        return response
