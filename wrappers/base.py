"""A loaded model version: its own tf.Graph and tf.compat.v1.Session, its signatures, and run()."""
from __future__ import annotations

import dataclasses
import threading
from typing import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import config_pb2, error_codes_pb2, meta_graph_pb2

from serving import errors

v1 = tf.compat.v1

INIT_OP_SIGNATURE = "__saved_model_init_op"


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    """How each model's session uses the machine (create_app builds it from Settings)."""

    intra_op: int = 1
    inter_op: int = 1
    gpu_memory_fraction: float = 0.0
    gpu_allow_growth: bool = True
    visible_gpus: str = ""

    def to_proto(self) -> v1.ConfigProto:
        config = v1.ConfigProto(intra_op_parallelism_threads=self.intra_op,
                                inter_op_parallelism_threads=self.inter_op,
                                allow_soft_placement=True)  # GPU-pinned graphs still load on CPU
        config.gpu_options.allow_growth = self.gpu_allow_growth
        if self.gpu_memory_fraction > 0:
            config.gpu_options.per_process_gpu_memory_fraction = self.gpu_memory_fraction
        if self.visible_gpus:
            config.gpu_options.visible_device_list = self.visible_gpus
        return config


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One signature input or output: alias, graph tensor name, dtype name and static shape.

    `shape` is what the SignatureDef records; `static_shape` the most specific shape that
    both it and the graph's tensor allow (a TF1 export may record `[]` for a `[None, 1]`
    placeholder), "conflict" when they disagree. The batcher plans from `static_shape`."""

    alias: str
    name: str
    dtype: str                              # TF enum name, e.g. "DT_FLOAT"
    shape: tuple[int, ...] | None           # None: unknown rank; -1: unknown dimension
    np_dtype: np.dtype | None               # object for DT_STRING
    static_shape: tuple[int, ...] | None | str = None

    @property
    def batch_size(self) -> int | None:
        """The fixed batch dimension (e.g. 1 for an input [1, 784]); None when it varies."""
        if not self.shape or self.shape[0] < 0:
            return None
        return self.shape[0]


def base_dtype(enum: int) -> int:
    """DT_FLOAT for DT_FLOAT_REF (a TF1 variable's tensor): a run hands back values, never
    references, so TF Serving answers a ref output in its base type; others unchanged."""
    try:
        return tf.dtypes.as_dtype(enum).base_dtype.as_datatype_enum if enum else enum
    except TypeError:  # an enum this TensorFlow does not know
        return enum


def _tensor_spec(alias: str, info: meta_graph_pb2.TensorInfo, graph=None) -> TensorSpec:
    shape = None if info.tensor_shape.unknown_rank else tuple(d.size for d in info.tensor_shape.dim)
    name = info.name or info.coo_sparse.values_tensor_name
    enum = base_dtype(info.dtype)
    dtype = tf.dtypes.as_dtype(enum) if enum else None
    return TensorSpec(alias, name, types_pb2.DataType.Name(enum), shape,
                      np.dtype(dtype.as_numpy_dtype) if dtype is not None else None,
                      merged_shape(shape, _graph_shape(graph, name)))


def _base_typed(proto: meta_graph_pb2.SignatureDef) -> meta_graph_pb2.SignatureDef:
    """The SignatureDef with each reference dtype as its base type (what metadata reports,
    as the issue asks; TF Serving itself echoes the stored proto)."""
    infos = list(proto.inputs.values()) + list(proto.outputs.values())
    if all(base_dtype(info.dtype) == info.dtype for info in infos):
        return proto
    proto = meta_graph_pb2.SignatureDef.FromString(proto.SerializeToString())
    for info in list(proto.inputs.values()) + list(proto.outputs.values()):
        info.dtype = base_dtype(info.dtype)
    return proto


def _graph_shape(graph, name: str) -> tuple[int, ...] | None:
    if graph is None or not name:
        return None
    try:
        shape = graph.get_tensor_by_name(name).shape
    except (KeyError, ValueError):
        return None
    if shape.rank is None:
        return None
    return tuple(-1 if d is None else int(d) for d in shape.as_list())


def merged_shape(recorded, graph):
    """The most specific shape both sources allow, or "conflict" when they disagree."""
    if recorded is None or graph is None:
        return recorded if graph is None else graph
    if len(recorded) != len(graph):
        return "conflict"
    merged = []
    for a, b in zip(recorded, graph):
        if a >= 0 and b >= 0 and a != b:
            return "conflict"
        merged.append(a if a >= 0 else b)
    return tuple(merged)


@dataclasses.dataclass(frozen=True)
class Signature:
    """A SignatureDef made easy to use; `proto` is kept for the metadata endpoint (with
    reference dtypes as their base types, as TensorSpec has them)."""

    key: str
    method_name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    proto: meta_graph_pb2.SignatureDef
    defaults: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)  # by alias

    @classmethod
    def from_proto(cls, key: str, proto: meta_graph_pb2.SignatureDef, graph=None) -> "Signature":
        """`graph`: the loaded tf.Graph, whose tensor shapes refine the recorded ones."""
        return cls(key, proto.method_name,
                   {a: _tensor_spec(a, i, graph) for a, i in sorted(proto.inputs.items())},
                   {a: _tensor_spec(a, i, graph) for a, i in sorted(proto.outputs.items())},
                   _base_typed(proto),
                   {a: tf.make_ndarray(t) for a, t in proto.defaults.items()})


_TYPED_ERRORS = {cls.code: cls for cls in (
    errors.InvalidArgument, errors.FailedPrecondition, errors.NotFound, errors.Unavailable,
    errors.DeadlineExceeded, errors.ResourceExhausted, errors.Unimplemented, errors.Internal)}


def run_error(exc: tf.errors.OpError) -> errors.ServingError:
    """A TensorFlow run error as the core's error with the same canonical code (TF Serving
    maps that code to the HTTP status: a bad feed is 400, an op without a kernel 501, ...)."""
    try:
        code = error_codes_pb2.Code.Name(exc.error_code)
    except ValueError:
        code = "UNKNOWN"
    cls = _TYPED_ERRORS.get(code)
    if cls is not None:
        return cls(exc.message)
    error = errors.ServingError(exc.message)
    error.code = code
    return error


def session_callable(session, feeds: tuple[str, ...], fetches: tuple[str, ...],
                     inline: bool = False):
    """`call(*arrays) -> list` running `fetches` from `feeds` (graph tensor names); with
    `inline`, every op in the calling thread (RunOptions.inter_op_thread_pool = -1).

    TensorFlow's private `Session._make_callable_from_options`: the run happens in C++,
    about 4x cheaper than session.run per call, and without session.run's Python-side shape
    check, so, as in TF Serving, a feed need not match its placeholder's static shape. It is
    the only private API the server uses; tests/unit/wrappers/test_session_callable.py pins
    its behaviour against session.run, so a TensorFlow that changes it fails loudly."""
    options = config_pb2.CallableOptions(feed=list(feeds), fetch=list(fetches))
    if inline:
        options.run_options.inter_op_thread_pool = -1
    return session._make_callable_from_options(options)


def _as_array(value) -> np.ndarray:
    """TF hands a scalar string output back as Python bytes and a scalar number as a numpy
    scalar; the rest of the server works in arrays only."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, bytes):
        array = np.empty((), dtype=object)
        array[()] = value
        return array
    return np.asarray(value)


