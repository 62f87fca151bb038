"""One RPC's bookkeeping, for every service this server answers (TF Serving's and the Open
Inference Protocol's): its status from the error it raised, its count and latency in the
metrics (entrypoint GRPC) and, when something observes requests, its record in
serving/observe (the access-log line, the trace, the request log). `rpc` wraps a unary
method; a streaming method keeps one `Call` per message it answers."""
from __future__ import annotations

import functools
import time

import grpc

from grpc_api import errors
from serving import metrics, observe
from serving.errors import ServingError

PROTOBUF = "application/x-protobuf"  # what the request log says a gRPC message's body is


def deadline(context) -> float | None:
    """Seconds the client gave this call (its deadline), or None for the server's timeout."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > 1e7 else max(0.0, remaining)


class Call:
    """One request on `servicer`, which names its SERVICE and has `inference`, `status`
    (error → code), `answered` (the model and version a response names) and `asked`."""

    __slots__ = ("servicer", "verb", "request", "started", "exchange")

    def __init__(self, servicer, rpc: str, verb: str, request, context):
        self.servicer, self.verb, self.request = servicer, verb, request
        self.started = time.perf_counter()
        self.exchange = _begin(servicer, rpc, verb, request, context) if observe.active() \
            else None

    def done(self, code: grpc.StatusCode, response=None) -> None:
        model, version = self.servicer.answered(self.request, response)
        known = model if self.servicer.inference.knows(model) else ""
        metrics.observe_request("GRPC", known, version if known else "", self.verb, code.name,
                                time.perf_counter() - self.started)
        exchange = self.exchange
        if exchange is not None:
            if not exchange.model:  # the core did not resolve it (unknown model, bad spec)
                exchange.model = model or self.servicer.asked(self.request)
                exchange.version = version
            if response is not None and exchange.sampled:
                exchange.response_body, exchange.response_type = (
                    response.SerializeToString(), PROTOBUF)
            observe.finish(exchange, code.name, response.ByteSize() if response is not None
                           else 0)


def _begin(servicer, rpc: str, verb: str, request, context):
    metadata: dict | None = None

    def header(name: str):
        nonlocal metadata
        if metadata is None:
            metadata = dict(context.invocation_metadata() or ())
        return metadata.get(name)
    exchange = observe.begin("grpc", f"/{servicer.SERVICE}/{rpc}", "", context.peer(), header)
    exchange.verb, exchange.bytes_in = verb, request.ByteSize()
    if exchange.sampled:
        exchange.request_body, exchange.request_type = request.SerializeToString(), PROTOBUF
    return exchange


def rpc(verb: str):
    """A unary RPC method: errors end the call with the servicer's status for them."""
    def wrap(method):
        name = method.__name__

        @functools.wraps(method)
        def call(self, request, context):
            record = Call(self, name, verb, request, context)
            try:
                response = method(self, request, context)
            except ServingError as error:
                code = self.status(error)
                record.done(code)
                context.abort(code, errors.details(error.message))
            except Exception as error:  # noqa: BLE001 - INTERNAL, logged, never a crash
                record.done(grpc.StatusCode.INTERNAL)
                errors.abort(context, error)
            record.done(grpc.StatusCode.OK, response)
            return response
        return call
    return wrap
