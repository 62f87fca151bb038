"""tensorflow_model_server's --monitoring_config_file: where Prometheus metrics are served.

The file is TF Serving's MonitoringConfig text proto, e.g.
    prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }
tensorflow-serving-api does not ship monitoring_config_pb2, so the two messages are declared
here with TF Serving's package, names and field numbers, and parsed by protobuf's text_format.
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from serving.config.model_config import ConfigError

DEFAULT_PATH = "/monitoring/prometheus/metrics"
_BOOL, _STRING, _MESSAGE = (descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                            descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                            descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE)


def _monitoring_config_class():
    proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving", syntax="proto3")
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=_BOOL, label=1)
    prometheus.field.add(name="path", number=2, type=_STRING, label=1)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=_MESSAGE, label=1,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool = descriptor_pool.DescriptorPool()   # private: no clash if the real _pb2 appears
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


def metrics_path(monitoring_config_file: str) -> str | None:
    """The metrics URL path, or None when the file switches Prometheus off.

    Deliberate difference: with no file we serve metrics at DEFAULT_PATH (TF Serving serves
    none), because every deployment we ship scrapes them.
    """
    if not monitoring_config_file:
        return DEFAULT_PATH
    try:
        with open(monitoring_config_file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read monitoring config file {monitoring_config_file}: "
                          f"{exc.strerror}") from None
    config = _monitoring_config_class()()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ConfigError(f"Error parsing text-format tensorflow.serving.MonitoringConfig "
                          f"in {monitoring_config_file}: {exc}") from None
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    path = prometheus.path or DEFAULT_PATH
    if not path.startswith("/"):
        raise ConfigError(f"{monitoring_config_file}: prometheus_config.path must start with "
                          f"'/', got {path!r}")
    return path
