"""The serving core: numpy in, numpy out. It imports TensorFlow, never Flask, grpc or a front.

    config/     settings (flags, environment), model config, batching/monitoring configs, limits
    batching/   the micro-batcher: queue, run slots, batch plan, array joins, counters
    models/     versions on disk, the manager, per-model state and routes, servables, unloader
    routing/    operator changes (pins, splits, labels) kept on disk, and the poller
    inference.py, images.py, featurized.py   the verbs the fronts call
    core.py     ServingCore: all of the above for one worker process
    errors.py, metrics.py   typed errors (mapped to HTTP/gRPC by each front) and Prometheus

Imports run one way: errors, metrics ← config ← batching ← models ← routing ← the verbs and
core (tests/unit/test_import_direction.py keeps it so).
"""
