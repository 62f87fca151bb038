"""The one body reader of both REST fronts: gzip and deflate inflate within the limit; past
it is 413 and a broken or cut-off stream is 400, whichever front asked."""
from __future__ import annotations

import gzip
import zlib

import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from api import body
from serving.errors import InvalidArgument


@pytest.mark.parametrize("encoding, squeeze", [("gzip", gzip.compress),
                                               ("deflate", zlib.compress)])
def test_compressed_bodies_inflate_within_the_limit(encoding, squeeze):
    assert body.inflate(squeeze(b"{}"), encoding, 100) == b"{}"
    with pytest.raises(RequestEntityTooLarge):
        body.inflate(squeeze(b"0" * 1000), encoding, 100)
    with pytest.raises(InvalidArgument, match="truncated"):
        body.inflate(squeeze(b"0" * 50)[:-6], encoding, 100)
    with pytest.raises(InvalidArgument, match=f"Failed to decompress {encoding}"):
        body.inflate(b"not compressed", encoding, 100)
