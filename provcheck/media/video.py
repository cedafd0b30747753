"""Videos through PyAV: probe the main stream, sample it into timed :class:`Frame` objects, decode upright.

This module owns reading footage: the stream's parameters and the limits on them
(:func:`probe_video`), the sampler (a fixed rate plus one frame per scene cut,
near-duplicates dropped, times from each frame's own timestamp), the display rotation
phones write, and decoding failures part-way turned into one
:class:`~provcheck.errors.MediaError` line (a truncated video is never indexed partially).
Files are opened only through :func:`.sniff._open_container` (local file, video demuxers).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.error
import av.video.reformatter
import av.video.stream
import cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import MediaError
from .frame import Frame, RGBArray
from .sniff import (
    _av_message,
    _check_readable_file,
    _no_video_stream,
    _open_container,
    _read_head,
    _signature,
    _truncation,
    _video_stream,
)

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
#: Frames decoded from one video at most: the longest accepted video at 240 fps.
_MAX_DECODED_FRAMES = int(MAX_VIDEO_DURATION_S * 240)


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


@contextmanager
def _footage_decoder(path: Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream,
                                                   av.video.reformatter.VideoReformatter]]:
    """The open container, its footage stream set to threaded decoding, and one reformatter reused for every frame."""
    with _open_container(path) as container:
        stream = _video_stream(container)
        if stream is None:
            raise _no_video_stream(path, container)
        stream.thread_type = "AUTO"
        yield container, stream, av.video.reformatter.VideoReformatter()


def probe_video(path: Path) -> VideoInfo:
    """Read a video's stream parameters, opening the file once and decoding only its first frame.

    The first frame gives the display rotation (phones store footage sideways), so the
    size returned is that of the picture as displayed. Pass the result on to
    :func:`sample_video` (``probe=``) so that the file is not probed again.

    Raises:
        MediaError: not a video, no video stream, or parameters over the limits.
    """
    _check_readable_file(path)
    try:
        with _open_container(path) as container:
            stream = _video_stream(container)
            if stream is None:
                raise _no_video_stream(path, container)
            info = _within_limits(path, _stream_parameters(container, stream))
            turns = _first_frame_turns(container, stream)  # after the limits: never decode a frame over them
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
    return dataclasses.replace(info, width=info.height, height=info.width) if turns % 2 else info


def _stream_parameters(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> VideoInfo:
    """What the container declares about ``stream``, as stored (before the display rotation), unchecked."""
    duration_s: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / av.time_base
    rate = stream.average_rate or stream.base_rate
    return VideoInfo(
        width=int(stream.codec_context.width or 0),
        height=int(stream.codec_context.height or 0),
        duration_s=duration_s,
        frame_rate=float(rate) if rate else None,
        frame_count=int(stream.frames) if stream.frames else None,
    )


def _within_limits(path: Path, info: VideoInfo) -> VideoInfo:
    """``info`` with non-finite values dropped, or a MediaError when the size or duration is over the limits."""
    width, height, duration_s, frame_rate = info.width, info.height, info.duration_s, info.frame_rate
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
    return dataclasses.replace(info, duration_s=duration_s, frame_rate=frame_rate)


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that display ``frame`` upright (its display matrix's rotation)."""
    rotation = getattr(frame, "rotation", 0) or 0  # PyAV < 14 does not expose the display matrix
    try:
        return int(round(float(rotation) / 90.0)) % 4
    except (TypeError, ValueError, OverflowError):
        return 0


