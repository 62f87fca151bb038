"""One worker's gRPC server, started after its models load and stopped gracefully with it.

Every gunicorn worker binds the same TCP port (gRPC sets SO_REUSEPORT; the kernel spreads
connections), so one process tree serves REST and gRPC from the same models, batchers,
versions, labels and splits. A UNIX socket cannot be shared that way: one worker at a time
serves it, the one holding its lock file. Message size and tensor limits are REST's.
"""
from __future__ import annotations

import atexit
import fcntl
import logging
import os
import threading
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from grpc_api import servicers
from serving.config.ssl import read_ssl_config
from serving.config.tokens import bearer, is_valid, tokens_from

log = logging.getLogger(__name__)
SERVICES = ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")
ADMIN_METHODS = ("/tensorflow.serving.ModelService/HandleReloadConfigRequest",
                 "/inference.GRPCInferenceService/RepositoryModelLoad",   # as /v2/repository
                 "/inference.GRPCInferenceService/RepositoryModelUnload")
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.",
                 "/inference.GRPCInferenceService/ServerLive",   # the OIP's probes, open
                 "/inference.GRPCInferenceService/ServerReady")  # as /v2/health/* is


def call_threads(settings) -> int:
    """Threads answering calls in one worker: --grpc_max_threads, else as many as REST's
    --threads and at least TF Serving's 4 per CPU. Each call holds its thread while it
    waits for its batch, so the thread count caps the batch a worker can form from gRPC."""
    return settings.grpc_max_threads or max(settings.threads, 4 * (os.cpu_count() or 1))


