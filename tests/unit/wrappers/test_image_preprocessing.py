"""Any picture becomes what the model expects: size, channels, alpha, polarity, range, geometry."""
import struct
import zlib

import numpy as np
import pytest
from scipy.ndimage import center_of_mass

from serving.config.settings import Settings
from serving.errors import InvalidArgument
from tests.support.pictures import draw, encode
from wrappers import image_io
from wrappers.image_prep import ImageInput, prepare

MNIST = ImageInput(28, 28)
MAX_PIXELS = Settings().max_image_pixels  # the shipped limit


def unit(pixels):
    return image_io.to_unit_float(pixels)


def similar(a, b, floor=0.9):
    return np.corrcoef(a.ravel(), b.ravel())[0, 1] >= floor


@pytest.mark.parametrize("extension", [".png", ".jpg", ".gif", ".bmp", ".webp", ".tiff"])
def test_every_common_format_decodes_in_memory_to_unit_floats(extension):
    pixels = image_io.decode(encode(draw(), extension), MAX_PIXELS)
    assert pixels.shape[:2] == (200, 160) and pixels.dtype == np.float32
    assert pixels.min() < 0.1 and pixels.max() > 0.9


def test_sixteen_bit_pictures_are_scaled_by_their_own_maximum():
    deep = (draw().astype(np.uint16) * 257)
    assert image_io.decode(encode(deep, ".png"), MAX_PIXELS).max() == pytest.approx(1.0)


@pytest.mark.parametrize("data", [b"", b"hello, I am text", b"%PDF-1.4 not a picture"])
def test_anything_else_is_refused_naming_the_formats_we_take(data):
    with pytest.raises(InvalidArgument, match="PNG, JPEG, GIF, BMP, WebP|empty"):
        image_io.decode(data, MAX_PIXELS)


def png_header(width, height):
    """A valid PNG header and an empty image-data chunk: no pixels at all."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(10_000, 5_000), (50_000, 50_000)])
def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(width, height):
    # The file holds no pixels, so an attempt to decode would fail with another message:
    # this one comes from the header alone (50,000 x 50,000 RGB would be 7.5 GB).
    with pytest.raises(InvalidArgument, match="megapixels"):
        image_io.decode(png_header(width, height), MAX_PIXELS)
    assert image_io.probe(png_header(100, 80), MAX_PIXELS) == ("PNG", 100, 80)


@pytest.mark.parametrize("shape", [(20, 20), (300, 500), (1200, 900), (3000, 2000)])
def test_any_size_becomes_the_models_size(shape):
    seen = prepare(unit(draw(shape=shape, width=max(3, shape[0] // 25))), MNIST)
    assert seen.shape == (28, 28, 1) and seen.dtype == np.float32
    assert 0.0 <= seen.min() and seen.max() <= 1.0 and seen.max() > 0.9


def test_dark_on_light_and_light_on_dark_give_the_same_input():
    on_paper = prepare(unit(draw(dark_on_light=True)), MNIST)
    on_slate = prepare(unit(draw(dark_on_light=False)), MNIST)
    assert on_paper[0, 0, 0] == 0.0, "the model was trained light-on-dark"
    assert np.abs(on_paper - on_slate).max() < 1e-6


def test_coloured_ink_on_coloured_paper_is_read_as_strokes():
    reference = prepare(unit(draw()), MNIST)
    ink = draw() < 128
    colour = np.empty(ink.shape + (3,), np.uint8)
    colour[...] = (250, 240, 190)            # yellowish paper
    colour[ink] = (20, 40, 160)              # blue pen
    assert similar(prepare(unit(colour), MNIST), reference, 0.97)


@pytest.mark.parametrize("ink_colour", [0, 255])
def test_transparent_background_works_whatever_the_ink_colour(ink_colour):
    reference = prepare(unit(draw()), MNIST)
    ink = draw() < 128
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[ink] = (ink_colour, ink_colour, ink_colour, 255)   # strokes opaque, the rest clear
    seen = prepare(image_io.decode(encode(rgba, ".png"), MAX_PIXELS), MNIST)
    assert np.abs(seen - reference).max() < 1e-6


def test_ink_is_cropped_fitted_to_20_pixels_and_centred_by_mass_like_mnist():
    page = np.full((600, 600), 255, np.uint8)
    page[20:220, 380:540] = draw()                         # a small 7 in a corner
    seen = prepare(unit(page), MNIST)[:, :, 0]
    rows, cols = np.nonzero(seen > 0.25)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)
    assert np.allclose(center_of_mass(seen), (14, 14), atol=1.0)


def test_thin_pen_lines_are_thickened_instead_of_fading_away():
    thin = prepare(unit(draw(shape=(1000, 800), width=2)), MNIST)   # 2 px pen, 750 px tall
    thick = prepare(unit(draw()), MNIST)
    assert thin.max() > 0.9
    assert 0.6 < (thin > 0.5).sum() / (thick > 0.5).sum() < 1.6


def test_a_blank_picture_gives_an_empty_frame():
    assert prepare(np.ones((50, 50), np.float32), MNIST).max() == 0.0


def test_a_model_trained_dark_on_light_gets_dark_strokes_on_white():
    seen = prepare(unit(draw(dark_on_light=False)), ImageInput(28, 28, background="light"))
    assert seen[0, 0, 0] == 1.0 and seen.min() < 0.1


def test_photo_models_get_colour_resized_without_cropping():
    picture = np.zeros((90, 120, 3), np.float32)
    picture[:, :60] = (1, 0, 0)
    seen = prepare(picture, ImageInput(16, 16, 3, background="any"))
    assert seen.shape == (16, 16, 3)
    assert np.allclose(seen[8, 1], (1, 0, 0), atol=0.05) and np.allclose(seen[8, 14], 0, atol=0.05)


def test_grayscale_strokes_are_repeated_for_three_channel_stroke_models():
    seen = prepare(unit(draw()), ImageInput(28, 28, 3))
    assert seen.shape == (28, 28, 3) and np.array_equal(seen[..., 0], seen[..., 2])
