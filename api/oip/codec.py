"""OIP inference bodies over HTTP: JSON, and the binary tensor data extension in both directions.

A body is a JSON header, then (when `Inference-Header-Content-Length` says where the JSON
ends) the binary inputs in the order of the inputs that declare `binary_data_size`. Every
length is checked against the bytes received before anything is sliced or allocated. The
body needs no Content-Type: tritonclient.http sends none.

Outputs go back as JSON `data`, or as binary when the output's `binary_data` parameter (else
the request's `binary_data_output`) asks; a BYTES output that is not UTF-8 text always goes
binary, since JSON cannot carry it. JSON has no NaN or Infinity: such values are written as
null (read back as NaN); the binary form keeps them exactly.
"""
from __future__ import annotations

import dataclasses
import re

import orjson

from api.codec import jsonio
from serving.config.limits import Limits
from serving.errors import InvalidArgument
from serving.oip.datatypes import of_array, to_raw, to_values
from serving.oip.service import InferResult, InputTensor

HEADER = "Inference-Header-Content-Length"
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"')


@dataclasses.dataclass
class InferRequest:
    id: object
    inputs: list[InputTensor]
    outputs: list[str] | None
    binary: dict[str, bool]          # per requested output
    binary_default: bool
    signature: str
    classification: dict[str, int] = dataclasses.field(default_factory=dict)


def split(body: bytes, header_length) -> tuple[bytes, memoryview | None]:
    """(JSON header, binary part or None) as `Inference-Header-Content-Length` divides them."""
    if header_length is None:
        return body, None
    text = header_length.strip()
    if not text.isdigit() or not text.isascii():
        raise InvalidArgument(f"{HEADER} must be a non-negative integer, got '{header_length}'")
    length = int(text)
    if length > len(body):
        raise InvalidArgument(f"{HEADER} is {length}, but the body holds only {len(body)} bytes")
    if length == 0:
        raise InvalidArgument(f"a raw binary body ({HEADER}: 0) is not supported: send a JSON "
                              f"header describing the inputs")
    return body[:length], memoryview(body)[length:]


def _object(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def _flag(parameters: dict, key: str, default: bool) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise InvalidArgument(f"parameter '{key}' must be true or false")
    return value


def _loads(head: bytes, limits: Limits):
    """The JSON header. A bare NaN (perf_analyzer's random FP32 data holds one in 256) makes
    orjson refuse the body and the standard library read it three times slower; read as
    null it is the same NaN in a float tensor (datatypes.from_values), so when no string
    holds the token it is read so, at orjson's speed. Infinity still takes the slow path
    (as null it would not be infinite)."""
    if b"NaN" in head and b"Infinity" not in head \
            and not any(b"NaN" in text.group() for text in _STRING.finditer(head)):
        limits.check_body(head)
        try:
            return orjson.loads(head.replace(b"NaN", b"null"))
        except orjson.JSONDecodeError:
            pass  # malformed anyway: jsonio words the error as for any other body
    return jsonio.loads(head, limits)


def decode(body: bytes, header_length, limits: Limits) -> InferRequest:
    head, binary = split(body, header_length)
    document = _loads(head, limits)
    if not isinstance(document, dict):
        raise InvalidArgument("the inference request must be a JSON object")
    parameters = _object(document.get("parameters"), "'parameters'")
    signature = parameters.get("signature_name", "")
    if not isinstance(signature, str):
        raise InvalidArgument("parameter 'signature_name' must be a string")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list):
        raise InvalidArgument("the inference request needs an 'inputs' list")
    inputs, offset = [], 0
    available = len(binary) if binary is not None else 0
    for item in raw_inputs:
        if not isinstance(item, dict):
            raise InvalidArgument("each of 'inputs' must be a JSON object")
        name = item.get("name")
        if not isinstance(name, str):
            raise InvalidArgument("each input needs a string 'name'")
        if not isinstance(item.get("datatype"), str):
            raise InvalidArgument(f"input '{name}' needs a string 'datatype'")
        if "shape" not in item:
            raise InvalidArgument(f"input '{name}' needs a 'shape'")
        size = _object(item.get("parameters"), f"the parameters of input '{name}'") \
            .get("binary_data_size")
        tensor = InputTensor(name, item["datatype"], item["shape"])
        if size is not None:
            if "data" in item:
                raise InvalidArgument(f"input '{name}' has both 'data' and 'binary_data_size'")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise InvalidArgument(f"'binary_data_size' of input '{name}' must be a "
                                      f"non-negative integer")
            if binary is None:
                raise InvalidArgument(f"input '{name}' declares 'binary_data_size' but the "
                                      f"request has no valid '{HEADER}' header")
            if offset + size > available:
                raise InvalidArgument(f"input '{name}' declares {size} bytes of binary data, "
                                      f"but only {available - offset} remain in the body")
            tensor.raw = binary[offset:offset + size]
            offset += size
        elif "data" in item:
            tensor.values = item["data"]
        else:
            raise InvalidArgument(f"input '{name}' has neither 'data' nor 'binary_data_size'")
        inputs.append(tensor)
    if offset != available:
        raise InvalidArgument(f"the body holds {available - offset} bytes of binary data that "
                              f"no input claims")
    outputs, binary_flags, classes = None, {}, {}
    if document.get("outputs") is not None:
        if not isinstance(document["outputs"], list):
            raise InvalidArgument("'outputs' must be a list")
        outputs = []
        for item in document["outputs"]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidArgument("each of 'outputs' must be an object with a string "
                                      "'name'")
            options = _object(item.get("parameters"), f"the parameters of output "
                                                       f"'{item['name']}'")
            if options.get("classification") is not None:
                classes[item["name"]] = options["classification"]
            if "binary_data" in options:
                binary_flags[item["name"]] = _flag(options, "binary_data", False)
            outputs.append(item["name"])
    return InferRequest(document.get("id"), inputs, outputs, binary_flags,
                        _flag(parameters, "binary_data_output", False), signature, classes)


def encode(request: InferRequest, result: InferResult) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the answer: JSON alone, or JSON then the binary outputs."""
    outputs, blobs = [], []
    for name, array in result.outputs:
        entry = {"name": name, "datatype": of_array(array), "shape": list(array.shape)}
        values = None
        if not request.binary.get(name, request.binary_default):
            values = to_values(array)
        if values is None:
            blob = to_raw(array)
            blobs.append(blob)
            entry["parameters"] = {"binary_data_size": len(blob)}
        else:
            entry["data"] = values
        outputs.append(entry)
    answer = {"model_name": result.model_name, "model_version": result.model_version}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = outputs
    head = orjson.dumps(answer, option=_OPTIONS)
    if not blobs:
        return head, {"Content-Type": "application/json"}
    return b"".join([head, *blobs]), {"Content-Type": "application/octet-stream",
                                      HEADER: str(len(head))}


def dumps(payload) -> bytes:
    return orjson.dumps(payload, option=_OPTIONS)