def connection_age(settings, given: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """grpc's max_connection_age(_grace)_ms from our two settings (off at 0), unless
    --grpc_channel_arguments names them itself: an explicit channel argument wins."""
    seconds = settings.grpc_max_connection_age_seconds
    if seconds <= 0:
        return []
    options = {"grpc.max_connection_age_ms": seconds,
               "grpc.max_connection_age_grace_ms": settings.grpc_max_connection_age_grace_seconds}
    named = {key for key, _ in given}
    return [(key, int(max(value, 0) * 1000)) for key, value in options.items()
            if key not in named]


def channel_arguments(text: str) -> list[tuple[str, object]]:
    """TF Serving's --grpc_channel_arguments: `k=v,k=v`; values that parse as int32 are
    ints, the rest strings; text after a second `=` is dropped; an item without `=` too."""
    options = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in item:
            continue
        key, value = item.split("=")[:2]
        try:
            number = int(value)
            options.append((key, number if -2 ** 31 <= number < 2 ** 31 else value))
        except ValueError:
            options.append((key, value))
    return options


class _Tokens(grpc.ServerInterceptor):
    """--api_token for every RPC but the health checks and reflection (probes stay open);
    with --admin_token, that token, and nothing else, for the ADMIN_METHODS (the reload, the
    OIP repository's load and unload); without one, they are open (to the API token) as the
    reload is in TF Serving, whose tools call it."""

    def __init__(self, api_tokens: tuple[bytes, ...], admin_token: str):
        self.api_tokens, self.admin = api_tokens, admin_token.encode()

    def intercept_service(self, continuation, details):
        method = details.method
        if method.startswith(OPEN_PREFIXES):
            return continuation(details)
        presented = dict(details.invocation_metadata or ())
        given = bearer(presented.get("authorization", ""))
        if method in ADMIN_METHODS and self.admin:
            if not is_valid(given, (self.admin,)):
                return _refuse(grpc.StatusCode.UNAUTHENTICATED, "Missing or wrong bearer "
                               "token for the admin routes.")
            return continuation(details)
        if self.api_tokens and not any(is_valid(token, self.api_tokens) for token in
                                       (given, presented.get("x-api-key", "").encode())):
            return _refuse(grpc.StatusCode.UNAUTHENTICATED, "Missing or wrong API token: send "
                           "'authorization: Bearer <token>' metadata.")
        return continuation(details)


def _refuse(code: grpc.StatusCode, message: str):
    def refuse(request, context):
        context.abort(code, message)
    return grpc.unary_unary_rpc_method_handler(refuse)


class GrpcServer:
    def __init__(self, core, settings):
        self.core, self.settings = core, settings
        self.addresses: list[str] = []
        self._health = None
        self._health_models: set[str] = set()  # every model health has reported
        self._stop = threading.Event()
        self._lock_file = None
        self._stopped = False
        self._pool = futures.ThreadPoolExecutor(call_threads(settings), "grpc")
        options = [("grpc.so_reuseport", 1),
                   ("grpc.max_receive_message_length", settings.max_request_bytes),
                   ("grpc.max_send_message_length", -1),
                   *channel_arguments(settings.grpc_channel_arguments)]
        options += connection_age(settings, options)
        api_tokens = tokens_from(settings.api_token)
        # With no token at all every RPC is open: no interceptor, no Python call per RPC.
        guard = [_Tokens(api_tokens, settings.admin_token)] \
            if api_tokens or settings.admin_token else []
        self.server = grpc.server(self._pool, options=options, interceptors=guard)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            servicers.PredictionService(core, settings), self.server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            servicers.ModelService(core, settings), self.server)
        names = list(SERVICES)
        # The Open Inference Protocol (KServe v2) beside TF Serving's services, imported only
        # here: its generated messages and tritonclient's share protobuf's default pool.
        from grpc_api.oip import servicer as oip_servicer
        names.append(oip_servicer.add_to_server(core, settings, self.server))
        if settings.enable_grpc_healthcheck_service:
            names.append(self._add_health())
        if settings.enable_grpc_reflection:
            from grpc_reflection.v1alpha import reflection
            names.append(reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, self.server)
        self._bind()

    def _credentials(self):
        ssl = read_ssl_config(self.settings.ssl_config_file)
        if ssl is None:
            return None
        return grpc.ssl_server_credentials([(ssl.server_key, ssl.server_cert)],
                                           root_certificates=ssl.custom_ca,
                                           require_client_auth=ssl.client_verify)

    def _bind(self) -> None:
        credentials = self._credentials()

        def add(address: str) -> None:
            bound = (self.server.add_secure_port(address, credentials) if credentials
                     else self.server.add_insecure_port(address))
            if not bound:
                raise RuntimeError(f"gRPC cannot listen on {address}")
            self.addresses.append(address)
        if self.settings.port:
            host = self.settings.rest_api_host
            add(f"[{host}]:{self.settings.port}" if ":" in host else f"{host}:{self.settings.port}")
        path = self.settings.grpc_socket_path
        if path and self._take_socket(path):
            add(f"unix:{path}")

    def _take_socket(self, path: str) -> bool:
        """Whether this worker serves the UNIX socket: the one that holds `<path>.lock`."""
        handle = open(f"{path}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle  # held while this worker lives
        if os.path.exists(path):
            os.unlink(path)  # a socket left by a worker that died
        return True

    def _add_health(self) -> str:
        """grpc.health.v1: "", the two services' short and full names, and model/<name>
        (SERVING while the model has an AVAILABLE version), kept current every second."""
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)
        serving = health_pb2.HealthCheckResponse.SERVING
        for name in ("", "ModelService", "PredictionService", *SERVICES):
            self._health.set(name, serving)
        self._update_models()
        threading.Thread(target=self._watch_models, name="grpc-health", daemon=True).start()
        return health.SERVICE_NAME

    def _update_models(self) -> None:
        from grpc_health.v1 import health_pb2
        status = health_pb2.HealthCheckResponse
        inference = self.core.inference
        names = inference.model_names()
        for name in names:
            ready = bool(inference.available_versions(name))
            self._health.set(f"model/{name}", status.SERVING if ready else status.NOT_SERVING)
        for name in self._health_models.difference(names):  # removed by a config reload
            self._health.set(f"model/{name}", status.NOT_SERVING)
        self._health_models = self._health_models.union(names)

    def _watch_models(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self._update_models()
            except Exception:  # noqa: BLE001 - the health thread outlives a bad tick
                log.exception("gRPC health update failed")

    def start(self) -> "GrpcServer":
        self.server.start()
        atexit.register(self.stop, 0)  # a worker that exits another way (see stop)
        reload = ("guarded by the admin token" if self.settings.admin_token
                  else "open as in TF Serving")
        log.info("gRPC serving on %s (pid %d); HandleReloadConfigRequest %s",
                 ", ".join(self.addresses) or "nothing", os.getpid(), reload)
        return self

    def stop(self, grace: float) -> None:
        """New calls are refused (health says NOT_SERVING first); calls in flight get `grace`;
        then the call threads end. Once only. A server still running when Python exits has
        its grpc thread fail at exit ("server must be started and not shutting down")."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._health is not None:
            self._health.enter_graceful_shutdown()
        stopped = self.server.stop(grace).wait(grace + 1)
        self._pool.shutdown(wait=stopped, cancel_futures=True)
        if self._lock_file is not None:
            self._lock_file.close()


def serve(core, settings) -> GrpcServer | None:
    """The worker's gRPC server, started; None when --port=0 and no socket path ask for none."""
    if not settings.port and not settings.grpc_socket_path:
        return None
    return GrpcServer(core, settings).start()
