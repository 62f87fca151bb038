"""TensorFlow's start-up noise, kept out of the server's log unless asked for.

Importing TensorFlow and probing its devices prints ~15 lines per worker from C++ (oneDNN,
CUDA probing, CPU features) before absl's logging is set up, which TF_CPP_MIN_LOG_LEVEL does
not reach, plus Python deprecation warnings. In the worker, before anything else touches
TensorFlow, both happen here with stderr captured, and only lines that are not that noise
are written back. `--tensorflow_logs`, or TF_CPP_MIN_LOG_LEVEL set by the operator, shows all.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

# absl's prefix (I0000 00:00:1796162322.092613   11966 port.cc:153] ...) on INFO and WARNING
# lines, absl's "before InitializeLog" notice, the CPU-feature guard's second line, and the
# CUDA probe's error on a machine without a GPU driver.
_NOISE = re.compile(r"[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
                    r"|WARNING: All log messages before absl::InitializeLog\(\)"
                    r"|To enable the following instructions:"
                    r"|E\d{4} .*(failed call to cuInit|Unable to register cu\w+ factory)"
                    r"|\s*$")


def import_tensorflow(show_logs: bool = False):
    """Import TensorFlow and find its devices; returns the module."""
    if show_logs or "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        import tensorflow as tf
        return tf
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TF's own C++ INFO/WARNING, once it logs itself
    with _stderr_filtered():
        import tensorflow as tf
        tf.config.list_physical_devices()  # the CUDA probe prints now, not at the first load
    tf.get_logger().setLevel(logging.ERROR)  # "... is deprecated" from the v1 loader
    return tf


@contextlib.contextmanager
def _stderr_filtered():
    """Send file descriptor 2 to a temporary file meanwhile; write back what is not noise.

    Runs before the worker starts any thread, so nothing else writes to stderr meanwhile
    except this thread (whose lines are kept)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace")
                    .splitlines(keepends=True) if not _NOISE.match(line)]
            if kept:
                os.write(2, "".join(kept).encode())
