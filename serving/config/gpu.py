"""Which GPUs this process may use, applied through the environment before TensorFlow loads.

CUDA_VISIBLE_DEVICES is the reliable switch: TensorFlow then never opens a CUDA context (and
its memory) on the other GPUs, and numbers the ones it sees from 0, so sessions need no
visible_device_list. TF_FORCE_GPU_ALLOW_GROWTH makes growth hold for every allocator TF
creates, not only for sessions built from our ConfigProto. On a machine without a GPU
both variables are ignored.
"""
from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def configure_process(visible_gpus: str, allow_growth: bool) -> None:
    """Call before the first `import tensorflow` in this process (create_app does)."""
    wanted = {}
    if visible_gpus:
        wanted["CUDA_VISIBLE_DEVICES"] = visible_gpus   # "-1": hide every GPU
    if allow_growth:
        wanted["TF_FORCE_GPU_ALLOW_GROWTH"] = os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    if "tensorflow" in sys.modules:
        late = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
        if late:
            log.warning("TensorFlow was imported before the GPU settings could apply; "
                        "ignoring %s", ", ".join(f"{k}={v}" for k, v in late.items()))
        return
    os.environ.update(wanted)
