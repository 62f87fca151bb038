"""Where one request's time goes, stage by stage, in one process (no HTTP, one thread).

    python bench/request_path.py [--models mlp,cnn] [--bench-dir DIR]

For a single-instance body of each benchmark model: JSON parse, JSON → arrays (the general
path), body → arrays as the server reads it (the dense path of api/codec/dense.py where it
applies), the model's run (batch 1), outputs → JSON, and the whole app called as WSGI
(those stages plus Flask's routing and hooks, the batcher's inline path, metrics and
headers); a do-nothing Flask app gives the framework's own floor. What this cannot show
(gunicorn's HTTP work and the hand-offs between threads under load) is the gap between its
total and the server CPU per request that `bench/run.py` prints.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import timeit
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def cost_us(call, rounds: int = 7) -> float:
    """Median over rounds of the mean time of one call, in microseconds (each round as many
    calls as timeit's autorange needs for 0.2 s)."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(rounds, number)) / number * 1e6


def wsgi_call(app, path: str, body: bytes):
    """One POST through the WSGI interface, as gunicorn makes it (the environ is built once
    by werkzeug; each call gets a fresh body stream)."""
    from werkzeug.test import EnvironBuilder
    base = EnvironBuilder(path=path, method="POST", data=body,
                          content_type="application/json").get_environ()

    def call():
        environ = {**base, "wsgi.input": io.BytesIO(body)}
        statuses = []
        chunks = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        assert statuses[0].startswith("200"), statuses
    return call


def stages(model: str, bench_dir: Path) -> list[tuple[str, float]]:
    from floor_app import app as floor
    from servers import models_config

    from api.codec import dense, jsonio, tensors
    from app import create_app

    app = create_app({"model_config_file": str(models_config(bench_dir, model)),
                      "file_system_poll_wait_seconds": 0})
    try:
        body = (bench_dir / "bodies" / f"{model}_1.json").read_bytes()
        servable = app.extensions["serving"].manager.resolve(model)
        signature = servable.signatures["serving_default"]
        document = jsonio.loads(body)
        feeds, columnar = tensors.decode_predict(document, signature.inputs, True)
        outputs = servable.wrapper.run(signature.key, feeds)
        limits = app.extensions["serving"].limits

        def as_served():  # the dense path where it applies, else the general one
            quick = dense.split(body)
            if quick is None:
                return tensors.decode_predict(jsonio.loads(body), signature.inputs, True)
            assert dense.decode(quick[1], quick[2], signature.inputs, limits) is not None
        path = f"/v1/models/{model}:predict"
        return [
            ("JSON parse (orjson)", cost_us(lambda: jsonio.loads(body))),
            ("JSON → arrays", cost_us(lambda: tensors.decode_predict(document,
                                                                     signature.inputs, True))),
            ("body → arrays, as served", cost_us(as_served)),
            ("model run, batch 1", cost_us(lambda: servable.wrapper.run(signature.key, feeds))),
            ("outputs → JSON", cost_us(lambda: jsonio.dumps(tensors.encode_predict(outputs,
                                                                                 columnar)))),
            ("whole app (WSGI call)", cost_us(wsgi_call(app, path, body))),
            ("do-nothing Flask app", cost_us(wsgi_call(floor, path, body))),
        ]
    finally:
        app.extensions["serving"].close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--bench-dir", default=os.environ.get("BENCH_DIR", "/tmp/bench"))
    args = parser.parse_args(argv)
    from run import prepare
    bench_dir = Path(args.bench_dir)
    prepare(bench_dir, args.models.split(","))
    results = {model: stages(model, bench_dir) for model in args.models.split(",")}
    models = list(results)
    print("| stage (µs per request, one thread) | " + " | ".join(models) + " |")
    print("|---|" + "---:|" * len(models))
    for index, (name, _) in enumerate(results[models[0]]):
        print(f"| {name} | " + " | ".join(f"{results[m][index][1]:,.0f}" for m in models) + " |")


if __name__ == "__main__":
    main()
