"""tensorflow_model_server's --monitoring_config_file: where Prometheus metrics are served.

The file is TF Serving's MonitoringConfig text proto, e.g.
    prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }
"""
from __future__ import annotations

import functools

from serving.config import text_proto
from serving.config.model_config import ConfigError

DEFAULT_PATH = "/monitoring/prometheus/metrics"
_F = text_proto.FIELD


@functools.cache
def _monitoring_config_class():
    return text_proto.message_class("tensorflow_serving/config/monitoring_config.proto", {
        "PrometheusConfig": [("enable", 1, _F.TYPE_BOOL), ("path", 2, _F.TYPE_STRING)],
        "MonitoringConfig": [("prometheus_config", 1, _F.TYPE_MESSAGE,
                              ".tensorflow.serving.PrometheusConfig")],
    }, "MonitoringConfig")


def metrics_path(monitoring_config_file: str) -> str | None:
    """The metrics URL path, or None when the file switches Prometheus off.

    Deliberate difference: with no file we serve metrics at DEFAULT_PATH (TF Serving serves
    none), because every deployment we ship scrapes them.
    """
    if not monitoring_config_file:
        return DEFAULT_PATH
    config = text_proto.read(monitoring_config_file, _monitoring_config_class(),
                             "monitoring config")
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    path = prometheus.path or DEFAULT_PATH
    if not path.startswith("/"):
        raise ConfigError(f"{monitoring_config_file}: prometheus_config.path must start with "
                          f"'/', got {path!r}")
    return path
