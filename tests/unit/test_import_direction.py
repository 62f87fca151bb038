"""Imports run one way (ARCHITECTURE.md): errors, metrics ← config ← batching ← models ←
routing ← the core's verbs ← the fronts ← app.py; wrappers use only the core's error types;
the core never imports a front, Flask, werkzeug or grpc. Read from the source with `ast`, so a
function-level import counts as much as one at the top."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each module's layer, by its dotted name's prefix (the longest prefix wins).
LAYERS = {
    "serving.errors": 0, "serving.metrics": 0, "serving.observe": 0,
    "serving.config": 1,
    "serving.batching": 2, "serving.storage": 2,
    "serving.models": 3,
    "serving.routing": 4,
    "serving.inference": 5, "serving.images": 5, "serving.featurized": 5, "serving.core": 5,
    "serving.tensor_proto": 5, "serving.requests": 5, "serving.warmup": 5, "serving.oip": 5,
    "api": 6, "grpc_api": 6,
    "app": 7, "wsgi": 7,
}
CORE_MAY_NOT_USE = ("flask", "flask_cors", "werkzeug", "grpc", "api", "grpc_api", "wrappers",
                    "app")
WRAPPERS_MAY_USE = ("serving.errors",)
PACKAGES = ("serving", "api", "grpc_api", "wrappers")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    for script in ("app", "wsgi"):
        found[script] = ROOT / f"{script}.py"
    return found


def imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (`from a import b` gives a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if "." in node.module or node.module not in PACKAGES:  # `from serving import x`
                names.add(node.module)                             # is judged by serving.x
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer(name: str) -> int | None:
    best = None
    for prefix, rank in LAYERS.items():
        if name == prefix or name.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, rank)
    return None if best is None else best[1]


MODULES = modules()


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) is not None))
def test_a_module_imports_nothing_from_a_layer_above_its_own(name):
    upward = sorted(other for other in imports(MODULES[name])
                    if layer(other) is not None and layer(other) > layer(name))
    assert upward == [], f"{name} (layer {layer(name)}) imports from above: {upward}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("serving")))
def test_the_core_never_imports_a_front_flask_grpc_or_the_wrappers(name):
    wrong = sorted(other for other in imports(MODULES[name])
                   if other.split(".")[0] in CORE_MAY_NOT_USE)
    assert wrong == [], f"{name} imports {wrong}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("wrappers")))
def test_wrappers_use_only_the_cores_error_types(name):
    wrong = sorted(other for other in imports(MODULES[name])
                   if other.split(".")[0] in ("serving", "api", "grpc_api", "app")
                   and not any(other == allowed or other.startswith(allowed + ".")
                               for allowed in WRAPPERS_MAY_USE))
    assert wrong == [], f"{name} imports {wrong}"


def test_the_fronts_reach_models_only_through_the_core_and_never_each_other():
    for name, path in MODULES.items():
        front = name.split(".")[0]
        if front in ("api", "grpc_api"):
            other = {"api": "grpc_api", "grpc_api": "api"}[front]
            assert not [o for o in imports(path) if o.split(".")[0] in ("wrappers", other)], name


def test_the_direction_test_sees_a_violation_when_there_is_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from api.rest import bp\n")
    assert "api.rest" in imports(bad) and layer("api.rest") > layer("serving.models.manager")
