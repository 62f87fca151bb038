"""Any picture → what an image model expects: its size, channels, value range and polarity.

Handwriting models (MNIST and friends) were trained on centred, light-on-dark strokes; a
photo of ink on paper or a drawing on a white canvas only matches after inverting, cropping
to the ink and centring it by its centre of mass, as MNIST's own preparation did.
"""
from __future__ import annotations

import dataclasses

import numpy as np

WORK_SIDE = 1024       # larger pictures are shrunk first: the model sees 28 or 224 pixels anyway
INK_THRESHOLD = 0.25   # after background removal, brighter than this counts as ink
STROKE = 0.1           # stroke width as a fraction of the ink box, as in MNIST (about 2 of 20)


@dataclasses.dataclass(frozen=True)
class ImageInput:
    """How one model wants its picture; built from its signature (+ image_input.json)."""

    height: int
    width: int
    channels: int = 1
    background: str = "dark"               # "dark"/"light": centred strokes; "any": photos
    value_range: tuple[float, float] = (0.0, 1.0)
    ink_fraction: float = 20 / 28          # the ink box's share of the frame (MNIST: 20 of 28)

    @property
    def strokes(self) -> bool:
        return self.background in ("dark", "light")


def prepare(pixels: np.ndarray, spec: ImageInput) -> np.ndarray:
    """Float pixels (HxW or HxWxC, C = 1..4) → HxWxchannels in [0, 1], ready to scale."""
    pixels = _shrink(pixels)
    rgb = _flatten_alpha(pixels)
    gray = rgb if rgb.ndim == 2 else _luminance(rgb)
    if spec.strokes:
        out = centre_ink(gray, spec.height, spec.width, spec.ink_fraction)
        if spec.background == "light":
            out = 1.0 - out
        image = out[:, :, None]
    else:
        from skimage.transform import resize
        source = gray[:, :, None] if spec.channels == 1 or rgb.ndim == 2 else rgb
        image = resize(source, (spec.height, spec.width, source.shape[2]), anti_aliasing=True)
    if spec.channels == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _shrink(pixels: np.ndarray) -> np.ndarray:
    from skimage.transform import downscale_local_mean
    factor = -(-max(pixels.shape[:2]) // WORK_SIDE)
    if factor <= 1:
        return pixels
    return downscale_local_mean(pixels, (factor, factor) + (1,) * (pixels.ndim - 2))


def _luminance(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2gray
    return rgb2gray(rgb)


def _flatten_alpha(pixels: np.ndarray) -> np.ndarray:
    """Drop alpha by compositing on black or white, whichever the visible content is not."""
    if pixels.ndim == 2 or pixels.shape[2] == 3:
        return pixels
    if pixels.shape[2] == 1:
        return pixels[:, :, 0]
    colour, alpha = pixels[:, :, :-1], pixels[:, :, -1]
    colour = colour[:, :, 0] if colour.shape[2] == 1 else colour
    if alpha.min() >= 1.0:
        return colour
    visible = colour if colour.ndim == 2 else _luminance(colour)
    content = float((visible * alpha).sum()) / max(float(alpha.sum()), 1e-6)
    backdrop = 0.0 if content > 0.5 else 1.0  # light strokes go on black, dark ones on white
    weight = alpha if colour.ndim == 2 else alpha[:, :, None]
    return colour * weight + backdrop * (1.0 - weight)


def centre_ink(gray: np.ndarray, height: int, width: int, fraction: float = 20 / 28) -> np.ndarray:
    """Light-on-dark strokes, cropped to the ink, fitted into the box, centred by mass."""
    ink = _ink(gray)
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if rows.size == 0:
        return np.zeros((height, width), np.float32)  # a blank picture: nothing to centre
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = max(1, round(fraction * min(height, width)))
    ink = _thicken(ink)
    glyph = _fit(_square(ink), box)
    return _place(glyph, height, width)


def _ink(gray: np.ndarray) -> np.ndarray:
    """Strokes bright, background 0, contrast stretched; the border says which side is paper."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    ink = 1.0 - gray if paper > 0.5 else gray
    paper = 1.0 - paper if paper > 0.5 else paper
    ink = np.clip((ink - paper) / max(1.0 - paper, 1e-6), 0.0, 1.0)
    peak = float(ink.max())
    return ink / peak if peak > 0.05 else np.zeros_like(ink)


def _thicken(ink: np.ndarray) -> np.ndarray:
    """Thin pen lines would fade to grey when shrunk; widen them to MNIST's stroke first.

    Distance transforms keep this linear in the picture's size, whatever the pen width.
    """
    from scipy.ndimage import distance_transform_edt
    mask = ink > INK_THRESHOLD
    width = 4.0 * float(distance_transform_edt(mask)[mask].mean())  # a strip's mean depth: w/4
    radius = (STROKE * max(ink.shape) - width) / 2
    if radius < 1:
        return ink
    return np.maximum(ink, (distance_transform_edt(~mask) <= radius).astype(ink.dtype))


def _square(ink: np.ndarray) -> np.ndarray:
    height, width = ink.shape
    side = max(height, width)
    out = np.zeros((side, side), np.float32)
    top, left = (side - height) // 2, (side - width) // 2
    out[top:top + height, left:left + width] = ink
    return out


def _fit(ink: np.ndarray, box: int) -> np.ndarray:
    from skimage.transform import downscale_local_mean, resize
    factor = ink.shape[0] // (2 * box)
    if factor > 1:  # block means first: a wide Gaussian on the full crop is slow
        ink = downscale_local_mean(ink, (factor, factor))
    glyph = resize(ink, (box, box), anti_aliasing=ink.shape[0] > box, order=1)
    peak = float(glyph.max())
    return glyph / peak if peak > 0 else glyph


def _place(glyph: np.ndarray, height: int, width: int) -> np.ndarray:
    from scipy.ndimage import center_of_mass
    out = np.zeros((height, width), np.float32)
    cy, cx = center_of_mass(glyph)
    side = glyph.shape[0]
    top = int(np.clip(round(height / 2 - cy), 0, height - side))
    left = int(np.clip(round(width / 2 - cx), 0, width - side))
    out[top:top + side, left:left + side] = glyph
    return out
