"""Burned-in overlays: the gunship HUD, the targeting-pod reticle and the disclaimer line.

This module owns the static RGBA layer a video blends over every frame.  It depends
only on the frame size and the HUD kind, so every video using the gunship HUD carries
exactly the same pixels there (the decoy the matcher must not fall for).
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image, ImageDraw

from .base import F32, Hud
from .edits import font

_INK = (255, 255, 255, 235)
#: FreeType faces are shared through the font cache; render threads may overlap.
_FONT_LOCK = threading.Lock()


class _Pen:
    """Draws lines and outlined text at sizes authored for a 352 px high frame."""

    def __init__(self, draw: ImageDraw.ImageDraw, w: int, h: int) -> None:
        self.draw, self.w, self.h = draw, w, h
        self.f = h / 352.0
        self.lw = max(1, round(1.6 * self.f))

    def seg(self, x0: float, y0: float, x1: float, y1: float, width: int | None = None,
            fill: tuple[int, int, int, int] = _INK) -> None:
        self.draw.line([(x0, y0), (x1, y1)], fill=fill, width=self.lw if width is None else width)

    def text(self, x: float, y: float, s: str, size: float, anchor: str = "la") -> None:
        self.draw.text((x, y), s, font=font(round(size * self.f)), fill=_INK, anchor=anchor,
                       stroke_width=1, stroke_fill=(0, 0, 0, 200))


def hud_overlay(kind: Hud, disclaimer: str | None, w: int, h: int) -> tuple[F32, F32]:
    """Static overlay (identical for every video of a given size): RGB and alpha in [0, 1]."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    dr = ImageDraw.Draw(img)
    with _FONT_LOCK:
        if kind == "gunship":
            _gunship(_Pen(dr, w, h))
        elif kind == "pod":
            _pod(_Pen(dr, w, h))
        elif kind is not None:
            raise ValueError(f"unknown hud {kind!r}")
        if disclaimer:
            band = 0.075 * h
            dr.rectangle([0, h - band, w, h], fill=(0, 0, 0, 150))
            dr.text((w / 2, h - band / 2), disclaimer, font=font(round(0.042 * h)), fill=(255, 255, 255, 245),
                    anchor="mm")
    arr = np.asarray(img, np.float32)
    return arr[..., :3], arr[..., 3] / 255.0


def _gunship(pen: _Pen) -> None:
    """Crosshair, corner brackets, weapon list, flight data, range ladder and elevation scale."""
    dr, w, h, f, lw = pen.draw, pen.w, pen.h, pen.f, pen.lw
    cx, cy = w / 2, h / 2
    gap, arm = 0.035 * h, 0.17 * h
    for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        pen.seg(cx + sx * gap, cy + sy * gap, cx + sx * arm, cy + sy * arm, lw + 1)
    dr.rectangle([cx - 2 * f, cy - 2 * f, cx + 2 * f, cy + 2 * f], fill=_INK)
    for bx, by, a in ((0.3, 0.27, 0.05), (0.7, 0.27, 0.05), (0.3, 0.73, 0.05), (0.7, 0.73, 0.05),
                      (0.03, 0.05, 0.07), (0.97, 0.05, 0.07), (0.03, 0.95, 0.07), (0.97, 0.95, 0.07)):
        x, y, sx, sy = bx * w, by * h, (1 if bx < 0.5 else -1), (1 if by < 0.5 else -1)
        pen.seg(x, y, x + sx * a * h, y)
        pen.seg(x, y, x, y + sy * a * h)
    for k, lab in enumerate(("25MM", "40MM", "105MM")):
        pen.text(0.06 * w, 0.08 * h + k * 17 * f, lab, 13)
    dr.rectangle([0.06 * w - 3 * f, 0.08 * h - 2 * f, 0.06 * w + 40 * f, 0.08 * h + 15 * f],
                 outline=_INK, width=lw)
    for k, lab in enumerate(("ALT 11200", "HDG 274", "GS 145KT")):
        pen.text(0.94 * w, 0.08 * h + k * 17 * f, lab, 13, "ra")
    for k, lab in enumerate(("WHOT", "N FOV", "LRF ARM")):
        pen.text(0.06 * w, 0.72 * h + k * 16 * f, lab, 12)
    for k, lab in enumerate(("RNG 3.2 NM", "AZ 092  EL -34")):
        pen.text(0.94 * w, 0.78 * h + k * 16 * f, lab, 12, "ra")
    lx = 0.885 * w
    pen.seg(lx, 0.28 * h, lx, 0.68 * h)
    for k in range(9):
        y = 0.28 * h + k * 0.05 * h
        pen.seg(lx, y, lx - (10 if k % 2 == 0 else 5) * f, y)
        if k % 2 == 0:
            pen.text(lx + 4 * f, y, str(k + 2), 10, "lm")
    dr.polygon([(lx - 14 * f, 0.43 * h), (lx - 22 * f, 0.43 * h - 5 * f),
                (lx - 22 * f, 0.43 * h + 5 * f)], fill=_INK)
    ex = 0.115 * w
    pen.seg(ex, 0.36 * h, ex, 0.64 * h)
    for k in range(8):
        pen.seg(ex, 0.36 * h + k * 0.04 * h, ex + 6 * f, 0.36 * h + k * 0.04 * h)


def _pod(pen: _Pen) -> None:
    """A thin grey reticle with a centre box and three lines of status text."""
    w, h = pen.w, pen.h
    cx, cy = w / 2, h / 2
    grey = (215, 215, 215, 200)
    gap = 0.06 * h
    pen.seg(0, cy, cx - gap, cy, 1, grey)
    pen.seg(cx + gap, cy, w, cy, 1, grey)
    pen.seg(cx, 0, cx, cy - gap, 1, grey)
    pen.seg(cx, cy + gap, cx, h, 1, grey)
    r = 0.025 * h
    pen.draw.rectangle([cx - r, cy - r, cx + r, cy + r], outline=grey, width=1)
    pen.text(0.03 * w, 0.04 * h, "TGT TRK   IR", 11)
    pen.text(0.97 * w, 0.04 * h, "2.0X", 11, "ra")
    pen.text(0.03 * w, 0.93 * h, "33.3521N 043.7712E", 10)
