"""Warping, alignment and fits: the one copy of each that the geometry modules share.

A verified transform maps claim pixels to source pixels. Everything downstream of
verification compares the claim with the source seen through that transform: the
derivation (crop box, bands), the exact video frame, the pixel agreement. They all
need the same few operations, and a subtly different second copy of any of them
(another border value, another pixel-centre convention, another grey conversion)
makes two stages disagree about the same pixels. So this module owns them:

- points and matrices: :func:`map_points`, :func:`invert`;
- pixels: :func:`grey`, :func:`warp_to_claim` (with the :data:`OUTSIDE` marker),
  :func:`area_resize`, :func:`fill_outside`, :func:`shrink_region`;
- fits: :func:`linear_fit`, :func:`fitted_residual`;
- direct alignment: :func:`ecc_align` (one ECC, the motion model an argument).

Pure functions of arrays; no thresholds of its own (callers pass theirs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from .media import RGBArray

WarpImage = NDArray[np.uint8] | NDArray[np.float32]
#: ECC termination criteria, as OpenCV takes them: (type flags, iterations, epsilon).
EccCriteria = tuple[int, int, float]

#: Border value for warps whose uncovered pixels must be told apart: so negative that a
#: pixel interpolated even 1/32 from outside the frame stays negative (OpenCV blends
#: with 5-bit weights), where -1 let partly outside edge pixels pass as dark picture.
OUTSIDE = -1.0e6
#: A fit over a flat x (a uniform patch) has no slope: variances under this count as zero.
FLAT_VARIANCE = 1e-9

_MOTIONS = {"affine": cv2.MOTION_AFFINE, "homography": cv2.MOTION_HOMOGRAPHY}


def map_points(transform: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Apply a 3x3 projective transform to (n, 2) points."""
    homogeneous = np.hstack([points, np.ones((points.shape[0], 1))]) @ transform.T
    mapped: NDArray[np.float64] = homogeneous[:, :2] / homogeneous[:, 2:3]
    return mapped


