"""Generate grpc_api/oip/inference_pb2.py and inference_pb2_grpc.py from inference.proto.

    python3 -m venv /tmp/protoc && /tmp/protoc/bin/pip install -r scripts/requirements-protos.txt
    /tmp/protoc/bin/python scripts/make_oip_protos.py

grpcio-tools is pinned in scripts/requirements-protos.txt, in a virtual environment of its
own: the protoc it bundles writes gencode for protobuf 6.31.1, the oldest runtime that
tensorflow 2.21 allows (a runtime refuses gencode newer than itself), and its own protobuf
pin would clash with grpcio-health-checking's in requirements.txt. The output is committed.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = "grpc_api/oip/inference.proto"


def main() -> int:
    from grpc_tools import protoc
    import grpc_tools
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    code = protoc.main(["protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={ROOT}",
                        f"--grpc_python_out={ROOT}", str(ROOT / PROTO)])
    if code != 0:
        print(f"protoc failed with {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
