"""Local features: SIFT keypoints with RootSIFT descriptors, stored compactly.

This module owns the second stage's raw material. Frames are detected at a fixed
working size so that indexed frames and claims are comparable; keypoints are
spread over the frame (a quota per grid cell) so that any region a claim might be
cropped from keeps enough of them. Detection runs once at a low contrast threshold
and each cell keeps its own strongest keypoints, so a cell of soft cloud or fog keeps
its best (weak) structure even when the rest of the frame is strongly textured: a
global threshold starved such cells, and crops of them could not be verified. Descriptors are stored as ``uint8`` (SIFT
values already lie in 0..255), 128 bytes a keypoint; positions are in the frame's
own pixel coordinates. BGR conversion for OpenCV happens here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .media import RGBArray

#: Indexed frames are detected with their long side at most this many pixels: keeps
#: SIFT at ~40 ms a frame on one core while a crop of a tenth of a 640 px frame
#: still holds ~100 keypoints.
INDEX_MAX_SIDE = 960
#: Claims are detected at up to this long side (they are often small; SIFT's first
#: octave doubles them anyway).
QUERY_MAX_SIDE = 1024
#: Claims smaller than this (long side, pixels) are enlarged before detection, by at
#: most MAX_UPSCALE: a 240 px thumbnail of a crop gave 68 inliers as is and 209 at 2x.
QUERY_MIN_SIDE = 720
MAX_UPSCALE = 3.0
#: Keypoints kept per indexed video frame, per indexed still and per claim. A still is
#: one frame standing for a whole source, so it can afford more: on the bench, 10 %
#: crops of a still shown as 160 px thumbnails verified with 37-45 inliers against
#: 22-25 at 1000 keypoints (20 make a match).
INDEX_KEYPOINTS = 1000
STILL_KEYPOINTS = 3000
QUERY_KEYPOINTS = 1500
#: Grid used to spread keypoints: each cell gets an equal quota before the
#: strongest remaining keypoints fill what is left.
GRID_CELLS = 6
#: Detector contrast threshold (OpenCV's default is 0.04). The grid quota decides what
#: is kept, so this only sets how weak the structure a smooth cell may keep: 0.0025
#: still finds soft cloud edges, fog and motion blur. A 35 % crop of a sky frame gave
#: 3 inliers on its true frame with a global threshold of 0.04 and 68 with this.
CONTRAST_THRESHOLD = 0.0025

DESCRIPTOR_BYTES = 128


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoints of one frame: positions in frame pixels and their SIFT descriptors."""

    xy: NDArray[np.float32]
    descriptors: NDArray[np.uint8]
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def mirrored(self) -> LocalFeatures:
        """Positions of the same keypoints in the mirrored frame (descriptors are not mirrored)."""
        xy = self.xy.copy()
        xy[:, 0] = (self.width - 1) - xy[:, 0]
        return LocalFeatures(xy, self.descriptors, self.width, self.height)

    def subset(self, keep: NDArray[np.bool_]) -> LocalFeatures:
        return LocalFeatures(self.xy[keep], self.descriptors[keep], self.width, self.height)


def empty_features(width: int, height: int) -> LocalFeatures:
    return LocalFeatures(
        np.zeros((0, 2), dtype=np.float32), np.zeros((0, DESCRIPTOR_BYTES), dtype=np.uint8), width, height
    )


def _grey(pixels: RGBArray, max_side: int, min_side: int) -> tuple[NDArray[np.uint8], float]:
    height, width = pixels.shape[:2]
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    long_side = max(height, width)
    scale = min(1.0, max_side / long_side)
    if long_side < min_side:
        scale = min(MAX_UPSCALE, min_side / long_side)
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return np.asarray(grey, dtype=np.uint8), scale


