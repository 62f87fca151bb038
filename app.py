"""A TensorFlow model server on Flask, compatible with TensorFlow Serving's REST API.

    python app.py --rest_api_port=8501 --model_name=NAME --model_base_path=DIR
    python app.py --rest_api_port=8501 --model_config_file=FILE
    python app.py                        # every model under ./models
    gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'   # settings from the environment

`python app.py` runs gunicorn (the production server) with deploy/gunicorn.conf.py;
`--debug` runs Flask's development server instead. Models are loaded in create_app(),
which gunicorn calls in each worker after it forks: TensorFlow does not survive a fork.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Mapping

from serving.config import settings as settings_module
from serving.config.settings import Settings

HERE = os.path.dirname(os.path.abspath(__file__))
GUNICORN_CONFIG = os.path.join(HERE, "deploy", "gunicorn.conf.py")


def build_core(settings: Settings):
    """This process's serving core, not started: TensorFlow set up as the settings say, the
    custom op libraries loaded, and the loader handed in (the core never imports wrappers,
    ARCHITECTURE.md). scripts/model_tool.py check loads models through it too."""
    from serving.config import gpu, tf_logs
    gpu.configure_process(settings.visible_gpus, settings.gpu_allow_growth)  # before TF loads
    tf_logs.import_tensorflow(settings.tensorflow_logs)

    import wrappers
    from serving.core import ServingCore
    from wrappers import op_libraries
    op_libraries.load_custom_libraries(settings.custom_op_libraries)  # before any model loads
    options = wrappers.SessionOptions(**settings.session_config_args())
    return ServingCore(settings, wrappers.loader(options, settings.saved_model_tags))


def create_app(config: Settings | Mapping[str, Any] | None = None):
    """Build the Flask app and this process's serving core (models, sessions, threads)."""
    settings = config if isinstance(config, Settings) else Settings.load(overrides=config)
    core = build_core(settings)
    from api import admin, cors, errors, exchange, legacy, openapi, ops, rest, security, web
    from api.flask_app import ServerFlask
    from serving import observe

    app = ServerFlask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["SETTINGS"] = settings
    observe.configure(settings)  # access log, traces, request log: this worker's, after the fork
    core.start()  # models, batchers, poller: after gunicorn's fork
    app.extensions["serving"] = core
    exchange.init_app(app)  # first: its after-request hook runs last
    errors.init_app(app)
    ops.init_app(app, settings)
    security.init_app(app, settings)  # optional API token, headers, in-memory uploads
    app.register_blueprint(rest.bp)
    app.register_blueprint(web.bp)     # the upload page at / and /v1/images/...
    app.register_blueprint(legacy.bp)  # POST /get_my_predictions
    app.register_blueprint(admin.bp, url_prefix="/v1/admin")
    app.register_blueprint(openapi.bp)  # GET /openapi.json
    from api.oip.blueprint import bp as oip_bp
    app.register_blueprint(oip_bp, url_prefix="/v2")  # the Open Inference Protocol (KServe v2)
    cors.init_app(app, settings)       # --rest_api_enable_cors_support, on by default
    return app


def _gunicorn_application(settings: Settings):
    from gunicorn.app.base import Application

    class ModelServer(Application):
        """gunicorn's application API: our config file, our settings, our factory per worker."""

        def load_config(self):
            self.load_config_from_file(GUNICORN_CONFIG)  # it reads these settings (use())

        def init(self, parser, opts, args):
            return None

        def load(self):
            return create_app(settings)  # runs in the worker, after the fork

    return ModelServer()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MODEL_SERVER_STARTED", str(time.time()))  # for the "Ready" line
    # gunicorn's own line format, so the server's log reads as one.
    logging.basicConfig(level=logging.INFO, datefmt="%Y-%m-%d %H:%M:%S %z",
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if settings_module.asks_for_version(argv):  # as tensorflow_model_server --version
            from serving.version import version_text
            print(version_text())
            return 0
        settings = Settings.load(argv=argv)
    except ValueError as exc:  # a flag or environment variable with a value of the wrong type,
        # or a tensorflow_model_server flag whose effect this server lacks
        print(f"Failed to start server. Error: {exc}", file=sys.stderr)
        return 2
    from serving.config.model_config import ConfigError, take_snapshot
    from serving.config.monitoring import metrics_path
    from serving.config.ssl import read_ssl_config
    from wrappers.op_libraries import check_custom_op_libraries
    try:
        # Read once, before forking: a bad config stops the start, and every worker (and
        # every worker gunicorn restarts later) starts from this same copy.
        take_snapshot(settings)
        metrics_path(settings.monitoring_config_file)
        read_ssl_config(settings.ssl_config_file)  # a bad SSL file stops the start too
        check_custom_op_libraries(settings.custom_op_libraries)
    except (ConfigError, ValueError) as exc:
        print(f"Failed to start server. Error: {exc}", file=sys.stderr)
        return 2
    if settings.debug:
        app = create_app(settings)
        took = time.time() - float(os.environ["MODEL_SERVER_STARTED"])
        logging.getLogger("app").info("Ready in %.1f s: %s; serving http://%s:%d (Flask's "
                                      "development server)", took,
                                      app.extensions["serving"].manager.summary(),
                                      settings.rest_api_host, settings.rest_api_port)
        from grpc_api.server import serve
        grpc_server = serve(app.extensions["serving"], settings)
        try:
            app.run(host=settings.rest_api_host, port=settings.rest_api_port, debug=True,
                    use_reloader=False, threaded=True)
        finally:
            if grpc_server is not None:
                grpc_server.stop(grace=5)
        return 0
    settings_module.use(settings)
    _gunicorn_application(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
