"""tritonclient's HTTP and gRPC clients for a test module's `server` fixture, and its inputs.

Import the fixtures into a module that defines `server` (module scope):
    from tests.support.triton_clients import grpc, http  # noqa: F401 (fixtures)
"""
from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import np_to_triton_dtype


@pytest.fixture(scope="module")
def http(server):
    return httpclient.InferenceServerClient(server.url.split("//", 1)[1])


@pytest.fixture(scope="module")
def grpc(server):
    return grpcclient.InferenceServerClient(server.grpc_target)


def triton_input(module, name: str, array: np.ndarray, binary: bool = True):
    """One InferInput of `array` for tritonclient's `module` (http: binary or JSON data)."""
    tensor = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    if module is httpclient:
        tensor.set_data_from_numpy(array, binary_data=binary)
    else:
        tensor.set_data_from_numpy(array)
    return tensor
