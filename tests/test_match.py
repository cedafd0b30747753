"""Matching claims derived from indexed frames; unrelated claims never match."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import frame_at, texture
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from provcheck import Box, Index, Verdict, synth
from provcheck.hashing import hamming_distance
from provcheck.match import MatchEngine, MatchSettings
from provcheck.match.locate import Verified, most_covering
from provcheck.normalize import find_trim
from provcheck.store import SQLiteStore
from provcheck.verify import Verification


def caption(pixels: NDArray[np.uint8], text: str = "CONVOY LEAVES AL-BUKAMAL", share: float = 0.14) -> NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    bar = int(height * share)
    image = Image.new("RGB", (width, height + bar), (12, 12, 40))
    image.paste(Image.fromarray(pixels), (0, 0))
    ImageDraw.Draw(image).text((10, height + bar // 4), text, fill=(255, 255, 255))
    return np.asarray(image)


def logo(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    image = Image.fromarray(pixels)
    ImageDraw.Draw(image).rectangle((8, 8, 60, 26), fill=(200, 0, 0))
    ImageDraw.Draw(image).text((12, 10), "MoD", fill=(255, 255, 255))
    return np.asarray(image)


EDITS: dict[str, Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = {
    "exact": lambda p: p,
    "caption": caption,
    "border": lambda p: np.asarray(synth.add_border(p, 14)),
    "logo": logo,
    "jpeg40": lambda p: np.asarray(synth.jpeg(p, 40)),
    "downscale": lambda p: np.asarray(synth.downscale(p, 200)),
    "mirror": lambda p: np.asarray(synth.mirror(p)),
    "caption+jpeg+mirror": lambda p: np.asarray(synth.jpeg(caption(np.asarray(synth.mirror(p))), 60)),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_derived_video_frame_matches_source_and_time(built_index: Path, pan_clip: Path, edit: str) -> None:
    claim = EDITS[edit](frame_at(pan_clip, 75))  # frame 75 = 3.0 s, after the cut
    matches = Index(built_index).match(claim)
    assert matches and matches[0].verdict is Verdict.MATCH
    best = matches[0]
    assert best.source.title == "Pan clip" and best.source.published == "2016-06-30"
    assert best.timestamp_s is not None and abs(best.timestamp_s - 3.0) <= 1.0
    assert best.derivation.mirrored == ("mirror" in edit)
    assert 0.5 <= best.confidence <= 1.0
    if "caption" in edit:
        assert "caption_bottom" in best.derivation.trimmed


def test_derived_still_matches(built_index: Path, still_path: Path) -> None:
    claim = np.asarray(synth.jpeg(caption(np.asarray(synth.downscale(Image.open(still_path), 300))), 50))
    matches = Index(built_index).match(claim)
    assert matches[0].verdict is Verdict.MATCH
    assert matches[0].source.kind == "image" and matches[0].timestamp_s is None and matches[0].frame is None


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_unrelated_images_never_match(built_index: Path, seed: int) -> None:
    unrelated = texture(seed, 176, 320)
    assert [m for m in Index(built_index).match(unrelated) if m.verdict is Verdict.MATCH] == []


def test_flat_image_does_not_match(built_index: Path) -> None:
    flat = np.full((176, 320, 3), 90, dtype=np.uint8)
    assert Index(built_index).match(flat) == []


def test_vectorised_hash_evidence_equals_brute_force(built_index: Path, pan_clip: Path) -> None:
    """The vectorised evidence of every frame equals a plain loop over every stored frame and variant."""
    from provcheck.api import fingerprint
    from provcheck.match import claim_variants

    claim = caption(frame_at(pan_clip, 30))
    store = SQLiteStore(built_index)
    fast = MatchEngine(store).frame_evidence(claim)
    pdq, phash = store.hash_table("pdq"), store.hash_table("phash")
    slow = np.full(pdq.frame_ids.shape[0], -np.inf)
    for variant in claim_variants(claim):
        record = fingerprint(claim_frame(variant.pixels), with_features=False)
        trusted = (record.pdq_quality or 0) >= 50
        for row in range(pdq.frame_ids.shape[0]):
            d_pdq = hamming_distance(record.hashes["pdq"], bytes(pdq.hashes[row]))
            d_ph = hamming_distance(record.hashes["phash"], bytes(phash.hashes[row]))
            evidence = (32 - d_ph) / 4 + ((128 - d_pdq) / 8 if trusted else 0.0)
            slow[row] = max(slow[row], evidence)
    assert fast.tolist() == pytest.approx(slow.tolist())


def claim_frame(pixels: NDArray[np.uint8]):  # type: ignore[no-untyped-def]
    from provcheck.media import Frame

    return Frame(np.ascontiguousarray(pixels), "<test>", 0, None)


def test_find_trim_reports_caption_and_border() -> None:
    pixels = texture(3, 176, 320)
    framed = np.asarray(synth.add_border(caption(pixels), 14))
    trim = find_trim(framed)
    assert "caption_bottom" in trim.labels and "border" in trim.labels
    assert trim.apply(framed).shape[:2] == pytest.approx((176, 320), abs=3)
    assert find_trim(pixels).is_empty


def _shifted(inliers: int, dx: float) -> Verification:
    transform = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return Verification(inliers, inliers, transform, 0.5, 0.5, np.zeros((inliers, 2), np.float32))


@pytest.mark.parametrize(
    ("others", "expected_row"),
    [
        ({2: _shifted(60, 40.0)}, 2),  # holds the whole claim, verifies as a match: chosen
        ({2: _shifted(15, 40.0)}, 1),  # holds it but only a possible: the stronger verdict stays
        ({2: _shifted(90, -150.0)}, 1),  # more inliers, holds no more of it: no reason to move
    ],
)
def test_reported_frame_is_one_that_holds_the_whole_claim(others: dict[int, Verification], expected_row: int) -> None:
    # A 200x100 claim; row 1 places its left half outside a 640x360 frame (x -100..100).
    best = Verified(1, False, _shifted(74, -100.0))
    picture = Box(0, 0, 200, 100)
    chosen = most_covering(best, {1: best.verification, **others}, picture, (640, 360), Verdict.MATCH, MatchSettings())
    assert chosen.row == expected_row


def test_phone_footage_with_display_rotation_is_matched_upright(tmp_path: Path) -> None:
    """Frames are indexed as displayed: an upright crop is not reported as rotated 90 degrees."""
    from conftest import encode_clip, pan_frames

    stored = pan_frames(21, 50)
    clip = encode_clip(tmp_path / "portrait.mp4", stored, display_rotation=-90)
    index = Index(tmp_path / "index.sqlite")
    record = index.add(clip, title="Phone video")
    assert (record.width, record.height) == (stored[0].shape[0], stored[0].shape[1])
    upright = np.rot90(frame_at(clip, 30), -1)  # a player turns it clockwise
    height, width = upright.shape[:2]
    claim = upright[height // 4: height // 4 + height // 2, width // 5: width // 5 + width // 2]
    best = index.match(np.ascontiguousarray(claim))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Phone video"
    assert best.window_s is not None  # a pan over a still scene: the frame is known only within the window
    assert best.window_s[0] - 0.041 <= 30 / 25 <= best.window_s[1] + 0.041
    assert abs(best.derivation.rotation_deg or 0.0) < 1.0
    assert best.derivation.crop is not None  # half the upright width and height, not of the stored frame's
    assert best.derivation.crop.w == pytest.approx(0.5, abs=0.02) and best.derivation.crop.h == pytest.approx(0.5, abs=0.02)