def _first_frame_turns(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Quarter turns of the stream's first decodable frame; 0 when none decodes (decoding reports that later)."""
    try:
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


#: 8-bit formats whose first plane is the luma, and those of them that are full range whatever the frame says.
_LUMA_FIRST = frozenset({"yuv420p", "yuv422p", "yuv444p", "nv12", "nv21", "yuvj420p", "yuvj422p", "yuvj444p"})
_FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p"})
#: FFmpeg's AVCOL_RANGE_JPEG: luma already spans 0-255.
_JPEG_RANGE = 2
#: Limited-range luma (16-235) to grey levels, level for level as swscale converts it
#: (the tests compare all 256 levels in every format above with ``to_ndarray(format="gray")``).
_LIMITED_TO_GREY = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def upright_grey(frame: av.VideoFrame) -> NDArray[np.uint8]:
    """``upright_pixels(frame, "gray")``, read from the luma plane when the format has one.

    Refinement converts every frame it decodes to grey: swscale took ~1 ms a 640x360
    frame for what is a table look-up on the luma plane (~0.1 ms). Other formats
    (10-bit, RGB, paletted) go through swscale as before.
    """
    if frame.format.name not in _LUMA_FIRST:
        return upright_pixels(frame, "gray")
    plane = frame.planes[0]
    luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)[:frame.height, :frame.width]
    full_range = frame.format.name in _FULL_RANGE_FORMATS or frame.color_range == _JPEG_RANGE
    grey = luma.copy() if full_range else cv2.LUT(luma, _LIMITED_TO_GREY)
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(grey, turns)) if turns else np.asarray(grey, dtype=np.uint8)


def _thumbnail(frame: av.VideoFrame, reformatter: av.video.reformatter.VideoReformatter) -> NDArray[np.float32]:
    """The 64x36 grey thumbnail of a decoded frame.

    One reformatter is kept for the whole video: ``frame.reformat`` builds a new
    swscale context for every frame (1.9 ms a 720p frame against 0.5 ms reused,
    with identical pixels), and every decoded frame gets a thumbnail.
    """
    grey = reformatter.reformat(frame, width=_THUMB_SIZE[0], height=_THUMB_SIZE[1], format="gray")
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
    probe: VideoInfo | None = None,
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
        probe: what :func:`probe_video` returned for this file, when the caller has it;
            without it the file is probed first.

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
    info = probe_video(path) if probe is None else probe
    truncated = _truncation(path, _signature(_read_head(path)))
    if truncated is not None:
        raise MediaError(f"{path}: {truncated}")
    for number, time_s, pixels in _decode_samples(path, info, 1.0 / fps, scene_cut_diff, near_duplicate_diff):
        yield Frame(pixels=pixels, source=str(path), index=number, time_s=round(time_s, 6))
        if progress is not None:
            progress(time_s)


@dataclass(frozen=True)
class SamplerState:
    """Everything the sampler remembers between two decoded frames.

    ``next_sample_s`` is the next periodic sample time (None before the first frame),
    ``previous_thumb`` the previous frame's thumbnail (for scene cuts) and
    ``kept_thumb`` the last kept frame's (for near-duplicates).
    """

    next_sample_s: float | None = None
    previous_thumb: NDArray[np.float32] | None = None
    kept_thumb: NDArray[np.float32] | None = None


class Sampler:
    """Which decoded frames :func:`sample_video` keeps, fed every frame's thumbnail in order.

    A frame is kept when it is the first at or after the next periodic sample time, or
    when it starts a new scene; a periodic sample nearly identical to the last kept
    frame (a static shot) is dropped.
    """

    def __init__(self, period_s: float, scene_cut_diff: float, near_duplicate_diff: float,
                 state: SamplerState | None = None) -> None:
        self._period_s = period_s
        self._scene_cut_diff = scene_cut_diff
        self._near_duplicate_diff = near_duplicate_diff
        start = state or SamplerState()
        self._next_sample_s: float | None = start.next_sample_s
        self._previous_thumb: NDArray[np.float32] | None = start.previous_thumb
        self._kept_thumb: NDArray[np.float32] | None = start.kept_thumb

    def state(self) -> SamplerState:
        """What the sampler remembers now (to carry on from it, or compare with another)."""
        return SamplerState(self._next_sample_s, self._previous_thumb, self._kept_thumb)

    def keep(self, thumb: NDArray[np.float32], time_s: float) -> bool:
        """Whether the frame at ``time_s`` with this thumbnail is kept."""
        previous = self._previous_thumb
        is_cut = previous is not None and float(np.abs(thumb - previous).mean()) > self._scene_cut_diff
        is_due = self._next_sample_s is None or time_s >= self._next_sample_s - 1e-6
        self._previous_thumb = thumb
        keep = is_cut or is_due
        if keep and not is_cut and self._kept_thumb is not None:
            if float(np.abs(thumb - self._kept_thumb).mean()) < self._near_duplicate_diff:
                keep = False
        if is_due:
            self._next_sample_s = self._next_due_after(time_s)
        if keep:
            self._kept_thumb = thumb
        return keep

    def _next_due_after(self, time_s: float) -> float:
        """The first periodic sample time after ``time_s``."""
        base = time_s if self._next_sample_s is None else self._next_sample_s
        if time_s - base > self._period_s:  # a jump in time: skip the missed samples at once
            base += math.floor((time_s - base) / self._period_s) * self._period_s
        while base <= time_s + 1e-6:
            base += self._period_s
        return base


