"""Traces: the request's span takes the client's traceparent as its parent; a batch run is
one span linked to every request in it; each request gets decode, queue-wait and encode
children and the model, version and signature as attributes."""
from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from serving import observe
from serving.observe import exchange as module, tracing

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


@pytest.fixture
def spans(configure):
    configure()
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    module._sinks.tracer = tracing.Tracer(provider)
    module._active = True
    yield exported
    module._sinks.tracer = None


def test_one_request_span_per_request_with_the_clients_parent_and_batch_links(spans):
    headers = [{"traceparent": f"00-{TRACE}-{PARENT}-01"}, {}, {"traceparent": "garbage"}]
    exchanges = []
    for index, given in enumerate(headers):
        exchange = observe.begin("http", "POST", f"/v1/models/m:predict?{index}", "client",
                                 given.get)
        exchange.resolved("m", 5, "serving_default")
        exchanges.append(exchange)
    start = exchanges[0].started
    observe.batch_ran(exchanges, [start] * 3, 3, start + 0.01, start + 0.02, ("m", "5", "sig"))
    for exchange in exchanges:
        observe.finish(exchange, 200, 10)

    finished = spans.get_finished_spans()
    requests = [span for span in finished if span.name.startswith("POST ")]
    assert len(requests) == 3 and len({span.context.trace_id for span in requests}) == 3
    assert format(requests[0].context.trace_id, "032x") == TRACE
    assert format(requests[0].parent.span_id, "016x") == PARENT
    assert requests[1].parent is None and requests[2].parent is None  # garbage: a new trace
    assert dict(requests[0].attributes).items() >= {
        "model.name": "m", "model.version": "5", "model.signature": "serving_default",
        "batch.size": 3, "http.response.status_code": 200}.items()
    (batch,) = [span for span in finished if span.name == "batch run"]
    assert batch.attributes["batch.size"] == 3
    assert [link.context.span_id for link in batch.links] == [
        span.context.span_id for span in requests]
    for request in requests:
        children = {span.name: span for span in finished
                    if span.parent is not None and span.parent.span_id == request.context.span_id
                    and span.context.trace_id == request.context.trace_id}
        assert {"decode", "queue wait", "encode"} <= set(children)
        assert children["queue wait"].links[0].context.span_id == batch.context.span_id


def test_a_server_error_marks_the_span(spans):
    exchange = observe.begin("grpc", "/tensorflow.serving.PredictionService/Predict", "", "c")
    observe.finish(exchange, "INTERNAL")
    (span,) = spans.get_finished_spans()
    assert span.status.is_ok is False
    assert span.name == "tensorflow.serving.PredictionService/Predict"


@pytest.mark.parametrize("given, environ, wanted", [
    ({}, {}, False),
    ({"tracing": True}, {}, True),
    ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"tracing": True}, {"OTEL_SDK_DISABLED": "true"}, False),
])
def test_tracing_is_on_with_the_flag_or_an_otlp_endpoint(make_settings, given, environ, wanted):
    assert tracing.wanted(make_settings(**given), environ) is wanted
