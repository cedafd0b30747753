"""How a claim was made from its source, read off a verified transform.

Given the claim-to-frame transform, this module works out the crop box in the source
frame, the bands of the claim the source does not explain (caption bars, borders,
padding) and tone changes (grayscale, contrast, brightness) by comparing the claim
with the source warped into the claim's coordinates. Pure functions of arrays; the
warps and fits themselves come from :mod:`.warp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .media import RGBArray
from .normalize import Trim
from .results import AddedBand, Box, ToneChange
from .verify import Verification
from .warp import OUTSIDE, fitted_residual, grey, invert, map_points, warp_to_claim

#: A crop box covering at least this share of the frame's width and height is the whole frame.
WHOLE_FRAME_SHARE = 0.97
#: A trimmed band holding at most this share of the inliers is something added to the
#: picture, not picture (a few inliers may land on a caption's edge).
BAND_MAX_INLIER_SHARE = 0.02
#: A trimmed band is source picture when its residual against the warped source is at
#: most this multiple of the picture's own residual plus this many grey levels.
BAND_RESIDUAL_FACTOR = 2.0
BAND_RESIDUAL_SLACK = 6.0
#: The claim's tone is fitted to the warped source only over at least this many pixels
#: around the inliers (a 10x10 patch); with fewer the band check is not made.
MIN_FIT_PIXELS = 100
#: A region is judged agreeing only when the source covers at least this share of it.
MIN_AGREEING_COVERAGE = 0.5
#: Step, as a share of the claim's size, by which the picture region grows.
GROW_STEP_SHARE = 0.005
#: Bands thinner than this share of the claim are not reported.
MIN_BAND_SHARE = 0.02
#: A side of the picture is the band the trimmer found there when their thicknesses
#: differ by at most this many pixels or this share of the thickness, whichever is more
#: (the two are measured apart: by growing the picture, and by the trimmer).
TRIMMED_BAND_SLACK_PX = 4.0
TRIMMED_BAND_SLACK_SHARE = 0.3
#: Mean channel spread (max - min, grey levels) under which a picture is grayscale,
#: and over which its source is in colour (measured: JPEG q30 of a grey image < 3).
GRAYSCALE_MAX_CHROMA = 4.0
COLOUR_MIN_CHROMA = 10.0
#: Tone is reported changed when the fitted contrast is off 1 by more than this,
#: or the brightness offset exceeds this many grey levels.
CONTRAST_TOLERANCE = 0.12
BRIGHTNESS_TOLERANCE = 12.0
#: Tone is measured over at least this many picture pixels the source covers (as MIN_FIT_PIXELS).
MIN_TONE_PIXELS = 100
#: Luma weights (ITU-R BT.601, as OpenCV's grey) for tone, kept unrounded in float64.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
#: Percentiles of claim and source luma matched for the tone fit (5th to 95th, every 5).
TONE_PERCENTILES = np.linspace(5, 95, 19)
#: A source whose 5th-95th percentile luma spread is under this many grey levels is too
#: flat for a contrast: only the brightness offset is measured.
MIN_TONE_SPREAD = 8.0


@dataclass(frozen=True)
class Geometry:
    """Where the claim's picture lies in the source frame."""

    crop_px: Box | None  # None: the whole frame
    frame_share: float
    picture_px: Box  # the part of the claim that is source picture, claim pixels
    added: tuple[AddedBand, ...]


def _band_kind(label: str) -> str:
    return "caption_bar" if label.startswith("caption") else "border"


