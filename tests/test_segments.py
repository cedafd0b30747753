"""Reading one video in time segments (several workers on one file) gives exactly what one pass gives.

Real clips encoded here (keyframes every second, B-frames on), read in segments that
start at keyframes, joined, and compared field by field with one pass over the
whole clip: the frames kept, their numbers, times, hashes, keypoints and overlay flags.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from conftest import encode_clip, pan, pan_frames, texture

import provcheck.api
import provcheck.ingest
from provcheck import Index
from provcheck.api import AddProgress
from provcheck.ingest import SourceContent, join_segments, read_segment, read_video
from provcheck.media import probe_video
from provcheck.media.video import VideoSegment, joined_state, overlap_agrees, plan_segments
from provcheck.results import FailedFile
from provcheck.store import FrameRecord, SourceRecord

#: A keyframe every second at 25 fps, three B-frames: segments start every second or so.
KEYFRAME_EVERY_SECOND = {"crf": "18", "g": "25", "bf": "3"}


def same_record(a: FrameRecord, b: FrameRecord) -> bool:
    """Every field equal, arrays by value."""
    for field in a.__dataclass_fields__:
        x, y = getattr(a, field), getattr(b, field)
        if field == "features":
            if (x is None) != (y is None):
                return False
            if x is not None and not (np.array_equal(x.xy, y.xy) and np.array_equal(x.descriptors, y.descriptors)
                                      and (x.width, x.height) == (y.width, y.height)):
                return False
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def assert_same_content(joined: SourceContent, one_pass: SourceContent) -> None:
    assert (joined.width, joined.height, joined.duration_s) == (one_pass.width, one_pass.height, one_pass.duration_s)
    assert [f.frame_number for f in joined.frames] == [f.frame_number for f in one_pass.frames]
    assert all(same_record(a, b) for a, b in zip(joined.frames, one_pass.frames, strict=True))


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s panning, a hard cut at frame 80 (3.2 s)."""
    folder = tmp_path_factory.mktemp("segments")
    return encode_clip(folder / "moving.mp4", pan_frames(seed=21, count=150, cut_at=80),
                       options=KEYFRAME_EVERY_SECOND)


