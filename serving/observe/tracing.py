"""OpenTelemetry traces, configured by the standard OTEL_* variables: a server span per
request (its parent the client's W3C traceparent), child spans for decode (arrival to the
batch queue), queue wait and encode (batch end to answer), and one span per batch run,
linked to every request that rode in it. The SDK is imported only when tracing is on, and
only in a worker (its export thread must not exist before gunicorn forks)."""
from __future__ import annotations

import os
from typing import Mapping

SERVICE = "model-server"


def wanted(settings, environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(settings.tracing or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def start(settings, environ: Mapping[str, str] = os.environ) -> "Tracer":
    """A tracer provider for this worker: OTLP over HTTP (the endpoint, headers, timeout and
    batching from OTEL_EXPORTER_OTLP_* and OTEL_BSP_*), the sampler from OTEL_TRACES_SAMPLER,
    the resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {"process.pid": os.getpid()}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = SERVICE
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracer(provider)


class Tracer:
    def __init__(self, provider):
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        self.provider, self._trace = provider, trace
        self._tracer = provider.get_tracer("serving.observe")
        self._propagator = TraceContextTextMapPropagator()
        self._server, self._internal = trace.SpanKind.SERVER, trace.SpanKind.INTERNAL

    def request_span(self, exchange, header):
        """The request's span, child of the client's traceparent when it sent a valid one;
        None when the sampler drops it (its children would be dropped too: no cost)."""
        carrier = {name: value for name in ("traceparent", "tracestate")
                   if (value := header(name))}
        parent = self._propagator.extract(carrier) if carrier else None
        if exchange.protocol == "grpc":
            attributes = {"rpc.system": "grpc", "rpc.method": exchange.method}
        else:
            attributes = {"http.request.method": exchange.method, "url.path": exchange.target}
        attributes["client.address"] = exchange.client
        span = self._tracer.start_span(
            f"{exchange.method} {exchange.target}" if exchange.protocol != "grpc"
            else exchange.method.lstrip("/"), context=parent, kind=self._server,
            start_time=exchange.epoch_ns(exchange.started), attributes=attributes)
        return span if span.is_recording() else None

    def batch_span(self, riders, rows: int, started: float, ended: float, labels) -> None:
        """One span for the batch run, linked to each sampled request in it; in each one's
        trace, a queue-wait span linked back to it. The batch span's parent is the first
        request's span, so the run also shows in one request's tree."""
        trace = self._trace
        traced = [(exchange, queued) for exchange, queued in riders if exchange.span is not None]
        if not traced:
            return  # none of them sampled
        first = traced[0][0]
        model, version, signature = labels
        batch = self._tracer.start_span(
            "batch run", context=trace.set_span_in_context(first.span),
            kind=self._internal, start_time=first.epoch_ns(started),
            links=[trace.Link(exchange.span.get_span_context(), {"request.index": index})
                   for index, (exchange, _) in enumerate(traced)],
            attributes={"batch.size": len(riders), "batch.rows": rows, "model.name": model,
                        "model.version": version, "model.signature": signature})
        batch.end(end_time=first.epoch_ns(ended))
        back = [trace.Link(batch.get_span_context())]
        for exchange, queued in traced:
            wait = self._tracer.start_span(
                "queue wait", context=trace.set_span_in_context(exchange.span),
                kind=self._internal, start_time=exchange.epoch_ns(queued), links=back,
                attributes={"batch.size": len(riders)})
            wait.end(end_time=exchange.epoch_ns(started))

    def end(self, exchange, ended: float) -> None:
        span = exchange.span
        if span is None:
            return
        trace = self._trace
        parent = trace.set_span_in_context(span)
        if exchange.queued is not None:  # it went through a batcher: decode and encode
            for name, start, end in (("decode", exchange.started, exchange.queued),
                                     ("encode", exchange.ran, ended)):
                self._tracer.start_span(name, context=parent, kind=self._internal,
                                        start_time=exchange.epoch_ns(start)
                                        ).end(end_time=exchange.epoch_ns(end))
        attributes = {"model.name": exchange.model, "model.version": exchange.version,
                      "model.signature": exchange.signature, "serving.verb": exchange.verb}
        if exchange.batch is not None:
            attributes["batch.size"] = exchange.batch
        span.set_attributes({key: value for key, value in attributes.items() if value != ""})
        status = exchange.status
        span.set_attribute("http.response.status_code" if exchange.protocol != "grpc"
                           else "rpc.response.status_code", status)
        failed = (status >= 500) if isinstance(status, int) else status not in ("OK",)
        if failed:
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        span.end(end_time=exchange.epoch_ns(ended))

    def close(self) -> None:
        self.provider.shutdown()
