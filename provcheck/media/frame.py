"""The :class:`Frame` every media reader returns, and the pixel array type the engine passes around.

Stills (:mod:`.still`) and sampled video frames (:mod:`.video`) are both a ``Frame``:
RGB ``uint8`` pixels with where they came from and when.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RGBArray = NDArray[np.uint8]


@dataclass(frozen=True)
class Frame:
    """One picture to fingerprint: RGB ``uint8`` pixels of shape (height, width, 3).

    ``index`` is the frame number in presentation order (0 for a still) and
    ``time_s`` its presentation time in seconds (``None`` for a still).
    """

    pixels: RGBArray
    source: str
    index: int
    time_s: float | None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])
