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
from tests.support.openapi_examples import (EVERYDAY, MEMORY, OPERATIONS, example_request,
                                            ref, success)


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
            response = ref(response)
            if status.startswith(("4", "5")) and "application/json" in response.get("content", {}):
                assert ref(response["content"]["application/json"]["schema"]) == \
                    spec()["components"]["schemas"]["Error"], (method, path, status)


@pytest.mark.parametrize("path, method, operation", EVERYDAY,
                         ids=[f"{m.upper()} {p}" for p, m, _ in EVERYDAY])
def test_each_example_request_gets_its_documented_status(guarded_server, path, method, operation):
    call = example_request(path, operation)
    call["url"] = guarded_server.url + call["url"]
    reply = requests.request(method.upper(), timeout=60, **call)
    assert reply.status_code == success(operation), reply.text[:300]


@pytest.mark.parametrize("path, method, operation", MEMORY,
                         ids=[f"{m.upper()} {p}" for p, m, _ in MEMORY])
def test_the_memory_routes_say_a_server_without_a_budget_has_nothing_to_load(
        guarded_server, path, method, operation):
    call = example_request(path, operation)
    call["url"] = guarded_server.url + call["url"]
    reply = requests.request(method.upper(), timeout=60, **call)
    assert reply.status_code == 400 and "--model_memory_budget" in reply.json()["error"]
