"""/openapi.json describes the server truly: it is valid OpenAPI 3, every Flask route is in it
and every path in it routes, and each operation's example request gets its documented status
from the live server."""
from __future__ import annotations

import re

import pytest
import requests
from openapi_spec_validator import validate
from werkzeug.exceptions import HTTPException

from api.openapi import spec
from tests.support.guarded_server import BOTH, TINY_PNG

METHODS = ("get", "post", "put", "delete")
OPERATIONS = [(path, method, item[method]) for path, item in spec()["paths"].items()
              for method in METHODS if method in item]


def _ref(node):
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
    for parameter in map(_ref, operation.get("parameters", [])):
        value = parameter.get("example")
        if parameter["in"] == "path":
            path = path.replace("{%s}" % parameter["name"], str(value))
        elif value is not None:
            {"query": params, "cookie": cookies}[parameter["in"]][parameter["name"]] = value
    call = {"url": path, "params": params, "cookies": cookies, "headers": dict(BOTH)}
    body = _ref(operation.get("requestBody"))
    if body:
        kind, media = next((k, m) for k, m in body["content"].items()
                           if "example" in m or k.startswith("multipart/"))
        if kind == "application/json":
            call["json"] = media["example"]
        else:  # multipart: the example's fields, and a real picture for each binary field
            fields = _ref(media["schema"])["properties"]
            call["data"] = media.get("example", {})
            call["files"] = {name: ("digit.png", TINY_PNG, "image/png")
                             for name, field in fields.items() if field.get("format") == "binary"}
    return call


def test_the_description_is_valid_openapi_3():
    validate(spec())
    assert spec()["openapi"].startswith("3.")


def test_the_server_serves_the_description_without_a_token(guarded_server):
    reply = requests.get(guarded_server.url + "/openapi.json", timeout=30)
    assert reply.status_code == 200 and reply.json() == spec()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "example", path).replace("/versions/example", "/versions/1")


def test_every_flask_route_is_described_and_every_described_path_routes(app):
    adapter = app.url_map.bind("localhost")
    routed = set()
    for path, method, _ in OPERATIONS:
        try:
            endpoint, _ = adapter.match(concrete(path), method=method.upper())
        except HTTPException as error:
            pytest.fail(f"{method.upper()} {path} is described but does not route: {error}")
        routed.add((endpoint, method.upper()))
    rules = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert rules - routed == set(), "Flask routes missing from api/openapi.yaml"


def test_every_operation_documents_its_errors_as_json():
    for path, method, operation in OPERATIONS:
        for status, response in operation["responses"].items():
            response = _ref(response)
            if status.startswith(("4", "5")) and "application/json" in response.get("content", {}):
                assert _ref(response["content"]["application/json"]["schema"]) == \
                    spec()["components"]["schemas"]["Error"], (method, path, status)


@pytest.mark.parametrize("path, method, operation", OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m, _ in OPERATIONS])
def test_each_example_request_gets_its_documented_status(guarded_server, path, method, operation):
    call = example_request(path, operation)
    call["url"] = guarded_server.url + call["url"]
    reply = requests.request(method.upper(), timeout=60, **call)
    expected = min(int(code) for code in operation["responses"] if code.startswith("2"))
    assert reply.status_code == expected, reply.text[:300]
