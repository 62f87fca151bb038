"""Prepare a model for this server, and find out before deploying whether it will serve.

    python3 scripts/model_tool.py inspect PATH
    python3 scripts/model_tool.py convert SRC DEST --version N [--inputs a=t:0 --outputs b=u:0]
    python3 scripts/model_tool.py check PATH [--request FILE]
    python3 scripts/model_tool.py sync SRC DST

PATH is a version directory (`models/m/1`) or a model's base path (its newest version is
used). `inspect` prints every signature like `saved_model_cli show --all` and what the
server will do with the model; `convert` writes a SavedModel in TensorFlow Serving's layout
from a Keras file, a frozen graph or a code-defined wrapper's checkpoint; `check` loads the
model exactly as the server does (warmup and batching included), runs the request (a REST
body; by default one made from the signature) and prints the answer and the time; `sync`
copies a model repository (a folder, s3://, gs://, az://) into a local TF Serving layout,
each version whole or not at all: an init container's job (README "Object storage").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def version_dir(path: str) -> str:
    """PATH itself, or the newest numeric child of a base path."""
    children = [n for n in os.listdir(path) if n.isdigit() and os.path.isdir(os.path.join(path, n))]
    return os.path.join(path, max(children, key=int)) if children else path


def _shape(spec) -> str:
    return "unknown rank" if spec.shape is None else "(" + ", ".join(
        "-1" if d < 0 else str(d) for d in spec.shape) + ")"


# -- inspect -------------------------------------------------------------------------------------
def inspect(path: str) -> int:
    import wrappers
    from serving.batching.plan import plan_for
    from serving.warmup import WARMUP_FILE
    from wrappers.image_signature import image_signature
    path = version_dir(path)
    wrapper = wrappers.load_version(path)
    try:
        print(f"{path}: {type(wrapper).__name__}"
              + (f" (converted from {wrapper.source})" if getattr(wrapper, "source", path) != path
                 else ""))
        for library in getattr(wrapper, "op_libraries", []):
            print(f"  op library needed: {library} (imported when this model loads)")
        fill = getattr(wrapper, "variable_fill", None)
        if fill is not None and fill.signatures:
            print(f"  {fill.describe()}")
        for key, signature in sorted(wrapper.signatures.items()):
            print(f"\nsignature_def['{key}']:  method: {signature.method_name or '(none)'}")
            for side, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
                print(f"  {side}:")
                for alias, spec in tensors.items():
                    print(f"    {alias}: {spec.dtype} {_shape(spec)}  ({spec.name})")
            if key not in wrapper.servable_signatures:
                continue
            plan = plan_for(signature)
            print("  batching: " + ("never joined (run alone)" if plan is None else
                                    f"fixed batch of {plan.fixed}: requests split" if plan.fixed
                                    else "concurrent requests share a run"))
            if key == "serving_default" and image_signature(signature) is not None:
                print("  image classifier: yes (the upload page and /v1/images take it)")
        warmup = os.path.join(path, WARMUP_FILE)
        print(f"\nwarmup file: {'yes, ' + WARMUP_FILE if os.path.exists(warmup) else 'none'}")
    finally:
        wrapper.close()
    return 0


# -- convert -------------------------------------------------------------------------------------
def convert(source: str, dest: str, version: int, inputs: list[str], outputs: list[str],
            wrapper_name: str | None) -> int:
    import shutil

    import tensorflow as tf
    target = os.path.join(dest, str(version))
    if os.path.exists(target):
        raise SystemExit(f"{target} exists; choose another --version")
    if source.endswith((".keras", ".h5")):
        from wrappers.keras_files import exported
        shutil.copytree(exported(source), target)
    elif source.endswith(".pb"):
        _save_frozen(source, target, inputs, outputs)
    elif wrapper_name:
        _save_code_defined(source, target, wrapper_name)
    else:
        raise SystemExit("SRC must be a .keras/.h5 file, a frozen .pb graph, or a checkpoint "
                         "folder with --wrapper NAME")
    tf.compat.v1.reset_default_graph()
    print(f"wrote {target}")
    return inspect(target)


def _signature_map(graph, inputs: dict, outputs: dict):
    import tensorflow as tf
    info, build = (tf.compat.v1.saved_model.utils.build_tensor_info,
                   tf.compat.v1.saved_model.signature_def_utils.build_signature_def)
    return {"serving_default": build(
        {a: info(graph.get_tensor_by_name(t)) for a, t in inputs.items()},
        {a: info(graph.get_tensor_by_name(t)) for a, t in outputs.items()},
        "tensorflow/serving/predict")}


def _save_frozen(source: str, target: str, inputs: list[str], outputs: list[str]) -> None:
    """The graph imported into a graph of its own, saved with its signature (no variables)."""
    import tensorflow as tf

    from wrappers.frozen_graph import SIDECAR, guess_names
    v1 = tf.compat.v1
    graph_def = v1.GraphDef()
    with open(source, "rb") as handle:
        graph_def.ParseFromString(handle.read())
    sidecar = os.path.join(os.path.dirname(os.path.abspath(source)), SIDECAR)
    if inputs or outputs:
        names = (dict(i.split("=", 1) for i in inputs), dict(o.split("=", 1) for o in outputs))
    elif os.path.exists(sidecar):
        with open(sidecar) as handle:
            spec = json.load(handle)
        names = (spec["inputs"], spec["outputs"])
    else:
        names = guess_names(graph_def, source)
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        tf.import_graph_def(graph_def, name="")
        builder = v1.saved_model.builder.SavedModelBuilder(target)
        builder.add_meta_graph_and_variables(session, ["serve"],
                                             signature_def_map=_signature_map(graph, *names))
        builder.save()


def _save_code_defined(source: str, target: str, name: str) -> None:
    """The wrapper's graph built again in a graph of its own, its checkpoint restored, saved."""
    import tensorflow as tf

    from wrappers import code_defined_wrappers
    registry = code_defined_wrappers()
    if name not in registry:
        raise SystemExit(f"--wrapper must be one of {sorted(registry)}")
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        signatures = registry[name].build_graph(None)
        v1.train.Saver().restore(session, tf.train.latest_checkpoint(source))
        builder = v1.saved_model.builder.SavedModelBuilder(target)
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
        builder.save()


