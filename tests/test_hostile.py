"""Hostile inputs through the real CLI: every bad file is one clear line and exit 1, never a traceback.

Every case is generated here (never downloaded): truncated stills and videos, noise,
decompression bombs, odd modes and geometries, audio-only and zero-frame containers,
playlists that point at other files, filesystem oddities. Each case goes through
``provcheck index add`` and ``provcheck match`` in a subprocess, next to a good image
in the same call, under a wall-clock timeout and an address-space ceiling, and the
peak memory of each run is measured.

To stay fast the cases are batched: per command, one call with every case that must
be accepted (it must exit 0) and one with every case that must be refused (exit 1).
When a batch misbehaves (crash, hang, traceback, unparsable JSON), its cases are run
one by one so that the failing case is the one reported.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from conftest import animated_bytes, clip_bytes, pan, still_bytes, texture, valid_document, write_still
from numpy.typing import NDArray
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
#: Wall-clock limit of one CLI call (a batch of ~40 files takes 3-8 s).
CLI_TIMEOUT_S = 60.0
#: Address-space ceiling of a CLI call. Importing numpy, OpenCV, SciPy and FAISS maps
#: about 1.2 GB of virtual memory before any work (OpenBLAS then spins rather than
#: failing when the ceiling is lower), so the ceiling is generous and the real check
#: is the peak resident memory below.
ADDRESS_SPACE_LIMIT = 3 << 30
#: Peak resident memory allowed to one CLI call. A normal call peaks at ~210 MB.
MAX_RSS_MB = 1536.0
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
#: libx264 settings of the hostile clips: small and quick to encode, quality does not matter here.
HOSTILE_X264_OPTIONS = {"crf": "30", "preset": "veryfast"}


# --------------------------------------------------------------------------- running the CLI


@dataclass
class Run:
    """One CLI call: exit code, output, time and peak resident memory."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    timed_out: bool

    def describe(self) -> str:
        return (
            f"exit {self.code} in {self.seconds:.1f} s, peak {self.max_rss_mb:.0f} MB"
            f"{' (TIMED OUT)' if self.timed_out else ''}\nstderr:\n{self.stderr[-3000:]}"
        )


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_cli(args: Sequence[str | Path], timeout: float = CLI_TIMEOUT_S) -> Run:
    """Run ``python -m provcheck ARGS`` from the repository, bounded in time and memory.

    ``os.wait4`` gives this child's own resource usage (peak RSS), which
    ``RUSAGE_CHILDREN`` would mix with every other child of the test process.
    """
    command = [sys.executable, "-m", "provcheck", *[str(arg) for arg in args]]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
            preexec_fn=_limit_address_space,
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Run(
            args=command[3:],
            code=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024.0,
            timed_out=expired.is_set(),
        )


# --------------------------------------------------------------------------- generated media

SMALL = (96, 128)  # height, width of the generated stills


def picture(seed: int, height: int = SMALL[0], width: int = SMALL[1]) -> NDArray[np.uint8]:
    return texture(seed, height, width)


def picture_bytes(seed: int, fmt: str, mode: str | None = None, **options: Any) -> bytes:
    """A small generated still in ``fmt`` (see :func:`conftest.still_bytes`)."""
    return still_bytes(picture(seed), fmt, mode, **options)


def clip_frames(seed: int, count: int, width: int = 160, height: int = 96) -> list[NDArray[np.uint8]]:
    """A pan over a texture: ``count`` frames of width x height."""
    return pan(texture(seed, height + 40, width + 3 * count + 8), count, (width, height), step_px=3, top_px=20)


def encode_video(frames: Sequence[NDArray[np.uint8]], fmt: str, **settings: Any) -> bytes:
    """Small, quick H.264 unless ``settings`` say otherwise (see :func:`conftest.encode_clip`)."""
    if settings.get("codec", "libx264") == "libx264":
        settings.setdefault("options", HOSTILE_X264_OPTIONS)
    return clip_bytes(frames, fmt, **settings)


