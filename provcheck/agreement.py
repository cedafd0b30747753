"""Pixel agreement: does the source, warped by the verified transform, reproduce the claim?

Inliers say that some keypoints agree. They can all sit on something the claim and
an unrelated source share: an agency watermark, a channel logo, a HUD, a caption in
the same style. Twenty inliers on a watermark look like twenty inliers on a picture.
The check that tells them apart is dense: warp the source onto the claim's picture
and ask, cell by cell over a grid, whether the two correlate. A copy agrees almost
everywhere the claim has structure (an added logo spoils a cell or two); a shared
watermark agrees only where the watermark is.

Both images are compared grey, small and band-passed (difference of Gaussians), so
tone changes, grayscale, blur of a re-encode and smooth gradients (every sky is
brighter at the horizon) do not count; cells the claim leaves flat are not judged.

This module owns the cell grid, the band-pass and the cell correlations; the shrink,
warp and direct alignment they use come from :mod:`.warp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .media import RGBArray
from .warp import OUTSIDE, area_resize, ecc_align, fill_outside, grey, map_points, shrink_region, warp_to_claim

#: The claim's picture is compared at this long side (pixels) ...
COMPARE_SIDE = 192
#: ... and never smaller than this on either side (pixels).
MIN_COMPARE_SIZE = 16
#: The source is shrunk (area-averaged) before warping where it is this many times finer
#: than the comparison size: a plain warp would alias it ...
SOURCE_SHRINK_ABOVE = 1.5
#: ... to no less than this many pixels a side.
MIN_SOURCE_SIZE = 8
#: A cell spans at least this many pixels of the comparison size a side (the grid has
#: fewer cells on a very thin picture rather than cells too small to correlate).
MIN_CELL_PX = 8
#: About this many cells cover the picture, as square as its aspect ratio allows.
CELLS = 64
#: Band-pass: fine and coarse Gaussian sigmas at the comparison size (pixels).
FINE_SIGMA = 1.0
COARSE_SIGMA = 4.0
#: A cell is judged when at least this share of it is covered by the source ...
MIN_CELL_COVERAGE = 0.8
#: ... and the claim's band-passed values vary there by at least this (grey levels; JPEG
#: q30 of a flat patch stays under 0.6).
MIN_CELL_TEXTURE = 1.0
#: A judged cell agrees when claim and source correlate at least this well there.
CELL_AGREES_NCC = 0.5
#: Before the cells are compared the transform is refined by direct alignment (ECC,
#: homography): RANSAC keeps a similarity when it has many inliers, and a photo of a
#: screen is a perspective view, off by several pixels at its corners. A refinement
#: moving any corner by more than this share of the long side is not trusted.
ALIGN_MAX_CORNER_SHIFT = 0.1
ALIGN_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-5)
#: The refinement needs the source to cover at least this share of the claim's picture ...
ALIGN_MIN_COVERED = 0.3
#: ... and pre-filters both with a Gaussian this size (pixels, odd; OpenCV's default is 5).
ALIGN_GAUSSIAN_SIZE = 3


@dataclass(frozen=True)
class PixelAgreement:
    """Cell-by-cell comparison of the claim with the warped source.

    ``correlation`` holds each cell's normalised cross-correlation of the band-passed
    claim and source (NaN where the cell is not judged: flat, or not covered by the
    source); ``centres`` are the cells' centres in claim pixels (rows x cols x 2, as x, y).
    """

    correlation: NDArray[np.float64]
    centres: NDArray[np.float64]

    def counts(self, box: tuple[float, float, float, float] | None = None) -> tuple[int, int]:
        """(judged, agreeing) cells, all of them or those centred inside ``box`` (x, y, w, h in claim pixels)."""
        judged = np.isfinite(self.correlation)
        if box is not None:
            x, y, w, h = box
            cx, cy = self.centres[..., 0], self.centres[..., 1]
            judged &= (cx >= x) & (cx < x + w) & (cy >= y) & (cy < y + h)
        agreeing = judged & (np.nan_to_num(self.correlation, nan=-1.0) >= CELL_AGREES_NCC)
        return int(judged.sum()), int(agreeing.sum())

    def share(self, box: tuple[float, float, float, float] | None = None) -> float:
        """Share of the judged cells (inside ``box``) that agree; 0 when none is judged."""
        judged, agreeing = self.counts(box)
        return agreeing / judged if judged else 0.0


def _band_pass(grey: NDArray[np.float32]) -> NDArray[np.float32]:
    fine = cv2.GaussianBlur(grey, (0, 0), FINE_SIGMA)
    coarse = cv2.GaussianBlur(grey, (0, 0), COARSE_SIGMA)
    result: NDArray[np.float32] = fine - coarse
    return result


def _grid(width: int, height: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Cell edges (columns, rows) for about CELLS square-ish cells over a width x height image."""
    across = max(1, min(width // MIN_CELL_PX, round(float(np.sqrt(CELLS * width / height)))))
    down = max(1, min(height // MIN_CELL_PX, round(CELLS / across)))
    return (np.linspace(0, width, across + 1).round().astype(np.int64),
            np.linspace(0, height, down + 1).round().astype(np.int64))


def _source_in_claim(source: RGBArray, to_source: NDArray[np.float64], size: tuple[int, int]) -> NDArray[np.float32]:
    """The source's grey pixels seen through ``to_source``, shrunk first where it is much finer (no aliasing)."""
    pixels = grey(source)
    scale = float(np.sqrt(abs(np.linalg.det(to_source[:2, :2] / to_source[2, 2]))))
    if scale > SOURCE_SHRINK_ABOVE:
        shrunk = (max(MIN_SOURCE_SIZE, round(pixels.shape[1] / scale)),
                  max(MIN_SOURCE_SIZE, round(pixels.shape[0] / scale)))
        pixels, to_shrunk = area_resize(pixels, shrunk)
        to_source = to_shrunk @ to_source
    return warp_to_claim(pixels, to_source, size, OUTSIDE)


def _alignment(claim: NDArray[np.float32], warped: NDArray[np.float32]) -> NDArray[np.float64] | None:
    """A homography (claim small pixels to warped pixels) aligning ``warped`` onto ``claim``, or None."""
    correction = ecc_align(claim, warped, "homography", ALIGN_CRITERIA, ALIGN_GAUSSIAN_SIZE, ALIGN_MIN_COVERED)
    if correction is None:
        return None  # too little covered, or did not converge: compare as verified
    height, width = claim.shape
    corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    if not np.all(np.isfinite(correction)) or abs(correction[2, 2]) < 1e-9:
        return None
    moved = np.abs(map_points(correction, corners) - corners).max()
    return correction if moved <= ALIGN_MAX_CORNER_SHIFT * max(width, height) else None


def pixel_agreement(
    claim: RGBArray, source: RGBArray, transform: NDArray[np.float64], region: tuple[float, float, float, float]
) -> PixelAgreement:
    """Compare a region of the claim with the source warped onto it, cell by cell.

    The cells are compared twice, through ``transform`` and through it refined by
    direct alignment; the comparison with more agreeing cells is returned.

    Args:
        claim: the claim's pixels (mirrored already if it is a mirrored copy).
        source: the source frame's pixels.
        transform: claim pixels to source pixels (3x3).
        region: (x, y, w, h) of the claim compared, in claim pixels: its picture without
            the bands the trimmer found (a caption bar, a border).
    """
    compared = shrink_region(claim, region, COMPARE_SIDE, MIN_COMPARE_SIZE)
    small, size = compared.grey, compared.size
    # small -> claim pixels (refine composes its map the other way round; see ShrunkRegion)
    to_claim = np.array([[1.0, 0, compared.left], [0, 1.0, compared.top], [0, 0, 1]]) @ np.linalg.inv(compared.to_small)
    to_source = transform @ to_claim
    cols, rows = _grid(size[0], size[1])
    centre_x, centre_y = np.meshgrid((cols[:-1] + cols[1:]) / 2 - 0.5, (rows[:-1] + rows[1:]) / 2 - 0.5)
    centres = map_points(to_claim, np.stack([centre_x.ravel(), centre_y.ravel()], axis=1)).reshape(*centre_x.shape, 2)
    warped = _source_in_claim(source, to_source, size)
    claim_band = _band_pass(small)
    best = PixelAgreement(_cell_correlations(claim_band, warped, cols, rows), centres)
    correction = _alignment(small, warped)
    if correction is not None:
        aligned = PixelAgreement(
            _cell_correlations(claim_band, _source_in_claim(source, to_source @ correction, size), cols, rows), centres)
        if aligned.counts()[1] > best.counts()[1]:
            best = aligned
    return best


def _cell_correlations(claim_band: NDArray[np.float32], warped: NDArray[np.float32], cols: NDArray[np.int64],
                       rows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Each cell's correlation of the band-passed claim and warped source (NaN: not judged)."""
    correlation = np.full((len(rows) - 1, len(cols) - 1), np.nan)
    covered = warped >= 0
    if not covered.any():
        return correlation
    source_band = _band_pass(np.asarray(fill_outside(warped, covered, np.float32)))
    # pixels whose band-pass reaches across the source's edge are not compared
    reach = int(np.ceil(2 * COARSE_SIGMA))
    inside = cv2.erode(covered.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).astype(bool)
    for r in range(len(rows) - 1):
        for c in range(len(cols) - 1):
            cell = (slice(rows[r], rows[r + 1]), slice(cols[c], cols[c + 1]))
            usable = inside[cell]
            if usable.mean() < MIN_CELL_COVERAGE:
                continue
            a = claim_band[cell][usable].astype(np.float64)
            b = source_band[cell][usable].astype(np.float64)
            a -= a.mean()
            b -= b.mean()
            if a.std() < MIN_CELL_TEXTURE:
                continue
            denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
            correlation[r, c] = float((a * b).sum()) / denominator if denominator > 0 else 0.0
    return correlation
