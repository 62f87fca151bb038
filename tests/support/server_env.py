"""Which environment variables the server reads: its settings' names, the few it reads
itself, and those its object-storage libraries read (named in their source)."""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
from pathlib import Path

from serving.config.settings import Settings, env_name
from tests.support.helpers import ROOT

# Our code, then the libraries behind s3://, gs:// and az:// (serving/storage/clouds.py).
OWN = [ROOT / "app.py", ROOT / "wsgi.py", ROOT / "deploy", ROOT / "serving", ROOT / "api",
       ROOT / "grpc_api", ROOT / "wrappers", ROOT / "scripts" / "model_tool.py"]
LIBRARIES = ["botocore", "s3fs", "gcsfs", "google.auth", "adlfs", "azure.identity"]


def settings_variables() -> set[str]:
    return {env_name(field) for field in dataclasses.fields(Settings)}


@functools.cache
def _sources() -> list[str]:
    roots = list(OWN)
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        assert spec is not None, f"{name} is not installed (requirements.txt)"
        roots += [Path(p) for p in spec.submodule_search_locations or [spec.origin]]
    files = [p for root in roots for p in ([root] if root.is_file() else root.rglob("*.py"))]
    return [p.read_text(errors="replace") for p in files]


def read_by_the_server(variable: str) -> bool:
    """A setting's variable, or a name quoted in the server's or its libraries' source."""
    if variable in settings_variables():
        return True
    quoted = (f'"{variable}"', f"'{variable}'")
    return any(q in text for text in _sources() for q in quoted)
