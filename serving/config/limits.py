"""How much one request may ask of the server: checked before the work they would bound.

Every check is a comparison of numbers the decoder has anyway (a list's length, an array's
size, a string's length); the one scan of the body, a comma count, runs only for bodies
large enough to hold more values than allowed, and costs ~1 ms per 16 MB against the
~40 ms that parsing them takes.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from serving.config.settings import Settings
from serving.errors import InvalidArgument

NUMPY_MAX_RANK = 64  # numpy cannot build an array of more dimensions


class LimitError(InvalidArgument):
    """A request past a configured limit: never retried piecewise by the decoder."""


class LimitExceeded(LimitError):
    """A request larger than a size limit; the HTTP edge answers 413."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """The "limits" group of Settings, where each is declared (name, default, --help)."""

    max_request_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    max_json_depth: int
    max_json_elements: int
    max_tensor_elements: int
    max_instances: int
    max_b64_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})

    def check_body(self, body: bytes) -> None:
        """Refuse, before parsing, a body with more JSON values than allowed.

        Every value after the first in an array or object follows a comma, so the comma
        count bounds the values (a comma inside a string counts too: a safe overestimate).
        """
        if len(body) > self.max_json_elements and body.count(b",") >= self.max_json_elements:
            raise LimitExceeded(f"The request body holds more than {self.max_json_elements} "
                                f"JSON values (max_json_elements)")

    def check_rank(self, rank: int) -> None:
        limit = min(self.max_json_depth, NUMPY_MAX_RANK)
        if rank > limit:
            raise LimitError(f"A tensor value is nested {rank} lists deep; at most "
                                  f"{limit} levels are accepted (max_json_depth)")

    def check_rows(self, rows: int, what: str = "instances") -> None:
        if rows > self.max_instances:
            raise LimitExceeded(f"The request has {rows} {what}; at most {self.max_instances} "
                                f"are accepted in one request (max_instances)")

    def check_b64(self, text: str) -> None:
        if len(text) // 4 * 3 > self.max_b64_bytes:
            raise LimitExceeded(f"A b64 value decodes to about {len(text) // 4 * 3} bytes; "
                                f"at most {self.max_b64_bytes} are accepted (max_b64_bytes)")

    def check_feeds(self, feeds: Mapping) -> None:
        self.check_elements(sum(array.size for array in feeds.values()))

    def check_elements(self, total: int) -> None:
        """`total` elements in a request's input tensors (counted from their shapes by a front
        that can, before it builds them)."""
        if total > self.max_tensor_elements:
            raise LimitExceeded(f"The request's input tensors hold {total} elements; at most "
                                f"{self.max_tensor_elements} are accepted (max_tensor_elements)")


DEFAULT = Limits.from_settings(Settings())  # the shipped values
