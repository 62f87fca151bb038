"""gunicorn settings for the model server (used by `python app.py` and `gunicorn -c`).

Never set preload_app: the app (TensorFlow, sessions, batcher threads) must be built in
each worker after the fork. Values come from the server's one Settings object: the flags of
`python app.py`, or the environment under `gunicorn -c` (serving/config/settings.py).
The hooks below run in the master (a free port, the metrics directory, dead workers) or in a
worker (its own socket once its models are loaded; unload models and drain batchers as it
stops); deploy/README.md explains the choices.
"""
import fcntl
import glob
import os
import shutil
import signal
import socket
import tempfile
import time

from gunicorn.glogging import Logger

from serving.config.settings import current as _current_settings

_settings = _current_settings()
bind = [f"{_settings.rest_api_host}:{_settings.rest_api_port}"]
if _settings.keepalive_wait_ms > 0:
    # gthread, but a busy kept-alive connection's next request stays in its thread
    # (deploy/worker.py); --keepalive_wait_ms=0 runs gunicorn's gthread as it is.
    from deploy.worker import KeepAliveWorker
    KeepAliveWorker.wait = _settings.keepalive_wait_ms / 1000
    worker_class = KeepAliveWorker
else:
    worker_class = "gthread"
workers = _settings.workers
threads = _settings.threads
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections over
# the workers; on one shared socket the first idle worker accepted every keep-alive
# connection and the others sat idle (bench/README.md). post_fork/post_worker_init below
# open that socket only once the worker's models are loaded.
reuse_port = True
preload_app = False
# A gthread worker's loop beats every second while serving, so a long timeout costs nothing.
timeout = _settings.worker_timeout
graceful_timeout = _settings.graceful_timeout
# nginx's upstream keepalive_timeout (deploy/nginx.conf, 4 s) stays below this, so nginx
# never sends a request on a connection that gunicorn is closing.
keepalive = 5
# Heartbeat files on tmpfs: a disk-backed /tmp (container overlay) can stall them.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn writes no access log: --access_log is the server's own JSON line, one per request
# for REST and gRPC alike, written where the request's model and batch are known
# (serving/observe/).
accesslog = None
errorlog = "-"
# gunicorn >= 25 opens a control socket at one fixed path per user ($HOME/.gunicorn/): every
# server on the host would fight over it. Signals (HUP, TTIN, TERM) manage this server.
control_socket_disable = True
loglevel = _settings.log_level

_created_metrics_dir = []   # a temporary PROMETHEUS_MULTIPROC_DIR this master made
READY_FILE = "ready-workers"  # in the metrics directory: one line per worker that is ready


def _urls(cfg) -> str:
    return ", ".join(f"http://{address}" if not address.startswith("unix:") else address
                     for address in cfg.bind)


class ServerLogger(Logger):
    """gunicorn's logger, but "Listening at:" names the address: with reuse_port the master
    holds no socket (each worker opens its own), and gunicorn would print an empty list."""

    def info(self, msg, *args, **kwargs):
        if msg.startswith("Listening at:") and args and not args[0]:
            args = (_urls(self.cfg) + " (a socket per worker, opened once its models are "
                    "loaded)", *args[1:])
        super().info(msg, *args, **kwargs)


logger_class = ServerLogger


def _refuse_a_taken_port(server):
    """SO_REUSEPORT would let this server share a port another server of the same user
    listens on, silently splitting its traffic: stop, as gunicorn does without it. A master
    started by USR2 (an upgrade in place) shares the port with its parent on purpose."""
    if server.master_pid:
        return
    addresses = list(server.cfg.address)
    if _settings.port:  # the gRPC port is shared the same way
        addresses.append((_settings.rest_api_host, _settings.port))
    for address in addresses:
        if not isinstance(address, tuple):
            continue  # a unix socket path
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address[:2])
            except OSError as exc:
                raise SystemExit(f"Cannot listen on {address[0]}:{address[1]}: {exc.strerror} "
                                 f"(another server is listening there)") from None


def post_fork(server, worker):
    """Close the socket gunicorn opened for this worker: connections the kernel sent to it
    would wait for the whole model load, while the other workers could answer them."""
    for listener in worker.sockets:
        listener.close()
    worker.sockets = []