def _checked_time(path: Path, frame: av.VideoFrame, decoded: int, fallback_rate: float | None) -> float:
    """The presentation time of the ``decoded``-th frame, or a MediaError when it breaks a limit."""
    if decoded >= _MAX_DECODED_FRAMES:
        raise MediaError(f"{path}: video has more than {_MAX_DECODED_FRAMES:,} frames, above the limit")
    if frame.width * frame.height > MAX_VIDEO_FRAME_PIXELS:
        raise MediaError(
            f"{path}: frame {decoded} is {frame.width}x{frame.height}, above the limit of "
            f"{MAX_VIDEO_FRAME_PIXELS:,} pixels"
        )
    time_s = _frame_time(frame, decoded, fallback_rate)
    if not math.isfinite(time_s) or time_s > MAX_VIDEO_DURATION_S:
        raise MediaError(
            f"{path}: video runs past the limit of {MAX_VIDEO_DURATION_S:.0f} s "
            f"(frame {decoded} is at {time_s:.0f} s)"
        )
    return time_s


def _decode_samples(
    path: Path, info: VideoInfo, period_s: float, scene_cut_diff: float, near_duplicate_diff: float
) -> Iterator[tuple[int, float, RGBArray]]:
    """The decoding loop of :func:`sample_video`: (frame number, time, pixels) of each kept frame.

    Everything that can fail on damaged data happens here and becomes a MediaError;
    the caller's progress callback runs outside, so its own errors stay its own.
    """
    decoded = 0
    last_time_s: float | None = None
    sampler = Sampler(period_s, scene_cut_diff, near_duplicate_diff)
    try:
        with _footage_decoder(path) as (container, stream, reformatter):
            frames = container.decode(stream)
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                time_s = _checked_time(path, frame, decoded, info.frame_rate)
                if sampler.keep(_thumbnail(frame, reformatter), time_s):
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
    _check_complete(path, info, decoded, last_time_s)


def _check_complete(path: Path, info: VideoInfo, decoded: int, last_time_s: float | None) -> None:
    """Refuse a video that decoded no frame, or stopped well before the duration its container declares."""
    if decoded == 0:
        raise MediaError(f"{path}: video has no decodable frames")
    if info.duration_s and last_time_s is not None and info.frame_rate:
        expected_end = info.duration_s - 2.0 / info.frame_rate
        if last_time_s < expected_end - max(1.0, 0.05 * info.duration_s):
            raise MediaError(
                f"{path}: video is truncated (decoding stopped at {last_time_s:.1f} s of {info.duration_s:.1f} s)"
            )


# -- reading one video in time segments ------------------------------------------------
#
# A long video can be read by several worker processes at once, each decoding one
# time segment that starts at a keyframe. The result must be exactly the one pass of
# sample_video: the same frames kept, with the same numbers, times and pixels. Every
# segment after the first starts from a *guessed* sampler state (the periodic sample
# grid recomputed from the first frame's time; no previous or kept thumbnail) and
# records what it needs to be checked against the true state, which is only known
# once the segment before it has been read: the caller (provcheck.ingest) replays the
# segment's first frames with the true state and reads the segment again with it if
# any decision would differ (a static shot across the boundary), or reads the whole
# video in one pass if a segment could not be read exactly (no timestamps, timestamps
# out of order, a keyframe that does not start where the container says).

#: Frames past a segment's end whose thumbnails the segment records, and frames from a
#: segment's start that the next one records: they must agree, or decoding after the
#: seek did not give the pixels one pass gives.
SEGMENT_OVERLAP_FRAMES = 4


