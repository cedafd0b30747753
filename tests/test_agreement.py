"""Pixel agreement: a copy agrees everywhere it has structure, an unrelated picture nowhere."""

from __future__ import annotations

import numpy as np
import pytest

from provcheck import Verdict, synth
from provcheck.agreement import PixelAgreement, pixel_agreement
from provcheck.match import agreed_verdict


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def test_crop_agrees_with_its_source_despite_tone_and_recompression() -> None:
    source = synth.press_photo(np.random.default_rng(3), 960, 600)
    claim = np.asarray(synth.jpeg(synth.contrast(source[150:450, 200:700], 1.3, 0.8), 40))
    agreement = pixel_agreement(claim, source, translation(200, 150), (0, 0, 500, 300))
    judged, agreeing = agreement.counts()
    assert judged >= 40 and agreeing / judged >= 0.9


def test_unrelated_picture_and_a_wrong_place_do_not_agree() -> None:
    source = synth.press_photo(np.random.default_rng(3), 960, 600)
    other = synth.press_photo(np.random.default_rng(4), 960, 600)
    claim = source[150:450, 200:700]
    assert pixel_agreement(claim, other, translation(200, 150), (0, 0, 500, 300)).share() < 0.2
    assert pixel_agreement(claim, source, translation(260, 190), (0, 0, 500, 300)).share() < 0.2


def test_agreement_inside_a_box_counts_only_the_cells_centred_there() -> None:
    source = synth.press_photo(np.random.default_rng(3), 960, 600)
    other = synth.press_photo(np.random.default_rng(4), 960, 600)
    claim = np.concatenate([source[150:450, 200:450], other[150:450, 450:700]], axis=1)  # left half is the source
    agreement = pixel_agreement(claim, source, translation(200, 150), (0, 0, 500, 300))
    assert agreement.share((0, 0, 250, 300)) >= 0.9
    assert agreement.share((250, 0, 250, 300)) < 0.2
    assert 0.3 < agreement.share() < 0.7


def cells(agreeing: int, judged: int, columns: int = 8) -> PixelAgreement:
    """A grid whose first ``judged`` cells (row by row) are judged and first ``agreeing`` agree; 10 px cells."""
    correlation = np.full((8, columns), np.nan)
    flat = correlation.reshape(-1)
    flat[:judged] = 0.0
    flat[:agreeing] = 0.9
    ys, xs = np.mgrid[0:8, 0:columns]
    return PixelAgreement(correlation, np.stack([xs * 10 + 5.0, ys * 10 + 5.0], axis=-1))


WHOLE = (0.0, 0.0, 80.0, 80.0)


@pytest.mark.parametrize(("geometric", "agreement", "weak", "expected"), [
    (Verdict.MATCH, cells(50, 60), False, Verdict.MATCH),
    (Verdict.POSSIBLE, cells(40, 60), False, Verdict.MATCH),  # 12-19 inliers raised by the pixels
    (Verdict.MATCH, cells(24, 60), False, Verdict.POSSIBLE),
    (Verdict.MATCH, cells(10, 60), False, Verdict.NONE),  # inliers on a shared watermark
    (Verdict.MATCH, cells(3, 6), False, Verdict.MATCH),  # too few cells to judge: inliers decide
    (Verdict.MATCH, None, False, Verdict.MATCH),  # no source pixels
    (Verdict.NONE, cells(40, 60), True, Verdict.MATCH),  # 8-11 inliers, pixels agree
    (Verdict.NONE, cells(30, 60), True, Verdict.NONE),
    (Verdict.NONE, cells(12, 12), True, Verdict.NONE),  # too few cells for weak geometry
])
def test_verdict_table(geometric: Verdict, agreement: PixelAgreement | None, weak: bool, expected: Verdict) -> None:
    assert agreed_verdict(geometric, agreement, WHOLE, weak)[0] is expected


def test_one_picture_of_a_collage_is_judged_inside_its_box() -> None:
    agreement = cells(16, 64)  # the top two rows agree, the rest is another picture
    assert agreed_verdict(Verdict.MATCH, agreement, WHOLE)[0] is Verdict.NONE
    assert agreed_verdict(Verdict.MATCH, agreement, (0.0, 0.0, 80.0, 20.0))[0] is Verdict.MATCH
    assert agreed_verdict(Verdict.MATCH, cells(8, 64), (0.0, 0.0, 80.0, 10.0))[0] is Verdict.NONE  # too small
