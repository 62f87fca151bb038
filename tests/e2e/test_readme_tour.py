"""The README's tour runs as written: every command of its "A short tour" section, against
the server its first command starts (`python3 app.py`, the shipped models, two workers)."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from tests.support.helpers import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.e2e


def tour_commands() -> list[str]:
    """The lines of the fenced code blocks between "## A short tour" and the next section."""
    text = (ROOT / "README.md").read_text()
    tour = text.split("\n## A short tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```\n(.*?)^```", tour, re.M | re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


CURLS = [c for c in tour_commands() if c.startswith("curl ")]
STARTS = [c for c in tour_commands() if not c.startswith("curl ")]

# What the README says each curl answers (a part of it that must appear).
EXPECTED = {
    "half_plus_two:predict": {"predictions": [2.5, 3.0, 4.5]},
    "half_plus_two:classify": {"results": [[["", 3.0]]]},
    "half_plus_two:regress": {"results": [3.0]},
}


@pytest.fixture(scope="module")
def server():
    process = ServerProcess()  # python3 app.py, on a free port
    yield process
    process.stop()


def test_the_tour_has_the_commands_it_promises():
    assert len(CURLS) >= 9 and any("seven.png" in c for c in CURLS)
    assert len(STARTS) >= 5


@pytest.mark.parametrize("command", CURLS)
def test_each_curl_of_the_tour_answers_without_an_error(server, command):
    run = subprocess.run(command.replace("localhost:8501", f"127.0.0.1:{server.port}"),
                         shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert '"error":' not in json.dumps(answer, separators=(",", ":")), answer
    for url, expected in EXPECTED.items():
        if command.endswith(url):
            assert answer == expected
    if "digits:classify" in command:
        assert answer["label"] == "7" and answer["probability"] > 0.9


@pytest.mark.parametrize("command", STARTS)
def test_each_way_of_starting_the_server_in_the_tour_serves(command):
    port = free_port()
    argv = shlex.split(command.replace("--rest_api_port=8501", f"--rest_api_port={port}"))
    env = {}
    while "=" in argv[0]:  # VAR=value before the program
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    flags = argv[0] != "gunicorn"  # gunicorn binds where deploy/gunicorn.conf.py reads
    env.update({"REST_API_PORT": str(port), "REST_API_HOST": "127.0.0.1"})
    server = ServerProcess(command=argv, port=port, env=env, port_flags=flags)
    try:
        models = {m["name"] for m in server.get("/v1/models").json()["models"]}
        assert "half_plus_two" in models, server.log()
        reply = server.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
        assert reply.json() == {"predictions": [2.5]}
    finally:
        server.stop()


def oip_examples() -> tuple[list[str], str]:
    """The curl lines and the Python example of the "Open Inference Protocol" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Open Inference Protocol", 1)[1].split("\n## ", 1)[0]
    shell = re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S)
    python = re.findall(r"^```python\n(.*?)^```", section, re.M | re.S)
    return [line for block in shell for line in block.splitlines() if line.startswith("curl ")], \
        python[0]


def test_the_oip_curl_example_answers_as_the_readme_says(server):
    (command,) = oip_examples()[0]
    run = subprocess.run(command.replace("localhost:8501", f"127.0.0.1:{server.port}"),
                         shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["outputs"][0]["data"] == [2.5, 3.0, 4.5] and answer["model_version"] == "123"


def test_the_oip_tritonclient_example_runs_as_written(server):
    code = oip_examples()[1].replace("localhost:8501", f"127.0.0.1:{server.port}")
    assert len(code.strip().splitlines()) <= 10
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "[2.5 3.  4.5]" in run.stdout and "'FP32'" in run.stdout
