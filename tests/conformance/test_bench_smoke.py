"""The benchmark still runs end to end (not a speed test: `--quick` only proves it works).

It builds the models and bodies from ../shared/bench, starts our server with batching on and
the plain Flask peer, drives them with wrk and must print a table with real traffic and no
failed requests.
"""
from __future__ import annotations

import re
import subprocess
import sys

from tests.support.helpers import ROOT


def test_quick_benchmark_prints_a_table_with_traffic_and_no_errors(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick",
                          "--bench-dir", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines()
            if line.startswith("| ours") or line.startswith("| plain Flask")]
    assert len(rows) == 2, run.stdout
    for row in rows:
        cells = row.strip("|").split("|")[1:]
        assert len(cells) == 2, row  # C=1 and C=8
        for cell in cells:
            rps, _p50, _p99, errors, cpu = (part.strip() for part in cell.split("·")[:5])
            assert float(rps.replace(",", "")) > 0, row
            assert errors == "0", row
            assert float(cpu) > 0, row  # the server's processes were found and measured
    assert re.search(r"\| mlp \| 1 \| [\d.]+ \|", run.stdout), run.stdout  # in-process limit