def _spread(keypoints: list[cv2.KeyPoint], width: int, height: int, wanted: int) -> list[int]:
    """Indices of up to ``wanted`` keypoints: an equal quota per grid cell, then the strongest."""
    if len(keypoints) <= wanted:
        return list(range(len(keypoints)))
    responses = np.array([kp.response for kp in keypoints], dtype=np.float32)
    xs = np.array([kp.pt[0] for kp in keypoints], dtype=np.float32)
    ys = np.array([kp.pt[1] for kp in keypoints], dtype=np.float32)
    cell = (np.minimum(ys * GRID_CELLS / max(height, 1), GRID_CELLS - 1).astype(np.int32) * GRID_CELLS
            + np.minimum(xs * GRID_CELLS / max(width, 1), GRID_CELLS - 1).astype(np.int32))
    order = np.lexsort((-responses, cell))  # by cell, strongest first within a cell
    rank_in_cell = np.empty(len(keypoints), dtype=np.int64)
    sorted_cells = cell[order]
    starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
    rank_in_cell[order] = np.arange(len(keypoints)) - starts
    quota = wanted // (GRID_CELLS * GRID_CELLS)
    chosen = rank_in_cell < quota
    remaining = wanted - int(chosen.sum())
    if remaining > 0:
        rest = np.flatnonzero(~chosen)
        rest = rest[np.argsort(-responses[rest], kind="stable")][:remaining]
        chosen[rest] = True
    return [int(i) for i in np.flatnonzero(chosen)]


def extract(
    pixels: RGBArray, *, max_side: int = INDEX_MAX_SIDE, wanted: int = INDEX_KEYPOINTS, min_side: int = 0
) -> LocalFeatures:
    """Detect SIFT keypoints spread over an RGB frame, lowering the threshold on smooth frames.

    Args:
        pixels: RGB ``uint8`` frame.
        max_side: the frame is shrunk so its long side is at most this before detection.
        min_side: a smaller frame is enlarged towards this long side (claims only).
        wanted: keypoints to keep.

    Returns:
        Positions in the frame's own pixel coordinates and ``uint8`` descriptors.
    """
    height, width = pixels.shape[:2]
    if height < 8 or width < 8:
        return empty_features(width, height)
    grey, scale = _grey(pixels, max_side, min_side)
    detector = cv2.SIFT_create(contrastThreshold=CONTRAST_THRESHOLD)  # type: ignore[attr-defined]
    keypoints = list(detector.detect(grey, None))
    if not keypoints:
        return empty_features(width, height)
    chosen = [keypoints[i] for i in _spread(keypoints, grey.shape[1], grey.shape[0], wanted)]
    chosen, descriptors = detector.compute(grey, chosen)
    if descriptors is None or not chosen:
        return empty_features(width, height)
    xy = np.array([kp.pt for kp in chosen], dtype=np.float32) / np.float32(scale)
    packed = np.clip(np.rint(descriptors), 0, 255).astype(np.uint8)
    return LocalFeatures(xy, packed, width, height)


def rootsift(descriptors: NDArray[np.uint8]) -> NDArray[np.float32]:
    """RootSIFT: L1-normalise, square-root; the dot product of two is their Hellinger kernel."""
    values = descriptors.astype(np.float32)
    values /= np.maximum(values.sum(axis=1, keepdims=True), 1e-6)
    result: NDArray[np.float32] = np.sqrt(values)
    return result


def pack(features: LocalFeatures) -> tuple[bytes, bytes]:
    """Serialise to (positions, descriptors) blobs."""
    return features.xy.astype("<f4").tobytes(), features.descriptors.tobytes()


def unpack(xy_blob: bytes, descriptor_blob: bytes, width: int, height: int) -> LocalFeatures:
    """Inverse of :func:`pack`."""
    xy = np.frombuffer(xy_blob, dtype="<f4").reshape(-1, 2).astype(np.float32)
    descriptors = np.frombuffer(descriptor_blob, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES)
    if xy.shape[0] != descriptors.shape[0]:
        raise ValueError("Stored keypoint positions and descriptors disagree in number.")
    return LocalFeatures(xy, descriptors, width, height)


#: Version of the extractor: bump when detection parameters change what is stored.
#: 2: one low threshold with a per-cell quota (1 lowered a global threshold in steps).
EXTRACTOR_VERSION = 2


def extractor_signature() -> dict[str, object]:
    """What an index records about the local features it stores."""
    return {
        "name": "sift",
        "version": EXTRACTOR_VERSION,
        "max_side": INDEX_MAX_SIDE,
        "keypoints": INDEX_KEYPOINTS,
        "still_keypoints": STILL_KEYPOINTS,
        "descriptor": "uint8x128",
    }


