"""The committed inference_pb2*.py (scripts/make_oip_protos.py) speak Triton's wire: every
message and field we declare has the name, number and type of tritonclient's own, and the
gencode is no newer than the oldest protobuf runtime tensorflow 2.21 allows.

Our descriptor is read from the generated file's text, never imported: its `inference.*`
names would clash with tritonclient's in protobuf's default pool."""
from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

from google.protobuf import descriptor_pb2

GENERATED = Path(__file__).resolve().parents[3] / "grpc_api" / "oip" / "inference_pb2.py"


def ours() -> descriptor_pb2.FileDescriptorProto:
    for node in ast.walk(ast.parse(GENERATED.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            return descriptor_pb2.FileDescriptorProto.FromString(node.args[0].value)
    raise AssertionError("no serialized descriptor in inference_pb2.py")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_the_gencode_is_not_newer_than_the_oldest_runtime_tensorflow_allows():
    gencode = re.search(r"Protobuf Python Version: ([\d.]+)", GENERATED.read_text()).group(1)
    pins = [r for r in importlib.metadata.requires("tensorflow") if r.startswith("protobuf")]
    oldest = re.search(r">=\s*([\d.]+)", pins[0]).group(1)
    assert _version(gencode) <= _version(oldest), (gencode, pins)


def _triton_messages() -> dict:
    from tritonclient.grpc import service_pb2
    found = {}

    def walk(message, prefix):
        found[prefix + message.name] = message
        for nested in message.nested_types:
            walk(nested, prefix + message.name + ".")
    for file in (service_pb2.DESCRIPTOR, service_pb2.DESCRIPTOR.dependencies[0]):
        for message in file.message_types_by_name.values():
            walk(message, "")
    return found


def test_every_declared_field_matches_tritons_name_number_and_type():
    triton, checked = _triton_messages(), 0

    def walk(message, prefix):
        nonlocal checked
        name = prefix + message.name
        theirs = triton.get(name)
        assert theirs is not None, f"inference.{name} is not Triton's"
        for field in message.field:
            other = theirs.fields_by_name.get(field.name)
            assert other is not None, f"{name}.{field.name} is not Triton's"
            assert (other.number, other.type) == (field.number, field.type), f"{name}.{field.name}"
            checked += 1
        for nested in message.nested_type:
            if not nested.options.map_entry:
                walk(nested, name + ".")
    descriptor = ours()
    assert descriptor.package == "inference"
    for message in descriptor.message_type:
        walk(message, "")
    assert checked > 100


def test_the_service_and_its_methods_are_tritons():
    from tritonclient.grpc import service_pb2
    (service,) = ours().service
    theirs = service_pb2.DESCRIPTOR.services_by_name[service.name]
    for method in service.method:
        other = theirs.methods_by_name[method.name]
        assert other.input_type.full_name == method.input_type.lstrip(".")
        assert other.output_type.full_name == method.output_type.lstrip(".")
