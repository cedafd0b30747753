"""Shared vocabulary of the synth modules: types, the video spec, the seeded RNG, polygon points.

Nothing here draws.  Every module that fabricates media takes its randomness from
:func:`seeded_rng` (``numpy.random.default_rng([seed, *keys])``) and its polygons from
the point helpers below, so the pixels are a pure function of the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
ImageLike = Image.Image | NDArray[np.uint8]
Style = Literal["color", "thermal"]
Hud = Literal["gunship", "pod"] | None
Look = Literal["fog", "smoke", "blur", "sky"] | None

FULL_FRAME_SIZE: tuple[int, int] = (640, 352)
SMALL_FRAME_SIZE: tuple[int, int] = (320, 176)
DEFAULT_FPS = 25
#: Shadow offset of buildings, trees and vehicles (px at the reference scale).
SUN_OFFSET = (4.0, 3.0)


@dataclass(frozen=True)
class VideoSpec:
    """All parameters that determine a rendered video (see :func:`provcheck.synth.render_video`)."""

    seed: int
    style: Style = "color"
    size: tuple[int, int] = FULL_FRAME_SIZE
    fps: int = DEFAULT_FPS
    duration_s: float = 12.0
    hud: Hud = None
    disclaimer: str | None = None
    scenes: int = 1
    pan: bool = True
    zoom: bool = False
    vehicles: int = 3
    explosions: int = 0
    look: Look = None


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one part of a seeded product (keys name the part)."""
    return np.random.default_rng([seed, *keys])


def int_points(pts: F64) -> NDArray[np.int32]:
    """Points rounded to the ``(n, 1, 2)`` int32 layout OpenCV's polygon functions take."""
    return np.round(pts).astype(np.int32).reshape(-1, 1, 2)


def rect_points(cx: float, cy: float, w: float, h: float, ang: float) -> F64:
    """Corners of a ``w`` x ``h`` rectangle centred on ``(cx, cy)`` and turned by ``ang`` radians."""
    c, s = math.cos(ang), math.sin(ang)
    local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = np.array([[c, -s], [s, c]])
    return np.asarray(local @ rot.T + np.array([cx, cy]), np.float64)


def ellipse_points(cx: float, cy: float, ax: float, ay: float, ang: float = 0.0) -> F64:
    """28 points on an ellipse with semi-axes ``ax``, ``ay`` turned by ``ang`` radians."""
    t = np.linspace(0.0, 2 * math.pi, 28, endpoint=False)
    c, s = math.cos(ang), math.sin(ang)
    x, y = ax * np.cos(t), ay * np.sin(t)
    return np.stack([cx + x * c - y * s, cy + x * s + y * c], 1).astype(np.float64)
