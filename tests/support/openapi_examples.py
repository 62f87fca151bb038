"""The operations api/openapi.yaml describes, and each one's example as a request."""
from __future__ import annotations

from api.openapi import spec
from tests.support.guarded_server import BOTH, TINY_PNG

METHODS = ("get", "post", "put", "delete")
OPERATIONS = [(path, method, item[method]) for path, item in spec()["paths"].items()
              for method in METHODS if method in item]
# The memory routes act only under --model_memory_budget: their examples get their success
# on such a server (tests/e2e/test_memory_budget.py); here, without a budget, a clear 400.
MEMORY = [operation for operation in OPERATIONS if "memory" in operation[2]["tags"]]
EVERYDAY = [operation for operation in OPERATIONS if operation not in MEMORY]


def ref(node):
    """Follow a local `$ref` (#/components/...) to what it names."""
    target = spec()
    if isinstance(node, dict) and "$ref" in node:
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return target
    return node


def example_request(path: str, operation: dict) -> dict:
    """The operation's example as keyword arguments for requests.request."""
    params, cookies = {}, {}
    for parameter in map(ref, operation.get("parameters", [])):
        value = parameter.get("example")
        if parameter["in"] == "path":
            path = path.replace("{%s}" % parameter["name"], str(value))
        elif value is not None:
            {"query": params, "cookie": cookies}[parameter["in"]][parameter["name"]] = value
    call = {"url": path, "params": params, "cookies": cookies, "headers": dict(BOTH)}
    body = ref(operation.get("requestBody"))
    if body:
        kind, media = next((k, m) for k, m in body["content"].items()
                           if "example" in m or k.startswith("multipart/"))
        if kind == "application/json":
            call["json"] = media["example"]
        else:  # multipart: the example's fields, and a real picture for each binary field
            fields = ref(media["schema"])["properties"]
            call["data"] = media.get("example", {})
            call["files"] = {name: ("digit.png", TINY_PNG, "image/png")
                             for name, field in fields.items() if field.get("format") == "binary"}
    return call


def success(operation: dict) -> int:
    """The first 2xx status; for an operation that always refuses (a shared memory region's
    status or registration: Triton's APIs for what this server lacks), the first listed."""
    successes = [int(code) for code in operation["responses"] if code.startswith("2")]
    return min(successes) if successes else int(next(iter(operation["responses"])))
