"""deploy/README.md names only flags the server has and variables it reads, and its reference
table covers every flag and variable that README's "Run it at scale" names."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

from serving.config.settings import Settings, env_name
from tests.support.helpers import ROOT
from tests.support.server_env import read_by_the_server

DEPLOY_README = (ROOT / "deploy" / "README.md").read_text()

# Capitals in deploy/README.md that are not environment variables, and other tools' flags.
NOT_VARIABLES = {"COPY": "a Dockerfile instruction", "HEALTHCHECK": "a Dockerfile instruction",
                 "SO_REUSEPORT": "a socket option", "AVAILABLE": "a model version's state"}
OTHER_TOOLS = {"build-arg": "docker build", "gpus": "docker run"}


def flags(text: str) -> set[str]:
    return set(re.findall(r"--([a-z][a-z0-9_-]*)", text))


def variables(text: str) -> set[str]:
    """Upper-case names with an underscore anywhere, or alone in backticks (`WORKERS`)."""
    named = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", text))
    named |= set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", text))
    return named - set(NOT_VARIABLES)


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_every_flag_deploy_readme_names_is_in_the_servers_help():
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    offered = flags(result.stdout)
    for flag in flags(DEPLOY_README) - set(OTHER_TOOLS):
        assert flag in offered, f"--{flag} is not a flag of app.py"


def test_every_variable_deploy_readme_names_is_one_the_server_reads():
    for variable in variables(DEPLOY_README):
        assert read_by_the_server(variable), f"{variable}: nothing in the server reads it"


def test_the_check_tells_a_made_up_variable_and_flag_from_real_ones():
    assert not read_by_the_server("MODEL_BASE_PATHS")
    assert read_by_the_server("MODEL_BASE_PATH") and read_by_the_server("AWS_ENDPOINT_URL")
    assert variables("`WORKERS` and MODEL_CACHE_DIR=/x, `GET /`") == {"WORKERS",
                                                                       "MODEL_CACHE_DIR"}


def test_the_reference_table_pairs_each_flag_with_its_own_variable():
    table = section(DEPLOY_README, "Flags and environment variables")
    by_flag = {f.name: env_name(f) for f in dataclasses.fields(Settings)}
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    assert rows
    for row in rows:
        flag_cell, variable_cell = row.split("|")[1:3]
        assert {by_flag[f] for f in flags(flag_cell)} == variables(variable_cell), row


def test_the_reference_table_lists_every_flag_and_variable_of_run_it_at_scale():
    table = section(DEPLOY_README, "Flags and environment variables")
    at_scale = section((ROOT / "README.md").read_text(), "Run it at scale")
    assert flags(at_scale) and variables(at_scale)
    assert flags(at_scale) <= flags(table)
    assert variables(at_scale) <= variables(table)
