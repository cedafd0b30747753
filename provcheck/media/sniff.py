"""What a media file is, before anything decodes it: sniffing, whitelists and truncation checks.

This module owns the checks every reader runs first: that a path is a non-empty
regular file this process can read, what its first bytes say it is (an image format,
a video container, or neither), :func:`media_kind` (image or video, judged by content
before extension), whether a video file is shorter than its container declares, and
the file's SHA-256. It also owns the whitelists and the one guarded way FFmpeg opens a
file (local reads only, video demuxers only), which sniffing and :mod:`.video` share,
and the words used for OS and FFmpeg errors.

Every file is hostile until decoded: whatever is wrong with it (missing, a folder, a
symlink loop, truncated, corrupt, audio only, a playlist pointing at other files), the
functions here raise :class:`~provcheck.errors.MediaError` with one line naming the
file and the problem, and never any other exception.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import av
import av.container
import av.error
import av.stream
import av.video.stream
from PIL import Image

from ..errors import MediaError

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
