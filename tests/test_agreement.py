"""Pixel agreement: a copy agrees everywhere it has structure, an unrelated picture nowhere."""

from __future__ import annotations

import numpy as np

from provcheck import synth
from provcheck.agreement import pixel_agreement


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
