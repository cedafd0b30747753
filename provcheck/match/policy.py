"""The verdict policy: evidence in, verdict and confidence out. Pure functions, no I/O.

Three kinds of evidence decide a source's verdict (thresholds in
:class:`~provcheck.match.settings.MatchSettings`, with the measurements behind them):

- hash evidence: how far the claim's perceptual hashes are from chance agreement
  with the source's best frame, in standard deviations, summed over the hashers;
- geometric evidence: RANSAC inliers of a verified transform, and how much of the
  claim they span;
- pixel agreement: the share of the claim's structured cells that the source, warped
  by that transform, reproduces. It confirms, raises or refutes the geometric verdict.

A byte-identical file is a match whatever else is measured. Confidence always sits on
its verdict's side of 0.5: at least 0.5 for ``match``, under it for ``possible``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..agreement import PixelAgreement
from ..results import Verdict
from .settings import DEFAULT_SETTINGS, MatchSettings

#: The highest confidence a verdict short of ``match`` may carry.
POSSIBLE_MAX_CONFIDENCE = 0.49
#: The lowest confidence of a ``match``.
MATCH_MIN_CONFIDENCE = 0.5


def hash_evidence(distance_bits: NDArray[np.int32] | int, bits: int) -> NDArray[np.float64]:
    """Agreement beyond chance of ``bits``-bit hashes at a Hamming distance, in standard deviations."""
    evidence: NDArray[np.float64] = (bits / 2 - np.asarray(distance_bits, dtype=np.float64)) / (np.sqrt(bits) / 2)
    return evidence


@dataclass(frozen=True)
class HashReading:
    """One hasher's distance from the claim to a frame, with what it is worth."""

    distance_bits: int
    bits: int
    trusted: bool  # False: the claim's hash is too poor (a flat image) to count

    @property
    def evidence(self) -> float:
        return float(hash_evidence(self.distance_bits, self.bits)) if self.trusted else 0.0


def total_evidence(readings: Mapping[str, HashReading]) -> float:
    """Summed evidence of the trusted hashes."""
    return sum((reading.evidence for reading in readings.values()), 0.0)


def hash_verdict(readings: Mapping[str, HashReading], settings: MatchSettings = DEFAULT_SETTINGS) -> Verdict:
    """Verdict of hash evidence alone: enough in all, and every hash on its own beyond chance."""
    if not readings:
        return Verdict.NONE
    total = total_evidence(readings)
    if total >= settings.match_evidence and min(r.evidence for r in readings.values()) >= settings.min_evidence_each:
        return Verdict.MATCH
    if total >= settings.possible_evidence:
        return Verdict.POSSIBLE
    return Verdict.NONE


def exact_hash_copy(readings: Mapping[str, HashReading], settings: MatchSettings = DEFAULT_SETTINGS) -> bool:
    """Every hash, all trusted, within ``exact_copy_distance_bits`` of the frame's."""
    return bool(readings) and all(r.trusted and r.distance_bits <= settings.exact_copy_distance_bits
                                  for r in readings.values())


def hash_confidence(evidence: float, settings: MatchSettings = DEFAULT_SETTINGS) -> float:
    """Linear in hash evidence: 0 at ``zero_confidence_evidence``, 1 at ``full_confidence_evidence``."""
    span = settings.full_confidence_evidence - settings.zero_confidence_evidence
    return float(np.clip((evidence - settings.zero_confidence_evidence) / span, 0.0, 1.0))


def feature_verdict(inliers: int, hull_share: float, settings: MatchSettings = DEFAULT_SETTINGS) -> Verdict:
    """Verdict of a geometric verification: enough inliers spanning enough of the claim."""
    if hull_share < settings.min_hull_share:
        return Verdict.NONE
    if inliers >= settings.match_inliers:
        return Verdict.MATCH
    if inliers >= settings.possible_inliers:
        return Verdict.POSSIBLE
    return Verdict.NONE


def feature_confidence(inliers: int, settings: MatchSettings = DEFAULT_SETTINGS) -> float:
    """Logistic in the inlier count: 0.5 at ``match_inliers``."""
    return 1.0 / (1.0 + math.exp(-(inliers - settings.match_inliers) / settings.confidence_inlier_slope))


