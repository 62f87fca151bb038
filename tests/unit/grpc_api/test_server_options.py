"""The gRPC front's small rules: TF Serving's --grpc_channel_arguments syntax, how many calls
a worker answers at once, its 1024-byte cut of long error messages, and one status code per
core error type."""
import grpc
import pytest

from grpc_api.errors import details, status_code
from grpc_api.server import call_threads, channel_arguments
from serving import errors
from serving.config.limits import LimitExceeded
from serving.config.settings import Settings


@pytest.mark.parametrize("text, options", [
    ("", []),
    ("grpc.max_connection_age_ms=2000", [("grpc.max_connection_age_ms", 2000)]),
    ("a=1, b=x ,c", [("a", 1), ("b", "x")]),                   # an item without '=' is dropped
    ("a=1=2", [("a", 1)]),                                     # text after a second '=' too
    ("big=4294967296", [("big", "4294967296")]),               # not an int32: a string
])
def test_channel_arguments_are_read_as_tf_serving_reads_them(text, options):
    assert channel_arguments(text) == options


def test_a_worker_answers_as_many_grpc_calls_at_once_as_rest_requests(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert call_threads(Settings()) == Settings().threads == 16
    assert call_threads(Settings(threads=4)) == 8        # never under TF Serving's 4 per CPU
    monkeypatch.setattr("os.cpu_count", lambda: 32)
    assert call_threads(Settings()) == 128
    assert call_threads(Settings(grpc_max_threads=3)) == 3  # the flag, when given, decides


def test_a_long_message_is_cut_at_1024_bytes_as_tf_serving_does():
    assert details("short") == "short"
    cut = details("é" * 1000)
    assert cut.endswith("...TRUNCATED") and len(cut.encode()) <= 1024 + len("...TRUNCATED")


@pytest.mark.parametrize("error, code", [
    (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND),
    (errors.InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unavailable("x"), grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.Unimplemented("x"), grpc.StatusCode.UNIMPLEMENTED),
    (LimitExceeded("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.ServingError("x"), grpc.StatusCode.UNKNOWN),
])
def test_each_core_error_has_its_own_status_code(error, code):
    assert status_code(error) == code
