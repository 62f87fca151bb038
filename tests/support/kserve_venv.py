"""A throwaway virtual environment holding KServe's Python SDK, built once per machine.

KServe's SDK pins protobuf<7 (and more), which clashes with requirements.txt, so it cannot
join the test environment: tests/e2e/test_oip.py runs tests/support/kserve_client.py with
this environment's interpreter instead. Built under the temporary directory, keyed by the
requirement and the Python it is built from (a change of either builds a new one), one
builder at a time; the first build takes one to two minutes (pip download and install).

    from tests.support.kserve_venv import kserve_python
    python = kserve_python()           # .../bin/python, `import kserve` works there
"""
from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REQUIREMENT = "kserve==0.21.*"
_KEY = hashlib.sha256(f"{REQUIREMENT} {sys.version} {sys.executable}".encode()).hexdigest()[:12]
VENV = Path(tempfile.gettempdir()) / f"tf-flask-serving-kserve-venv-{_KEY}"


def kserve_python() -> Path:
    """The interpreter of VENV, built now unless a complete one is there."""
    done, python = VENV / ".complete", VENV / "bin" / "python"
    if done.exists():
        return python
    with open(f"{VENV}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return python
        shutil.rmtree(VENV, ignore_errors=True)  # an earlier build that did not finish
        for step in ([sys.executable, "-m", "venv", str(VENV)],
                     [str(python), "-m", "pip", "install", "--quiet",
                      "--disable-pip-version-check", REQUIREMENT]):
            run = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if run.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                raise RuntimeError(f"building KServe's SDK environment failed at "
                                   f"{' '.join(step)}:\n{run.stdout[-2000:]}{run.stderr[-4000:]}")
        check = subprocess.run([str(python), "-c", "import kserve"], capture_output=True,
                               text=True, timeout=300)
        if check.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            raise RuntimeError(f"`import kserve` fails in {VENV}:\n{check.stderr[-4000:]}")
        done.touch()
    return python
