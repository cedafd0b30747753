"""Adding a source: how often a video file is opened, and what progress the API reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import pytest
from click.testing import CliRunner

from provcheck import Index
from provcheck.cli import cli
from provcheck.media import probe_video

#: FFmpeg opens of a video per add: sniffing its kind, probing it (its first frame is
#: decoded there for the display rotation), sampling it. The probe's result is passed
#: on to sampling and its duration to the progress bar; before that, adding one video
#: through the CLI opened it 8 times (6 through ``Index.add``) and decoded frame 0 four times.
OPENS_PER_VIDEO_ADD = 3


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What ``av.open`` is called with from now on (the real ``av.open`` still does the work)."""
    calls: list[str] = []
    real_open = av.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    return calls


def test_index_add_opens_a_video_three_times(pan_clip: Path, index_path: Path, opened: list[str]) -> None:
    with Index(index_path) as index:
        record = index.add(pan_clip)
    assert record.kind == "video" and record.frame_count > 0
    assert len(opened) == OPENS_PER_VIDEO_ADD
    assert all(name.endswith(str(pan_clip.resolve())) for name in opened)


def test_cli_index_add_opens_a_video_three_times(pan_clip: Path, index_path: Path, opened: list[str]) -> None:
    result = CliRunner().invoke(cli, ["index", "add", str(pan_clip), "--index", str(index_path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert [source["kind"] for source in json.loads(result.stdout)["added"]] == ["video"]
    assert len(opened) == OPENS_PER_VIDEO_ADD


def test_progress_reports_time_decoded_against_the_probed_duration(pan_clip: Path, index_path: Path) -> None:
    """The CLI draws its bar from these reports, so it needs no probe of its own."""
    reports: list[tuple[float, float]] = []
    with Index(index_path) as index:
        index.add(pan_clip, progress=lambda done, total: reports.append((done, total)))
    duration_s = probe_video(pan_clip).duration_s
    assert duration_s is not None and duration_s > 0
    assert reports and {total for _, total in reports} == {duration_s}
    done = [time_s for time_s, _ in reports]
    assert done == sorted(done) and done[0] == 0.0 and done[-1] <= duration_s
