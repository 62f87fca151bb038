"""TensorFlow Serving's PredictionService and ModelService over the serving core.

Each RPC is a thin translation: the request proto goes through serving/requests.py (the
same code warmup replays) to the core's verbs, and the result comes back as TF Serving's
response (responses.py). Errors leave through errors.py; calls.py counts every call and
records it for the access log, traces and the request log.
"""
from __future__ import annotations

from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from grpc_api import errors, responses
from grpc_api.calls import deadline, rpc
from serving import requests
from serving.errors import InvalidArgument


class _Servicer:
    status = staticmethod(errors.status_code)

    def __init__(self, core, settings):
        self.core, self.inference, self.settings = core, core.inference, settings
        self.as_content = settings.enable_serialization_as_tensor_content

    @staticmethod
    def answered(request, response) -> tuple[str, str]:
        """(model, version that answered) from the response's model_spec echo."""
        spec = getattr(response, "model_spec", None)
        return (spec.name, str(spec.version.value)) if spec is not None else ("", "")

    @staticmethod
    def asked(request) -> str:
        spec = getattr(request, "model_spec", None)
        return spec.name if spec is not None else ""


class PredictionService(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    SERVICE = "tensorflow.serving.PredictionService"

    @rpc("predict")
    def Predict(self, request, context):
        target, outputs = requests.predict(self.inference, self.inference.resolve, request,
                                           deadline(context))
        return responses.predict(request, target, outputs, self.as_content)

    @rpc("classify")
    def Classify(self, request, context):
        target, result = requests.classify(self.inference, self.inference.resolve, request,
                                           deadline(context))
        return responses.classify(request, target, result)

    @rpc("regress")
    def Regress(self, request, context):
        target, values = requests.regress(self.inference, self.inference.resolve, request,
                                          deadline(context))
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
    SERVICE = "tensorflow.serving.ModelService"

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
        self.core.control.reload_config(request.config, deadline(context))
        response = model_management_pb2.ReloadConfigResponse()
        response.status.SetInParent()  # present and empty: OK, as TF Serving answers
        return response