@cache
def mp4_bytes(seed: int = 21, faststart: bool = False) -> bytes:
    """6 s at 25 fps, 160x96, H.264 in MP4 (moov at the end unless ``faststart``)."""
    options = {"movflags": "faststart"} if faststart else None
    return encode_video(clip_frames(seed, 150), "mp4", container_options=options)


@cache
def mkv_bytes(seed: int = 22) -> bytes:
    return encode_video(clip_frames(seed, 150), "matroska")


def audio_bytes(fmt: str, codec: str, cover_art: bool = False) -> bytes:
    """Half a second of a tone, no video (or only a cover picture)."""
    planar = codec == "aac"
    samples = 1024 if planar else 1152
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        audio = container.add_stream(codec, rate=44100)
        audio.layout = "mono"
        if cover_art:
            cover = container.add_stream("mjpeg", rate=1)
            cover.width, cover.height = 64, 48
            cover.pix_fmt = "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
            for packet in cover.encode(av.VideoFrame.from_ndarray(picture(5, 48, 64), format="rgb24")):
                container.mux(packet)
        for number in range(20):
            wave = np.sin(np.arange(samples) * 0.05 + number)[None, :]
            array = wave.astype(np.float32) if planar else (wave * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(array, format="fltp" if planar else "s16", layout="mono")
            frame.sample_rate = 44100
            frame.pts = number * samples
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return buffer.getvalue()


def video_without_frames() -> bytes:
    """A Matroska file declaring an H.264 video stream that has no packets (only audio has)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height = 64, 48
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("mp2", rate=44100)
        audio.layout = "mono"
        for number in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
            frame.sample_rate = 44100
            frame.pts = number * 1152
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@cache
def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A complete, valid 1-bit PNG of width x height zeros: 312 MB of pixels in ~300 KB."""
    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    rows_per_chunk = 2000
    chunks = [compressor.compress(row * min(rows_per_chunk, height - start)) for start in range(0, height, rows_per_chunk)]
    chunks.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"".join(chunks)) + png_chunk(
        b"IEND", b""
    )


def gif_bomb() -> bytes:
    """A GIF whose logical screen is 65535x65535 (4.3 GP) holding one 1x1 image."""
    screen = struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0)  # global colour table of 2 entries
    image = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + b"\x00\x00\x00\xff\xff\xff" + image + b";"


def jpeg_bomb() -> bytes:
    """A small JPEG whose frame header is patched to declare 65500x65500 pixels."""
    data = bytearray(picture_bytes(31, "JPEG"))
    marker = data.find(b"\xff\xc0")
    data[marker + 5 : marker + 9] = struct.pack(">HH", 65500, 65500)
    return bytes(data)


