"""Typed errors raised by the core; the HTTP edge (api/errors.py) maps them to status codes.

Each class carries TensorFlow Serving's canonical status-code name, which also shows up in
model status and metrics, so the mapping to HTTP lives in one table.
"""


class ServingError(Exception):
    """Base class: `code` is the canonical status name (as in TF Serving's StatusProto)."""

    code = "UNKNOWN"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServingError):
    code = "INVALID_ARGUMENT"


class FailedPrecondition(ServingError):
    code = "FAILED_PRECONDITION"


class NotFound(ServingError):
    code = "NOT_FOUND"


class Unavailable(ServingError):
    """Overloaded (batch queue full) or shutting down: the client may retry elsewhere."""

    code = "UNAVAILABLE"


class DeadlineExceeded(ServingError):
    code = "DEADLINE_EXCEEDED"


class ResourceExhausted(ServingError):
    code = "RESOURCE_EXHAUSTED"


class ModelDoesNotFit(ResourceExhausted):
    """A model that does not fit --model_memory_budget even after unloading every version
    that may go: REST answers 503 with Retry-After (leases end, memory frees up), gRPC
    RESOURCE_EXHAUSTED."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class Unimplemented(ServingError):
    code = "UNIMPLEMENTED"


class Internal(ServingError):
    code = "INTERNAL"


class LoadError(ServingError):
    """A model version could not be loaded; reported in its status, never raised to a client."""

    code = "UNKNOWN"

    def __init__(self, message: str, code: str = "UNKNOWN"):
        super().__init__(message)
        self.code = code
