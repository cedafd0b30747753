"""Reading media: still images through Pillow, videos through PyAV, both as :class:`Frame`.

This module owns everything that touches a media file's bytes: sniffing its kind,
refusing decompression bombs, applying EXIF orientation, and sampling a video into
timed frames (a fixed rate plus one frame per scene cut, near-duplicates dropped).

Every file is hostile until decoded: whatever is wrong with it (missing, a folder, a
symlink loop, truncated, corrupt, a bomb, audio only, a playlist pointing at other
files), the functions here raise :class:`~provcheck.errors.MediaError` with one line
naming the file and the problem, and never any other exception. Decoders only ever see
a whitelist of formats: Pillow's common photo formats, FFmpeg's video containers.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import stat
import struct
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.container
import av.error
import av.stream
import av.video.stream
import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from .errors import MediaError

#: Largest still image decoded, in pixels (Pillow's own bomb limit is 89.5 MP with a
#: warning and 179 MP as an error; we refuse at a fixed, documented value instead).
MAX_IMAGE_PIXELS = 100_000_000
#: Largest video frame accepted, in pixels (8K UHD is 33 MP).
MAX_VIDEO_FRAME_PIXELS = 40_000_000
#: Longest video accepted for indexing, in seconds (a feature film is ~3 h).
MAX_VIDEO_DURATION_S = 6 * 3600.0

#: Default sampling rate for videos, frames per second.
DEFAULT_SAMPLE_FPS = 2.0
#: Size of the grey thumbnails used to detect scene cuts and near-duplicates.
_THUMB_SIZE = (64, 36)
#: Mean absolute difference (0-255 grey levels) between consecutive decoded frames'
#: thumbnails above which a frame starts a new scene. Measured on generated colour
#: footage (seeds 5, 11, 2024): consecutive frames of pans and zooms at most 3.8, hard
#: cuts between shots of similar palette 28-36 (the earlier value, 30, missed 2 of 5
#: cuts on the accuracy bench). A false cut only adds an indexed frame; a missed one
#: can leave a short scene unindexed, so the threshold sits low in the gap.
SCENE_CUT_MEAN_ABS_DIFF = 12.0
#: A periodic sample whose thumbnail differs from the last kept frame by less than
#: this (grey levels) is a near-duplicate (a static shot) and is dropped. Sensor noise
#: and recompression alone measured 0.3-0.8 on static demo shots.
NEAR_DUPLICATE_MEAN_ABS_DIFF = 1.5

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".flv", ".wmv", ".3gp", ".mpg", ".mpeg", ".ogv"}
)
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}
)

#: FFmpeg demuxers and decoders that accept files which are not footage.
_NOT_VIDEO_FORMATS = frozenset({"tty", "image2", "ansi"})
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf", "text"})
#: The only FFmpeg demuxers a video is read with: the containers of VIDEO_EXTENSIONS
#: (mov: mp4/m4v/mov/3gp, matroska: mkv/webm, mpeg: program streams, asf: wmv). Probing
#: anything else is refused, above all the playlist and concat demuxers, which open
#: other files named inside the one given (ffconcat, HLS), and raw or text demuxers.
_VIDEO_DEMUXERS = "mov,matroska,avi,mpegts,mpeg,flv,asf,ogg"
#: Pillow decoders a still is read with (the photo formats of IMAGE_EXTENSIONS, plus
#: AVIF and HEIF when a plugin provides them). Pillow's other plugins are for rare
#: formats with weak signatures (TGA has none: noise would "open" as an image).
_IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "AVIF", "HEIF")
#: Frames decoded from one video at most: the longest accepted video at 240 fps.
_MAX_DECODED_FRAMES = int(MAX_VIDEO_DURATION_S * 240)
#: Pixels converted at a time when a 16-bit or float image is scaled to 8 bits.
_CONVERT_BLOCK_PIXELS = 1 << 22

#: What the first bytes of a file say it is (see :func:`_signature`).
_IMAGE_SIGNATURES = frozenset({"jpeg", "png", "gif", "bmp", "tiff", "webp", "avif", "heif"})
_VIDEO_SIGNATURES = frozenset({"iso-bmff", "matroska", "avi", "ogg", "flv", "asf", "mpeg", "mpegts"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"heif"})
#: ISO base media boxes that may open a QuickTime file written without ``ftyp``.
_QUICKTIME_FIRST_BOXES = frozenset({b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
#: Sizes of the BMP info headers (core, v1 to v5): "BM" alone starts too many other files.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_HEAD_BYTES = 512
#: Top-level ISO base media boxes walked at most when checking a file is complete.
_MAX_TOP_LEVEL_BOXES = 100_000

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

RGBArray = NDArray[np.uint8]


@dataclass(frozen=True)
class Frame:
    """One picture to fingerprint: RGB ``uint8`` pixels of shape (height, width, 3).

    ``index`` is the frame number in presentation order (0 for a still) and
    ``time_s`` its presentation time in seconds (``None`` for a still).
    """

    pixels: RGBArray
    source: str
    index: int
    time_s: float | None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's main stream.

    ``width`` and ``height`` are those of the picture as displayed: phone footage is
    often stored sideways with a display rotation, and frames are decoded upright.
    """

    width: int
    height: int
    duration_s: float | None
    frame_rate: float | None
    frame_count: int | None


