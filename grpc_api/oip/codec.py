"""ModelInferRequest → the core's input tensors, and results → ModelInferResponse.

Inputs come as `raw_input_contents` (what tritonclient.grpc always sends) or typed
`contents`; outputs always go back in `raw_output_contents`, in order, as Triton answers:
tritonclient.grpc reads numeric outputs only from there.
"""
from __future__ import annotations

from serving.errors import InvalidArgument
from serving.oip.datatypes import of_array, to_raw
from serving.oip.service import InferResult, InputTensor

# The typed field each datatype travels in; FP16 and BF16 have none (raw only).
_FIELDS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
           "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
           "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
           "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def parameter(value):
    """An InferParameter's value, whichever of its oneof is set (None when none is)."""
    which = value.WhichOneof("parameter_choice")
    return getattr(value, which) if which else None


def signature_name(request) -> str:
    if "signature_name" not in request.parameters:
        return ""
    value = parameter(request.parameters["signature_name"])
    if not isinstance(value, str):
        raise InvalidArgument("parameter 'signature_name' must be a string")
    return value


def inputs(request) -> list[InputTensor]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(f"the request has {len(raw)} raw_input_contents for "
                              f"{len(request.inputs)} inputs; expected one per input")
    found = []
    for index, tensor in enumerate(request.inputs):
        item = InputTensor(tensor.name, tensor.datatype, list(tensor.shape))
        if raw:
            if tensor.HasField("contents"):
                raise InvalidArgument(f"input '{tensor.name}' sets 'contents' although the "
                                      f"request uses raw_input_contents")
            item.raw = raw[index]
        else:
            field = _FIELDS.get(tensor.datatype)
            if field is None:
                if tensor.datatype in ("FP16", "BF16"):
                    raise InvalidArgument(f"input '{tensor.name}' of datatype "
                                          f"{tensor.datatype} must be sent in "
                                          f"raw_input_contents")
                item.values = []  # the datatype check names the problem
            else:
                item.values = list(getattr(tensor.contents, field))
        found.append(item)
    return found


def outputs(request) -> list[str] | None:
    return [tensor.name for tensor in request.outputs] or None


def classification(request) -> dict[str, int]:
    """{output: count} of the outputs whose `classification` parameter asks for classes."""
    return {tensor.name: parameter(tensor.parameters["classification"])
            for tensor in request.outputs if "classification" in tensor.parameters}


def response(message_class, request, result: InferResult):
    answer = message_class(model_name=result.model_name, model_version=result.model_version,
                           id=request.id)
    for name, array in result.outputs:
        answer.outputs.add(name=name, datatype=of_array(array), shape=list(array.shape))
        answer.raw_output_contents.append(to_raw(array))
    return answer
