"""Normalising a claimed photo before it is compared: trim added borders and caption bars.

Propaganda stills are frames with things added around them: a uniform border, an
opaque caption bar with text above or below the picture. Hashes of the padded image
drift away from the source frame's, so the matcher also tries the image with those
additions trimmed (and the mirror image of each). This module only finds the bands;
the matcher decides which variant explains the claim best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .media import RGBArray

#: A line is part of a uniform border when its pixels' spread (max over channels of
#: the standard deviation, grey levels) is below this. JPEG ringing at q=40 measured
#: 2-5 levels on flat synthetic borders; textured content lines measure 20+.
BORDER_LINE_STD = 8.0
#: Colour tolerance (max channel difference, grey levels) for a pixel to count as
#: the caption bar's background colour.
BAR_COLOUR_TOLERANCE = 28.0
#: Share of a line's pixels that must be the bar colour for the line to be part of a
#: caption bar: anti-aliased text, a logo box and JPEG ringing leave at least this.
BAR_LINE_SHARE = 0.3
#: A caption-bar line is "clean" (a margin line) when this share of it is bar colour;
#: 0.8 leaves room for a channel logo box at one end of the bar.
BAR_CLEAN_LINE_SHARE = 0.8
#: Share of a caption bar's lines that must be clean.
BAR_FLAT_LINE_SHARE = 0.25
#: A caption bar is between these shares of the image height.
BAR_MIN_SHARE = 0.03
BAR_MAX_SHARE = 0.4
#: Bands peeled at most this many times (screenshot chrome stacks two or three).
MAX_TRIM_ROUNDS = 3
#: Never trim the claim below this share of its width or height.
MIN_KEPT_SHARE = 0.4


@dataclass(frozen=True)
class Trim:
    """Pixels trimmed from each edge and why, with the kept box in claim pixels."""

    top: int
    bottom: int
    left: int
    right: int
    labels: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.top or self.bottom or self.left or self.right)

    def apply(self, pixels: RGBArray) -> RGBArray:
        height, width = pixels.shape[:2]
        return pixels[self.top : height - self.bottom, self.left : width - self.right]


def _uniform_run(lines: NDArray[np.float32], limit: int) -> int:
    """Number of leading lines (axis 0) that are flat and of one colour with the first."""
    if lines.shape[0] == 0:
        return 0
    first = lines[0].mean(axis=0)
    count = 0
    for line in lines[:limit]:
        if float(line.std(axis=0).max()) > BORDER_LINE_STD:
            break
        if float(np.abs(line.mean(axis=0) - first).max()) > BAR_COLOUR_TOLERANCE:
            break
        count += 1
    return count


def _bar_run(lines: NDArray[np.float32], limit: int) -> int:
    """Number of leading lines forming a caption bar: mostly one colour, with clean margins.

    Every line of the band is at least half the bar colour (text covers the rest),
    and at least a quarter of its lines are almost all bar colour (the margins above
    and below the text, where only a logo box may interrupt the colour).
    """
    if lines.shape[0] == 0:
        return 0
    colour = np.median(lines[0], axis=0)
    window = lines[:limit]
    shares = (np.abs(window - colour).max(axis=2) <= BAR_COLOUR_TOLERANCE).mean(axis=1)
    weak = np.flatnonzero(shares < BAR_LINE_SHARE)
    run = int(weak[0]) if weak.size else int(shares.shape[0])
    clean = np.flatnonzero(shares[:run] >= BAR_CLEAN_LINE_SHARE)
    if clean.size < max(2, run * BAR_FLAT_LINE_SHARE):
        return 0
    # the bar ends at its last clean line: the margin under the text
    return int(clean[-1]) + 1


def find_trim(pixels: RGBArray) -> Trim:
    """Find uniform borders on all sides and caption bars at the top or bottom.

    Bands are peeled repeatedly, because screenshots stack them (a status bar over
    an app header over the picture, a caption under a player's control bar).

    Returns:
        The trim; empty when nothing was found.
    """
    total = Trim(0, 0, 0, 0, ())
    for _ in range(MAX_TRIM_ROUNDS):
        step = _find_trim_once(total.apply(pixels))
        if step.is_empty:
            break
        labels = total.labels + tuple(label for label in step.labels if label not in total.labels)
        total = Trim(total.top + step.top, total.bottom + step.bottom, total.left + step.left,
                     total.right + step.right, labels)
        height, width = pixels.shape[:2]
        if (height - total.top - total.bottom) < height * MIN_KEPT_SHARE or (
            width - total.left - total.right
        ) < width * MIN_KEPT_SHARE:
            return Trim(0, 0, 0, 0, ())
    return total


def _find_trim_once(pixels: RGBArray) -> Trim:
    """One round of :func:`find_trim`."""
    data = pixels.astype(np.float32)
    height, width = data.shape[:2]
    max_rows = int(height * (1 - MIN_KEPT_SHARE) / 2)
    max_cols = int(width * (1 - MIN_KEPT_SHARE) / 2)
    labels: list[str] = []

    left = _uniform_run(data.transpose(1, 0, 2), max_cols)
    right = _uniform_run(data[:, ::-1].transpose(1, 0, 2), max_cols)
    top = _uniform_run(data, max_rows)
    bottom = _uniform_run(data[::-1], max_rows)
    if min(left, right, top, bottom) >= 2 or (left >= 2 and right >= 2):
        labels.append("border")
    inner = data[top : height - bottom, left : width - right]
    inner_height = inner.shape[0]
    bar_limit = int(inner_height * BAR_MAX_SHARE)
    bar_bottom = _bar_run(inner[::-1], bar_limit)
    bar_top = _bar_run(inner, bar_limit)
    minimum = max(3, int(inner_height * BAR_MIN_SHARE))
    if bar_bottom >= minimum:
        bottom += bar_bottom
        labels.append("caption_bottom")
    if bar_top >= minimum:
        top += bar_top
        labels.append("caption_top")
    if (top or bottom or left or right) and not labels:
        labels.append("border")
    return Trim(top=top, bottom=bottom, left=left, right=right, labels=tuple(labels))
