"""inference.GRPCInferenceService (the Open Inference Protocol over gRPC, with Triton's model
config, statistics and repository RPCs) over serving/oip/service.py.

Each RPC converts the request, calls the verb, converts the answer (codec.py); grpc_api/
calls.py counts and records each call, as for TF Serving's services. Errors use
the gRPC front's table (grpc_api/errors.py) with the same messages as /v2, except that a
size limit is INVALID_ARGUMENT here, as /v2's 400. Shared memory and the log and trace
settings answer as Triton does with those features off (serving/oip/settings.py): no region,
read-only settings, UNIMPLEMENTED for a change. The repository's load and unload are admin
calls, guarded with HandleReloadConfigRequest (grpc_api/server.py).

The generated modules (inference_pb2*.py, from inference.proto by scripts/make_oip_protos.py)
register `inference.*` in protobuf's default pool, as tritonclient's do: a process imports
one or the other, so tests drive this service through tritonclient over the wire.
"""
from __future__ import annotations

import logging

import grpc
from google.protobuf import json_format

from grpc_api import calls, errors
from grpc_api.calls import rpc
from grpc_api.oip import codec, inference_pb2 as pb, inference_pb2_grpc
from serving.config.limits import LimitExceeded
from serving.errors import ServingError
from serving.oip.service import OpenInference

SERVICE = "inference.GRPCInferenceService"
log = logging.getLogger(__name__)


def _status(error: ServingError) -> grpc.StatusCode:
    """As /v2 answers 400 for both, a size limit or a failed precondition (a signature the
    model lacks) is INVALID_ARGUMENT: the protocol's clients know no other "bad request"."""
    if isinstance(error, LimitExceeded) or error.code == "FAILED_PRECONDITION":
        return grpc.StatusCode.INVALID_ARGUMENT
    return errors.status_code(error)


