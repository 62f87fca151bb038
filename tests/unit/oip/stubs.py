"""OpenInference (serving/oip/service.py) over a stub core serving one model, "m", with the
signature a test gives; the stub's predict records the feeds it was given and echoes them."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from tensorflow_serving.config import model_server_config_pb2

from serving.config.limits import DEFAULT
from serving.inference import Target
from serving.oip.service import OpenInference
from wrappers.base import Signature, TensorSpec

_NUMPY = {"DT_FLOAT": np.float32, "DT_INT64": np.int64, "DT_STRING": object}


def tensor(alias: str, dtype: str, shape) -> TensorSpec:
    """A signature tensor whose shape (None: unknown rank) the graph agrees with."""
    return TensorSpec(alias, f"{alias}:0", dtype, shape, np.dtype(_NUMPY[dtype]), shape)


def signature(inputs: list[TensorSpec], outputs: list[TensorSpec]) -> Signature:
    return Signature("serving_default", "tensorflow/serving/predict",
                     {t.alias: t for t in inputs}, {t.alias: t for t in outputs}, None)


class _Inference:
    def __init__(self, servable):
        self.servable, self.fed = servable, []

    def knows(self, name):
        return name == "m"

    def resolve(self, spec, timeout=None):
        return Target(self.servable, spec)

    def available_versions(self, name):
        return [1]

    def predict(self, target, feeds, outputs, timeout):
        self.fed.append(feeds)
        return {alias: next(iter(feeds.values())) for alias in target.signature().outputs}


def serve(sig: Signature, batching=None) -> OpenInference:
    """The verbs over a core whose only model, m, has `sig`; `batching`: its BatchingOptions
    (None: --enable_batching off). `.inference.fed` lists what each predict was given."""
    servable = SimpleNamespace(name="m", version=1, signatures={sig.key: sig},
                               batching=batching, release=lambda: None)
    manager = SimpleNamespace(config=lambda name: model_server_config_pb2.ModelConfig())
    return OpenInference(SimpleNamespace(inference=_Inference(servable), limits=DEFAULT,
                                         manager=manager))
