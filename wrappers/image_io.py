"""Pictures in and out, in memory: uploaded bytes → float pixels, pixels → PNG bytes.

The header is read first (Pillow reads it lazily) so that an oversized or foreign file is
refused before a single pixel is decoded; nothing is ever written to disk.
"""
from __future__ import annotations

import io

import numpy as np

from serving.errors import InvalidArgument

FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "GIF": "GIF", "BMP": "BMP", "WEBP": "WebP",
           "TIFF": "TIFF"}
ACCEPTED = ", ".join(FORMATS.values())


def probe(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """(format, width, height) from the header alone; InvalidArgument for anything else."""
    from PIL import Image, UnidentifiedImageError
    if not data:
        raise InvalidArgument("The image is empty (0 bytes).")
    try:
        with Image.open(io.BytesIO(data)) as header:
            kind, (width, height) = header.format, header.size
    except Image.DecompressionBombError:  # Pillow's own, larger limit
        raise InvalidArgument(f"The image has far more than the {max_pixels // 1_000_000} "
                              "megapixels this server decodes.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidArgument(f"Not a picture this server can read; upload one of: "
                              f"{ACCEPTED}.") from None
    if kind not in FORMATS:
        raise InvalidArgument(f"Unsupported image format {kind}; upload one of: {ACCEPTED}.")
    if width * height > max_pixels:
        raise InvalidArgument(f"The image is {width}x{height} pixels, more than the "
                              f"{max_pixels // 1_000_000} megapixels this server decodes.")
    return kind, width, height


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes of a picture → float32 pixels in [0, 1], shaped HxW (gray) or HxWxC (C = 2, 3, 4).

    Only the first frame of an animation is used; a JPEG's EXIF orientation is applied.
    """
    import imageio.v3 as iio
    kind, _, _ = probe(data, max_pixels)
    try:
        pixels = iio.imread(data, index=0, plugin="pillow", rotate=True)
    except Exception as exc:  # a truncated or corrupt body can fail in many ways inside Pillow
        raise InvalidArgument(f"Could not decode the {FORMATS[kind]} image: {exc}") from None
    return to_unit_float(pixels)


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """Integer pixels scaled by their type's maximum; floats clipped to [0, 1]."""
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    if np.issubdtype(pixels.dtype, np.integer):
        return pixels.astype(np.float32) / np.iinfo(pixels.dtype).max
    return np.clip(np.nan_to_num(pixels.astype(np.float32)), 0.0, 1.0)


def png(pixels: np.ndarray) -> bytes:
    """Float pixels in [0, 1] (HxW or HxWx1/3) as PNG bytes."""
    import imageio.v3 as iio
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return iio.imwrite("<bytes>", np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8),
                       extension=".png")


def thumbnail(pixels: np.ndarray, longest: int = 256) -> np.ndarray:
    """A small copy for showing the upload back on the no-JavaScript result page."""
    from skimage.transform import resize
    height, width = pixels.shape[:2]
    scale = longest / max(height, width)
    if scale >= 1:
        return pixels
    shape = (max(1, round(height * scale)), max(1, round(width * scale))) + pixels.shape[2:]
    return resize(pixels, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)
