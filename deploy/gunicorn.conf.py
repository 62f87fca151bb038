"""gunicorn settings for the model server (used by `python app.py` and `gunicorn -c`).

Never set preload_app: the app (TensorFlow, sessions, batcher threads) must be built in
each worker after the fork. Values come from the environment so containers can tune them.
"""
import os

bind = [f"{os.environ.get('REST_API_HOST', '0.0.0.0')}:{os.environ.get('REST_API_PORT', '8501')}"]
worker_class = "gthread"
workers = int(os.environ.get("WORKERS", "1"))
threads = int(os.environ.get("THREADS", "16"))
preload_app = False
# Loading models happens before a worker's first heartbeat: leave room for slow loads.
timeout = int(os.environ.get("WORKER_TIMEOUT", "180"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s model_version=%({x-model-version}o)s %(M)sms'