class SplitError(Exception):
    """A video cannot be read in segments exactly; read it in one pass."""


@dataclass(frozen=True)
class VideoSegment:
    """The frames of a video whose timestamps lie in ``[start_pts, end_pts)`` (stream time base).

    ``start_pts`` is a keyframe's timestamp (None: from the first frame), ``end_pts``
    the next segment's (None: to the end). ``first_time_s`` is the video's first
    frame's time (the sampling grid starts there); ``start_s`` and ``end_s`` are the
    bounds in seconds, for progress.
    """

    start_pts: int | None
    end_pts: int | None
    start_s: float
    end_s: float | None
    first_time_s: float
    #: The keyframe before ``start_pts``: decoding starts there so that the frame just
    #: before the segment (a scene cut is often at a keyframe) is known.
    warmup_pts: int | None = None


@dataclass(frozen=True)
class SegmentEnds:
    """What the caller needs to join a read segment to its neighbours exactly.

    Attributes:
        decoded: frames decoded in the segment (frame numbers in it start at 0).
        last_time_s: the time of its last frame.
        start_state: the sampler state the segment started from (guessed unless given).
        guessed: whether ``start_state`` was guessed.
        final_state: the sampler state after its last frame.
        prefix: (time, thumbnail) of its frames up to and including the first one it
            kept (all of them if it kept none): what a replay from the true state needs.
        head: (pts, thumbnail) of its first frames.
        tail: (pts, thumbnail) of the first frames after its end.
    """

    decoded: int
    last_time_s: float | None
    start_state: SamplerState
    guessed: bool
    final_state: SamplerState
    prefix: tuple[tuple[float, NDArray[np.float32]], ...]
    head: tuple[tuple[int, NDArray[np.float32]], ...]
    tail: tuple[tuple[int, NDArray[np.float32]], ...]


def plan_segments(path: Path, info: VideoInfo, count: int) -> list[VideoSegment]:
    """Cut a video into up to ``count`` segments of about equal duration, each starting at a keyframe.

    Looks up the keyframes by seeking (no decoding but the first frame). Fewer
    segments come back when keyframes are sparse, and one when the video has no
    duration, no timestamps or cannot be sought.
    """
    duration_s = info.duration_s or 0.0
    try:
        with _open_container(path) as container:
            stream = _video_stream(container)
            if stream is None or stream.time_base is None:
                raise SplitError("no video stream with a time base")
            first = next(iter(container.decode(stream)), None)
            if first is None or first.pts is None or first.time is None:
                raise SplitError("no first frame with a timestamp")
            first_time_s = float(first.time)
            time_base = stream.time_base
            starts: list[int] = []
            warmups: list[int] = []
            for number in range(1, count if duration_s > 0 else 1):
                target = first.pts + int(duration_s * number / count / time_base)
                start = _keyframe_at_or_before(container, stream, target)
                if start is None:
                    break
                if start > first.pts and (not starts or start > starts[-1]):
                    warmup = _keyframe_at_or_before(container, stream, start - 1)
                    starts.append(start)
                    warmups.append(warmup if warmup is not None and warmup < start else first.pts)
    except Exception:  # any trouble finding keyframes: one pass, which reports real errors itself
        starts, warmups, first_time_s, time_base = [], [], 0.0, None
    if not starts or time_base is None:
        return [VideoSegment(None, None, 0.0, None, first_time_s)]
    bounds: list[int | None] = [None, *starts, None]
    return [
        VideoSegment(
            start_pts=bounds[i], end_pts=bounds[i + 1],
            start_s=0.0 if i == 0 else float(starts[i - 1] * time_base),
            end_s=None if i == len(starts) else float(starts[i] * time_base),
            first_time_s=first_time_s,
            warmup_pts=None if i == 0 else warmups[i - 1],
        )
        for i in range(len(bounds) - 1)
    ]


def _keyframe_at_or_before(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                           pts: int) -> int | None:
    """The timestamp of the keyframe a backward seek to ``pts`` lands on (None when there is none)."""
    container.seek(pts, stream=stream, backward=True, any_frame=False)
    keyframe = next((packet for packet in container.demux(stream) if packet.pts is not None and packet.is_keyframe),
                    None)
    return None if keyframe is None or keyframe.pts is None else int(keyframe.pts)


