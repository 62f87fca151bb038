"""What a request leaves behind besides its answer: one JSON access-log line, a trace, and a
sampled CloudEvents copy of its request and response. One record per request (exchange.py)
is begun by the front that took the request, filled by the core and the batcher, and
finished once, which writes all three. Nothing here knows Flask or grpc; all of it is off,
and costs one `if`, unless --access_log, --tracing (or OTEL_EXPORTER_OTLP_ENDPOINT) or
--request_log_url asks for it."""
from serving.observe.exchange import (  # noqa: F401  (serving.observe.*)
    Exchange, active, batch_ran, begin, configure, current, finish, shutdown)
