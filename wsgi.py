"""WSGI entry for `gunicorn -c deploy/gunicorn.conf.py wsgi:app` (settings from the environment).

gunicorn imports this module in each worker after the fork (never use --preload), so every
worker builds its own TensorFlow sessions.
"""
from app import create_app

app = create_app()
