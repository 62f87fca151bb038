"""Batching parameters: TF Serving's `BatchingParameters` text proto, read and validated.

tensorflow-serving-api ships no `session_bundle_config_pb2`, so the message is declared here
with TF Serving's field names and numbers; a parameters file is parsed by protobuf's own text
format parser, so its syntax errors read as they would for tensorflow_model_server.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os

from serving.errors import ServingError

log = logging.getLogger(__name__)

PER_MODEL_FILE = "batching_params.pbtxt"

# (name, number, wrapper type or scalar kind) as in session_bundle_config.proto.
_FIELDS = (("max_batch_size", 1, "Int64Value"), ("batch_timeout_micros", 2, "Int64Value"),
           ("max_enqueued_batches", 3, "Int64Value"), ("num_batch_threads", 4, "Int64Value"),
           ("thread_pool_name", 5, "StringValue"), ("allowed_batch_sizes", 6, "repeated int64"),
           ("pad_variable_length_inputs", 7, "bool"),
           ("enable_large_batch_splitting", 8, "BoolValue"),
           ("max_execution_batch_size", 9, "Int64Value"))


class BatchingConfigError(ServingError):
    code = "INVALID_ARGUMENT"


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """One queue's settings. Defaults are ours for CPU serving (README "Batching"); a field a
    parameters file leaves out takes TF Serving's default instead (see `from_text`)."""

    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 16
    num_batch_threads: int = 1
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = True   # TF Serving: False (a 400 instead of a split)
    max_execution_batch_size: int = 0           # 0: max_batch_size

    @property
    def split_size(self) -> int:
        return min(self.max_execution_batch_size or self.max_batch_size, self.max_batch_size)

    @classmethod
    def from_text(cls, text: str, source: str = "batching parameters") -> "BatchingOptions":
        """Parse a BatchingParameters text proto; unset fields take TF Serving's defaults."""
        from google.protobuf import text_format
        message = _message_class()()
        try:
            text_format.Parse(text, message)
        except text_format.ParseError as exc:
            raise BatchingConfigError(f"{source}: {exc}") from None
        values = dict(TF_SERVING_DEFAULTS)
        for name, _, kind in _FIELDS:
            if kind.endswith("Value"):
                if message.HasField(name):
                    values[name] = getattr(message, name).value
            elif kind == "repeated int64":
                values[name] = tuple(getattr(message, name))
            else:
                values[name] = getattr(message, name)
        values.pop("thread_pool_name", None)  # one pool per queue here: the name is not used
        return validate(cls(**values), source)

    @classmethod
    def from_file(cls, path: str) -> "BatchingOptions":
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise BatchingConfigError(f"cannot read batching parameters file {path}: "
                                      f"{exc.strerror}") from None
        return cls.from_text(text, path)


# TF Serving's BasicBatchScheduler defaults, for fields a parameters file leaves out.
TF_SERVING_DEFAULTS = {"max_batch_size": 1000, "batch_timeout_micros": 0,
                       "max_enqueued_batches": 10, "num_batch_threads": os.cpu_count() or 1,
                       "enable_large_batch_splitting": False, "max_execution_batch_size": 0}


def validate(options: BatchingOptions, source: str = "batching parameters") -> BatchingOptions:
    """Every value checked when loaded, each message naming the bad value."""
    for check in (_positive("max_batch_size"), _non_negative("batch_timeout_micros"),
                  _positive("max_enqueued_batches"), _positive("num_batch_threads"),
                  _non_negative("max_execution_batch_size"), _allowed_sizes):
        problem = check(options)
        if problem:
            raise BatchingConfigError(f"{source}: {problem}")
    return options


def _positive(name: str):
    def check(options):
        value = getattr(options, name)
        return None if value >= 1 else f"{name} must be >= 1, got {value}"
    return check


def _non_negative(name: str):
    def check(options):
        value = getattr(options, name)
        return None if value >= 0 else f"{name} must be >= 0, got {value}"
    return check


def _allowed_sizes(options: BatchingOptions):
    sizes = list(options.allowed_batch_sizes)
    if not sizes:
        return None
    if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
        return f"allowed_batch_sizes must be positive and strictly increasing, got {sizes}"
    if sizes[-1] != options.max_batch_size:
        return (f"the last entry of allowed_batch_sizes ({sizes[-1]}) must equal "
                f"max_batch_size ({options.max_batch_size})")
    return None


def options_for_model(default: BatchingOptions, version_path: str) -> BatchingOptions:
    """A model's own `batching_params.pbtxt` (version dir, then base path) overrides `default`."""
    for folder in (version_path, os.path.dirname(version_path.rstrip("/"))):
        path = os.path.join(folder, PER_MODEL_FILE)
        if os.path.isfile(path):
            log.info("batching parameters for %s from %s", version_path, path)
            return BatchingOptions.from_file(path)
    return default


@functools.cache
def _message_class():
    """The BatchingParameters message class, built once from a descriptor declared here."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
    field = descriptor_pb2.FieldDescriptorProto
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="tf_flask_serving/batching_parameters.proto", package="tensorflow.serving",
        syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    message = file.message_type.add(name="BatchingParameters")
    for name, number, kind in _FIELDS:
        if kind.endswith("Value"):
            message.field.add(name=name, number=number, label=field.LABEL_OPTIONAL,
                              type=field.TYPE_MESSAGE, type_name=f".google.protobuf.{kind}")
        elif kind == "repeated int64":
            message.field.add(name=name, number=number, label=field.LABEL_REPEATED,
                              type=field.TYPE_INT64)
        else:
            message.field.add(name=name, number=number, label=field.LABEL_OPTIONAL,
                              type=field.TYPE_BOOL)
    pool.Add(file)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))