class InferenceService(inference_pb2_grpc.GRPCInferenceServiceServicer):
    SERVICE = SERVICE
    status = staticmethod(_status)

    def __init__(self, core, settings):
        self.oip, self.settings = OpenInference(core), settings
        self.inference = self.oip.inference

    @staticmethod
    def answered(request, response) -> tuple[str, str]:
        """(model, version that answered): an infer response names its version."""
        return (InferenceService.asked(request),
                getattr(response, "model_version", "") if response is not None else "")

    @staticmethod
    def asked(request) -> str:
        if "SharedMemory" in request.DESCRIPTOR.name:
            return ""  # its `name` is a region's, never a model's
        return getattr(request, "model_name", "") or getattr(request, "name", "")

    @rpc("live")
    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    @rpc("ready")
    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.oip.server_ready()[0])

    @rpc("ready")
    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=self.oip.model_ready(request.name, request.version))

    @rpc("metadata")
    def ServerMetadata(self, request, context):
        return json_format.ParseDict(self.oip.server_metadata(), pb.ServerMetadataResponse())

    @rpc("metadata")
    def ModelMetadata(self, request, context):
        answer = self.oip.model_metadata(request.name, request.version)
        return json_format.ParseDict(answer, pb.ModelMetadataResponse())

    @rpc("infer")
    def ModelInfer(self, request, context):
        result = self.oip.infer(request.model_name, request.model_version,
                                codec.inputs(request), codec.outputs(request),
                                codec.signature_name(request), calls.deadline(context),
                                codec.classification(request))
        return codec.response(pb.ModelInferResponse, request, result)

    def ModelStreamInfer(self, request_iterator, context):
        """Triton's streaming: each request answered in turn, an error in `error_message`
        (the stream goes on, as Triton's does); each one counted and logged as a call."""
        for request in request_iterator:
            call = calls.Call(self, "ModelStreamInfer", "infer", request, context)
            try:
                answer = self.ModelInfer.__wrapped__(self, request, context)
            except ServingError as error:
                call.done(_status(error))
                yield pb.ModelStreamInferResponse(error_message=error.message)
                continue
            except Exception:  # noqa: BLE001 - one bad message does not end the stream
                log.exception("unexpected error in a ModelStreamInfer message")
                call.done(grpc.StatusCode.INTERNAL)
                yield pb.ModelStreamInferResponse(error_message="Internal error; see the "
                                                  "server log")
                continue
            call.done(grpc.StatusCode.OK, answer)
            yield pb.ModelStreamInferResponse(infer_response=answer)

    @rpc("config")
    def ModelConfig(self, request, context):
        config = self.oip.model_config(request.name, request.version)
        return pb.ModelConfigResponse(config=json_format.ParseDict(config, pb.ModelConfig()))

    @rpc("stats")
    def ModelStatistics(self, request, context):
        answer = self.oip.statistics(request.name, request.version)
        return json_format.ParseDict(answer, pb.ModelStatisticsResponse())

    @rpc("index")
    def RepositoryIndex(self, request, context):
        answer = {"models": self.oip.repository.index(request.ready)}
        return json_format.ParseDict(answer, pb.RepositoryIndexResponse())

    @rpc("load")
    def RepositoryModelLoad(self, request, context):
        self.oip.repository.load(request.model_name, {k: codec.parameter(v) for k, v in
                                           request.parameters.items()})
        return pb.RepositoryModelLoadResponse()

    @rpc("unload")
    def RepositoryModelUnload(self, request, context):
        self.oip.repository.unload(request.model_name, {k: codec.parameter(v) for k, v in
                                             request.parameters.items()})
        return pb.RepositoryModelUnloadResponse()

    # -- Triton's APIs for what this server lacks: answered as Triton does with them off ----
    @rpc("shared_memory")
    def SystemSharedMemoryStatus(self, request, context):
        self.oip.server_settings.shared_memory_status("system", request.name)  # none, or NOT_FOUND
        return pb.SystemSharedMemoryStatusResponse()

    @rpc("shared_memory")
    def SystemSharedMemoryRegister(self, request, context):
        self.oip.server_settings.register_shared_memory("system", request.name)
        return pb.SystemSharedMemoryRegisterResponse()

    @rpc("shared_memory")
    def SystemSharedMemoryUnregister(self, request, context):
        self.oip.server_settings.unregister_shared_memory("system", request.name)
        return pb.SystemSharedMemoryUnregisterResponse()

    @rpc("shared_memory")
    def CudaSharedMemoryStatus(self, request, context):
        self.oip.server_settings.shared_memory_status("cuda", request.name)
        return pb.CudaSharedMemoryStatusResponse()

    @rpc("shared_memory")
    def CudaSharedMemoryRegister(self, request, context):
        self.oip.server_settings.register_shared_memory("cuda", request.name)
        return pb.CudaSharedMemoryRegisterResponse()

    @rpc("shared_memory")
    def CudaSharedMemoryUnregister(self, request, context):
        self.oip.server_settings.unregister_shared_memory("cuda", request.name)
        return pb.CudaSharedMemoryUnregisterResponse()

    @rpc("logging")
    def LogSettings(self, request, context):
        """A setting without a value changes nothing (tritonclient sends None so)."""
        answer = self.oip.server_settings.log_settings(
            [name for name, value in request.settings.items()
             if value.WhichOneof("parameter_choice")])
        response = pb.LogSettingsResponse()
        for name, value in answer.items():
            kind = ("bool_param" if isinstance(value, bool) else
                    "uint32_param" if isinstance(value, int) else "string_param")
            setattr(response.settings[name], kind, value)
        return response

    @rpc("trace")
    def TraceSetting(self, request, context):
        """A setting without values (Triton's "clear") changes nothing here."""
        answer = self.oip.server_settings.trace_settings(
            request.model_name, [name for name, value in request.settings.items() if value.value])
        response = pb.TraceSettingResponse()
        for name, value in answer.items():
            response.settings[name].value.extend(value if isinstance(value, list) else [value])
        return response


def add_to_server(core, settings, server) -> str:
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceService(core, settings), server)
    return SERVICE

