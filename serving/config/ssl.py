"""tensorflow_model_server's --ssl_config_file: TF Serving's SSLConfig text proto for gRPC.

    server_key: "-----BEGIN PRIVATE KEY-----\n..."     PEM text inline, not a path
    server_cert: "-----BEGIN CERTIFICATE-----\n..."
    custom_ca: "-----BEGIN CERTIFICATE-----\n..."      the CA client certificates must chain to
    client_verify: true                                require and verify a client certificate

Read and checked in gunicorn's master before it forks, like every other config file, so a bad
file stops the start with the problem named.
"""
from __future__ import annotations

import dataclasses
import functools

from serving.config import text_proto
from serving.config.model_config import ConfigError

_F = text_proto.FIELD


@functools.cache
def _ssl_config_class():
    return text_proto.message_class("tensorflow_serving/config/ssl_config.proto", {
        "SSLConfig": [("server_key", 1, _F.TYPE_STRING), ("server_cert", 2, _F.TYPE_STRING),
                      ("custom_ca", 3, _F.TYPE_STRING), ("client_verify", 4, _F.TYPE_BOOL)],
    }, "SSLConfig")


@dataclasses.dataclass(frozen=True)
class SSLConfig:
    server_key: bytes
    server_cert: bytes
    custom_ca: bytes | None
    client_verify: bool


def read_ssl_config(path: str) -> SSLConfig | None:
    """None without a file (plain gRPC); the PEM texts otherwise."""
    if not path:
        return None
    config = text_proto.read(path, _ssl_config_class(), "SSL config")
    if not config.server_key or not config.server_cert:
        raise ConfigError(f"{path}: server_key and server_cert are required")
    if config.client_verify and not config.custom_ca:
        raise ConfigError(f"{path}: client_verify needs custom_ca, the CA that client "
                          f"certificates are verified against")
    return SSLConfig(config.server_key.encode(), config.server_cert.encode(),
                     config.custom_ca.encode() or None, config.client_verify)
