"""KServe's Python SDK (v2 REST in JSON and binary, and gRPC) against a live server; run by
the interpreter of a virtual environment that holds `kserve` (its pins, protobuf<7 among
them, clash with requirements.txt): tests/support/kserve_venv.py builds one, and
tests/e2e/test_oip.py runs this script with it (or with $KSERVE_PYTHON when set).

    python kserve_client.py http://HOST:PORT HOST:GRPC_PORT   → prints one line per check
"""
import asyncio
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def _request(rows, binary):
    x = InferInput("x", [len(rows), 1], "FP32")
    x.set_data_from_numpy(np.array([[r] for r in rows], dtype=np.float32), binary_data=binary)
    return InferRequest(model_name="half_plus_two", infer_inputs=[x], request_id="k1")


async def main(rest_url: str, grpc_target: str) -> None:
    rest = InferenceRESTClient(RESTConfig(protocol="v2"))
    assert await rest.is_server_live(rest_url) and await rest.is_server_ready(rest_url)
    assert await rest.is_model_ready(rest_url, "half_plus_two")
    for binary in (False, True):
        answer = await rest.infer(rest_url, _request([1, 2], binary), model_name="half_plus_two")
        print("rest", binary, answer.id, answer.outputs[0].as_numpy().ravel().tolist())
    await rest.close()
    grpc = InferenceGRPCClient(grpc_target)
    assert await grpc.is_server_ready() and await grpc.is_model_ready("half_plus_two")
    answer = await grpc.infer(_request([1, 3], True))
    print("grpc", answer.outputs[0].as_numpy().ravel().tolist())
    await grpc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
