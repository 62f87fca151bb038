"""Ops a SavedModel needs that stock TensorFlow does not register: found from its graph, and
registered before the graph is imported, only for the models that need them.

TensorFlow Serving's binary links TensorFlow Text's ops; here `tensorflow-text` is a
dependency, imported the first time a model uses one of its ops (the others start and run
as before). Any other library comes from --custom_op_libraries: a TensorFlow `.so` file
(tf.load_op_library) or a Python module that registers ops when imported.
"""
from __future__ import annotations

import importlib
import logging
import os

from serving.errors import LoadError

log = logging.getLogger(__name__)

# Python modules that register ops when imported, and how to tell their ops from the name.
KNOWN = {"tensorflow_text": lambda op: op.startswith("TFText>") or op in _TEXT_OPS}
_TEXT_OPS = frozenset("""
CaseFoldUTF8 ConstrainedSequence FastBertNormalize FastWordpieceTokenizeWithOffsets
MaxSpanningTree NormalizeUTF8 NormalizeUTF8WithOffsetsMap RegexSplitWithOffsets
RougeL SentencepieceOp SentencepieceTokenizeOp SentencepieceTokenizeWithOffsetsOp
SentencepieceDetokenizeOp SentencepieceIdToStringOp SentencepieceStringToIdOp
SentencepieceGetPieceSize SplitMergeTokenizeWithOffsets TokenizerFromLogits
UnicodeScriptTokenizeWithOffsets WhitespaceTokenizeWithOffsets WordpieceTokenizeWithOffsets
""".split())
_loaded: set[str] = set()


def _items(setting: str) -> list[str]:
    return list(filter(None, (part.strip() for part in setting.split(","))))


def check_custom_op_libraries(setting: str) -> None:
    """In gunicorn's master, without importing anything: each entry exists (a file) or is an
    importable module; ValueError naming the first that is not."""
    import importlib.util
    for item in _items(setting):
        if item.endswith(".so") or os.path.sep in item:
            if not os.path.isfile(item):
                raise ValueError(f"--custom_op_libraries: no such file {item}")
        elif importlib.util.find_spec(item) is None:
            raise ValueError(f"--custom_op_libraries: no Python module {item} "
                             f"(pip install it, or give the path of its .so file)")


def load_custom_libraries(setting: str) -> None:
    """--custom_op_libraries: comma-separated .so paths or Python module names."""
    import tensorflow as tf
    for item in _items(setting):
        if item in _loaded:
            continue
        try:
            if item.endswith(".so") or os.path.sep in item:
                tf.load_op_library(item)
            else:
                importlib.import_module(item)
        except (ImportError, tf.errors.NotFoundError, OSError) as exc:
            raise LoadError(f"--custom_op_libraries: cannot load {item}: {exc}",
                            "NOT_FOUND") from None
        _loaded.add(item)
        log.info("op library %s loaded", item)


def graph_ops(meta_graph) -> set[str]:
    """Every op type a MetaGraphDef's graph and its functions use."""
    graph = meta_graph.graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def unregistered(ops: set[str]) -> set[str]:
    from tensorflow.python.framework import op_def_registry
    return {op for op in ops if op_def_registry.get(op) is None}


def libraries_for(ops: set[str]) -> list[str]:
    """The known libraries that would provide some of these ops (without importing them)."""
    return [name for name, provides in KNOWN.items() if any(provides(op) for op in ops)]


def ensure_registered(meta_graph, path: str) -> list[str]:
    """Import what the graph needs; the libraries imported. LoadError naming each op no
    known library provides, with the fix."""
    missing = unregistered(graph_ops(meta_graph))
    if not missing:
        return []
    imported = []
    for name in libraries_for(missing):
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise LoadError(f"{path} uses ops of {name} ({', '.join(sorted(missing))}), which "
                            f"is not installed: pip install {name.replace('_', '-')} "
                            f"(matching TensorFlow's version) ({exc})", "NOT_FOUND") from None
        _loaded.add(name)
        imported.append(name)
        log.info("op library %s imported for %s", name, path)
    still = unregistered(missing)
    if still:
        raise LoadError(f"{path}: Op type not registered: {', '.join(sorted(still))}. No "
                        f"library this server knows provides it; load the one that does with "
                        f"--custom_op_libraries=<its .so file or Python module>", "NOT_FOUND")
    return imported