def _guessed_state(segment: VideoSegment, period_s: float, previous_s: float,
                   previous_thumb: NDArray[np.float32] | None) -> SamplerState:
    """The sampler state one pass would have after the frame before the segment (at ``previous_s``).

    The periodic sample times are the first frame's time plus the period, added up
    one at a time as :class:`Sampler` does (so the floats are the same). The last kept
    frame is unknown: the caller checks the guess.
    """
    base = segment.first_time_s
    while base <= previous_s + 1e-6:
        base += period_s
    return SamplerState(next_sample_s=base, previous_thumb=previous_thumb)


def sample_segment(
    path: Path,
    info: VideoInfo,
    segment: VideoSegment,
    fps: float = DEFAULT_SAMPLE_FPS,
    *,
    state: SamplerState | None = None,
    scene_cut_diff: float = SCENE_CUT_MEAN_ABS_DIFF,
    near_duplicate_diff: float = NEAR_DUPLICATE_MEAN_ABS_DIFF,
    progress: Callable[[float], None] | None = None,
) -> tuple[Iterator[Frame], Callable[[], SegmentEnds]]:
    """Decode one segment of a video and yield its kept frames, as one pass over the whole video would.

    Args:
        path: the video file.
        info: what :func:`probe_video` returned for it.
        segment: the part to read (from :func:`plan_segments`).
        fps: periodic samples per second (> 0).
        state: the sampler state at the segment's start, when known; otherwise it is
            guessed (the first segment's is the empty state, which is never a guess).
        scene_cut_diff: as for :func:`sample_video`, and so is ``near_duplicate_diff``.
        progress: called with the time reached, in seconds.

    Returns:
        The kept frames (``index`` counted from the segment's first frame), and a
        function giving the segment's :class:`SegmentEnds` once they are exhausted.

    Raises:
        SplitError: the segment cannot be read exactly this way (read the video in one pass).
        MediaError, av.error.FFmpegError...: the video cannot be decoded.
    """
    if not fps > 0 or math.isinf(fps):
        raise ValueError(f"The sampling rate must be a positive number of frames per second, not {fps!r}.")
    ends: list[SegmentEnds] = []

    def frames() -> Iterator[Frame]:
        for number, time_s, pixels in _decode_segment(path, info, segment, 1.0 / fps, state, scene_cut_diff,
                                                      near_duplicate_diff, ends):
            yield Frame(pixels=pixels, source=str(path), index=number, time_s=round(time_s, 6))
            if progress is not None:
                progress(time_s)

    def result() -> SegmentEnds:
        if not ends:
            raise RuntimeError("the segment's frames were not read to the end")
        return ends[0]

    return frames(), result


