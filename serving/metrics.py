"""Metrics hooks the core calls, exported in Prometheus' text format.

The contract (names and arguments) is what the rest of the core relies on:
  observe_request(entrypoint, model, version, verb, status, seconds)   one REST or gRPC call
  observe_batch(model, version, signature, size, queue_wait_seconds, run_seconds)
  unrecorded()                                             what runs inside (warmup) is not
                                                           counted: recorded() is False there
  set_queue_length(model, version, signature, length)
  observe_load(model, version, seconds, state)             a load attempt ended in `state`
  set_model_state(model, version, state)                   any other state change (None: gone)
  worker_up()                                              this process has built its app
  in_flight(model)                                         the gauge a request holds +1 on
  Under --model_memory_budget (serving/models/residency.py): cache_hit(model),
  cache_miss(model), observe_on_demand_load(model), observe_eviction(model),
  set_resident_bytes(model, bytes), set_memory_budget(bytes), observe_load_wait(seconds)
prometheus_client is imported on first use, never at import time: it picks single- or
multi-process storage when imported, and gunicorn's master sets PROMETHEUS_MULTIPROC_DIR
(deploy/gunicorn.conf.py) before it forks the workers that record.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import time
from types import SimpleNamespace

_LATENCY_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
_LOAD_BUCKETS = (.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

_lock = threading.Lock()
_metrics: SimpleNamespace | None = None
_states: dict[tuple[str, str], str] = {}       # this process's view, for the state gauge
_recorded: contextvars.ContextVar[bool] = contextvars.ContextVar("serving_recorded",
                                                                 default=True)
# The verbs that run a model (OIP's statistics count these; the last one's time is kept).
INFERENCE_VERBS = frozenset({"infer", "predict", "classify", "regress", "multi_inference"})


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _build() -> SimpleNamespace:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry(auto_describe=True)
    # entrypoint: REST or GRPC; verb: TF Serving's API label (predict, classify, ...);
    # status: the HTTP status, or the gRPC code's name.
    request = ("entrypoint", "model", "version", "verb", "status")
    batch = ("model", "version", "signature")
    return SimpleNamespace(
        registry=registry,
        requests=Counter("serving_requests", "Requests answered, by entrypoint (REST, GRPC), "
                         "model, version that answered, verb and status", request,
                         registry=registry),
        latency=Histogram("serving_request_latency_seconds", "Time from request to response",
                          request, buckets=_LATENCY_BUCKETS, registry=registry),
        batch_size=Histogram("serving_batch_size", "Rows in each batch run by a batcher",
                             batch, buckets=_BATCH_BUCKETS, registry=registry),
        queue_wait=Histogram("serving_batch_queue_wait_seconds", "How long the oldest request "
                             "of a batch waited in the queue", batch, buckets=_LATENCY_BUCKETS,
                             registry=registry),
        run=Histogram("serving_batch_run_seconds", "Time to run one batch through the model",
                      batch, buckets=_LATENCY_BUCKETS, registry=registry),
        # The Open Inference Protocol's statistics report it (Triton's last_inference).
        last_inference=Gauge("serving_last_inference_timestamp_seconds", "When the version "
                             "last answered an inference successfully (Unix time), the latest "
                             "of all workers", ("model", "version"), multiprocess_mode="max",
                             registry=registry),
        queue_length=Gauge("serving_batch_queue_length", "Requests waiting in batch queues, "
                           "summed over workers", batch, multiprocess_mode="livesum",
                           registry=registry),
        load=Histogram("serving_model_load_seconds", "Time to load a model version, by the "
                       "state the load ended in", ("model", "version", "state"),
                       buckets=_LOAD_BUCKETS, registry=registry),
        # What autoscalers scale on (deploy/k8s/autoscaling/): every front's requests, from
        # the version lookup to the answer (batch queue wait included), summed over workers.
        in_flight=Gauge("serving_requests_in_flight", "Requests being answered now (REST, "
                        "gRPC, Open Inference Protocol), by model, summed over workers",
                        ("model",), multiprocess_mode="livesum", registry=registry),
        # --request_log_url: events given up on (queue full, or the sink failed) rather than
        # slow a request down (serving/observe/request_log.py).
        request_log_dropped=Counter("serving_request_log_dropped", "Request-log CloudEvents "
                                    "dropped, by reason (queue_full, send_failed)",
                                    ("reason",), registry=registry),
        workers=Gauge("serving_workers", "Worker processes serving, their models loaded",
                      multiprocess_mode="livesum", registry=registry),
        # Many models in limited memory: each worker has its own budget and LRU.
        loads=Counter("serving_model_loads", "Versions loaded on demand (a request, an admin "
                      "load) under --model_memory_budget", ("model",), registry=registry),
        evictions=Counter("serving_model_evictions", "Versions unloaded to make room for "
                          "another, or by an admin unload", ("model",), registry=registry),
        hits=Counter("serving_model_cache_hits", "Requests that found their version loaded",
                     ("model",), registry=registry),
        misses=Counter("serving_model_cache_misses", "Requests that waited for their version "
                       "to load", ("model",), registry=registry),
        resident=Gauge("serving_model_resident_bytes", "Measured memory of the model's loaded "
                       "versions, summed over workers", ("model",), multiprocess_mode="livesum",
                       registry=registry),
        # Per worker, the same in each: the largest live worker's is the budget.
        budget=Gauge("serving_model_memory_budget_bytes", "--model_memory_budget of each "
                     "worker (0: none)", multiprocess_mode="livemax", registry=registry),
        load_wait=Histogram("serving_load_wait_seconds", "How long requests waited for their "
                            "version to load (_count: requests that waited)",
                            buckets=_LATENCY_BUCKETS, registry=registry),
        state=Gauge("serving_model_version_state", "Worker processes holding this model "
                    "version in this state (AVAILABLE, END, ...)", ("model", "version", "state"),
                    multiprocess_mode="livesum", registry=registry),
    )


def _m() -> SimpleNamespace:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _build()
    return _metrics


_children: dict[tuple, tuple] = {}   # label values → their time series, per hook


def _series(hook: str, *labels: str) -> tuple:
    """The labelled series a per-request hook writes to, looked up once per label set:
    prometheus_client's labels() takes a lock and builds a key on every call (~5 µs)."""
    key = (hook, *labels)
    found = _children.get(key)
    if found is None:
        m = _m()
        found = {"request": (m.requests, m.latency),
                 "batch": (m.batch_size, m.queue_wait, m.run),
                 "queue": (m.queue_length,), "in_flight": (m.in_flight,),
                 "last_inference": (m.last_inference,),
                 "hit": (m.hits,), "miss": (m.misses,)}[hook]
        found = _children.setdefault(key, tuple(metric.labels(*labels) for metric in found))
    return found