def webp_bomb() -> bytes:
    """A lossless WebP header declaring 16384x16384 pixels, then a few bytes of bitstream."""
    bits = (16384 - 1) | ((16384 - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + bytes(32)
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def mjpeg_video_bomb(width: int, height: int) -> bytes:
    """Ten 256x256 MJPEG frames in Matroska, container and every JPEG patched to width x height."""
    data = bytearray(encode_video(clip_frames(41, 10, 256, 256), "matroska", codec="mjpeg"))
    for element in (b"\xb0\x82\x01\x00", b"\xba\x82\x01\x00"):  # PixelWidth, PixelHeight = 256
        at = data.find(element)
        assert at >= 0
        data[at + 2 : at + 4] = struct.pack(">H", width if element[0] == 0xB0 else height)
    at = 0
    while (at := data.find(b"\xff\xc0\x00\x11\x08", at)) >= 0:
        data[at + 5 : at + 9] = struct.pack(">HH", height, width)
        at += 9
    return bytes(data)


def matroska_with_duration(data: bytes, duration_ms: float) -> bytes:
    """Patch a Matroska file's Segment Info Duration (an 8-byte float, in milliseconds)."""
    patched = bytearray(data)
    at = patched.find(b"\x44\x89\x88")
    assert at >= 0
    patched[at + 3 : at + 11] = struct.pack(">d", duration_ms)
    return bytes(patched)


def header_end(kind: str, data: bytes) -> int:
    """Length of a file's headers, before any picture data."""
    if kind == "jpeg":
        sos = data.find(b"\xff\xda")
        return sos + 2 + struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    if kind == "png":
        return data.find(b"IDAT") - 4
    if kind == "webp":
        return 30
    if kind == "gif":
        flags = data[10]
        return 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    if kind == "mp4":
        return data.find(b"mdat") + 4
    if kind == "mkv":
        return data.find(b"\x1f\x43\xb6\x75")
    raise ValueError(kind)


@cache
def truncation_sources() -> dict[str, bytes]:
    return {
        "jpeg": picture_bytes(51, "JPEG", quality=90),
        "png": picture_bytes(52, "PNG"),
        "webp": picture_bytes(53, "WEBP", quality=80),
        "gif": picture_bytes(54, "GIF", mode="P"),
        "mp4": mp4_bytes(),
        "mkv": mkv_bytes(),
    }


def truncated(kind: str, where: str) -> bytes:
    data = truncation_sources()[kind]
    end = header_end(kind, data) if where == "header" else len(data) * int(where) // 100
    assert 0 < end < len(data)
    return data[:end]


def noise(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def corrupt_middle(data: bytes, length: int = 4096, seed: int = 3) -> bytes:
    damaged = bytearray(data)
    start = len(data) // 2 - length // 2
    damaged[start : start + length] = noise(length, seed)
    return bytes(damaged)


def animated(fmt: str, seed: int) -> bytes:
    return animated_bytes([picture(seed + n) for n in range(3)], fmt, duration_ms=100)


def png16(seed: int, channels: int) -> bytes:
    pixels = picture(seed).astype(np.uint16) * 257
    if channels == 1:
        pixels = pixels[:, :, 0]
    ok, encoded = cv2.imencode(".png", pixels if channels == 1 else pixels[:, :, ::-1])
    assert ok
    return encoded.tobytes()


def float_tiff(seed: int) -> bytes:
    values = picture(seed)[:, :, 1].astype(np.float32) * 1000.0
    values[0, :4] = [np.nan, np.inf, -np.inf, -5.0]
    return still_bytes(values, "TIFF")


def rgba_png(seed: int, mode: str) -> bytes:
    pixels = picture(seed)
    alpha = np.tile(np.linspace(0, 255, pixels.shape[1], dtype=np.uint8), (pixels.shape[0], 1))
    return still_bytes(np.dstack([pixels, alpha]), "PNG", None if mode == "RGBA" else mode)


def palette_with_transparency(seed: int) -> bytes:
    image = Image.fromarray(picture(seed)).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return still_bytes(image, "PNG", transparency=0)


def jpeg_with_exif(seed: int, exif_payload: bytes | None = None, orientation: int | None = None) -> bytes:
    """A JPEG with an EXIF orientation, or with a raw (possibly garbage) APP1 Exif payload."""
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        return picture_bytes(seed, "JPEG", exif=exif)
    return picture_bytes(seed, "JPEG", exif=b"Exif\x00\x00" + (exif_payload or b""))


def resolution_change() -> bytes:
    """Two MPEG-TS clips of different frame sizes, concatenated: the size changes mid-stream."""
    small = encode_video(clip_frames(61, 30, 160, 96), "mpegts")
    large = encode_video(clip_frames(62, 30, 320, 176), "mpegts")
    return small + large


def vfr_mp4() -> bytes:
    pts_ms = [0, 40, 80, 500, 540, 1300, 1340, 1380, 2000, 2040, 2700, 3100]
    return encode_video(clip_frames(71, len(pts_ms), 160, 96), "mp4", pts=pts_ms, time_base=Fraction(1, 1000))


def timestamps_jump() -> bytes:
    """A Matroska clip whose last frame is stamped at 7 h while its header says it lasts 1 s."""
    pts_ms = [0, 40, 80, 120, 7 * 3600 * 1000]
    data = encode_video(clip_frames(72, len(pts_ms), 160, 96), "matroska", pts=pts_ms, time_base=Fraction(1, 1000))
    return matroska_with_duration(data, 1000.0)


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One hostile input and what each command must make of it.

    ``add``: ``"image"`` or ``"video"`` (indexed as that kind), ``"error"`` (refused
    with one line naming the file, or ``inner`` inside a folder), or ``"nothing"`` (an
    empty folder: a warning, nothing added). ``match``: ``"ok"`` (a readable claim),
    ``"error"`` (as for ``add``: a folder stands for the files in it) or ``"nothing"``.
    ``reason`` / ``claim_reason``: text the error of ``index add`` / of ``match`` must
    contain (claims are stills, so a video is an error there).
    """

    id: str
    name: str
    build: Callable[[Path], None]
    add: str
    match: str
    reason: str = ""
    claim_reason: str = ""
    inner: str | None = None
    marks: tuple[pytest.MarkDecorator, ...] = field(default_factory=tuple)

    @property
    def add_ok(self) -> bool:
        return self.add in ("image", "video", "nothing")

    @property
    def match_ok(self) -> bool:
        return self.match in ("ok", "nothing")


def bad(id: str, name: str, build: Callable[[Path], None], reason: str = "", claim_reason: str | None = None,
        **extra: Any) -> Case:
    """A case both commands refuse; the claim's reason defaults to the same text."""
    return Case(id, name, build, "error", "error", reason, reason if claim_reason is None else claim_reason, **extra)


def bad_video(id: str, name: str, build: Callable[[Path], None], reason: str = "") -> Case:
    """A damaged or refused video: refused by ``index add`` for ``reason``, and no still for ``match``."""
    return Case(id, name, build, "error", "error", reason, NOT_A_STILL)


def still(id: str, name: str, build: Callable[[Path], None]) -> Case:
    return Case(id, name, build, "image", "ok")


def video(id: str, name: str, build: Callable[[Path], None]) -> Case:
    return Case(id, name, build, "video", "error", claim_reason=NOT_A_STILL)


NOT_A_STILL = "not a still image"


def write(data: Callable[[], bytes]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(data())

    return build


def symlink_to(target: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.symlink_to(target)

    return build


def symlink_loop(path: Path) -> None:
    other = path.with_name(path.name + ".other")
    other.symlink_to(path.name)
    path.symlink_to(other.name)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def unreadable(path: Path) -> None:
    path.write_bytes(picture_bytes(81, "PNG"))
    path.chmod(0)


def folder_with(inner: str, data: Callable[[], bytes] | None) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.mkdir()
        if data is not None:
            (path / inner).write_bytes(data())

    return build


def playlist_next_to_video(text: str) -> Callable[[Path], None]:
    """A text file FFmpeg would follow to another file (next to it, a real video)."""

    def build(path: Path) -> None:
        path.with_name("referenced.mkv").write_bytes(mkv_bytes(91))
        path.write_text(text)

    return build


def _cases() -> list[Case]:
    cases = [
        # nothing, noise and text
        bad("zero-bytes", "empty.jpg", write(lambda: b""), "empty file"),
        bad("noise-jpg", "noise.jpg", write(lambda: noise(8192, 1)), "not a supported"),
        bad("noise-png", "noise.png", write(lambda: noise(8192, 2)), "not a supported"),
        bad("noise-mp4", "noise.mp4", write(lambda: noise(65536, 3)), "not a readable video", "not a supported"),
        bad("noise-mkv", "noise.mkv", write(lambda: noise(65536, 4)), "not a readable video", "not a supported"),
        bad("text-as-mp4", "notes.mp4", write(lambda: b"just some text\n" * 400), "not a readable video",
            "not a supported"),
        bad("html-as-jpg", "page.jpg", write(lambda: b"<!doctype html><html><body>404</body></html>\n" * 50),
            "not a supported"),
        bad("heic-unsupported", "photo.heic",
            write(lambda: struct.pack(">I", 24) + b"ftypheic\x00\x00\x00\x00mif1heic" + noise(4000, 5)), "HEIC"),
        bad("ffconcat-list", "concat.mp4", playlist_next_to_video("ffconcat version 1.0\nfile referenced.mkv\n"),
            "not a readable video", "not a supported"),
        bad("hls-playlist", "playlist.mp4",
            playlist_next_to_video("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nreferenced.mkv\n#EXT-X-ENDLIST\n"),
            "not a readable video", "not a supported"),
    ]
    # truncated stills and videos, at the end of their headers and at 10, 50 and 90 % of their bytes
    for kind, suffix in {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}.items():
        for where in ("header", "10", "50", "90"):
            cases.append(bad(f"truncated-{kind}-{where}", f"truncated_{where}.{suffix}",
                             write(lambda kind=kind, where=where: truncated(kind, where))))
    for kind in ("mp4", "mkv"):
        for where in ("header", "10", "50", "90"):
            cases.append(bad_video(f"truncated-{kind}-{where}", f"truncated_{where}.{kind}",
                                   write(lambda kind=kind, where=where: truncated(kind, where)),
                                   "truncated"))
    for percent in (50, 90, 99):
        cases.append(bad_video(
            f"truncated-mp4-faststart-{percent}", f"faststart_{percent}.mp4",
            write(lambda percent=percent: mp4_bytes(23, True)[: len(mp4_bytes(23, True)) * percent // 100]),
            "truncated",
        ))
    cases += [
        # decompression bombs: huge declared sizes in tiny files
        bad("bomb-png-50000x50000", "bomb.png", write(png_bomb), "bomb"),
        bad("bomb-gif-65535x65535", "bomb.gif", write(gif_bomb), "bomb"),
        bad("bomb-jpeg-65500x65500", "bomb.jpg", write(jpeg_bomb), "bomb"),
        bad("bomb-webp-16384x16384", "bomb.webp", write(webp_bomb)),
        bad_video("bomb-video-16000x16000", "bomb_video.mkv", write(lambda: mjpeg_video_bomb(16000, 16000)),
                  "16000x16000, above the limit"),
        bad_video("bomb-video-65535x65535", "bomb_video_max.mkv", write(lambda: mjpeg_video_bomb(65535, 65535)),
                  "frame size"),
        # geometry
        still("wide-10000x1", "wide.png", write(lambda: _png_of(np.tile(picture(101, 1, 128), (1, 79, 1))[:, :10000]))),
        still("tall-1x10000", "tall.png", write(lambda: _png_of(np.tile(picture(102, 128, 1), (79, 1, 1))[:10000]))),
        still("one-pixel", "pixel.png", write(lambda: _png_of(np.full((1, 1, 3), 200, np.uint8)))),
        # modes
        still("png-16bit-rgb", "rgb16.png", write(lambda: png16(111, 3))),
        still("png-16bit-grey", "grey16.png", write(lambda: png16(112, 1))),
        still("jpeg-cmyk", "cmyk.jpg", write(lambda: picture_bytes(113, "JPEG", mode="CMYK"))),
        still("png-palette-transparency", "palette.png", write(lambda: palette_with_transparency(114))),
        still("png-la", "la.png", write(lambda: rgba_png(115, "LA"))),
        still("png-rgba", "rgba.png", write(lambda: rgba_png(116, "RGBA"))),
        still("png-bilevel", "bilevel.png", write(lambda: picture_bytes(117, "PNG", mode="1"))),
        still("jpeg-grey", "grey.jpg", write(lambda: picture_bytes(118, "JPEG", mode="L"))),
        still("tiff-float-nan", "float.tif", write(lambda: float_tiff(119))),
        still("avif", "photo.avif", write(lambda: picture_bytes(120, "AVIF"))),
        still("gif-animated", "anim.gif", write(lambda: animated("GIF", 121))),
        still("webp-animated", "anim.webp", write(lambda: animated("WEBP", 124))),
        still("apng-animated", "anim.png", write(lambda: animated("PNG", 127))),
        still("jpeg-exif-rotated", "rotated.jpg", write(lambda: jpeg_with_exif(130, orientation=6))),
        still("jpeg-exif-bad-orientation", "orient99.jpg", write(lambda: jpeg_with_exif(131, orientation=99))),
        still("jpeg-exif-garbage", "broken_exif.jpg",
              write(lambda: jpeg_with_exif(132, exif_payload=b"II*\x00\xff\xff\x00\x00" + noise(200, 6)))),
        still("jpeg-exif-cyclic-ifd", "cyclic_exif.jpg",
              write(lambda: jpeg_with_exif(133, exif_payload=b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00"
                                           b"\x01\x00\x00\x00\x06\x00\x08\x00\x00\x00"))),
        # the wrong extension: judged by content
        still("png-named-jpg", "screenshot.jpg", write(lambda: picture_bytes(141, "PNG"))),
        still("png-named-mp4", "still.mp4", write(lambda: picture_bytes(142, "PNG"))),
        still("jpeg-named-webp", "photo.webp", write(lambda: picture_bytes(143, "JPEG"))),
        video("mp4-named-jpg", "clip.jpg", write(lambda: mp4_bytes(144))),
        video("mkv-named-mp4", "clip_mkv.mp4", write(lambda: mkv_bytes(145))),
        # names
        still("non-ascii-spaces", "ünï cødé 写真 photo (1).png", write(lambda: picture_bytes(151, "PNG"))),
        video("url-like-name", "http:clip.mp4", write(lambda: mp4_bytes(152))),
        # videos
        video("video-valid", "valid.mp4", write(lambda: mp4_bytes(161))),
        video("video-vfr", "vfr.mp4", write(vfr_mp4)),
        video("video-resolution-change", "sizes.ts", write(resolution_change)),
        video("video-duration-longer-than-header", "short_header.mkv",
              write(lambda: matroska_with_duration(mkv_bytes(163), 1_000.0))),
        bad_video("video-duration-shorter-than-header", "long_header.mkv",
                  write(lambda: matroska_with_duration(mkv_bytes(162), 60_000.0)), "truncated"),
        bad_video("video-header-claims-10h", "ten_hours.mkv",
                  write(lambda: matroska_with_duration(mkv_bytes(164), 36_000_000.0)), "above the limit"),
        bad_video("video-timestamps-past-limit", "jump.mkv", write(timestamps_jump), "runs past the limit"),
        bad_video("audio-only-mka", "audio.mka", write(lambda: audio_bytes("matroska", "mp2")), "no video stream"),
        bad_video("audio-only-pcm-mka", "pcm.mka", write(lambda: audio_bytes("matroska", "pcm_s16le")),
                  "no video stream"),
        bad_video("audio-only-m4a-as-mp4", "audio.mp4", write(lambda: audio_bytes("mp4", "aac")), "no video stream"),
        bad_video("audio-with-cover-art", "song.mp4", write(lambda: audio_bytes("mp4", "aac", cover_art=True)),
                  "no video stream"),
        bad_video("video-zero-frames", "no_frames.mkv", write(video_without_frames), "no decodable frames"),
        bad_video("video-corrupt-middle", "corrupt.mp4", write(lambda: corrupt_middle(mp4_bytes(165))),
                  "cannot be decoded"),
        # the file system
        bad("missing", "missing.jpg", lambda path: None, "no such file"),
        bad("directory-with-bad-file", "folder", folder_with("inner.jpg", lambda: noise(4096, 7)),
            "not a supported", inner="inner.jpg"),
        Case("directory-empty", "empty_folder", folder_with("", None), "nothing", "nothing"),
        bad("symlink-loop", "loop.jpg", symlink_loop, "symbolic link loop"),
        bad("symlink-dangling", "dangling.jpg", symlink_to("nowhere.jpg"), "broken symbolic link"),
        bad("fifo", "pipe.jpg", fifo, "not a regular file"),
        bad("unreadable", "unreadable.png", unreadable, "permission denied",
            marks=(pytest.mark.skipif(IS_ROOT, reason="root reads a chmod-000 file; the FIFO and symlink cases "
                                                     "cover paths that cannot be opened"),)),
    ]
    return cases


def _png_of(pixels: NDArray[np.uint8]) -> bytes:
    return still_bytes(pixels, "PNG")


CASES = _cases()


# --------------------------------------------------------------------------- fixtures: build, then run in batches


@dataclass
class Corpus:
    folder: Path
    good: Path
    paths: dict[str, Path]
    index: Path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    folder = tmp_path_factory.mktemp("hostile")
    paths = {}
    for number, case in enumerate(CASES):
        case_dir = folder / f"{number:02d}"
        case_dir.mkdir()
        path = case_dir / case.name
        case.build(path)
        paths[case.id] = path
    good = folder / "good.png"
    write_still(good, texture(7, 240, 320))
    from provcheck import Index

    index = folder / "built.sqlite"
    with Index(index) as store:
        store.add(good, title="Good")
    yield Corpus(folder, good, paths, index)
    for case in CASES:  # let pytest clean up a chmod-000 file
        path = paths[case.id]
        if path.exists() and not path.is_symlink() and path.is_file():
            path.chmod(0o644)


def _runnable(case: Case) -> bool:
    return not any(mark.name == "skipif" and mark.args and mark.args[0] for mark in case.marks)


@dataclass
class Outcome:
    """What one command made of one case: its call, and the case's entries in the JSON."""

    run: Run
    payload: dict[str, Any] | None
    batch: bool


def _healthy(run: Run) -> bool:
    if run.timed_out or run.code not in (0, 1) or "Traceback" in run.stderr:
        return False
    try:
        json.loads(run.stdout)
    except ValueError:
        return False
    return True


def _run_group(command: list[str], index: Path, cases: list[Case], corpus: Corpus) -> dict[str, Outcome]:
    """One call for all the cases and the good image; one call per case if that call misbehaves."""
    paths = [corpus.paths[case.id] for case in cases]
    run = run_cli([*command, *paths, corpus.good, "--index", index, "--json"])
    if _healthy(run):
        payload = valid_document(run.stdout)
        return {case.id: Outcome(run, payload, batch=True) for case in cases}
    outcomes = {}
    for case, path in zip(cases, paths, strict=True):
        single = run_cli([*command, path, corpus.good, "--index", index.with_name(f"single_{case.id}.sqlite")
                          if command[0] == "index" else index, "--json"])
        try:
            payload = valid_document(single.stdout)
        except ValueError:
            payload = None
        outcomes[case.id] = Outcome(single, payload, batch=False)
    return outcomes


@pytest.fixture(scope="module")
def add_outcomes(corpus: Corpus) -> dict[str, Outcome]:
    runnable = [case for case in CASES if _runnable(case)]
    outcomes: dict[str, Outcome] = {}
    for accepted in (True, False):
        group = [case for case in runnable if case.add_ok is accepted]
        fresh = corpus.folder / f"add_{'ok' if accepted else 'bad'}.sqlite"
        outcomes.update(_run_group(["index", "add"], fresh, group, corpus))
    return outcomes


@pytest.fixture(scope="module")
def match_outcomes(corpus: Corpus) -> dict[str, Outcome]:
    runnable = [case for case in CASES if _runnable(case)]
    outcomes: dict[str, Outcome] = {}
    for accepted in (True, False):
        group = [case for case in runnable if case.match_ok is accepted]
        outcomes.update(_run_group(["match"], corpus.index, group, corpus))
    return outcomes


# --------------------------------------------------------------------------- the contract


def _check_call(run: Run, expected_code: int, batch: bool) -> None:
    """What holds for any call: bounded, no trace, only provcheck's own lines on stderr."""
    assert not run.timed_out, f"hung: {run.describe()}"
    assert run.max_rss_mb < MAX_RSS_MB, f"peak memory {run.max_rss_mb:.0f} MB: {run.describe()}"
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.describe()
    stray = [line for line in run.stderr.splitlines() if not line.startswith("provcheck: ")]
    assert not stray, f"stderr lines that are not provcheck's: {stray[:5]}\n{run.describe()}"
    assert run.code == expected_code, f"{'batch' if batch else 'call'}: {run.describe()}"


def _error_lines(run: Run, path: Path) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith(f"provcheck: error: {path}: ")]


def _resolved(path: str | Path) -> str:
    return os.path.realpath(path)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id, marks=case.marks) for case in CASES])
def test_hostile_input_contract(
    case: Case, corpus: Corpus, add_outcomes: dict[str, Outcome], match_outcomes: dict[str, Outcome]
) -> None:
    path = corpus.paths[case.id]

    # index add CASE GOOD --json
    outcome = add_outcomes[case.id]
    run, payload = outcome.run, outcome.payload
    _check_call(run, 0 if case.add_ok else 1, outcome.batch)
    assert payload is not None
    added = {_resolved(source["path"]): source for source in payload["added"]}
    errors = {entry["path"]: entry["error"] for entry in payload["errors"]}
    assert _resolved(corpus.good) in added, f"the good image was not added: {run.describe()}"
    if case.add in ("image", "video"):
        assert _resolved(path) in added, f"not added: {errors.get(str(path))}"
        assert added[_resolved(path)]["kind"] == case.add
        assert not _error_lines(run, path)
    elif case.add == "nothing":
        assert not any(key.startswith(str(path)) for key in errors) and _resolved(path) not in added
        assert f"provcheck: warning: {path}: no media files in folder" in run.stderr.splitlines()
    else:
        reported = path / case.inner if case.inner else path
        assert str(reported) in errors, f"no error reported for {reported}: {run.describe()}"
        message = errors[str(reported)]
        assert "\n" not in message and message.startswith(f"{reported}: ")
        assert len(_error_lines(run, reported)) == 1, run.describe()
        assert case.reason in message, message

    # match CASE GOOD --json
    outcome = match_outcomes[case.id]
    run, payload = outcome.run, outcome.payload
    _check_call(run, 0 if case.match_ok else 1, outcome.batch)
    assert payload is not None
    results = {result["query"]: result for result in payload["results"]}
    good = results[str(corpus.good)]
    assert good["error"] is None and good["verdict"] == "match", f"the good image was not matched: {good}"
    if case.match == "ok":
        result = results[str(path)]
        assert result["error"] is None and result["verdict"] in ("match", "possible", "none")
        assert not _error_lines(run, path)
    elif case.match == "nothing":
        assert not any(query.startswith(str(path)) for query in results)
        assert f"provcheck: warning: {path}: no media files in folder" in run.stderr.splitlines()
    else:
        reported = path / case.inner if case.inner else path
        result = results[str(reported)]
        message = result["error"]
        assert message is not None and result["verdict"] == "none" and result["matches"] == []
        assert "\n" not in message and message.startswith(f"{reported}: ")
        assert len(_error_lines(run, reported)) == 1, run.describe()
        assert case.claim_reason in message, message


def test_case_matrix_is_broad() -> None:
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)
    assert len({case.name for case in CASES}) == len(CASES)


def test_truncated_images_are_never_loaded_leniently() -> None:
    """No provcheck module turns on Pillow's LOAD_TRUNCATED_IMAGES (it would index half-grey pictures)."""
    import importlib
    import pkgutil

    from PIL import ImageFile

    import provcheck

    for module in pkgutil.iter_modules(provcheck.__path__):
        if module.name != "__main__":  # importing it runs the CLI
            importlib.import_module(f"provcheck.{module.name}")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.slow
def test_decoded_size_just_under_the_limit_is_bounded(tmp_path: Path) -> None:
    """A 99 MP image of zeros (a legal size, ~100 KB of PNG) is matched within the memory ceiling."""
    claim = tmp_path / "99mp.png"
    claim.write_bytes(png_bomb(11_000, 9_000))
    good = tmp_path / "good.png"
    write_still(good, texture(8, 240, 320))
    index = tmp_path / "index.sqlite"
    added = run_cli(["index", "add", good, "--index", index, "--json"], timeout=120)
    assert added.code == 0, added.describe()
    run = run_cli(["match", claim, good, "--index", index, "--json"], timeout=120)
    assert run.code == 0 and "Traceback" not in run.stderr, run.describe()
    assert run.max_rss_mb < 3000, run.describe()