@pytest.fixture(scope="module")
def static_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of pan, then 4 s of one still shot (with faint sensor noise): near-duplicates across every boundary."""
    folder = tmp_path_factory.mktemp("segments")
    moving = pan(texture(33), 50)
    rng = np.random.default_rng(3)
    still = [np.clip(moving[-1].astype(np.int16) + rng.integers(-1, 2, moving[-1].shape), 0, 255).astype(np.uint8)
             for _ in range(100)]
    return encode_clip(folder / "static.mp4", moving + still, options=KEYFRAME_EVERY_SECOND)


def read_in_segments(path: Path, count: int) -> tuple[list[VideoSegment], list[Any], SourceContent]:
    info = probe_video(path)
    segments = plan_segments(path, info, count)
    parts = [read_segment(path, 2.0, info, segment) for segment in segments]
    return segments, parts, join_segments(path, 2.0, info, segments, parts)


def test_segments_start_at_keyframes_and_cover_the_clip(moving_clip: Path) -> None:
    info = probe_video(moving_clip)
    segments = plan_segments(moving_clip, info, 3)
    assert len(segments) == 3
    assert segments[0].start_pts is None and segments[-1].end_pts is None
    assert [s.end_pts for s in segments[:-1]] == [s.start_pts for s in segments[1:]]
    with av.open(str(moving_clip)) as container:
        keyframes = {packet.pts for packet in container.demux(video=0) if packet.is_keyframe}
    assert all(s.start_pts in keyframes for s in segments[1:])
    # the keyframe at or before 2 s and 4 s: x264 starts its key interval again at the cut (3.2 s)
    assert [round(s.start_s, 2) for s in segments] == [0.0, 2.0, 3.2]


def test_segments_of_a_moving_clip_join_into_one_pass(moving_clip: Path) -> None:
    segments, parts, joined = read_in_segments(moving_clip, 3)
    for before, after in zip(parts, parts[1:], strict=False):
        assert overlap_agrees(before.ends, after.ends)
        # the guessed start was right: no segment had to be read again
        assert joined_state(after.ends, before.ends.final_state, 0.5) is not None
    assert_same_content(joined, read_video(moving_clip, 2.0, None))
    assert len(joined.frames) >= 12


def test_a_static_shot_across_boundaries_is_read_again_and_still_joins_exactly(static_clip: Path) -> None:
    segments, parts, joined = read_in_segments(static_clip, 3)
    assert len(segments) == 3
    # the last segment starts inside the still shot: its guessed start kept a near-duplicate
    assert joined_state(parts[2].ends, parts[1].ends.final_state, 0.5) is None
    one_pass = read_video(static_clip, 2.0, None)
    assert_same_content(joined, one_pass)
    assert all(record.time_s is not None and record.time_s < 2.5 for record in one_pass.frames)  # duplicates dropped


def dump(index_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(index_path) as conn:
        return [*conn.execute("SELECT * FROM frames ORDER BY id"), *conn.execute("SELECT * FROM features ORDER BY frame_id")]


def test_one_video_with_two_workers_is_split_and_written_as_one_pass(
    tmp_path: Path, moving_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provcheck.ingest, "MIN_SEGMENT_S", 2.0)  # decided in this process
    plans: list[Any] = []
    real = provcheck.api.segments_for

    def recorded(*args: Any) -> Any:
        plans.append(real(*args))
        return plans[-1]

    monkeypatch.setattr(provcheck.api, "segments_for", recorded)
    children = []
    reports: list[AddProgress] = []

    def seen(state: AddProgress) -> None:
        reports.append(state)
        children.append(len(multiprocessing.active_children()))

    for jobs in (1, 2):
        with Index(tmp_path / f"jobs{jobs}.sqlite") as index:
            (record,) = index.add_many([moving_clip], jobs=jobs, progress=seen if jobs == 2 else None)
        assert isinstance(record, SourceRecord) and record.frame_count >= 12
    assert len(plans) == 1 and plans[0] is not None and len(plans[0]) == 2
    assert max(children) > 0
    assert dump(tmp_path / "jobs1.sqlite") == dump(tmp_path / "jobs2.sqlite")
    assert reports[-1].files_read == 1 and reports[-1].video_s == pytest.approx(6.0, abs=0.1)


def test_a_truncated_video_split_in_segments_fails_as_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moov first (faststart), so the cut file still probes and is split; joining refuses it, one pass names why."""
    monkeypatch.setattr(provcheck.ingest, "MIN_SEGMENT_S", 2.0)
    whole = encode_clip(tmp_path / "whole.mp4", pan_frames(seed=5, count=150), options=KEYFRAME_EVERY_SECOND,
                        container_options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    outcomes = {}
    for jobs in (1, 2):
        with Index(tmp_path / f"jobs{jobs}.sqlite") as index:
            (outcomes[jobs],) = index.add_many([cut], jobs=jobs)
    assert isinstance(outcomes[1], FailedFile) and outcomes[1] == outcomes[2]


def test_an_error_raised_by_the_progress_callback_is_not_taken_for_a_failed_segment(
    tmp_path: Path, moving_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's error stops the batch at once; it does not send the video to be read again in one pass."""
    monkeypatch.setattr(provcheck.ingest, "MIN_SEGMENT_S", 2.0)

    class Stop(Exception):
        pass

    calls: list[AddProgress] = []

    def stop(state: AddProgress) -> None:
        calls.append(state)
        if len(calls) == 2:  # the first report is the start; the second comes while the workers read
            raise Stop

    with Index(tmp_path / "index.sqlite") as index, pytest.raises(Stop):
        index.add_many([moving_clip], jobs=2, progress=stop)
    assert len(calls) == 2