def weak_geometry(inliers: int, hull_share: float, settings: MatchSettings = DEFAULT_SETTINGS) -> bool:
    """Too few inliers for a verdict, yet enough for the pixels alone to decide."""
    return settings.weak_inliers <= inliers < settings.possible_inliers and hull_share >= settings.min_hull_share


def geometry_refutes(claim_keypoints: int, frame_keypoints: int, attempted: bool, exact_copy: bool,
                     settings: MatchSettings = DEFAULT_SETTINGS) -> bool:
    """A hash match is only possible when claim and frame are both well textured yet did not verify.

    A whole-frame copy of a textured frame almost always verifies; when it does not,
    hash agreement alone (similar layouts: sky over sea, two night shots) is not
    enough for a match. An exact hash copy is never refuted: zero inliers is no
    evidence against it (per-pixel noise texture defeats SIFT on a copy of itself).
    """
    if exact_copy or not attempted:
        return False
    return claim_keypoints >= settings.textured_keypoints and frame_keypoints >= settings.textured_keypoints


def agreed_verdict(
    geometric: Verdict, agreement: PixelAgreement | None, picture: tuple[float, float, float, float],
    weak: bool = False, settings: MatchSettings = DEFAULT_SETTINGS,
) -> tuple[Verdict, float | None]:
    """A geometric verdict confirmed, raised or refuted by pixel agreement, and the share that decided.

    Unchanged (share None) when there are no source pixels or too few cells with
    structure to judge. ``picture`` is the claim's picture box from the derivation.
    ``weak``: the transform has too few inliers for a verdict of its own
    (:func:`weak_geometry`); only a strong agreement makes it a match.
    """
    if agreement is None:
        return geometric, None
    judged, _ = agreement.counts()
    if weak:
        if judged >= settings.weak_min_cells and agreement.share() >= settings.weak_confirms:
            return Verdict.MATCH, agreement.share()
        return Verdict.NONE, None
    if geometric is Verdict.NONE or judged < settings.agreement_min_cells:
        return geometric, None
    share = agreement.share()
    inset_judged, inset_agreeing = agreement.counts(picture)
    if inset_judged >= settings.inset_min_cells and inset_agreeing >= settings.inset_confirms * inset_judged:
        return Verdict.MATCH, max(share, inset_agreeing / inset_judged)
    if share >= settings.agreement_confirms:
        return Verdict.MATCH, share
    if share < settings.agreement_refutes:
        return Verdict.NONE, share
    return Verdict.POSSIBLE, share


def on_verdict_side(verdict: Verdict, confidence: float) -> float:
    """``confidence`` moved onto its verdict's side of 0.5 (the README's promise)."""
    if verdict is Verdict.MATCH:
        return max(confidence, MATCH_MIN_CONFIDENCE)
    return min(confidence, POSSIBLE_MAX_CONFIDENCE)


def feature_match_confidence(verdict: Verdict, inliers: int, hash_conf: float,
                             settings: MatchSettings = DEFAULT_SETTINGS) -> float:
    """Confidence of a verdict resting on a verified transform: the stronger of inliers and hashes."""
    return on_verdict_side(verdict, max(feature_confidence(inliers, settings), hash_conf))


@dataclass(frozen=True)
class HashDecision:
    """What hash evidence alone says of a source's best frame."""

    verdict: Verdict
    confidence: float
    exact_copy: bool


def decide_by_hashes(readings: Mapping[str, HashReading], refuted: bool,
                     settings: MatchSettings = DEFAULT_SETTINGS) -> HashDecision:
    """The hash verdict, downgraded to possible when geometry refutes a match, with its confidence."""
    verdict = hash_verdict(readings, settings)
    exact = exact_hash_copy(readings, settings)
    if exact:
        verdict = Verdict.MATCH
    elif verdict is Verdict.MATCH and refuted:
        verdict = Verdict.POSSIBLE
    return HashDecision(verdict, on_verdict_side(verdict, hash_confidence(total_evidence(readings), settings)), exact)


def feature_path_first(hash_verdict: Verdict, geometric: Verdict, weak: bool) -> bool:
    """Whether a source's verified transform is judged first (it also yields the crop box and the exact frame).

    The geometric evidence goes first when it is at least as strong as the hashes', or
    when it is weak (only its pixels can decide). When it fails, a hash verdict that is
    not ``none`` still stands.
    """
    return geometric.rank >= hash_verdict.rank or weak
