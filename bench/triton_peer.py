"""Triton (PyTriton) around any SavedModel's `serving_default`, for models the shared peer
(../shared/bench/peers/pytriton_peer.py, mlp and cnn only) does not know: MobileNetV2.

    $BENCH_DIR/envs/pytriton/bin/python bench/triton_peer.py mobilenet [--ttl 900]

The same settings as the shared peer: one tf.compat.v1 Session (intra = inter = 1), Triton's
dynamic batcher with max_batch_size 64 and a 2 ms queue delay, HTTP on 8010, gRPC on 8011.
Inputs and outputs are read from the signature, so the request bodies are Triton's KServe-v2
with the signature's aliases.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

v1 = tf.compat.v1
v1.disable_eager_execution()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--ttl", type=float, default=900)
    parser.add_argument("--delay-us", type=int, default=2000)
    args = parser.parse_args()
    graph = tf.Graph()
    session = v1.Session(graph=graph, config=v1.ConfigProto(intra_op_parallelism_threads=1,
                                                            inter_op_parallelism_threads=1))
    path = os.path.join(os.environ.get("MODELS_DIR", "/tmp/bench/models"), args.model, "1")
    with graph.as_default():
        meta = v1.saved_model.loader.load(session, ["serve"], path)
    signature = meta.signature_def["serving_default"]

    def spec(info):
        dims = [d.size for d in info.tensor_shape.dim][1:]
        return tf.dtypes.as_dtype(info.dtype).as_numpy_dtype, tuple(dims) or (1,)

    feeds = {alias: info.name for alias, info in signature.inputs.items()}
    fetches = {alias: info.name for alias, info in signature.outputs.items()}

    @batch
    def infer(**inputs):
        outputs = session.run(fetches, {feeds[alias]: value for alias, value in inputs.items()})
        return {alias: value.reshape(len(value), -1) if value.ndim == 1 else value
                for alias, value in outputs.items()}

    config = TritonConfig(http_address="127.0.0.1", http_port=8010, grpc_address="127.0.0.1",
                          grpc_port=8011, metrics_address="127.0.0.1", metrics_port=8012,
                          allow_metrics=False, allow_gpu_metrics=False, allow_cpu_metrics=False)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=args.model, infer_func=infer,
            inputs=[Tensor(name=alias, dtype=spec(info)[0], shape=spec(info)[1])
                    for alias, info in signature.inputs.items()],
            outputs=[Tensor(name=alias, dtype=spec(info)[0], shape=spec(info)[1])
                     for alias, info in signature.outputs.items()],
            config=ModelConfig(max_batch_size=64,
                               batcher=DynamicBatcher(max_queue_delay_microseconds=args.delay_us)),
            strict=True,
        )
        triton.run()
        print("READY", flush=True)
        time.sleep(args.ttl)


if __name__ == "__main__":
    main()
