"""Fuzzing the media layer: mutated image and video bytes never escape the error contract.

Valid small stills and clips are mutated (bit flips, truncation, byte insertion and
deletion, chunk duplication, overwrites), biased towards their headers where parsers
live. Whatever comes out, :func:`provcheck.media.image_frame`, :func:`media_kind` and
:func:`sample_video` either give valid frames (RGB ``uint8``, positive size, finite
times) or raise :class:`~provcheck.errors.MediaError` whose message is one line starting
with the file's path: never another exception, never a hang.

The default run is short (``PROVCHECK_FUZZ_EXAMPLES``, default 60 examples per target);
raise it for a fuzzing session, e.g. ``PROVCHECK_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import faulthandler
import math
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
from conftest import animated_bytes, clip_bytes, pan, still_bytes, texture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

from provcheck.errors import MediaError
from provcheck.media import Frame, image_frame, media_kind, sample_video

#: Hypothesis writes a patch of failing examples with libcst, which imports a deprecated
#: mypy_extensions API: under ``filterwarnings = error`` a failure would end in an INTERNALERROR
#: instead of its report.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict:DeprecationWarning")

EXAMPLES = int(os.environ.get("PROVCHECK_FUZZ_EXAMPLES", "60"))
#: An example normally takes 2-50 ms; hypothesis reports one slower than this.
DEADLINE = timedelta(seconds=10)
#: A Python-level hang is interrupted after this; a hang inside C code kills the run
#: (with every thread's stack on stderr) after three times as long.
EXAMPLE_TIMEOUT_S = 20.0

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


class ExampleTimeout(Exception):
    """An example ran longer than EXAMPLE_TIMEOUT_S."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise ExampleTimeout(f"example ran longer than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds * 3, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- seeds: small valid files


def _picture(seed: int, height: int = 48, width: int = 64) -> NDArray[np.uint8]:
    return texture(seed, height, width)


def _still(fmt: str, seed: int, mode: str | None = None, **options: object) -> bytes:
    return still_bytes(_picture(seed), fmt, mode, **options)


def _animated(fmt: str, seed: int) -> bytes:
    return animated_bytes([_picture(seed + n) for n in range(3)], fmt, duration_ms=80)


def _exif_jpeg(seed: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "provcheck"
    return _still("JPEG", seed, exif=exif)


def _clip(fmt: str, codec: str, seed: int, options: dict[str, str] | None = None, count: int = 12) -> bytes:
    """``count`` 64x48 frames panning 4 px a frame; each encoder's default settings."""
    frames = pan(texture(seed, 88, 64 + 4 * count), count, (64, 48), step_px=4, top_px=20)
    return clip_bytes(frames, fmt, codec=codec, options={}, container_options=options)


@cache
def image_seeds() -> dict[str, bytes]:
    """Name (with the extension the file gets) -> valid bytes."""
    return {
        "photo.jpg": _still("JPEG", 1, quality=85),
        "progressive.jpg": _still("JPEG", 2, progressive=True),
        "exif.jpg": _exif_jpeg(3),
        "cmyk.jpg": _still("JPEG", 4, mode="CMYK"),
        "shot.png": _still("PNG", 5),
        "palette.png": _still("PNG", 6, mode="P", transparency=0),
        "anim.png": _animated("PNG", 7),
        "photo.webp": _still("WEBP", 8, quality=80),
        "lossless.webp": _still("WEBP", 9, lossless=True),
        "anim.gif": _animated("GIF", 10),
        "scan.tif": _still("TIFF", 11, compression="tiff_lzw"),
        "grey.bmp": _still("BMP", 12, mode="L"),
        "photo.avif": _still("AVIF", 13),
    }


@cache
def video_seeds() -> dict[str, bytes]:
    return {
        "clip.mp4": _clip("mp4", "libx264", 21),
        "faststart.mp4": _clip("mp4", "libx264", 22, {"movflags": "faststart"}),
        "clip.mkv": _clip("matroska", "libx264", 23),
        "clip.webm": _clip("webm", "libvpx", 24),
        "clip.ts": _clip("mpegts", "libx264", 25),
        "clip.avi": _clip("avi", "mjpeg", 26),
        "clip.mov": _clip("mov", "mpeg4", 27),
    }


# --------------------------------------------------------------------------- mutations

#: Positions: mostly in the first bytes (headers, boxes, chunk tables), sometimes anywhere.
positions = st.one_of(st.integers(0, 96), st.integers(0, 1 << 24))
small_bytes = st.binary(min_size=1, max_size=64)
mutation = st.one_of(
    st.tuples(st.just("flip"), positions, st.integers(0, 7)),
    st.tuples(st.just("truncate"), positions),
    st.tuples(st.just("insert"), positions, small_bytes),
    st.tuples(st.just("delete"), positions, st.integers(1, 256)),
    st.tuples(st.just("duplicate"), positions, st.integers(1, 4096), positions),
    st.tuples(st.just("overwrite"), positions, small_bytes),
    st.tuples(st.just("int"), positions, st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])),
)
Mutation = tuple[Any, ...]