def post_worker_init(worker):
    """The app is built (models loaded): start the gRPC server, then listen on the REST port
    and take a share of connections. REST comes last: a connection the kernel hands this
    socket is answered at once, not after gRPC's start (imports, a thread pool)."""
    from gunicorn import sock, util
    serving = getattr(worker.wsgi, "extensions", {}).get("serving")
    if serving is not None:
        from grpc_api.server import serve  # in the worker only: grpc never in the master
        worker.grpc = serve(serving, _settings)
    worker.sockets = sock.create_sockets(worker.cfg, worker.log)
    for listener in worker.sockets:
        util.close_on_exec(listener)
    _announce_ready(worker)


def _announce_ready(worker):
    """The last of the first workers to be ready logs one line for the whole server."""
    serving = getattr(worker.wsgi, "extensions", {}).get("serving")
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if serving is None or not folder:
        return
    with open(os.path.join(folder, READY_FILE), "a+") as ready:
        fcntl.flock(ready, fcntl.LOCK_EX)
        ready.write(f"{worker.pid}\n")
        ready.flush()
        ready.seek(0)
        count = len(ready.read().split())
    if count == worker.cfg.workers:
        started = float(os.environ.get("MODEL_SERVER_STARTED", "0") or 0)
        took = f" in {time.time() - started:.1f} s" if started else ""
        grpc = f", gRPC on port {_settings.port}" if getattr(worker, "grpc", None) and \
            _settings.port else ""
        worker.log.info("Ready%s: %s; serving %s%s with %d worker%s", took,
                        serving.manager.summary(), _urls(worker.cfg), grpc, count,
                        "s" * (count != 1))


def _snapshot_the_model_config():
    """`gunicorn -c this-file 'app:create_app()'`: read the model config here, in the master,
    so that every worker starts from the same one (`python app.py` has read it already)."""
    from serving.config import model_config
    if model_config.has_snapshot():
        return
    try:
        model_config.take_snapshot(_settings)
    except (model_config.ConfigError, ValueError) as exc:
        raise SystemExit(f"Failed to start server. Error: {exc}") from None


def on_starting(server):
    """Master, before any fork: check the port is free; read the model config once; give
    the workers one fresh directory for their metrics."""
    _refuse_a_taken_port(server)
    _snapshot_the_model_config()
    os.environ.setdefault("MODEL_SERVER_STARTED", str(time.time()))
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in [*glob.glob(os.path.join(path, "*.db")),  # counters of an earlier run
                      *glob.glob(os.path.join(path, READY_FILE))]:
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="model-server-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        _created_metrics_dir.append(path)
    server.log.info("Prometheus multiprocess directory: %s", path)


def on_exit(server):
    for path in _created_metrics_dir:
        shutil.rmtree(path, ignore_errors=True)


def child_exit(server, worker):
    """Master: a worker died; its live gauges (queue lengths, model states) stop counting."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def _close_serving(worker):
    """Stop gRPC (calls in flight may finish), then unload the worker's models; each batcher
    answers what it holds before it stops."""
    serving = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("serving")
    if serving is None or getattr(worker, "serving_closed", False):
        return
    worker.serving_closed = True
    grpc_server = getattr(worker, "grpc", None)
    if grpc_server is not None:
        grpc_server.stop(grace=min(_settings.graceful_timeout, 30))
    serving.close()
    from serving import observe
    observe.shutdown()  # the spans and request-log events still buffered are sent
    worker.log.info("Worker %s: models unloaded, batchers drained", worker.pid)


def worker_int(worker):
    """Worker got SIGINT/SIGQUIT (quick shutdown): still stop gRPC and drain the batchers.
    Ctrl-C signals the whole process group, so the master's SIGQUIT follows the terminal's
    SIGINT; gunicorn's handler exits from inside, so a second one would cut this close
    short (gRPC left running, its thread failing at exit): the worker is stopping anyway."""
    for number in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, _already_stopping)
    _close_serving(worker)


def _already_stopping(number, frame):
    """Not SIG_IGN: CPython reports a signal already pending when its handler is SIG_IGN."""


def worker_exit(server, worker):
    """Worker is stopping: after SIGTERM, gthread has finished its in-flight requests."""
    _close_serving(worker)