class ModelWrapper:
    """Owns one tf.Graph and one tf.compat.v1.Session for one model version.

    Subclasses fill the graph in `_build()` and return their SignatureDefs. `run()` may be
    called from many threads at once: TF sessions are thread-safe, and the per-signature
    callables are created once under a lock.
    """

    def __init__(self, path: str, options: SessionOptions | None = None):
        self.path = path
        self.graph = tf.Graph()
        options = options or SessionOptions()
        self.session = v1.Session(graph=self.graph, config=options.to_proto())
        # With one inter-op thread a graph runs one op at a time anyway, so a run may as well
        # stay in its caller's thread (run(inline=True)): no hand-off to TensorFlow's pool.
        self._may_inline = options.inter_op == 1
        try:
            with self.graph.as_default():
                protos = self._build()
            self.graph.finalize()  # nothing may add ops later: keeps run() lock-free
        except Exception:
            self.session.close()
            raise
        self.signatures = {key: Signature.from_proto(key, proto, self.graph)
                           for key, proto in protos.items()}
        # What a client can call (TF2's init op is listed in metadata only); built once.
        self.servable_signatures = {k: s for k, s in self.signatures.items()
                                    if k != INIT_OP_SIGNATURE}
        self._callables: dict[tuple[str, tuple[str, ...]], object] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _build(self) -> dict[str, meta_graph_pb2.SignatureDef]:
        raise NotImplementedError

    def run(self, signature_key: str, feeds: Mapping[str, np.ndarray],
            outputs: tuple[str, ...] | None = None, inline: bool = False) -> dict[str, np.ndarray]:
        """Run one signature on numpy feeds keyed by input alias; returns outputs by alias.

        `inline`: every op runs in the calling thread rather than on TensorFlow's inter-op
        pool, when the session has one inter-op thread (nothing runs side by side then).
        For a run with no company (a lone request) it saves two thread wake-ups; batches
        keep the pool, which measured a few per cent faster under load (bench/README.md)."""
        signature = self.signatures[signature_key]
        out_aliases = tuple(outputs or signature.outputs)
        try:
            call = self._callable(signature, out_aliases, inline and self._may_inline)
            values = call(*(feeds[alias] for alias in signature.inputs))
        except (tf.errors.OpError, RuntimeError) as exc:
            if self._closed:  # unloaded under this request: a retry reaches the new version
                raise errors.Unavailable("This model version was unloaded; retry the "
                                         "request.") from None
            if isinstance(exc, RuntimeError):
                raise
            raise run_error(exc) from None
        return {alias: _as_array(value) for alias, value in zip(out_aliases, values)}

    def run_tensors(self, feeds: Mapping[str, np.ndarray],
                    fetches: tuple[str, ...]) -> list[np.ndarray]:
        """One run by graph tensor names (MultiInference: several signatures' outputs over
        one input); not cached, not batched."""
        try:
            call = session_callable(self.session, tuple(feeds), fetches)
            return [_as_array(v) for v in call(*feeds.values())]
        except tf.errors.OpError as exc:
            raise run_error(exc) from None

    def _callable(self, signature: Signature, out_aliases: tuple[str, ...], inline: bool):
        key = (signature.key, out_aliases, inline)
        call = self._callables.get(key)
        if call is None:
            with self._lock:
                call = self._callables.get(key)
                if call is None:
                    call = session_callable(
                        self.session, tuple(spec.name for spec in signature.inputs.values()),
                        tuple(signature.outputs[a].name for a in out_aliases), inline)
                    self._callables[key] = call
        return call

    def close(self) -> None:
        """Free the session and graph; the wrapper must not be used afterwards."""
        with self._lock:
            self._closed = True
            self._callables.clear()
        self.session.close()
