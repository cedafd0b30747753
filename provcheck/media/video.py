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
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.error
import av.video.reformatter
import av.video.stream
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


class _Sampler:
    """Which decoded frames :func:`sample_video` keeps, fed every frame's thumbnail in order.

    A frame is kept when it is the first at or after the next periodic sample time, or
    when it starts a new scene; a periodic sample nearly identical to the last kept
    frame (a static shot) is dropped.
    """

    def __init__(self, period_s: float, scene_cut_diff: float, near_duplicate_diff: float) -> None:
        self._period_s = period_s
        self._scene_cut_diff = scene_cut_diff
        self._near_duplicate_diff = near_duplicate_diff
        self._next_sample_s: float | None = None
        self._previous_thumb: NDArray[np.float32] | None = None
        self._kept_thumb: NDArray[np.float32] | None = None

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
    sampler = _Sampler(period_s, scene_cut_diff, near_duplicate_diff)
    try:
        with _open_container(path) as container:
            stream = _video_stream(container)
            if stream is None:
                raise _no_video_stream(path, container)
            stream.thread_type = "AUTO"
            reformatter = av.video.reformatter.VideoReformatter()
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