def readable_signature(stored: object) -> bool:
    """Whether an index's recorded extractor stores descriptors this version can match.

    Descriptors of every version so far are the same SIFT values; versions differ in
    which keypoints are kept, so an older index still matches (it finds fewer crops
    of smooth regions until its sources are added again with ``--replace``).
    """
    return (isinstance(stored, dict) and stored.get("name") == "sift"
            and stored.get("descriptor") == "uint8x128")


#: Width of the grey frames on which burned-in overlays are looked for.
_OVERLAY_WIDTH = 320
#: A pixel is part of a burned-in overlay when its standard deviation over the
#: sampled frames is below this share of the frame's median deviation (HUD lines,
#: logos and caption text stay put while the picture under them changes) ...
OVERLAY_RELATIVE_STD = 0.25
#: ... and below this absolute value, in grey levels.
OVERLAY_MAX_STD = 12.0
#: Overlays are only looked for in videos with at least this many sampled frames.
OVERLAY_MIN_FRAMES = 6
#: If more than this share of the frame looks static the camera itself is still
#: (a fixed shot, not an overlay): nothing is flagged.
OVERLAY_MAX_SHARE = 0.3
#: Pixels of dilation (at the overlay width) around static pixels.
OVERLAY_DILATE_PX = 2


def overlay_thumbnail(pixels: RGBArray) -> NDArray[np.uint8]:
    """The small grey frame :class:`OverlayDetector` keeps statistics of (computed where the frame is decoded)."""
    height, width = pixels.shape[:2]
    out_height = max(1, round(height * _OVERLAY_WIDTH / max(width, 1)))
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (_OVERLAY_WIDTH, out_height), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


class OverlayDetector:
    """Finds overlays burned into every frame of a video (HUD, logo) from running pixel statistics.

    Feed it every sampled frame with :meth:`update`; :meth:`flags` then marks the
    keypoints that lie on the overlay. Memory is two small float arrays, whatever
    the video's length.
    """

    def __init__(self) -> None:
        self._count = 0
        self._mean: NDArray[np.float64] | None = None
        self._m2: NDArray[np.float64] | None = None
        self._size: tuple[int, int] | None = None

    def update(self, pixels: RGBArray) -> None:
        height, width = pixels.shape[:2]
        self.add(overlay_thumbnail(pixels), (width, height))

    def add(self, small: NDArray[np.uint8], size: tuple[int, int]) -> None:
        """Feed one frame's :func:`overlay_thumbnail`, ``size`` being the frame's (width, height)."""
        if self._size is None:
            self._size = size
        elif self._size != size:
            return  # a size change mid-stream: keep the statistics of the first size
        values = small.astype(np.float64)
        self._count += 1
        if self._mean is None or self._m2 is None:
            self._mean = values
            self._m2 = np.zeros_like(values)
            return
        delta = values - self._mean
        self._mean = self._mean + delta / self._count
        self._m2 = self._m2 + delta * (values - self._mean)

    def mask(self) -> NDArray[np.bool_] | None:
        """The static-overlay mask at the overlay width, or None when there is none to trust."""
        if self._count < OVERLAY_MIN_FRAMES or self._m2 is None:
            return None
        std = np.sqrt(self._m2 / (self._count - 1))
        limit = min(OVERLAY_MAX_STD, OVERLAY_RELATIVE_STD * float(np.median(std)))
        static = (std < limit).astype(np.uint8)
        if float(static.mean()) > OVERLAY_MAX_SHARE or not static.any():
            return None
        kernel = np.ones((2 * OVERLAY_DILATE_PX + 1, 2 * OVERLAY_DILATE_PX + 1), dtype=np.uint8)
        dilated: NDArray[np.bool_] = cv2.dilate(static, kernel).astype(bool)
        return dilated

    def flags(self, features: LocalFeatures) -> NDArray[np.bool_]:
        """True for each keypoint lying on the overlay."""
        mask = self.mask()
        if mask is None or len(features) == 0 or self._size is None:
            return np.zeros(len(features), dtype=bool)
        scale = _OVERLAY_WIDTH / self._size[0]
        cols = np.clip((features.xy[:, 0] * scale).astype(np.int64), 0, mask.shape[1] - 1)
        rows = np.clip((features.xy[:, 1] * scale).astype(np.int64), 0, mask.shape[0] - 1)
        flagged: NDArray[np.bool_] = mask[rows, cols]
        return flagged
