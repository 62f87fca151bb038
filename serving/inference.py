"""The verbs of TF Serving's API, from request body bytes to response payload.

Order of checks follows TF Serving (so a doubly-wrong request gets the same error):
JSON syntax → body is an object → signature_name type → model lookup → signature → tensors → run.
"""
from __future__ import annotations

from typing import Any

from serving import examples, jsonio, tensors
from serving.errors import InvalidArgument, NotFound
from serving.limits import DEFAULT as DEFAULT_LIMITS, Limits


def parse_body(body: bytes, limits: Limits = DEFAULT_LIMITS) -> dict:
    document = jsonio.loads(body, limits)
    if not isinstance(document, dict):
        raise InvalidArgument(f"JSON Value: {tensors.json_text(document)} Is not object")
    name = document.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise InvalidArgument("'signature_name' key must be a string value.")
    return document


def predict(manager, name: str, version: int | None, label: str | None, body: bytes,
            limits: Limits = DEFAULT_LIMITS):
    """Returns (servable, payload) so callers can name the version that answered."""
    document = parse_body(body, limits)
    servable = manager.resolve(name, version, label)
    signature = servable.signature(document.get("signature_name"))
    if not signature.inputs:
        raise InvalidArgument(f"Failed to get input map for signature: "
                              f"{document.get('signature_name') or 'serving_default'}")
    # numpy may read number lists whole unless a JSON boolean could hide among them.
    fast = b"true" not in body and b"false" not in body
    feeds, columnar = tensors.decode_predict(document, signature.inputs, fast, limits)
    outputs = servable.run(signature, feeds)
    return servable, tensors.encode_predict(outputs, columnar)


def classify_or_regress(manager, verb: str, name: str, version: int | None,
                        label: str | None, body: bytes, limits: Limits = DEFAULT_LIMITS):
    document = parse_body(body, limits)
    serialized = examples.decode_examples(document, verb, limits)
    servable = manager.resolve(name, version, label)
    signature = servable.signature(document.get("signature_name"))
    input_alias = examples.signature_input(signature, verb)
    if verb == "classify":
        wanted, encode = examples.classify_outputs(signature), examples.encode_classify
    else:
        wanted, encode = examples.regress_outputs(signature), examples.encode_regress
    outputs = servable.run(signature, {input_alias: serialized}, wanted)
    return servable, encode(outputs, len(serialized))


def status_payload(manager, name: str, version: int | None) -> dict:
    return {"model_version_status": [
        {"version": str(s.version), "state": s.state,
         "status": {"error_code": s.error_code, "error_message": s.error_message}}
        for s in manager.status(name, version)]}


def metadata_payload(manager, name: str, version: int | None, label: str | None) -> dict:
    servable = manager.resolve(name, version, label)
    return {"model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
            "metadata": {"signature_def": signature_def_map(servable)}}


def signature_def_map(servable) -> dict[str, Any]:
    """The SignatureDefMap as TF Serving prints it (proto3 JSON, snake_case, defaults shown)."""
    cached = getattr(servable, "_signature_json", None)
    if cached is None:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2
        proto = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.wrapper.signatures.items():
            proto.signature_def[key].CopyFrom(signature.proto)
        cached = json_format.MessageToDict(proto, preserving_proto_field_name=True,
                                           always_print_fields_with_no_presence=True)
        servable._signature_json = cached
    return cached


def models_payload(manager) -> dict:
    """Our addition (TF Serving has no list): every model with its versions and states."""
    models = []
    for name in manager.model_names():
        try:
            versions = manager.status(name)
        except NotFound:  # a model with no version on disk yet
            versions = []
        models.append({"name": name, "model_version_status": [
            {"version": str(s.version), "state": s.state,
             "status": {"error_code": s.error_code, "error_message": s.error_message}}
            for s in versions]})
    return {"models": models}