# -- check ---------------------------------------------------------------------------------------
def example_request(signature) -> dict:
    """A REST body with one row of zeros (or "" for strings) of each input's shape."""
    import numpy as np
    columns = {}
    for alias, spec in signature.inputs.items():
        shape = [1 if d < 0 else d for d in (spec.shape or [1])] or []
        if shape and spec.shape and spec.shape[0] < 0:
            shape[0] = 1
        value = np.zeros(shape, spec.np_dtype if spec.np_dtype != object else np.float32)
        columns[alias] = (np.full(shape, "").tolist() if spec.np_dtype == object
                          else value.tolist())
    return {"inputs": columns}


def check(path: str, request_file: str | None, custom_op_libraries: str = "") -> int:
    from api.codec import jsonio, tensors
    from app import build_core
    from serving.config.settings import Settings
    from serving.inference import ModelSpec
    path = os.path.abspath(version_dir(path))
    base, version = os.path.split(path)
    name = os.path.basename(base)
    settings = Settings.load(environ={}, overrides={
        "model_name": name, "model_base_path": base, "file_system_poll_wait_seconds": 0,
        "custom_op_libraries": custom_op_libraries})
    started = time.monotonic()
    core = build_core(settings)  # exactly as the server builds it
    try:
        core.manager.sync_all()
        loaded = time.monotonic() - started
        (status,) = [s for s in core.inference.status(name) if str(s.version) == str(int(version))]
        print(f"load: {status.state} in {loaded:.2f} s"
              + (f" — {status.error_code}: {status.error_message}" if status.error_code != "OK"
                 else ""))
        if status.state != "AVAILABLE":
            return 1
        if request_file:
            with open(request_file) as handle:
                document = json.load(handle)
        else:
            with core.inference.resolve(ModelSpec(name, status.version)) as target:
                document = example_request(target.signature())
        print("request:", json.dumps(document)[:300])
        spec = ModelSpec(name, status.version, signature_name=document.get("signature_name", ""))
        with core.inference.resolve(spec) as target:
            feeds, columnar = tensors.decode_predict(document, target.signature().inputs)
            started = time.monotonic()
            outputs = core.inference.predict(target, feeds)
            took = time.monotonic() - started
        print("answer:", jsonio.dumps(tensors.encode_predict(outputs, columnar)).decode()[:2000])
        print(f"predict: {took * 1000:.1f} ms")
        return 0
    finally:
        core.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("inspect", help="print signatures and what the server will do").add_argument("path")
    converting = commands.add_parser("convert", help="write a SavedModel in TF Serving's layout")
    converting.add_argument("source")
    converting.add_argument("dest", help="the model's base path; the version goes under it")
    converting.add_argument("--version", type=int, required=True)
    converting.add_argument("--inputs", action="append", default=[], metavar="ALIAS=TENSOR")
    converting.add_argument("--outputs", action="append", default=[], metavar="ALIAS=TENSOR")
    converting.add_argument("--wrapper", help="a code-defined wrapper (model_a, model_b) whose "
                                              "checkpoint SOURCE holds")
    checking = commands.add_parser("check", help="load as the server does and run a request")
    checking.add_argument("path")
    checking.add_argument("--request", help="a JSON file with a REST predict body")
    checking.add_argument("--custom_op_libraries", default="",
                          help="as the server's flag: .so files or op-registering modules")
    syncing = commands.add_parser("sync", help="copy a repository (s3://, gs://, az://, a "
                                  "folder) into a local TF Serving layout")
    syncing.add_argument("source")
    syncing.add_argument("dest")
    args = parser.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.WARNING)
    from serving.config import tf_logs
    if args.command == "sync":  # no TensorFlow needed: objects in, files out
        from serving.storage.sync import sync
        copied = sync(args.source, args.dest)
        print("\n".join(copied) or f"no whole version found in {args.source}")
        return 0 if copied else 1
    if args.command != "check":  # check sets TensorFlow up as the server does (app.build_core)
        tf_logs.import_tensorflow()
    try:
        if args.command == "inspect":
            return inspect(args.path)
        if args.command == "convert":
            return convert(args.source, args.dest, args.version, args.inputs, args.outputs,
                           args.wrapper)
        return check(args.path, args.request, args.custom_op_libraries)
    except Exception as exc:  # noqa: BLE001 - a user tool: the reason, not a traceback
        from serving.errors import ServingError
        if isinstance(exc, ServingError):
            print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