def _decode_segment(
    path: Path, info: VideoInfo, segment: VideoSegment, period_s: float, state: SamplerState | None,
    scene_cut_diff: float, near_duplicate_diff: float, ends: list[SegmentEnds],
) -> Iterator[tuple[int, float, RGBArray]]:
    """The decoding loop of :func:`sample_segment`; appends the segment's :class:`SegmentEnds` to ``ends``."""
    decoded = 0
    last_time_s: float | None = None
    last_pts: int | None = None
    guessed = state is None and segment.start_pts is not None
    sampler: Sampler | None = None if guessed else Sampler(period_s, scene_cut_diff, near_duplicate_diff, state)
    start_state = state or SamplerState()
    prefix: list[tuple[float, NDArray[np.float32]]] = []
    prefix_open = guessed
    head: list[tuple[int, NDArray[np.float32]]] = []
    tail: list[tuple[int, NDArray[np.float32]]] = []
    with _footage_decoder(path) as (container, stream, reformatter):
        if segment.start_pts is not None:
            seek_pts = segment.start_pts if segment.warmup_pts is None else segment.warmup_pts
            container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
        before: av.VideoFrame | None = None  # the last frame before the segment
        for frame in container.decode(stream):
            pts = frame.pts
            if pts is None or frame.time is None:
                raise SplitError(f"{path}: a frame has no timestamp")
            if segment.start_pts is not None and last_pts is None and pts < segment.start_pts:
                before = frame  # the segment before's (decoded from the keyframe before, for its thumbnail)
                continue
            if last_pts is not None and pts <= last_pts:
                raise SplitError(f"{path}: timestamps out of order")
            if last_pts is None and segment.start_pts is not None and pts != segment.start_pts:
                raise SplitError(f"{path}: the segment does not start at its keyframe")
            last_pts = pts
            if segment.end_pts is not None and pts >= segment.end_pts:
                tail.append((pts, _thumbnail(frame, reformatter)))
                if len(tail) >= SEGMENT_OVERLAP_FRAMES:
                    break
                continue
            time_s = _checked_time(path, frame, decoded, info.frame_rate)
            thumb = _thumbnail(frame, reformatter)
            if len(head) < SEGMENT_OVERLAP_FRAMES:
                head.append((pts, thumb))
            if sampler is None:
                if before is not None and before.time is not None:
                    start_state = _guessed_state(segment, period_s, float(before.time), _thumbnail(before, reformatter))
                else:  # taken to be one frame interval earlier
                    start_state = _guessed_state(segment, period_s, time_s - 0.999 / (info.frame_rate or 25.0), None)
                sampler = Sampler(period_s, scene_cut_diff, near_duplicate_diff, start_state)
            keep = sampler.keep(thumb, time_s)
            if prefix_open:
                prefix.append((time_s, thumb))
                prefix_open = not keep
            if keep:
                yield decoded, time_s, upright_pixels(frame)
            last_time_s = time_s
            decoded += 1
    final = sampler.state() if sampler is not None else start_state
    ends.append(SegmentEnds(decoded, last_time_s, start_state, guessed, final, tuple(prefix), tuple(head),
                            tuple(tail)))


def check_joined(path: Path, info: VideoInfo, segments: list[SegmentEnds]) -> None:
    """The checks one pass makes over the whole video, made on its joined segments.

    Raises:
        SplitError: more frames than one pass accepts (one pass then says so itself).
        MediaError: no frames, or the video stops well before its declared duration (truncated).
    """
    decoded = sum(ends.decoded for ends in segments)
    if decoded >= _MAX_DECODED_FRAMES:
        raise SplitError(f"{path}: too many frames")
    last_time_s = next((ends.last_time_s for ends in reversed(segments) if ends.last_time_s is not None), None)
    _check_complete(path, info, decoded, last_time_s)


def overlap_agrees(before: SegmentEnds, after: SegmentEnds) -> bool:
    """Whether the frames a segment decoded after its seek are those the segment before it decoded past its end."""
    overlap = min(len(before.tail), len(after.head))
    return overlap > 0 and all(
        a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(before.tail[:overlap], after.head[:overlap], strict=True)
    )


def joined_state(after: SegmentEnds, true_state: SamplerState, period_s: float,
                 scene_cut_diff: float = SCENE_CUT_MEAN_ABS_DIFF,
                 near_duplicate_diff: float = NEAR_DUPLICATE_MEAN_ABS_DIFF) -> SamplerState | None:
    """The true sampler state at a segment's end, or None when it kept other frames than one pass would.

    A segment read from a guessed state is replayed, from the true one, over its first
    frames up to the first it kept: if every decision is the same, both samplers kept
    that frame and are the same from there on.

    Args:
        after: the segment to check.
        true_state: the sampler state one pass has at its start (the end state of the one before).
        period_s: the sampling period; ``scene_cut_diff`` and ``near_duplicate_diff`` as
            for :func:`sample_video`.

    Returns:
        The state after its last frame, or None: read it again from ``true_state``.
    """
    if not after.guessed:  # read from a given state: the caller's own, exact
        return after.final_state
    if after.start_state.next_sample_s != true_state.next_sample_s:
        return None
    replay = Sampler(period_s, scene_cut_diff, near_duplicate_diff, true_state)
    guessed = Sampler(period_s, scene_cut_diff, near_duplicate_diff, after.start_state)
    kept = False
    for time_s, thumb in after.prefix:
        kept = guessed.keep(thumb, time_s)
        if replay.keep(thumb, time_s) != kept:
            return None
    if kept:
        return after.final_state
    return replay.state() if len(after.prefix) == after.decoded else None