class _Agreement:
    """Where the claim agrees with the source warped onto it: a per-pixel residual map.

    The claim's grey levels are fitted as a linear function of the warped source's
    around the inliers (so tone changes do not count as disagreement); a region agrees
    when its mean residual is no worse than a small multiple of the fitted region's.
    This tells featureless picture (sky, fog) from an added band, and finds where a
    picture inset in a collage ends.
    """

    def __init__(self, claim: RGBArray, source: RGBArray, transform: NDArray[np.float64], reference: Box) -> None:
        height, width = claim.shape[:2]
        warped = warp_to_claim(grey(source), transform, (width, height), OUTSIDE)
        self.valid = np.asarray(warped >= 0)
        mask = np.zeros((height, width), dtype=bool)
        mask[int(reference.y) : int(reference.y + reference.h), int(reference.x) : int(reference.x + reference.w)] = True
        mask &= self.valid
        self.usable = int(mask.sum()) >= MIN_FIT_PIXELS
        self.residual = np.full((height, width), np.inf, dtype=np.float32)
        self.limit = 0.0
        if self.usable:
            self.residual = fitted_residual(grey(claim), warped, mask)
            self.limit = BAND_RESIDUAL_FACTOR * float(self.residual[mask].mean()) + BAND_RESIDUAL_SLACK

    def agrees(self, x0: int, y0: int, x1: int, y1: int) -> bool:
        if not self.usable or x1 <= x0 or y1 <= y0:
            return False
        region = self.residual[y0:y1, x0:x1]
        finite = np.isfinite(region)
        if finite.mean() < MIN_AGREEING_COVERAGE:
            return False
        return float(region[finite].mean()) <= self.limit

    def grow(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """Push each side of (x0, y0, x1, y1) outwards while the next strip still agrees."""
        height, width = self.residual.shape
        x0, y0, x1, y1 = box
        step_x = max(1, round(width * GROW_STEP_SHARE))
        step_y = max(1, round(height * GROW_STEP_SHARE))
        while y0 > 0 and self.agrees(x0, max(0, y0 - step_y), x1, y0):
            y0 = max(0, y0 - step_y)
        while y1 < height and self.agrees(x0, y1, x1, min(height, y1 + step_y)):
            y1 = min(height, y1 + step_y)
        while x0 > 0 and self.agrees(max(0, x0 - step_x), y0, x0, y1):
            x0 = max(0, x0 - step_x)
        while x1 < width and self.agrees(x1, y0, min(width, x1 + step_x), y1):
            x1 = min(width, x1 + step_x)
        return x0, y0, x1, y1


def _outside_regions(picture: Box, trim: Trim, width: int, height: int) -> list[AddedBand]:
    """The claim's parts around the picture, named from what the trimmer saw there."""
    regions = []
    sides = (
        ("top", picture.y, Box(0, 0, width, picture.y), height),
        ("bottom", height - picture.y - picture.h, Box(0, picture.y + picture.h, width, height - picture.y - picture.h),
         height),
        ("left", picture.x, Box(0, picture.y, picture.x, picture.h), width),
        ("right", width - picture.x - picture.w, Box(picture.x + picture.w, picture.y, width - picture.x - picture.w,
                                                     picture.h), width),
    )
    trimmed = {"top": trim.top, "bottom": trim.bottom, "left": trim.left, "right": trim.right}
    for side, thickness, box, extent in sides:
        # a band the trimmer found is reported however thin (it checked it is uniform)
        slack = max(TRIMMED_BAND_SLACK_PX, TRIMMED_BAND_SLACK_SHARE * thickness)
        trimmed_here = trimmed[side] > 0 and abs(trimmed[side] - thickness) <= slack
        if thickness < MIN_BAND_SHARE * extent and not (trimmed_here and thickness >= 1):
            continue
        kind = "unexplained"
        if trimmed_here:
            kind = "caption_bar" if f"caption_{side}" in trim.labels else "border"
        regions.append(AddedBand(kind, side, box))
    return regions


def picture_box(
    verification: Verification,
    trim: Trim,
    width: int,
    height: int,
    claim: RGBArray | None = None,
    source: RGBArray | None = None,
) -> tuple[Box, list[AddedBand]]:
    """The part of the claim that is source picture, and the regions around it that are not.

    With the source pixels, the picture grows from the inliers' bounding box for as long
    as the claim agrees with the source warped onto it. Without them, trimmed bands
    (borders, caption bars) that hold (almost) no inliers are taken as added.
    """
    inliers = verification.claim_inliers_xy
    if claim is not None and source is not None and len(inliers) >= 3:
        x0, y0 = np.floor(inliers.min(axis=0)).astype(int)
        x1, y1 = np.ceil(inliers.max(axis=0)).astype(int) + 1
        agreement = _Agreement(claim, source, verification.transform, Box(x0, y0, x1 - x0, y1 - y0))
        if agreement.usable:
            gx0, gy0, gx1, gy1 = agreement.grow((int(x0), int(y0), int(x1), int(y1)))
            picture = Box(gx0, gy0, gx1 - gx0, gy1 - gy0)
            return picture, _outside_regions(picture, trim, width, height)
    allowed = max(2, int(BAND_MAX_INLIER_SHARE * len(inliers)))
    top, bottom, left, right = 0.0, float(height), 0.0, float(width)
    added: list[AddedBand] = []
    bands = (
        ("top", trim.top, inliers[:, 1] < trim.top),
        ("bottom", trim.bottom, inliers[:, 1] >= height - trim.bottom),
        ("left", trim.left, inliers[:, 0] < trim.left),
        ("right", trim.right, inliers[:, 0] >= width - trim.right),
    )
    for side, size, inside in bands:
        if size <= 0 or int(inside.sum()) > allowed:
            continue
        label = f"caption_{side}" if f"caption_{side}" in trim.labels else "border"
        box = _band_box(side, size, width, height)
        if side == "top":
            top = float(size)
        elif side == "bottom":
            bottom = float(height - size)
        elif side == "left":
            left = float(size)
        else:
            right = float(width - size)
        added.append(AddedBand(_band_kind(label), side, box))
    return Box(left, top, right - left, bottom - top), added


def _band_box(side: str, size: int, width: int, height: int) -> Box:
    if side == "top":
        return Box(0, 0, width, size)
    if side == "bottom":
        return Box(0, height - size, width, size)
    if side == "left":
        return Box(0, 0, size, height)
    return Box(width - size, 0, size, height)


def geometry(
    verification: Verification,
    trim: Trim,
    claim_size: tuple[int, int],
    frame_size: tuple[int, int],
    claim: RGBArray | None = None,
    source: RGBArray | None = None,
) -> Geometry:
    """Crop box in the frame, and the claim's added bands, from a verified transform.

    Args:
        verification: transform from claim pixels to frame pixels.
        trim: bands :func:`provcheck.normalize.find_trim` found on the claim.
        claim_size: (width, height) of the claim as verified.
        frame_size: (width, height) of the source frame.
        claim: the claim's pixels, to check trimmed bands against the source.
        source: the source frame's pixels (when available).
    """
    width, height = claim_size
    frame_w, frame_h = frame_size
    picture, added = picture_box(verification, trim, width, height, claim, source)
    corners = np.array(
        [[picture.x, picture.y], [picture.x + picture.w, picture.y],
         [picture.x, picture.y + picture.h], [picture.x + picture.w, picture.y + picture.h]],
        dtype=np.float64,
    )
    mapped = map_points(verification.transform, corners)
    x0, y0 = np.clip(mapped.min(axis=0), 0, [frame_w, frame_h])
    x1, y1 = np.clip(mapped.max(axis=0), 0, [frame_w, frame_h])
    share = float((x1 - x0) * (y1 - y0)) / max(1.0, float(frame_w * frame_h))
    whole = (x1 - x0) >= WHOLE_FRAME_SHARE * frame_w and (y1 - y0) >= WHOLE_FRAME_SHARE * frame_h
    crop = None if whole else Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
    added.extend(_padding(verification, picture, frame_size))
    return Geometry(crop, min(1.0, share), picture, tuple(added))


def _padding(verification: Verification, picture: Box, frame_size: tuple[int, int]) -> list[AddedBand]:
    """Parts of the claim's picture that fall outside the source frame (letterbox, padding)."""
    frame_w, frame_h = frame_size
    frame_corners = np.array([[0, 0], [frame_w, 0], [0, frame_h], [frame_w, frame_h]], dtype=np.float64)
    in_claim = map_points(invert(verification.transform), frame_corners)
    fx0, fy0 = in_claim.min(axis=0)
    fx1, fy1 = in_claim.max(axis=0)
    regions = []
    checks = (
        ("top", fy0 - picture.y, picture.h, Box(picture.x, picture.y, picture.w, fy0 - picture.y)),
        ("bottom", picture.y + picture.h - fy1, picture.h, Box(picture.x, fy1, picture.w, picture.y + picture.h - fy1)),
        ("left", fx0 - picture.x, picture.w, Box(picture.x, picture.y, fx0 - picture.x, picture.h)),
        ("right", picture.x + picture.w - fx1, picture.w, Box(fx1, picture.y, picture.x + picture.w - fx1, picture.h)),
    )
    for side, thickness, extent, box in checks:
        if thickness > MIN_BAND_SHARE * extent:
            regions.append(AddedBand("padding", side, box))
    return regions


def tone(claim: RGBArray, source: RGBArray, verification: Verification, picture: Box) -> ToneChange | None:
    """Compare the claim's picture with the source warped into claim coordinates.

    Returns:
        Grayscale flag and the linear luminance map claim = contrast * source + brightness,
        or None when too little of the picture overlaps the source.
    """
    height, width = claim.shape[:2]
    warped = warp_to_claim(np.ascontiguousarray(source), verification.transform, (width, height), 0.0)
    valid = warp_to_claim(np.full(source.shape[:2], 255, np.uint8), verification.transform, (width, height), 0.0,
                          cv2.INTER_NEAREST) > 0
    region = np.zeros((height, width), dtype=bool)
    x0, y0 = int(max(0, picture.x)), int(max(0, picture.y))
    region[y0 : int(picture.y + picture.h), x0 : int(picture.x + picture.w)] = True
    valid &= region
    if valid.sum() < MIN_TONE_PIXELS:
        return None
    claim_px = claim[valid].astype(np.float64)
    source_px = warped[valid].astype(np.float64)
    claim_chroma = float((claim_px.max(axis=1) - claim_px.min(axis=1)).mean())
    source_chroma = float((source_px.max(axis=1) - source_px.min(axis=1)).mean())
    grayscale = claim_chroma < GRAYSCALE_MAX_CHROMA and source_chroma > COLOUR_MIN_CHROMA
    weights = np.array(LUMA_WEIGHTS)
    claim_luma = claim_px @ weights
    source_luma = source_px @ weights
    # robust linear fit on matched percentiles (insensitive to misregistration at edges)
    cq = np.percentile(claim_luma, TONE_PERCENTILES)
    sq = np.percentile(source_luma, TONE_PERCENTILES)
    if float(sq[-1] - sq[0]) < MIN_TONE_SPREAD:
        return _tone_change(grayscale, 1.0, float(cq.mean() - sq.mean()))
    contrast, brightness = np.polyfit(sq, cq, 1)
    return _tone_change(grayscale, float(contrast), float(brightness))


def _tone_change(grayscale: bool, contrast: float, brightness: float) -> ToneChange:
    changed = abs(contrast - 1) > CONTRAST_TOLERANCE or abs(brightness) > BRIGHTNESS_TOLERANCE
    return ToneChange(grayscale, contrast, brightness, changed)