def _detail(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _os_problem(exc: OSError) -> str:
    """Words for why a path cannot be opened."""
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOTDIR:
        return "no such file (a parent in the path is not a folder)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot read file ({exc.strerror or _detail(exc)})"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise MediaError(f"{path}: {_os_problem(exc)}") from exc
    return digest.hexdigest()


def _check_readable_file(path: Path) -> None:
    """Refuse anything but a non-empty regular file this process can open (never blocks on a FIFO)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise MediaError(f"{path}: broken symbolic link (its target does not exist)") from exc
        raise MediaError(f"{path}: {_os_problem(exc)}") from exc
    except ValueError as exc:  # an embedded NUL byte
        raise MediaError(f"{path}: invalid file name ({_detail(exc)})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise MediaError(f"{path}: is a directory, not a media file")
    if not stat.S_ISREG(info.st_mode):
        raise MediaError(f"{path}: not a regular file (a device, pipe or socket)")
    if info.st_size == 0:
        raise MediaError(f"{path}: empty file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise MediaError(f"{path}: {_os_problem(exc)}") from exc


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise MediaError(f"{path}: {_os_problem(exc)}") from exc


def _signature(head: bytes) -> str | None:
    """What a file's first bytes say it is: an image format, a video container, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM") and len(head) >= 18 and struct.unpack("<I", head[14:18])[0] in _BMP_HEADER_SIZES:
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        box_end = min(len(head), max(16, struct.unpack(">I", head[:4])[0]))
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
        if brands & _AVIF_BRANDS:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heif"
        return "iso-bmff"
    if head[4:8] in _QUICKTIME_FIRST_BOXES:
        return "iso-bmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:  # M2TS (AVCHD .mts): 192-byte packets
        return "mpegts"
    return None


def _pillow_formats() -> list[str]:
    """The whitelisted Pillow decoders that are installed (HEIF only with a plugin such as pillow-heif)."""
    Image.init()
    return [name for name in _IMAGE_FORMATS if name in Image.OPEN]


def _open_container(path: Path) -> av.container.InputContainer:
    """Open a file with FFmpeg, allowing only local reads and the video demuxers.

    The path is given as an absolute ``file:`` URL so that a name such as
    ``concat:a|b`` or ``http:x.mp4`` is a file name, never a protocol.
    """
    return av.open(
        "file:" + os.path.abspath(path),
        metadata_errors="ignore",
        container_options={"format_whitelist": _VIDEO_DEMUXERS, "protocol_whitelist": "file"},
    )


def open_footage(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open a video the safe way (local file, video demuxers only) with its footage stream.

    Every reader of video bytes goes through this, so later decoding (timestamp
    refinement) gets the same limits as indexing. The caller closes the container.

    Raises:
        MediaError: no footage stream.
        av.error.FFmpegError, OSError: the file cannot be opened.
    """
    container = _open_container(path)
    stream = _video_stream(container)
    if stream is None:
        container.close()
        raise MediaError(f"{path}: file has no video stream")
    return container, stream


def _av_message(exc: BaseException) -> str:
    """An FFmpeg error's reason, without the errno and the file name PyAV adds."""
    if isinstance(exc, av.error.ArgumentError):  # what FFmpeg says when the probed format is not whitelisted
        return "not a supported video container"
    if isinstance(exc, av.error.MemoryError):  # an allocation sized by a damaged header
        return "cannot allocate memory for what the file declares"
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return str(exc.strerror).splitlines()[0]
    text = _detail(exc)
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The container's footage stream: not text, not a lone picture, not cover art."""
    formats = set(container.format.name.split(","))
    if formats & _NOT_VIDEO_FORMATS or any(name.endswith("_pipe") for name in formats):
        return None
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        if stream.codec_context is None or stream.codec_context.name in _NOT_VIDEO_CODECS:
            continue  # no decoder for it (a damaged header or an unknown codec), or text
        return stream
    return None


def _no_video_stream(path: Path, container: av.container.InputContainer) -> MediaError:
    if any(stream.codec_context is None for stream in container.streams.video):
        return MediaError(f"{path}: video stream cannot be decoded (unknown codec or damaged header)")
    if container.streams.audio:
        return MediaError(f"{path}: file has no video stream (audio only)")
    return MediaError(f"{path}: file has no video stream")


def _pillow_identifies(path: Path) -> bool:
    """True when a whitelisted Pillow decoder recognises the file (a bomb counts: it is an image)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=_pillow_formats()):
                return True
    except Image.DecompressionBombError:
        return True
    except Exception:  # any failure to identify: not an image Pillow reads
        return False


def media_kind(path: Path) -> str:
    """Return ``"image"`` or ``"video"`` for a file, judged by its content first.

    Raises:
        MediaError: the file is missing, empty, a directory, or neither kind.
    """
    _check_readable_file(path)
    signature = _signature(_read_head(path))
    if signature in _IMAGE_SIGNATURES:
        return "image"
    reason = "not recognised"
    no_video: MediaError | None = None
    try:
        with _open_container(path) as container:
            if _video_stream(container) is not None:
                return "video"
            no_video = _no_video_stream(path, container)
    except av.error.FFmpegError as exc:  # FFmpeg refused the file: maybe Pillow reads it (TIFF variants...)
        reason = _av_message(exc)
    except MemoryError as exc:
        raise MediaError(f"{path}: not enough memory to open this video") from exc
    except Exception as exc:  # PyAV on a damaged header: same as FFmpeg refusing it
        reason = _av_message(exc)
    if _pillow_identifies(path):
        return "image"
    if no_video is not None:
        raise no_video
    if signature in _VIDEO_SIGNATURES:
        truncated = _truncation(path, signature)
        raise MediaError(f"{path}: {truncated or f'damaged or truncated video ({reason})'}")
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        raise MediaError(f"{path}: not a readable video ({reason})")
    raise MediaError(f"{path}: not a supported image or video file")


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


def _iso_bmff_end(handle: BinaryIO, size: int) -> int | None:
    """Where an MP4/MOV file's top-level boxes say it ends, or None when they do not say."""
    offset = 0
    for _ in range(_MAX_TOP_LEVEL_BOXES):
        if offset >= size:
            return offset
        handle.seek(offset)
        header = handle.read(16)
        if len(header) < 8 or not all(32 <= byte < 127 for byte in header[4:8]):
            return None  # trailing bytes that are no box: not ours to judge
        box_size = struct.unpack(">I", header[:4])[0]
        if box_size == 0:  # the last box runs to the end of the file
            return None
        if box_size == 1:
            if len(header) < 16:
                return None
            box_size = struct.unpack(">Q", header[8:16])[0]
        if box_size < 8:
            return None
        offset += box_size
    return None


def _ebml_vint(data: bytes, position: int, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-size integer at ``position``: (value, length), or None.

    The value of a size with every value bit set is returned as -1 (unknown size).
    """
    if position >= len(data) or data[position] == 0:
        return None
    first = data[position]
    length = 8 - first.bit_length() + 1
    if position + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[position + 1 : position + length]:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _matroska_end(handle: BinaryIO) -> int | None:
    """Where a Matroska/WebM file's Segment says it ends, or None (unknown size, unparsable)."""
    head = handle.read(256)
    position = 0
    for expected in (0x1A45DFA3, 0x18538067):
        element = _ebml_vint(head, position, keep_marker=True)
        if element is None or element[0] != expected:
            return None
        position += element[1]
        length = _ebml_vint(head, position, keep_marker=False)
        if length is None:
            return None
        position += length[1]
        if expected == 0x1A45DFA3:
            if length[0] < 0:
                return None
            position += length[0]
        elif length[0] >= 0:
            return position + length[0]
    return None


def _truncation(path: Path, signature: str | None) -> str | None:
    """Why a video file is shorter than its container declares, or None when complete or unknown."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if signature == "iso-bmff":
                end = _iso_bmff_end(handle, size)
            elif signature == "matroska":
                end = _matroska_end(handle)
            elif signature == "avi":
                head = handle.read(8)
                end = 8 + struct.unpack("<I", head[4:8])[0] if len(head) == 8 else None
            else:
                end = None
    except OSError as exc:
        raise MediaError(f"{path}: {_os_problem(exc)}") from exc
    if end is None or end <= size:
        return None
    return f"video is truncated (the file has {size:,} bytes, its container declares {end:,})"


def probe_video(path: Path) -> VideoInfo:
    """Read a video's stream parameters without decoding it.

    Raises:
        MediaError: not a video, no video stream, or parameters over the limits.
    """
    _check_readable_file(path)
    try:
        with _open_container(path) as container:
            stream = _video_stream(container)
            if stream is None:
                raise _no_video_stream(path, container)
            width = int(stream.codec_context.width or 0)
            height = int(stream.codec_context.height or 0)
            duration_s: float | None = None
            if stream.duration is not None and stream.time_base is not None:
                duration_s = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration_s = container.duration / av.time_base
            rate = stream.average_rate or stream.base_rate
            frame_rate = float(rate) if rate else None
            frames = int(stream.frames) if stream.frames else None
    except MediaError:
        raise
    except MemoryError as exc:
        if not isinstance(exc, av.error.FFmpegError):  # FFmpeg's ENOMEM is a damaged header, handled below
            raise MediaError(f"{path}: not enough memory to open this video") from exc
        truncated = _truncation(path, _signature(_read_head(path)))
        raise MediaError(f"{path}: {truncated or f'not a readable video ({_av_message(exc)})'}") from exc
    except Exception as exc:  # FFmpegError, OSError, ValueError... from a file FFmpeg cannot read
        truncated = _truncation(path, _signature(_read_head(path)))
        raise MediaError(f"{path}: {truncated or f'not a readable video ({_av_message(exc)})'}") from exc
    if width <= 0 or height <= 0:
        raise MediaError(f"{path}: video stream has no valid frame size (the decoder refused the one declared)")
    if width * height > MAX_VIDEO_FRAME_PIXELS:
        raise MediaError(
            f"{path}: video frames are {width}x{height}, above the limit of "
            f"{MAX_VIDEO_FRAME_PIXELS:,} pixels"
        )
    if duration_s is not None and not math.isfinite(duration_s):
        duration_s = None
    if duration_s is not None and duration_s > MAX_VIDEO_DURATION_S:
        raise MediaError(f"{path}: video lasts {duration_s:.0f} s, above the limit of {MAX_VIDEO_DURATION_S:.0f} s")
    if frame_rate is not None and not (math.isfinite(frame_rate) and frame_rate > 0):
        frame_rate = None
    if _first_frame_turns(path) % 2:
        width, height = height, width
    return VideoInfo(width, height, duration_s, frame_rate, frames)


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that display ``frame`` upright (its display matrix's rotation)."""
    rotation = getattr(frame, "rotation", 0) or 0  # PyAV < 14 does not expose the display matrix
    try:
        return int(round(float(rotation) / 90.0)) % 4
    except (TypeError, ValueError, OverflowError):
        return 0


def _first_frame_turns(path: Path) -> int:
    """Quarter turns of the first decodable frame; 0 when none decodes (decoding reports that later)."""
    try:
        with _open_container(path) as container:
            stream = _video_stream(container)
            if stream is None:
                return 0
            for frame in container.decode(stream):
                return _quarter_turns(frame)
    except Exception:  # damaged data: sample_video names the problem when it decodes
        return 0
    return 0


def upright_pixels(frame: av.VideoFrame, format: str = "rgb24") -> NDArray[np.uint8]:
    """A decoded frame's pixels as a player displays them (turned by the display rotation)."""
    pixels = np.asarray(frame.to_ndarray(format=format), dtype=np.uint8)
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def _thumbnail(frame: av.VideoFrame) -> NDArray[np.float32]:
    grey = frame.reformat(width=_THUMB_SIZE[0], height=_THUMB_SIZE[1], format="gray")
    return grey.to_ndarray().astype(np.float32)


def _frame_time(frame: av.VideoFrame, position: int, fallback_rate: float | None) -> float:
    if frame.time is not None:
        return float(frame.time)
    rate = fallback_rate or 25.0
    return position / rate


def sample_video(
    path: Path,
    fps: float = DEFAULT_SAMPLE_FPS,
    *,
    scene_cut_diff: float = SCENE_CUT_MEAN_ABS_DIFF,
    near_duplicate_diff: float = NEAR_DUPLICATE_MEAN_ABS_DIFF,
    progress: Callable[[float], None] | None = None,
) -> Iterator[Frame]:
    """Decode a video and yield frames sampled at ``fps`` plus one at every scene cut.

    Every decoded frame is looked at (cheaply, as a 64x36 grey thumbnail) so that
    scene cuts between samples are caught. A periodic sample nearly identical to
    the last kept frame is dropped. Times come from each frame's own presentation
    timestamp, so variable frame rate footage gets correct times.

    Args:
        path: the video file.
        fps: periodic samples per second (> 0).
        scene_cut_diff: thumbnail difference that marks a scene cut (grey levels).
        near_duplicate_diff: thumbnail difference under which a sample is dropped.
        progress: called with the time reached, in seconds, as decoding advances.

    Yields:
        Frames in presentation order; ``index`` is the decoded frame number.

    Raises:
        MediaError: the file cannot be opened or decoding fails part-way
            (a truncated or corrupt video is not indexed partially), a frame is
            over the size limit, or the timestamps run past the duration limit
            (whatever the container declared).
    """
    if not fps > 0 or math.isinf(fps):
        raise ValueError(f"The sampling rate must be a positive number of frames per second, not {fps!r}.")
    info = probe_video(path)
    truncated = _truncation(path, _signature(_read_head(path)))
    if truncated is not None:
        raise MediaError(f"{path}: {truncated}")
    for number, time_s, pixels in _decode_samples(path, info, 1.0 / fps, scene_cut_diff, near_duplicate_diff):
        yield Frame(pixels=pixels, source=str(path), index=number, time_s=round(time_s, 6))
        if progress is not None:
            progress(time_s)


def _decode_samples(
    path: Path, info: VideoInfo, period_s: float, scene_cut_diff: float, near_duplicate_diff: float
) -> Iterator[tuple[int, float, RGBArray]]:
    """The decoding loop of :func:`sample_video`: (frame number, time, pixels) of each kept frame.

    Everything that can fail on damaged data happens here and becomes a MediaError;
    the caller's progress callback runs outside, so its own errors stay its own.
    """
    decoded = 0
    last_time_s: float | None = None
    try:
        with _open_container(path) as container:
            stream = _video_stream(container)
            if stream is None:
                raise _no_video_stream(path, container)
            stream.thread_type = "AUTO"
            frames = container.decode(stream)
            next_sample_s: float | None = None
            previous_thumb: NDArray[np.float32] | None = None
            kept_thumb: NDArray[np.float32] | None = None
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                if decoded >= _MAX_DECODED_FRAMES:
                    raise MediaError(f"{path}: video has more than {_MAX_DECODED_FRAMES:,} frames, above the limit")
                if frame.width * frame.height > MAX_VIDEO_FRAME_PIXELS:
                    raise MediaError(
                        f"{path}: frame {decoded} is {frame.width}x{frame.height}, above the limit of "
                        f"{MAX_VIDEO_FRAME_PIXELS:,} pixels"
                    )
                time_s = _frame_time(frame, decoded, info.frame_rate)
                if not math.isfinite(time_s) or time_s > MAX_VIDEO_DURATION_S:
                    raise MediaError(
                        f"{path}: video runs past the limit of {MAX_VIDEO_DURATION_S:.0f} s "
                        f"(frame {decoded} is at {time_s:.0f} s)"
                    )
                thumb = _thumbnail(frame)
                is_cut = previous_thumb is not None and float(np.abs(thumb - previous_thumb).mean()) > scene_cut_diff
                is_due = next_sample_s is None or time_s >= next_sample_s - 1e-6
                previous_thumb = thumb
                keep = is_cut or is_due
                if keep and not is_cut and kept_thumb is not None:
                    if float(np.abs(thumb - kept_thumb).mean()) < near_duplicate_diff:
                        keep = False
                if is_due:
                    base = time_s if next_sample_s is None else next_sample_s
                    if time_s - base > period_s:  # a jump in time: skip the missed samples at once
                        base += math.floor((time_s - base) / period_s) * period_s
                    while base <= time_s + 1e-6:
                        base += period_s
                    next_sample_s = base
                if keep:
                    kept_thumb = thumb
                    yield decoded, time_s, upright_pixels(frame)
                last_time_s = time_s
                decoded += 1
    except MediaError:
        raise
    except av.error.FFmpegError as exc:  # FFmpeg's ENOMEM included: a damaged size, not a full machine
        raise MediaError(f"{path}: video cannot be decoded after {decoded} frames ({_av_message(exc)})") from exc
    except MemoryError as exc:
        raise MediaError(f"{path}: not enough memory to decode this video (after {decoded} frames)") from exc
    except Exception as exc:  # OSError, ValueError... from damaged data
        raise MediaError(f"{path}: video cannot be decoded after {decoded} frames ({_av_message(exc)})") from exc
    if decoded == 0:
        raise MediaError(f"{path}: video has no decodable frames")
    if info.duration_s and last_time_s is not None and info.frame_rate:
        expected_end = info.duration_s - 2.0 / info.frame_rate
        if last_time_s < expected_end - max(1.0, 0.05 * info.duration_s):
            raise MediaError(
                f"{path}: video is truncated (decoding stopped at {last_time_s:.1f} s of {info.duration_s:.1f} s)"
            )
