"""Still images through Pillow: decoded as RGB, upright per EXIF, bombs refused before decoding.

This module owns reading a photo: the whitelisted Pillow decoders only, the pixel
limit checked before any pixel is decoded, EXIF orientation applied, every colour mode
(alpha, palette, 16-bit, float, CMYK) converted to RGB, animated images read as their
first frame, and every failure turned into one :class:`~provcheck.errors.MediaError` line.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from ..errors import MediaError
from .frame import Frame
from .sniff import (
    _IMAGE_SIGNATURES,
    _VIDEO_SIGNATURES,
    _check_readable_file,
    _detail,
    _pillow_formats,
    _read_head,
    _signature,
)

#: Largest still image decoded, in pixels (Pillow's own bomb limit is 89.5 MP with a
#: warning and 179 MP as an error; we refuse at a fixed, documented value instead).
MAX_IMAGE_PIXELS = 100_000_000
#: Pixels converted at a time when a 16-bit or float image is scaled to 8 bits.
_CONVERT_BLOCK_PIXELS = 1 << 22

#: EXIF orientation -> the transpose that displays the picture upright (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparent areas are composited on white.

    Raises:
        ValueError: a mode Pillow cannot convert to RGB.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _wide_to_rgb(image)
    return image.convert("RGB")


def _wide_to_rgb(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float grey image as RGB: scaled so its maximum is 255 when above.

    Works in row blocks (a 100 MP 16-bit image never becomes a 100 MP float64 array);
    NaN and infinite values count as black.
    """
    array = np.asarray(image)
    height, width = array.shape[:2]
    rows = max(1, _CONVERT_BLOCK_PIXELS // max(1, width))

    def block(start: int) -> NDArray[np.float32]:
        values = np.array(array[start : start + rows], dtype=np.float32)  # a writable copy
        values[~np.isfinite(values)] = 0.0
        return values

    top = 0.0
    for start in range(0, height, rows):
        values = block(start)
        if values.size:
            top = max(top, float(values.max()))
    scale = 255.0 / top if top > 255.0 else 1.0
    grey = np.empty((height, width), dtype=np.uint8)
    for start in range(0, height, rows):
        values = block(start)
        np.multiply(values, scale, out=values)
        np.clip(values, 0.0, 255.0, out=values)
        grey[start : start + rows] = values.astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


@contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """Send what C libraries write to file descriptor 2 to /dev/null for the duration.

    Errors are this module's to report, as one line; a decoder's own stderr output
    would be stray lines that do not name the file.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to protect
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Turn a picture upright per its EXIF orientation; a broken EXIF block leaves it as stored."""
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:  # malformed EXIF: the pixels are still good
        return image
    method = _ORIENTATION_TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def load_image(path: Path) -> Image.Image:
    """Open a still image as RGB with its EXIF orientation applied.

    Animated images give their first frame. Images larger than
    :data:`MAX_IMAGE_PIXELS` are refused before their pixels are decoded.

    Raises:
        MediaError: unreadable, truncated, too large or not an image.
    """
    _check_readable_file(path)
    signature = _signature(_read_head(path))
    formats = _pillow_formats()
    if signature == "heif" and "HEIF" not in formats:
        raise MediaError(f"{path}: HEIC/HEIF image, which this installation cannot decode (convert it to JPEG or PNG)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89.5 MP; MAX_IMAGE_PIXELS is the limit here (Pillow still
            # raises DecompressionBombError from 179 MP, before reading any pixel). Its
            # other warnings (corrupt EXIF...) would be stray lines on stderr: the image
            # either decodes or raises.
            warnings.simplefilter("ignore")
            with Image.open(path, formats=formats) as opened:
                width, height = opened.size
                if width <= 0 or height <= 0:
                    raise MediaError(f"{path}: image has no pixels ({width}x{height})")
                if width * height > MAX_IMAGE_PIXELS:
                    raise MediaError(
                        f"{path}: image is {width}x{height} pixels, above the limit of "
                        f"{MAX_IMAGE_PIXELS:,} (possible decompression bomb)"
                    )
                opened.seek(0)
                if opened.format == "TIFF":
                    with _c_stderr_silenced():  # libtiff prints its complaints straight to stderr
                        opened.load()
                else:
                    opened.load()
                oriented = _apply_orientation(opened)
                mode = oriented.mode
                try:
                    rgb = _to_rgb(oriented)
                except ValueError as exc:
                    raise MediaError(f"{path}: unsupported image colour mode {mode} ({_detail(exc)})") from exc
                # ``opened`` is closed on leaving: return an image that owns its pixels
                return rgb.copy() if rgb is opened else rgb
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(
            f"{path}: image is above the limit of {MAX_IMAGE_PIXELS:,} pixels (possible decompression bomb)"
        ) from exc
    except UnidentifiedImageError as exc:
        if signature in _VIDEO_SIGNATURES:
            raise MediaError(f"{path}: a video or audio file, not a still image") from exc
        if signature in _IMAGE_SIGNATURES:  # the magic bytes of a format we read, then nothing readable
            raise MediaError(f"{path}: damaged or truncated image ({signature.upper()} header unreadable)") from exc
        raise MediaError(f"{path}: not a supported image file") from exc
    except MemoryError as exc:
        raise MediaError(f"{path}: not enough memory to decode this image") from exc
    except Exception as exc:  # Pillow's decoders raise many types on malformed data
        raise MediaError(f"{path}: damaged or truncated image ({_detail(exc)})") from exc


def image_frame(path: Path) -> Frame:
    """Load a still image as a single :class:`Frame`."""
    image = load_image(path)
    try:
        pixels = np.asarray(image, dtype=np.uint8)
    except MemoryError as exc:
        raise MediaError(f"{path}: not enough memory for this image's {image.width}x{image.height} pixels") from exc
    return Frame(pixels=pixels, source=str(path), index=0, time_s=None)