def mutate(data: bytes, mutations: Sequence[Mutation]) -> bytes:
    """Apply mutations in turn; positions wrap around the current length."""
    out = bytearray(data)
    for operation in mutations:
        kind = operation[0]
        if not out:
            break
        at = int(operation[1]) % len(out)
        if kind == "flip":
            out[at] ^= 1 << int(operation[2])
        elif kind == "truncate":
            del out[max(1, at) :]
        elif kind == "insert":
            out[at:at] = operation[2]
        elif kind == "delete":
            del out[at : at + int(operation[2])]
        elif kind == "duplicate":
            chunk = out[at : at + int(operation[2])]
            where = int(operation[3]) % len(out)
            out[where:where] = chunk
        elif kind == "overwrite":
            patch = bytes(operation[2])
            out[at : at + len(patch)] = patch
        elif kind == "int":
            value = int(operation[2])
            width = 2 if value <= 0xFFFF else 4
            out[at : at + width] = value.to_bytes(width, "big")
    return bytes(out)


# --------------------------------------------------------------------------- the contract


def check_error(error: MediaError, path: Path) -> None:
    message = str(error)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < 1000, message


def check_frame(frame: Frame) -> None:
    pixels = frame.pixels
    assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8, pixels.dtype
    assert pixels.ndim == 3 and pixels.shape[2] == 3, pixels.shape
    assert pixels.shape[0] > 0 and pixels.shape[1] > 0, pixels.shape
    assert frame.time_s is None or math.isfinite(frame.time_s)


def run_contract(path: Path, action: Callable[[Path], list[Frame]]) -> list[Frame] | MediaError:
    """Run ``action``; the only exception allowed out is a well-formed MediaError."""
    with time_limit(EXAMPLE_TIMEOUT_S):
        try:
            frames = action(path)
        except MediaError as error:
            check_error(error, path)
            return error
    for frame in frames:
        check_frame(frame)
    return frames


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole module: each example overwrites its file (module scope suits hypothesis)."""
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _as_image(path: Path) -> list[Frame]:
    return [image_frame(path)]


def _as_media(path: Path) -> list[Frame]:
    """What ``index add`` does: sniff the kind, then read it as that kind."""
    if media_kind(path) == "image":
        return [image_frame(path)]
    frames = list(sample_video(path, fps=4.0))
    indices = [frame.index for frame in frames]
    assert indices == sorted(set(indices)), indices
    return frames


@FUZZ_SETTINGS
@given(name=st.sampled_from(sorted(image_seeds())), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_images_keep_the_contract(scratch: Path, name: str, mutations: list[Mutation]) -> None:
    path = _write(scratch, name, mutate(image_seeds()[name], mutations))
    run_contract(path, _as_image)
    run_contract(path, _as_media)


@FUZZ_SETTINGS
@given(name=st.sampled_from(sorted(video_seeds())), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_videos_keep_the_contract(scratch: Path, name: str, mutations: list[Mutation]) -> None:
    path = _write(scratch, name, mutate(video_seeds()[name], mutations))
    run_contract(path, _as_media)
    run_contract(path, _as_image)


@FUZZ_SETTINGS
@given(name=st.sampled_from(sorted(image_seeds()) + sorted(video_seeds())), data=st.binary(max_size=2048))
def test_garbage_under_any_name_keeps_the_contract(scratch: Path, name: str, data: bytes) -> None:
    """Bytes with no structure at all, under every extension (empty files included)."""
    path = _write(scratch, name, data)
    run_contract(path, _as_media)
    run_contract(path, _as_image)


def test_seeds_are_valid(scratch: Path) -> None:
    """The unmutated seeds decode: the property tests start from real media."""
    for name, data in image_seeds().items():
        result = run_contract(_write(scratch, name, data), _as_image)
        assert isinstance(result, list) and len(result) == 1, (name, result)
    for name, data in video_seeds().items():
        result = run_contract(_write(scratch, name, data), _as_media)
        assert isinstance(result, list) and len(result) >= 1, (name, result)
