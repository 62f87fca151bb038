"""TensorFlow's start-up noise is filtered from the log, and nothing else is
(serving/config/tf_logs.py)."""
import pytest

from serving.config.tf_logs import _NOISE

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796162416.427498   14472 port.cc:153] oneDNN custom operations are on.\n",
    "I0000 00:00:1796162416.427950   14472 cudart_stub.cc:31] Could not find cuda drivers\n",
    "W0000 00:00:1796162416.1   1 cpu_feature_guard.cc:227] This TensorFlow binary is ...\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild\n",
    "E0000 00:00:1796162419.8 14471 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n",
    "\n",
]
KEPT = [
    "[2026-12-01 22:00:55 +0000] [14749] [INFO] serving.models.manager: model digits ...\n",
    "E0000 00:00:1796162419.8 14471 loader.cc:52] could not read saved_model.pb\n",
    "Traceback (most recent call last):\n",
    "F0000 00:00:1.0 1 check.cc:1] Check failed: a == b\n",
]


@pytest.mark.parametrize("line", NOISE)
def test_start_up_noise_is_dropped(line):
    assert _NOISE.match(line)


@pytest.mark.parametrize("line", KEPT)
def test_real_errors_and_our_own_lines_are_kept(line):
    assert not _NOISE.match(line)
