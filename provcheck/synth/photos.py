"""Still photos: an oblique "press photo" of the terrain and an unrelated landscape photo.

This module owns the corpora's stills that are not frames: :func:`press_photo` (the
procedural terrain seen obliquely, with haze, a skyline and sky) and
:func:`sky_photo` (a plain landscape with nothing aerial in it, a negative).
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import F32, U8, int_points
from .terrain import build_terrain, stylize


def press_photo(rng: np.random.Generator, width: int, height: int) -> U8:
    """Oblique colour "press photo": perspective terrain, hazy horizon, skyline, sky.

    Args:
        rng: Source of randomness.
        width: Output width.
        height: Output height.

    Returns:
        ``(height, width, 3)`` uint8 RGB array.
    """
    s = width / 1024.0
    tex = stylize(build_terrain(rng, int(height * 1.1), int(width * 2.4), 1.2 * s).layers, "color", s)
    hz = int(height * (0.27 + rng.uniform(-0.03, 0.03)))
    th, tw = tex.shape[:2]
    # Ground trapezoid (wide far edge, narrow near edge) -> image below the horizon: far is smaller.
    src = np.array([[0, 0], [tw, 0], [0.7 * tw, th], [0.3 * tw, th]], np.float32)
    dst = np.array([[0, hz], [width, hz], [width, height], [0, height]], np.float32)
    ground = cv2.warpPerspective(tex, cv2.getPerspectiveTransform(src, dst), (width, height),
                                 flags=cv2.INTER_AREA).astype(np.float32)
    yy = np.arange(height, dtype=np.float32)[:, None, None]
    sky = np.array([92, 140, 206], np.float32) + (np.array([222, 226, 228], np.float32)
                                                  - np.array([92, 140, 206], np.float32)) * (yy / max(hz, 1))
    img = np.where(yy < hz, np.broadcast_to(sky, (height, width, 3)), ground)
    haze = np.clip(1 - (yy - hz) / (0.45 * height), 0, 1) ** 2 * 0.75
    img = np.where(yy >= hz, img * (1 - haze) + np.array([214, 214, 212], np.float32) * haze, img)
    _skyline(rng, img, hz, s)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _skyline(rng: np.random.Generator, img: F32, hz: int, s: float) -> None:
    """A distant skyline along the horizon row ``hz``: blocks, domes and minarets."""
    width = img.shape[1]
    x = 0.0
    while x < width:
        bw = rng.uniform(8, 40) * s
        bh = rng.uniform(4, 22) * s
        tone = rng.uniform(150, 185)
        cv2.rectangle(img, (int(x), int(hz - bh)), (int(x + bw), hz + 1), (tone, tone, tone + 4), -1)
        if rng.random() < 0.08:
            cv2.rectangle(img, (int(x + bw / 2), int(hz - bh - 30 * s)), (int(x + bw / 2 + 3 * s), hz),
                          (tone - 10,) * 3, -1)
        if rng.random() < 0.06:
            cv2.circle(img, (int(x + bw / 2), int(hz - bh)), int(bw / 3), (tone - 5,) * 3, -1)
        x += bw + rng.uniform(0, 25) * s


def sky_photo(rng: np.random.Generator, width: int, height: int) -> U8:
    """Plain photo-like landscape (gradient sky, sun, hills, trees); no aerial content.

    Arguments and result as for :func:`press_photo`.
    """
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    top, bot = np.array([40, 90, 170], np.float32), np.array([250, 190, 140], np.float32)
    img = np.ascontiguousarray(np.broadcast_to(top + (bot - top) * yy, (height, width, 3)), np.float32)
    cv2.circle(img, (int(width * rng.uniform(0.2, 0.8)), int(height * 0.45)), int(height * 0.07),
               (255, 236, 190), -1)
    for layer in range(3):
        base = height * (0.55 + 0.12 * layer)
        xs = np.linspace(0, width, 12)
        ys = base + rng.uniform(-0.08, 0.08, 12) * height
        poly = np.concatenate([np.stack([xs, ys], 1), [[width, height], [0, height]]])
        tone = 90 - 28 * layer
        cv2.fillPoly(img, [int_points(poly)], (tone * 0.8, tone, tone * 0.7))
    for _ in range(int(rng.integers(5, 12))):
        x, y = rng.uniform(0, width), height * rng.uniform(0.78, 0.95)
        th = height * rng.uniform(0.08, 0.2)
        tri = np.array([[x, y - th], [x - th * 0.3, y], [x + th * 0.3, y]])
        cv2.fillPoly(img, [int_points(tri)], (20, 40, 22))
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), 1.2), np.float32) + rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
