"""The verdict policy as tables and properties: evidence in, verdict and confidence out."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from provcheck import Index, Verdict
from provcheck.match import MatchSettings, policy
from provcheck.match.policy import HashReading

SETTINGS = MatchSettings()


def readings(phash: int, pdq: int, pdq_trusted: bool = True) -> dict[str, HashReading]:
    return {"phash": HashReading(phash, 64, True), "pdq": HashReading(pdq, 256, pdq_trusted)}


@pytest.mark.parametrize(
    ("phash", "pdq", "trusted", "refuted", "expected"),
    [
        (0, 0, True, False, Verdict.MATCH),  # 24 sigma
        (0, 0, True, True, Verdict.MATCH),  # an exact copy is not refuted by a failed geometric check
        (4, 40, True, True, Verdict.POSSIBLE),  # a strong hash match that geometry refutes
        (4, 40, True, False, Verdict.MATCH),
        (20, 100, True, False, Verdict.NONE),  # 3 + 3.5 = 6.5 sigma: chance
        (0, 0, False, False, Verdict.POSSIBLE),  # a flat image's PDQ counts nothing: 8 sigma of pHash alone
        (31, 32, True, False, Verdict.POSSIBLE),  # PDQ alone (12 sigma) cannot make a match: pHash is at chance
    ],
)
def test_hash_decision_table(phash: int, pdq: int, trusted: bool, refuted: bool, expected: Verdict) -> None:
    assert policy.decide_by_hashes(readings(phash, pdq, trusted), refuted, SETTINGS).verdict is expected


@pytest.mark.parametrize(
    ("inliers", "hull", "expected"),
    [(20, 0.5, Verdict.MATCH), (19, 0.5, Verdict.POSSIBLE), (12, 0.5, Verdict.POSSIBLE), (11, 0.5, Verdict.NONE),
     (500, 0.02, Verdict.NONE)],
)
def test_feature_verdict_table(inliers: int, hull: float, expected: Verdict) -> None:
    assert policy.feature_verdict(inliers, hull, SETTINGS) is expected


def test_geometry_refutes_only_textured_pairs_that_were_tried() -> None:
    assert policy.geometry_refutes(150, 150, attempted=True, exact_copy=False)
    assert not policy.geometry_refutes(149, 400, attempted=True, exact_copy=False)
    assert not policy.geometry_refutes(400, 400, attempted=False, exact_copy=False)
    assert not policy.geometry_refutes(400, 400, attempted=True, exact_copy=True)


@given(st.integers(0, 64), st.integers(0, 256), st.booleans(), st.booleans())
def test_hash_confidence_sits_on_its_verdicts_side(phash: int, pdq: int, trusted: bool, refuted: bool) -> None:
    decision = policy.decide_by_hashes(readings(phash, pdq, trusted), refuted, SETTINGS)
    assert 0.0 <= decision.confidence <= 1.0
    if decision.verdict is Verdict.MATCH:
        assert decision.confidence >= 0.5
    else:
        assert decision.confidence < 0.5


@given(st.sampled_from([Verdict.MATCH, Verdict.POSSIBLE]), st.integers(0, 2000), st.floats(0.0, 1.0))
def test_feature_confidence_sits_on_its_verdicts_side(verdict: Verdict, inliers: int, hash_conf: float) -> None:
    confidence = policy.feature_match_confidence(verdict, inliers, hash_conf, SETTINGS)
    assert 0.0 <= confidence <= 1.0
    assert (confidence >= 0.5) == (verdict is Verdict.MATCH)


def test_settings_refuse_inconsistent_thresholds() -> None:
    with pytest.raises(ValueError, match="possible_evidence"):
        MatchSettings(possible_evidence=12.0)
    with pytest.raises(ValueError, match="weak_inliers"):
        MatchSettings(possible_inliers=25)
    with pytest.raises(ValueError, match="negative"):
        MatchSettings(shortlist_frames=-1)


def _noise(tmp_path: Path, name: str) -> Path:
    """A photo of per-pixel noise: every hash is exact on a copy, yet SIFT finds nothing to hold on to."""
    pixels = np.random.default_rng(7).integers(0, 256, (360, 480, 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels).save(path, quality=90)
    return path


def test_a_byte_identical_file_is_a_match_and_says_so(tmp_path: Path) -> None:
    indexed = _noise(tmp_path, "noise.jpg")
    index = Index(tmp_path / "index.sqlite")
    index.add(indexed, title="Noise")
    claim = tmp_path / "claim.jpg"
    shutil.copyfile(indexed, claim)
    best = index.match(claim)[0]
    assert best.verdict is Verdict.MATCH and best.confidence == 1.0
    assert best.derivation.identical


def test_an_exact_hash_copy_of_fine_texture_is_a_match(tmp_path: Path) -> None:
    indexed = _noise(tmp_path, "noise.jpg")
    index = Index(tmp_path / "index.sqlite")
    index.add(indexed, title="Noise")
    same_pixels = tmp_path / "claim.png"  # other bytes, the same decoded pixels
    Image.open(indexed).save(same_pixels)
    best = index.match(same_pixels)[0]
    assert best.verdict is Verdict.MATCH and best.confidence >= 0.5
    assert not best.derivation.identical
    assert best.distance == {"pdq": 0, "phash": 0}