def invert(transform: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse of a 3x3 transform."""
    inverse: NDArray[np.float64] = np.asarray(np.linalg.inv(transform), dtype=np.float64)
    return inverse


def grey(pixels: RGBArray) -> NDArray[np.float32]:
    """RGB pixels as float32 grey levels (OpenCV's BT.601 weights, rounded to whole levels as uint8 first)."""
    converted: NDArray[np.float32] = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return converted


def warp_to_claim(
    image: WarpImage, transform: NDArray[np.float64], size: tuple[int, int], border: float,
    interpolation: int = cv2.INTER_LINEAR,
) -> NDArray[np.float32]:
    """An image of the frame seen in claim coordinates (``transform`` maps claim to frame), as float32."""
    warped: NDArray[np.float32] = cv2.warpPerspective(
        image, transform, size, flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    ).astype(np.float32)
    return warped


def area_resize(image: NDArray[np.float32], size: tuple[int, int]) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """``image`` resized to ``size`` by pixel-area averaging, and the map from its pixels to the result's.

    Averaging, not point sampling: two samplings of the same texture at different
    sub-pixel phases alias differently, and that alone leaves the exact frame a few
    per cent of correlation short of perfect, as much as a moving vehicle.
    """
    height, width = image.shape[:2]
    resized = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
    sx, sy = size[0] / width, size[1] / height
    # OpenCV pixel centres: result = (source + 0.5) * scale - 0.5
    to_result = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
    return resized, to_result


def fill_outside(warped: NDArray[np.float32], valid: NDArray[np.bool_], dtype: type[np.floating]) -> NDArray[np.floating]:
    """``warped`` with its uncovered pixels set to the covered ones' mean (for FFT and ECC)."""
    return np.where(valid, warped, float(warped[valid].mean())).astype(dtype)


@dataclass(frozen=True)
class ShrunkRegion:
    """A rectangle of an image, grey and shrunk by :func:`area_resize`.

    ``to_small`` maps the rectangle's pixels (origin at ``left``, ``top`` of the
    image) to ``grey``'s. The map from ``grey`` back to the image is left to the
    caller: refinement and pixel agreement compose it in different orders, equal
    but for the last bits of a double, and their results are pinned to those bits.
    """

    grey: NDArray[np.float32]
    size: tuple[int, int]  # (width, height) of grey
    to_small: NDArray[np.float64]
    left: int
    top: int


def shrink_region(
    pixels: RGBArray, box: tuple[float, float, float, float], max_side: int, min_size: int, long_side: float | None = None,
) -> ShrunkRegion:
    """The (x, y, w, h) ``box`` of ``pixels``, grey, shrunk so that ``long_side`` becomes at most ``max_side``.

    Args:
        pixels: RGB image.
        box: the rectangle, in pixels; rounded to whole pixels and cut at the image's edges.
        max_side: the long side after shrinking (never enlarged).
        min_size: neither side of the result is smaller than this.
        long_side: the length the shrink factor is taken from; default: the cut rectangle's longer side.
    """
    x, y, w, h = box
    left, top = max(0, int(round(x))), max(0, int(round(y)))
    region = grey(pixels[top:top + max(1, int(round(h))), left:left + max(1, int(round(w)))])
    factor = min(1.0, max_side / (max(region.shape) if long_side is None else long_side))
    size = (max(min_size, round(region.shape[1] * factor)), max(min_size, round(region.shape[0] * factor)))
    small, to_small = area_resize(region, size)
    return ShrunkRegion(small, size, to_small, left, top)


def linear_fit(x: NDArray[np.float32], y: NDArray[np.float32]) -> tuple[float, float]:
    """Least-squares y = slope * x + offset; a flat x (a uniform patch) gives slope 0.

    Closed form rather than ``np.polyfit``, which warns (an error under the test
    suite's warning filter) when x is constant.
    """
    xs, ys = x.astype(np.float64), y.astype(np.float64)
    variance = float(xs.var())
    slope = float(((xs - xs.mean()) * (ys - ys.mean())).mean()) / variance if variance > FLAT_VARIANCE else 0.0
    return slope, float(ys.mean() - slope * xs.mean())


def fitted_residual(
    target: NDArray[np.float32], warped: NDArray[np.float32], fitted: NDArray[np.bool_]
) -> NDArray[np.float32]:
    """Per pixel |target - (a * warped + b)|, a and b fitted over ``fitted``; inf where ``warped`` is OUTSIDE.

    The linear tone fit makes contrast and brightness changes cost nothing, so what
    remains is where the two pictures differ.
    """
    slope, offset = linear_fit(warped[fitted], target[fitted])
    residual: NDArray[np.float32] = np.where(
        warped >= 0, np.abs(target - (slope * warped + offset)), np.inf).astype(np.float32)
    return residual


def ecc_align(
    template: NDArray[np.float32],
    warped: NDArray[np.float32],
    motion: Literal["affine", "homography"],
    criteria: EccCriteria,
    gaussian_size: int,
    min_covered: float,
    used: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64] | None:
    """The correction that aligns ``warped`` onto ``template`` by direct (ECC) alignment, or None.

    Args:
        template: the claim's grey pixels.
        warped: the source seen in the template's coordinates (:func:`warp_to_claim`, OUTSIDE where it does not reach).
        motion: the correction's model.
        criteria: ECC iterations and convergence.
        gaussian_size: ECC's Gaussian pre-filter (pixels, odd).
        min_covered: share of the template ``warped`` must cover to be aligned at all.
        used: template pixels the alignment may look at (default: all that are covered).

    Returns:
        3x3 map from template pixels to ``warped``'s, or None when too little is
        covered or ECC does not converge.
    """
    covered = warped >= 0
    if covered.mean() < min_covered:
        return None
    mask = covered if used is None else covered & used
    start = np.eye(3, dtype=np.float32) if motion == "homography" else np.eye(2, 3, dtype=np.float32)
    try:
        _, matrix = cv2.findTransformECC(template, fill_outside(warped, covered, np.float32), start, _MOTIONS[motion],
                                         criteria, mask.astype(np.uint8), gaussian_size)
    except cv2.error:
        return None  # did not converge
    correction = np.asarray(matrix, dtype=np.float64)
    if correction.shape == (3, 3):
        return correction
    return np.vstack([correction, [0.0, 0.0, 1.0]])
