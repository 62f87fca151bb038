"""The "guarded" server the hardening, auth, OpenAPI and fuzz tests share: every limit set low
enough to reach with small requests, both tokens on, and one model of each kind."""
from __future__ import annotations

import base64
from pathlib import Path

from tests.support.helpers import ROOT, copy_model, write_config

API_TOKENS = ("api-secret-1", "api-secret-2")   # two valid at once: rotation
ADMIN_TOKEN = "admin-secret"
API = {"X-API-Key": API_TOKENS[0]}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BOTH = {**API, **ADMIN}
LIMITS = {"max_request_bytes": 1024 * 1024, "max_json_elements": 100_000,
          "max_tensor_elements": 50_000, "max_instances": 1000, "max_b64_bytes": 64 * 1024,
          "max_json_depth": 16, "max_image_bytes": 256 * 1024, "max_image_pixels": 1_000_000}
# An 8x8 grey PNG (a diagonal line): a picture every image model can take.
TINY_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR4nGP4zwADFLEA"
                            "HzcH+VNH7jQAAAAASUVORK5CYII=")


def guarded_config(base: Path) -> Path:
    """half_plus_two (version 123, label "stable"), the demo text models and the digits model."""
    models = {"half_plus_two": copy_model("saved_model_half_plus_two_cpu", base / "half_plus_two"),
              "model_a": ROOT / "models" / "model_a", "model_b": ROOT / "models" / "model_b",
              "digits": ROOT / "models" / "digits"}
    path = write_config(base / "models.config", models)
    name = 'name: "half_plus_two"'
    label = '\n    version_labels { key: "stable" value: 123 }'
    path.write_text(path.read_text().replace(name, name + label))
    return path


def guarded_flags(base: Path) -> list[str]:
    return [f"--model_config_file={guarded_config(base)}", f"--admin_token={ADMIN_TOKEN}",
            f"--api_token={','.join(API_TOKENS)}", f"--routing_state_file={base / 'routing.json'}",
            *(f"--{name}={value}" for name, value in LIMITS.items())]
