"""Timestamp refinement: the exact frame of a clip known by construction, and what it does on bad files.

Only reading the video may fail quietly (the file changed or was damaged since it
was indexed: the sampled time is kept); an error in the scoring is a bug and must
surface, not turn into the sampled time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import frame_at

from provcheck import refine
from provcheck.refine import Anchor, decode_frame, refine_time

CLAIM_BOX = (40, 20, 200, 120)  # x, y, w, h of the claim in frame 30 of the pan clip
PAN_PX_PER_FRAME = 3  # the pan clip moves 3 px a frame at 25 fps (conftest.pan_frames)


def _claim(pan_clip: Path) -> np.ndarray:
    x, y, w, h = CLAIM_BOX
    return np.ascontiguousarray(frame_at(pan_clip, 30)[y:y + h, x:x + w])


def _anchors() -> list[Anchor]:
    """Claim-to-frame translations at 1.0 s and 1.5 s (frames 25 and 37.5) for a claim cut from frame 30."""
    anchors = []
    for time_s in (1.0, 1.5):
        dx = CLAIM_BOX[0] - PAN_PX_PER_FRAME * (25 * time_s - 30)
        anchors.append(Anchor(time_s, np.array([[1.0, 0, dx], [0, 1.0, CLAIM_BOX[1]], [0, 0, 1]])))
    return anchors


def _refine(path: Path, claim: np.ndarray) -> refine.RefinedFrame | None:
    return refine_time(path, claim, (0, 0, CLAIM_BOX[2], CLAIM_BOX[3]), _anchors(), 1.0)


def test_refinement_finds_the_exact_frame(pan_clip: Path) -> None:
    found = _refine(pan_clip, _claim(pan_clip))
    assert found is not None and found.frame_number == 30
    assert found.window_s[0] <= found.time_s <= found.window_s[1]


def test_a_scoring_error_is_not_taken_for_a_damaged_file(pan_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(refine, "_best_candidate", broken)
    with pytest.raises(ValueError, match="broadcast"):
        _refine(pan_clip, _claim(pan_clip))


def test_a_truncated_video_keeps_the_sampled_time(pan_clip: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.mp4"
    data = pan_clip.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    claim = _claim(pan_clip)
    assert _refine(truncated, claim) is None
    assert decode_frame(truncated, 1.2) is None
    assert _refine(tmp_path / "gone.mp4", claim) is None


def test_a_frame_that_cannot_be_converted_keeps_the_sampled_time(pan_clip: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the same ValueError type as the scoring bug above, but raised by decoding: caught
    def unconvertible(*args: object) -> None:
        raise ValueError("bad pixel format")

    claim = _claim(pan_clip)
    monkeypatch.setattr(refine, "upright_pixels", unconvertible)
    assert _refine(pan_clip, claim) is None
    assert decode_frame(pan_clip, 1.2) is None


def _score_by_definition(claim: np.ndarray, warped: np.ndarray, used: np.ndarray) -> float:
    """The score written out: coverage-weighted 1 - Pearson correlation over the compared pixels."""
    valid = (warped >= 0) & used
    covered = valid.sum() / used.sum()
    if covered < refine.MIN_COVERED_SHARE:
        return refine.UNCOVERED_ERROR
    correlation = np.corrcoef(claim[valid].astype(np.float64), warped[valid].astype(np.float64))[0, 1]
    return float(covered * (1 - correlation) + (1 - covered))


def test_the_score_equals_its_definition_with_and_without_excluded_pixels() -> None:
    rng = np.random.default_rng(7)
    claim = (rng.random((60, 90)) * 255).astype(np.uint8)
    rgb = np.repeat(claim[:, :, None], 3, axis=2)
    view = refine._ClaimView(rgb, (0, 0, 90, 60))
    frames = [view.grey * 0.7 + 20 + rng.normal(0, 5, view.grey.shape).astype(np.float32)]  # covers every pixel
    part = frames[0].copy()
    part[:, :30] = refine.OUTSIDE  # covers two thirds: the claim's side is computed for these pixels only
    frames += [part, np.full(view.grey.shape, refine.OUTSIDE, np.float32)]  # the last covers nothing
    for used in (np.ones(view.grey.shape, bool), rng.random(view.grey.shape) > 0.2):
        view.used = used
        for warped in frames:
            assert view.score(warped) == pytest.approx(_score_by_definition(view.grey, warped, used), abs=1e-9)
