"""Geometric verification of a claim against one frame, and what the fitted transform says.

Claim descriptors are matched to the frame's (Lowe's ratio test, one claim keypoint
per frame keypoint), then RANSAC fits a similarity transform (rotation, uniform
scale, translation) from claim pixels to frame pixels; when that explains the
matches poorly (a photo taken of a screen, a perspective screenshot) a homography
is tried and kept only if it explains clearly more. Transforms are 3x3 matrices. Acceptance is judged on the
claim's side and on absolute evidence: the number of inliers agreeing on one
transform and how much of the claim they span, never on the share of the source
frame covered, so a crop to a tenth of the frame is not rejected for being small.

This module owns the RANSAC verification and its result type only; warping the
source onto the claim, aligning it directly and fitting tone live in :mod:`.warp`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .features import LocalFeatures, rootsift
from .warp import map_points

#: Lowe's ratio test on Hellinger distances: the best frame keypoint must be this
#: much closer than the second best.
RATIO_TEST = 0.8
#: RANSAC inlier threshold as a share of the frame diagonal (4.4 px on a 640x352 frame).
RANSAC_THRESHOLD_SHARE = 0.006
RANSAC_MAX_ITERS = 4000
RANSAC_CONFIDENCE = 0.999
#: Claim pixels per frame pixel outside this range are not a plausible derivation
#: (degenerate fits collapse many claim points onto one frame point).
MIN_SCALE = 0.05
MAX_SCALE = 20.0
#: Fewer putative matches than this are not worth a RANSAC run.
MIN_PUTATIVE = 6
#: A homography is tried when the similarity fit found some agreement (a photo of a
#: screen still keeps a core of similarity inliers) but fewer inliers than this, or
#: less than this share of the putative matches (synthetic screen photos: 0.55-0.69 of
#: 216-385 putatives; straight copies and crops: mostly 0.86 and above) ...
HOMOGRAPHY_TRY_FROM = 8
HOMOGRAPHY_TRY_BELOW = 60
HOMOGRAPHY_TRY_INLIER_SHARE = 0.75
HOMOGRAPHY_MAX_ITERS = 2000
#: ... and kept when it has this many times the similarity's inliers, plus this many
#: (its four extra degrees of freedom fit chance matches more easily).
HOMOGRAPHY_GAIN = 1.3
HOMOGRAPHY_EXTRA_INLIERS = 6
#: Perspective terms above this (per claim pixel) are not a photo of a flat screen.
MAX_PERSPECTIVE = 0.003


@dataclass(frozen=True)
class Verification:
    """A transform from claim pixels to frame pixels and the evidence for it."""

    inliers: int
    putative: int
    transform: NDArray[np.float64]
    hull_share: float
    residual_px: float
    claim_inliers_xy: NDArray[np.float32]

    projective: bool = False

    @property
    def scale(self) -> float:
        """Frame pixels per claim pixel (at the claim's origin for a homography)."""
        return float(math.hypot(self.transform[0, 0], self.transform[1, 0]) / self.transform[2, 2])

    @property
    def rotation_deg(self) -> float:
        """Counter-clockwise rotation of the claim relative to the frame, as seen on screen."""
        return float(math.degrees(math.atan2(self.transform[1, 0], self.transform[0, 0])))


def putative_matches(claim: LocalFeatures, frame: LocalFeatures) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Ratio-tested matches (claim index, frame index), each frame keypoint used at most once."""
    if len(claim) < 2 or len(frame) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    similarity = rootsift(claim.descriptors) @ rootsift(frame.descriptors).T
    rows = np.arange(similarity.shape[0])
    best = np.argmax(similarity, axis=1)
    best_sim = similarity[rows, best].copy()
    similarity[rows, best] = -np.inf
    second_sim = similarity.max(axis=1)
    # Hellinger distance between RootSIFT vectors: sqrt(2 - 2 * similarity)
    best_dist = np.sqrt(np.maximum(0.0, 2 - 2 * best_sim))
    second_dist = np.sqrt(np.maximum(0.0, 2 - 2 * second_sim))
    passed = best_dist < RATIO_TEST * second_dist
    claim_idx = np.flatnonzero(passed)
    frame_idx = best[passed]
    if claim_idx.size == 0:
        return claim_idx.astype(np.int64), frame_idx.astype(np.int64)
    # one claim keypoint per frame keypoint: keep the closest
    order = np.lexsort((-best_sim[claim_idx], frame_idx))
    frame_sorted = frame_idx[order]
    first = np.ones(frame_sorted.shape[0], dtype=bool)
    first[1:] = frame_sorted[1:] != frame_sorted[:-1]
    keep = order[first]
    return claim_idx[keep].astype(np.int64), frame_idx[keep].astype(np.int64)


def verify(claim: LocalFeatures, frame: LocalFeatures) -> Verification | None:
    """Fit a similarity transform from the claim to the frame; None when nothing consistent is found."""
    claim_idx, frame_idx = putative_matches(claim, frame)
    if claim_idx.size < MIN_PUTATIVE:
        return None
    source = claim.xy[claim_idx].astype(np.float32)
    target = frame.xy[frame_idx].astype(np.float32)
    threshold = RANSAC_THRESHOLD_SHARE * math.hypot(frame.width, frame.height)
    transform, mask = cv2.estimateAffinePartial2D(
        source, target, method=cv2.RANSAC, ransacReprojThreshold=threshold,
        maxIters=RANSAC_MAX_ITERS, confidence=RANSAC_CONFIDENCE, refineIters=10,
    )
    found: tuple[NDArray[np.float64], NDArray[np.bool_], bool] | None = None
    if transform is not None and mask is not None:
        matrix = np.vstack([np.asarray(transform, dtype=np.float64), [0.0, 0.0, 1.0]])
        found = (matrix, mask.ravel().astype(bool), False)
    similarity_inliers = 0 if found is None else int(found[1].sum())
    loose = similarity_inliers < HOMOGRAPHY_TRY_BELOW or similarity_inliers < HOMOGRAPHY_TRY_INLIER_SHARE * claim_idx.size
    if HOMOGRAPHY_TRY_FROM <= similarity_inliers and loose and claim_idx.size >= 2 * MIN_PUTATIVE:
        homography, hmask = cv2.findHomography(source, target, cv2.RANSAC, threshold,
                                               maxIters=HOMOGRAPHY_MAX_ITERS, confidence=RANSAC_CONFIDENCE)
        if homography is not None and hmask is not None and _plausible_homography(np.asarray(homography, np.float64), claim):
            homography_inliers = int(hmask.sum())
            if homography_inliers >= HOMOGRAPHY_GAIN * similarity_inliers + HOMOGRAPHY_EXTRA_INLIERS:
                found = (np.asarray(homography, dtype=np.float64), hmask.ravel().astype(bool), True)
    if found is None:
        return None
    matrix, inlier_mask, projective = found
    inliers = int(inlier_mask.sum())
    scale = math.hypot(matrix[0, 0], matrix[1, 0]) / matrix[2, 2]
    if inliers < 3 or not MIN_SCALE <= scale <= MAX_SCALE:
        return None
    points = source[inlier_mask]
    hull = cv2.convexHull(points.reshape(-1, 1, 2))
    hull_share = float(cv2.contourArea(hull)) / max(1.0, float(claim.width * claim.height))
    projected = map_points(matrix, points.astype(np.float64))
    residual = float(np.median(np.linalg.norm(projected - target[inlier_mask], axis=1)))
    return Verification(inliers, int(claim_idx.size), matrix, hull_share, residual, points, projective)


def _plausible_homography(matrix: NDArray[np.float64], claim: LocalFeatures) -> bool:
    """Orientation-preserving, mild perspective, and the claim maps to a convex quadrilateral."""
    if abs(matrix[2, 2]) < 1e-9:
        return False
    normalised = matrix / matrix[2, 2]
    if np.linalg.det(normalised[:2, :2]) <= 0:
        return False
    if max(abs(normalised[2, 0]), abs(normalised[2, 1])) > MAX_PERSPECTIVE:
        return False
    corners = np.array([[0, 0], [claim.width, 0], [claim.width, claim.height], [0, claim.height]], np.float64)
    quad = map_points(normalised, corners).astype(np.float32)
    return bool(cv2.isContourConvex(quad.reshape(-1, 1, 2)))
