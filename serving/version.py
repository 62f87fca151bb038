"""This server's name and version, kept here only: `python3 app.py --version` prints them
beside TensorFlow's, as `tensorflow_model_server --version` prints its own two lines."""
from __future__ import annotations

import importlib.metadata

SERVER_NAME = "tf-flask-serving"
VERSION = "1.0.0"


def tensorflow_version() -> str:
    """The installed TensorFlow's version, read from its package metadata: importing it takes
    seconds and prints C++ start-up lines (tensorflow, tensorflow-cpu, tf-nightly, ...)."""
    for distribution in importlib.metadata.packages_distributions().get("tensorflow", []):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def version_text() -> str:
    return f"{SERVER_NAME}: {VERSION}\nTensorFlow Library: {tensorflow_version()}"
