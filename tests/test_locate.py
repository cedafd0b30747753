"""The located frame: geometry, tone and agreement are measured against the pixels they are read from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CLIP_FPS, encode_clip, pan_frames

from provcheck import Index, Verdict
from provcheck.features import LocalFeatures
from provcheck.match import locate


def test_crop_box_is_read_in_the_refined_frame_when_its_own_verification_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fast pan the refined frame lies many pixels from the sampled one; the crop box must follow it."""
    frames = pan_frames(seed=5, count=50, step_px=10)
    clip = encode_clip(tmp_path / "fast_pan.mp4", frames)
    index = Index(tmp_path / "index.sqlite")
    index.add(clip, title="Fast pan")
    number = 19  # 0.76 s: between the sampled frames at 0.5 s and 1.0 s, 60-70 px of pan from either
    x, y, w, h = 80, 40, 160, 110
    claim = np.ascontiguousarray(frames[number][y:y + h, x:x + w])

    def featureless(pixels: np.ndarray, *args: object, **kwargs: object) -> LocalFeatures:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8),
                             pixels.shape[1], pixels.shape[0])

    # the refined frame's own verification fails: the transform refinement found must be used
    monkeypatch.setattr(locate, "extract", featureless)
    best = index.match(claim)[0]
    assert best.verdict is Verdict.MATCH
    # a pan over a still texture: the claim is in every frame of the window, each frame
    # placing it 10 px further left; the crop box must be the reported frame's
    assert best.frame is not None and best.window_s is not None
    assert best.window_s[0] - 0.5 / CLIP_FPS <= number / CLIP_FPS <= best.window_s[1] + 0.5 / CLIP_FPS
    crop = best.derivation.crop_px
    assert crop is not None
    assert abs(crop.x - (x + 10 * (number - best.frame))) <= 3 and abs(crop.y - y) <= 3
    assert abs(crop.w - w) <= 3 and abs(crop.h - h) <= 3
