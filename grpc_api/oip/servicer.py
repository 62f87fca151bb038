"""inference.GRPCInferenceService (the Open Inference Protocol over gRPC, with Triton's model
config, statistics and repository RPCs) over serving/oip/service.py.

Each RPC converts the request, calls the verb, converts the answer (codec.py). Errors use
the gRPC front's table (grpc_api/errors.py) with the same messages as /v2, except that a
size limit is INVALID_ARGUMENT here, as /v2's 400. The RPCs this server does not serve
(shared memory, trace and log settings) answer UNIMPLEMENTED.

The generated modules (inference_pb2*.py, from inference.proto by scripts/make_oip_protos.py)
register `inference.*` in protobuf's default pool, as tritonclient's do: a process imports
one or the other, so tests drive this service through tritonclient over the wire.
"""
from __future__ import annotations

import functools
import time

import grpc
from google.protobuf import json_format

from grpc_api import errors
from grpc_api.oip import codec, inference_pb2 as pb, inference_pb2_grpc
from serving import metrics
from serving.config.limits import LimitExceeded
from serving.config.tokens import bearer, is_valid
from serving.errors import ServingError
from serving.oip.service import OpenInference

SERVICE = "inference.GRPCInferenceService"


class _Unauthenticated(ServingError):
    code = "UNAUTHENTICATED"


def _deadline(context) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None or remaining > 1e7 else max(0.0, remaining)


def _status(error: ServingError) -> grpc.StatusCode:
    """As /v2 answers 400 for both, a size limit or a failed precondition (a signature the
    model lacks) is INVALID_ARGUMENT: the protocol's clients know no other "bad request"."""
    if isinstance(error, LimitExceeded) or error.code == "FAILED_PRECONDITION":
        return grpc.StatusCode.INVALID_ARGUMENT
    return errors.status_code(error)


def rpc(verb: str):
    """Errors → status codes, and the call counted in the metrics (entrypoint GRPC)."""
    def wrap(method):
        @functools.wraps(method)
        def call(self, request, context):
            started, code, answered = time.perf_counter(), grpc.StatusCode.OK, ""
            try:
                response = method(self, request, context)
                answered = getattr(response, "model_version", "")
                return response
            except ServingError as error:
                code = _status(error)
                context.abort(code, errors.details(error.message))
            except Exception as error:  # noqa: BLE001 - INTERNAL, logged, never a crash
                code = grpc.StatusCode.INTERNAL
                errors.abort(context, error)
            finally:
                model = getattr(request, "model_name", "") or getattr(request, "name", "")
                known = model if self.oip.inference.knows(model) else ""
                metrics.observe_request("GRPC", known, answered if known else "", verb,
                                        code.name, time.perf_counter() - started)
        return call
    return wrap


class InferenceService(inference_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, core, settings):
        self.oip, self.settings = OpenInference(core), settings

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
                                codec.signature_name(request), _deadline(context),
                                codec.classification(request))
        return codec.response(pb.ModelInferResponse, request, result)

    def ModelStreamInfer(self, request_iterator, context):
        """Triton's streaming: each request answered in turn, an error in `error_message`
        (the stream goes on, as Triton's does)."""
        for request in request_iterator:
            try:
                answer = self._infer(request, context)
            except ServingError as error:
                yield pb.ModelStreamInferResponse(error_message=error.message)
                continue
            yield pb.ModelStreamInferResponse(infer_response=answer)

    def _infer(self, request, context):
        started, code, answered = time.perf_counter(), "OK", ""
        try:
            result = self.oip.infer(request.model_name, request.model_version,
                                    codec.inputs(request), codec.outputs(request),
                                    codec.signature_name(request), _deadline(context),
                                    codec.classification(request))
            answered = result.model_version
            return codec.response(pb.ModelInferResponse, request, result)
        except ServingError as error:
            code = _status(error).name
            raise
        finally:
            known = request.model_name if self.oip.inference.knows(request.model_name) else ""
            metrics.observe_request("GRPC", known, answered if known else "", "infer", code,
                                    time.perf_counter() - started)

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
        self._require_admin(context)
        self.oip.repository.load(request.model_name, {k: codec.parameter(v) for k, v in
                                           request.parameters.items()})
        return pb.RepositoryModelLoadResponse()

    @rpc("unload")
    def RepositoryModelUnload(self, request, context):
        self._require_admin(context)
        self.oip.repository.unload(request.model_name, {k: codec.parameter(v) for k, v in
                                             request.parameters.items()})
        return pb.RepositoryModelUnloadResponse()

    def _require_admin(self, context) -> None:
        """With --admin_token set, loading and unloading need it, as over /v2."""
        token = self.settings.admin_token
        if not token:
            return
        presented = dict(context.invocation_metadata() or ())
        if not is_valid(bearer(presented.get("authorization", "")), (token.encode(),)):
            raise _Unauthenticated("Missing or wrong bearer token for the model repository: "
                                   "send 'authorization: Bearer <admin token>'.")


def add_to_server(core, settings, server) -> str:
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceService(core, settings), server)
    return SERVICE

