"""MobileNetV2 for the benchmark: Keras's architecture with random weights, nothing downloaded.

    python bench/make_mobilenet.py BENCH_DIR

Writes, once, `BENCH_DIR/models/mobilenet/1` (SavedModel: `serving_default` takes
`images [N,224,224,3]` floats in [-1, 1], gives `scores [N,1000]`, softmax; its
`assets.extra/image_input.json` tells our image endpoint the range) and the request bodies
for one image: `bodies/mobilenet_1.json` (TF Serving row JSON, 4 decimals as for the other
models), `.kserve.json` (Triton's JSON), `.jpg` (scikit-image's astronaut photo, 224×224, for
our `/v1/images/mobilenet:classify`), `.grpc` (a PredictRequest with `tensor_content`) and,
given PyTriton's Python, `.triton.grpc`.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SHAPE = (224, 224, 3)


def build_model(target: Path) -> None:
    # tf-keras (Keras 2, in requirements-dev.txt): Keras 3's export names its variables so
    # that TF1's loader cannot restore them, and the Triton peer loads it with that loader
    # (our server repairs such exports, wrappers/variables.py; the peer would not).
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNetV2(input_shape=SHAPE, weights=None, classes=1000)

    class Served(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        @tf.function(input_signature=[tf.TensorSpec([None, *SHAPE], tf.float32, "images")])
        def serve(self, images):
            return {"scores": self.net(images, training=False)}

    served = Served()
    tf.saved_model.save(served, str(target), signatures={"serving_default": served.serve})
    extra = target / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "image_input.json").write_text(json.dumps({"range": [-1, 1], "background": "any"}))


def write_bodies(bodies: Path, triton_python: Path | None) -> None:
    import imageio.v3 as iio  # scikit-image's own image writer
    import numpy as np
    import skimage.data
    import skimage.transform

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from grpc_load import TRITON_BODY, framed

    bodies.mkdir(parents=True, exist_ok=True)
    pixels = np.round(np.random.default_rng(0).random((1, *SHAPE)) * 2 - 1, 4)
    (bodies / "mobilenet_1.json").write_text(json.dumps({"instances": pixels.tolist()}))
    (bodies / "mobilenet_1.kserve.json").write_text(json.dumps({"inputs": [{
        "name": "images", "shape": list(pixels.shape), "datatype": "FP32",
        "data": pixels.reshape(-1).tolist()}]}))
    photo = skimage.transform.resize(skimage.data.astronaut(), SHAPE[:2], anti_aliasing=True)
    (bodies / "mobilenet_1.jpg").write_bytes(
        iio.imwrite("<bytes>", (photo * 255).astype(np.uint8), extension=".jpg", quality=90))

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mobilenet"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(pixels.astype(np.float32)))
    (bodies / "mobilenet_1.grpc").write_bytes(framed(request.SerializeToString()))
    if triton_python is not None:
        import subprocess
        subprocess.run([str(triton_python), "-c", TRITON_BODY, "mobilenet",
                        str(bodies / "mobilenet_1.kserve.json"),
                        str(bodies / "mobilenet_1.triton.grpc")], check=True)


def main() -> None:
    bench_dir = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_DIR",
                                                                          "/tmp/bench"))
    target = bench_dir / "models" / "mobilenet" / "1"
    if not (target / "saved_model.pb").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        build_model(target)
    if not (bench_dir / "bodies" / "mobilenet_1.grpc").exists():
        triton = bench_dir / "envs" / "pytriton" / "bin" / "python"
        write_bodies(bench_dir / "bodies", triton if triton.exists() else None)


if __name__ == "__main__":
    main()
