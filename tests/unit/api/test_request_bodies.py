"""The mistakes people make with request bodies (api/codec/jsonio.py, rows.py, dense.py): a
picture or other binary posted as JSON is named plainly, and a body past max_instances is
refused before it is parsed, in the very words the full decoder would use."""
import base64
import dataclasses
import json

import numpy as np
import pytest

from api.codec import dense, examples, jsonio, rows, tensors
from serving.config.limits import DEFAULT, LimitExceeded
from serving.errors import InvalidArgument
from wrappers.base import TensorSpec

LIMITS = dataclasses.replace(DEFAULT, max_instances=10)
X = {"x": TensorSpec("x", "x:0", "DT_FLOAT", None, np.dtype(np.float32))}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR4nGP4zwADFLEA"
                       "HzcH+VNH7jQAAAAASUVORK5CYII=")
MULTIPART = (b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="cat.png"\r\n'
             b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--XyZ--\r\n")
PICTURES = {
    "a PNG image": PNG,
    "a JPEG image": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01",
    "a GIF image": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff",
    "a BMP image": b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00",
    "a WebP image": b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00",
    "a multipart/form-data upload": MULTIPART,
}


def parse_error(body: bytes, pictures=None) -> str:
    with pytest.raises(InvalidArgument) as caught:
        jsonio.load_request(body, LIMITS, pictures=pictures)
    return caught.value.message


@pytest.mark.parametrize("kind, body", PICTURES.items(), ids=PICTURES)
def test_a_picture_posted_as_json_is_named_and_pointed_where_pictures_go(kind, body):
    message = parse_error(body, lambda: "POST it to /v1/images/digits:classify.")
    assert message == (f"JSON Parse error: the request body is {kind}, not JSON. "
                       "POST it to /v1/images/digits:classify.")
    assert "surrogates" not in message


@pytest.mark.parametrize("body", [b"BMW and friends", b"RIFF....WAVEfmt ", b"--verbose",
                                  b'{"instances": [1.0]', b"GIF"])
def test_text_that_merely_starts_like_a_picture_keeps_the_parser_s_own_words(body):
    assert jsonio.picture_kind(body) is None
    message = parse_error(body, lambda: "never asked")
    assert message.startswith("JSON Parse error: ") and "never asked" not in message


@pytest.mark.parametrize("body, byte, offset", [
    (b"\x00\x01\x02\xfe binary", "0xfe", 3),
    (b'{"instances": ["caf\xe9"]}', "0xe9", 19),       # Latin-1, not UTF-8
    (b'{"instances": [NaN, "\xff"]}', "0xff", 21),     # through the NaN-tolerant reader too
])
def test_binary_that_is_no_picture_is_named_by_its_first_bad_byte(body, byte, offset):
    assert parse_error(body) == (f"JSON Parse error: the request body is not JSON: it is not "
                                 f"UTF-8 text (byte {byte} at offset {offset}); JSON is UTF-8 text")


# -- max_instances before parsing --------------------------------------------------------------

def big(body: bytes) -> bytes:
    """The same JSON, padded with whitespace to the size worth counting early."""
    return body + b" " * rows.MIN_BYTES


def full_path_error(verb: str, body: bytes) -> str:
    """What the decoders say when the body has been parsed whole (no early count)."""
    document = jsonio.load_request(body, LIMITS)
    with pytest.raises(LimitExceeded) as caught:
        if verb == "predict":
            tensors.decode_predict(document, X, True, LIMITS)
        else:
            examples.decode_examples(document, verb, LIMITS)
    return caught.value.message


OVER = {  # bodies with 11 rows (max_instances is 10), and commas enough to be counted early
    "instances": ("predict", {"instances": [[1.0, 2.0]] * 11}),
    "columnar list": ("predict", {"inputs": [[1.0, 2.0]] * 11}),
    "named columns": ("predict", {"inputs": {"x": [1.0] * 11}, "signature_name": "s"}),
    "classify examples": ("classify", {"examples": [{"x": 1.0}] * 11, "context": {"y": 1}}),
    "regress examples": ("regress", {"examples": [{"x": [1.0, 2.0]}] * 11}),
}


@pytest.mark.parametrize("verb, document", OVER.values(), ids=OVER)
def test_a_body_past_max_instances_is_refused_unparsed_in_the_decoder_s_words(verb, document):
    body = big(json.dumps(document).encode())
    with pytest.raises(LimitExceeded) as caught:
        rows.check(body, verb, LIMITS)
    assert caught.value.message == full_path_error(verb, body)
    assert "11" in caught.value.message and "(max_instances)" in caught.value.message
    with pytest.raises(LimitExceeded):  # and load_request counts them when told the verb
        jsonio.load_request(body, LIMITS, verb)


LEFT_TO_THE_DECODER = {  # each holds 11 rows, but the full path says something else first
    "exactly the limit": ("predict", b'{"instances": [1,2,3,4,5,6,7,8,9,10]}'),
    "malformed": ("predict", b'{"instances": [1,2,3,4,5,6,7,8,9,10,11]'),
    "NaN (not standard JSON)": ("predict", b'{"instances": [NaN,2,3,4,5,6,7,8,9,10,11]}'),
    "not an object": ("predict", b"[1,2,3,4,5,6,7,8,9,10,11]"),
    "signature_name not a string": (
        "predict", b'{"signature_name": 1, "instances": [1,2,3,4,5,6,7,8,9,10,11]}'),
    "both keys": ("predict", b'{"inputs": [1], "instances": [1,2,3,4,5,6,7,8,9,10,11]}'),
    "columns of different lengths": (
        "predict", b'{"inputs": {"x": [1,2,3,4,5,6,7,8,9,10,11], "y": [1, 2]}}'),
    "a column beside a value (which the signature may name alone)": (
        "predict", b'{"inputs": {"x": [1,2,3,4,5,6,7,8,9,10,11], "y": 1}}'),
    "context not an object": (
        "classify", b'{"context": [1], "examples": [{},{},{},{},{},{},{},{},{},{},{}]}'),
    "rows under a key the verb does not read": (
        "regress", b'{"instances": [1,2,3,4,5,6,7,8,9,10,11], "examples": [{}]}'),
}


@pytest.mark.parametrize("verb, body", LEFT_TO_THE_DECODER.values(), ids=LEFT_TO_THE_DECODER)
def test_bodies_not_certainly_past_the_limit_are_left_to_the_full_decoder(verb, body):
    rows.check(big(body), verb, LIMITS)  # raises nothing


def test_small_bodies_are_left_to_the_full_decoder_which_refuses_them_as_fast():
    body = json.dumps({"instances": [1.0] * 11}).encode()
    rows.check(body, "predict", LIMITS)  # raises nothing
    assert "11 instances" in full_path_error("predict", body)


def test_the_dense_path_refuses_rows_from_the_skeleton_as_the_general_path_words_it():
    image = {"image": TensorSpec("image", "image:0", "DT_FLOAT", (-1, 2, 1), np.dtype(np.float32))}
    value = np.ones((11, 2, 1)).tolist()
    for key in ("instances", "inputs"):
        raw = json.dumps({key: value}).encode() + b" " * dense.MIN_BYTES
        _, found, array = dense.split(raw)
        with pytest.raises(LimitExceeded) as caught:
            dense.decode(found, array, image, LIMITS)
        with pytest.raises(LimitExceeded) as general:
            tensors.decode_predict(jsonio.load_request(raw, LIMITS), image, True, LIMITS)
        assert caught.value.message == general.value.message == (
            "The request has 11 instances; at most 10 are accepted in one request "
            "(max_instances)")
