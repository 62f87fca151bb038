"""In-process limit: our wrapper's `run` on batches of 1/8/32/64, no HTTP and no JSON.

    python bench/limit.py MODELS_DIR [--models mlp,cnn] [--seconds 1]

Prints one JSON line per (model, batch): the ceiling any server in front of this model can
approach on this machine. Runs in its own process so the benchmark driver stays TF-free.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BATCHES = (1, 8, 32, 64)


def main() -> None:
    import numpy as np

    from wrappers.base import SessionOptions
    from wrappers.saved_model import SavedModelWrapper

    parser = argparse.ArgumentParser()
    parser.add_argument("models_dir")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    options = SessionOptions()  # the server's defaults (settings.py)
    for name in args.models.split(","):
        wrapper = SavedModelWrapper(os.path.join(args.models_dir, name, "1"), options)
        signature = wrapper.signatures["serving_default"]
        (alias, spec), = signature.inputs.items()
        for batch in BATCHES:
            feeds = {alias: np.random.rand(batch, *spec.shape[1:]).astype(np.float32)}
            for _ in range(10):
                wrapper.run("serving_default", feeds)
            latencies, end = [], time.perf_counter() + args.seconds
            while True:
                started = time.perf_counter()
                wrapper.run("serving_default", feeds)
                latencies.append(time.perf_counter() - started)
                if started > end:
                    break
            ms = np.array(latencies) * 1e3
            print(json.dumps({"model": name, "batch": batch, "p50_ms": float(np.median(ms)),
                              "p99_ms": float(np.percentile(ms, 99)),
                              "rows_per_s": batch * len(ms) / (ms.sum() / 1e3)}), flush=True)
        wrapper.close()


if __name__ == "__main__":
    main()