def observe_request(entrypoint: str, model: str, version: str, verb: str, status,
                    seconds: float) -> None:
    count, latency = _series("request", entrypoint, model, version, verb, str(status))
    count.inc()
    latency.observe(seconds)
    if verb in INFERENCE_VERBS and str(status) in ("200", "OK"):
        _series("last_inference", model, version)[0].set(time.time())


def recorded() -> bool:
    """False inside `unrecorded()`: the batcher reads it as it takes each request."""
    return _recorded.get()


@contextlib.contextmanager
def unrecorded():
    """Warmup's replays: left out of the batch metrics, and so of OIP's statistics, as
    Triton leaves its warmup out."""
    token = _recorded.set(False)
    try:
        yield
    finally:
        _recorded.reset(token)


def observe_batch(model: str, version: str, signature: str, size: int,
                  queue_wait_seconds: float, run_seconds: float) -> None:
    sizes, waits, runs = _series("batch", model, version, signature)
    sizes.observe(size)
    waits.observe(queue_wait_seconds)
    runs.observe(run_seconds)


def set_queue_length(model: str, version: str, signature: str, length: int) -> None:
    _series("queue", model, version, signature)[0].set(length)


def in_flight(model: str):
    """The model's in-flight gauge (its inc/dec are per process; a scrape sums live workers)."""
    return _series("in_flight", model)[0]


def cache_hit(model: str) -> None:
    _series("hit", model)[0].inc()


def cache_miss(model: str) -> None:
    _series("miss", model)[0].inc()


def observe_on_demand_load(model: str) -> None:
    _m().loads.labels(model).inc()


def observe_eviction(model: str) -> None:
    _m().evictions.labels(model).inc()


def set_resident_bytes(model: str, size: int) -> None:
    _m().resident.labels(model).set(size)


def set_memory_budget(size: int) -> None:
    _m().budget.set(size)


def observe_load_wait(seconds: float) -> None:
    _m().load_wait.observe(seconds)


def observe_load(model: str, version: str, seconds: float, state: str) -> None:
    _m().load.labels(model, str(version), state).observe(seconds)
    set_model_state(model, version, state)


def set_model_state(model: str, version: str, state: str | None) -> None:
    """Move this process's count for a version from its previous state to `state`."""
    m, key = _m(), (model, str(version))
    with _lock:
        previous = _states.pop(key, None)
        if previous is not None:
            m.state.labels(*key, previous).set(0)
        if state is not None:
            _states[key] = state
            m.state.labels(*key, state).set(1)


def request_log_dropped(reason: str) -> None:
    _m().request_log_dropped.labels(reason).inc()


def worker_up() -> None:
    """Counted until the process exits (gunicorn's child_exit hook drops a dead worker)."""
    _m().workers.set(1)


def _summed():
    """This process's registry, or one summing every gunicorn worker's files when forked."""
    if not multiprocess_dir():
        return _m().registry
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def families():
    """Every metric family with its samples, summed over all gunicorn workers when forked
    (what the exposition prints; the Open Inference Protocol's statistics read them)."""
    return _summed().collect()


def exposition() -> tuple[bytes, str]:
    """(body, content type) of every metric, summed over all gunicorn workers when forked."""
    from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
    return generate_latest(_summed()), CONTENT_TYPE_PLAIN_0_0_4
