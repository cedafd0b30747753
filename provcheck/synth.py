"""Deterministic synthetic corpus for provcheck demos, tests and benchmarks.

This module owns everything that *fabricates* media: procedural aerial
terrain (colour or white-hot thermal), H.264 "drone/gunship" videos rendered
from it with PyAV, still images, the edit operations used to derive "claimed
photos" from frame grabs (crop, caption bar, logo, JPEG, screenshot, ...) and
:func:`build_demo_corpus`, which replays the 2017 case in which a defence
ministry published a screenshot of a gunship *simulator* trailer and edited
frames of 2016 Fallujah airstrike videos as "drone evidence".

Everything is a pure function of an integer seed: randomness only comes from
``numpy.random.default_rng([seed, ...])``, video encoding is single-threaded
x264, and no clock, global RNG or system font is used.  No real footage is
shipped; the generated corpus is the fixture.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
ImageLike = Image.Image | NDArray[np.uint8]
Style = Literal["color", "thermal"]
Hud = Literal["gunship", "pod"] | None
Look = Literal["fog", "smoke", "blur", "sky"] | None
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

FULL_FRAME_SIZE: tuple[int, int] = (640, 352)
SMALL_FRAME_SIZE: tuple[int, int] = (320, 176)
DEFAULT_FPS = 25
X264_CRF = 22  # with mb-tree off (see X264_PARAMS) this is about the size of crf 20 with it on
X264_PRESET = "veryfast"
# Single-threaded and tuned for speed (the corpus must build in seconds).  mbtree=0 is needed
# for reproducibility: with mb-tree on, this x264 build gave run-to-run different bitstreams
# for small frames (320x176, 352x192, ...) even single-threaded; 640x352 was stable either way.
X264_PARAMS = "threads=1:lookahead-threads=1:me=dia:subme=1:ref=1:rc-lookahead=5:mbtree=0"
GOP_SIZE = 50
HEAVY_CROP_AREA = 0.5  # crops keeping less than this fraction of the frame are "heavy"
SOURCE_JPEG_QUALITY = 92
DISCLAIMER_SIM = "DEVELOPMENT FOOTAGE - NOT REPRESENTATIVE OF FINAL GAME"
MANIFEST_NAME = "manifest.json"
_REF_WIDTH = 640.0  # feature sizes are authored for this frame width
_SUN_OFFSET = (4.0, 3.0)  # shadow offset (px at reference scale)
_THERMAL_NOISE_BANK = 7
_WHITE: tuple[float, float, float] = (255.0, 255.0, 255.0)
#: Low-texture looks :func:`render_video` can give a clip (``look=``); see :class:`_LookLayer`.
LOOKS: tuple[str, ...] = ("fog", "smoke", "blur", "sky")
_FONT_LOCK = threading.Lock()


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class SynthSource:
    """A generated source (video or still) that the indexer should know."""

    path: Path
    kind: str
    title: str
    url: str
    published: str
    notes: str


@dataclass(frozen=True)
class SynthClaim:
    """A generated "claimed photo" with its ground truth."""

    path: Path
    source_path: Path | None
    time_s: float | None
    edits: tuple[str, ...]
    crop: tuple[float, float, float, float] | None
    mirrored: bool
    heavy_crop: bool
    description: str


@dataclass(frozen=True)
class DemoCorpus:
    """Sources + claims written under ``root`` (see ``manifest.json``)."""

    root: Path
    sources: tuple[SynthSource, ...]
    claims: tuple[SynthClaim, ...]


@dataclass(frozen=True)
class VideoSpec:
    """All parameters that determine a rendered video (see :func:`render_video`)."""

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


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


@lru_cache(maxsize=64)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=max(6, int(size)))


def _to_pil(img: ImageLike) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    return Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).convert("RGB")


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Font) -> tuple[int, int]:
    box = draw.textbbox((0, 0), text, font=font)
    return int(box[2] - box[0]), int(box[3] - box[1])


def _fractal_noise(rng: np.random.Generator, h: int, w: int, cell: int, octaves: int,
                   persistence: float = 0.55) -> F32:
    """Sum of bicubically upsampled random grids, normalised to [0, 1]."""
    acc = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        grid = rng.random((max(2, h // cell + 2), max(2, w // cell + 2)), dtype=np.float32)
        acc += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
        cell = max(2, cell // 2)
    acc /= total
    lo, hi = float(acc.min()), float(acc.max())
    return ((acc - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def _walk(rng: np.random.Generator, start: F64, heading: float, step: float, n: int,
          turn: float) -> F64:
    pts = [start]
    for _ in range(n):
        heading += float(rng.normal(0.0, turn))
        pts.append(pts[-1] + step * np.array([math.cos(heading), math.sin(heading)]))
    return np.array(pts, np.float64)


def _ipts(pts: F64) -> NDArray[np.int32]:
    return np.round(pts).astype(np.int32).reshape(-1, 1, 2)


def _rect_pts(cx: float, cy: float, w: float, h: float, ang: float) -> F64:
    c, s = math.cos(ang), math.sin(ang)
    local = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = np.array([[c, -s], [s, c]])
    return np.asarray(local @ rot.T + np.array([cx, cy]), np.float64)


def _ellipse_pts(cx: float, cy: float, ax: float, ay: float, ang: float = 0.0) -> F64:
    t = np.linspace(0.0, 2 * math.pi, 28, endpoint=False)
    c, s = math.cos(ang), math.sin(ang)
    x, y = ax * np.cos(t), ay * np.sin(t)
    return np.stack([cx + x * c - y * s, cy + x * s + y * c], 1).astype(np.float64)


# --------------------------------------------------------------------------- terrain


@dataclass
class _Terrain:
    layers: F32  # H x W x 4: R, G, B and thermal intensity (white = hot)
    roads: list[F64]  # polylines in pixel coordinates; index 0 is the main road


_FIELD_COLORS = np.array([  # R, G, B, thermal
    [96, 128, 62, 78], [122, 146, 72, 92], [146, 134, 86, 150], [188, 168, 114, 172],
    [112, 96, 70, 138], [80, 106, 58, 70], [160, 150, 104, 160]], np.float32)
_ROOF_COLORS = [(206, 198, 184, 222), (172, 160, 146, 205), (226, 220, 210, 238),
                (152, 122, 100, 214), (190, 186, 178, 228)]


def _build_terrain(rng: np.random.Generator, h: int, w: int, scale: float,
                   main_path: tuple[F64, F64] | None = None) -> _Terrain:
    """Paint fields, canal, roads, towns and trees into a 4-layer float canvas."""
    s = max(scale, 0.25)
    low = _fractal_noise(rng, h, w, max(8, int(256 * s)), 4)
    layers = np.empty((h, w, 4), np.float32)
    layers[..., :3] = np.array([170, 148, 112], np.float32) + (low[..., None] - 0.5) * 44
    layers[..., 3] = 126 + (low - 0.5) * 60

    # Farm plots: a jittered grid of quads, each with its own colour and row stripes.
    cell = rng.uniform(70, 120) * s
    nx, ny = int(w / cell) + 3, int(h / cell) + 3
    gx, gy = np.meshgrid(np.arange(nx) - 1.0, np.arange(ny) - 1.0)
    grid = np.stack([gx, gy], -1) * cell + rng.uniform(-0.3, 0.3, (ny, nx, 2)) * cell
    labels = np.zeros((h, w), np.int32)
    n_plots = (nx - 1) * (ny - 1)
    for k in range(n_plots):
        j, i = divmod(k, nx - 1)
        if rng.random() < 0.85:
            quad = np.array([grid[j, i], grid[j, i + 1], grid[j + 1, i + 1], grid[j + 1, i]])
            cv2.fillPoly(labels, [_ipts(quad)], k + 1)
    col = _FIELD_COLORS[rng.integers(0, len(_FIELD_COLORS), n_plots + 1)]
    col = col + rng.uniform(-14, 14, col.shape).astype(np.float32)
    theta = rng.uniform(0, math.pi, n_plots + 1)
    freq = 2 * math.pi / (rng.uniform(4, 9, n_plots + 1) * s)
    amp = rng.choice([0.0, 0.06, 0.1, 0.16], n_plots + 1)
    mask = labels > 0
    ys, xs = np.nonzero(mask)
    lab = labels[mask]
    stripe = 1 + amp[lab] * np.sin((xs * np.cos(theta[lab]) + ys * np.sin(theta[lab])) * freq[lab])
    layers[mask] = col[lab] * stripe[:, None].astype(np.float32)
    # Orchards: lattice of tree crowns inside some plots.
    ditch = (92.0, 104.0, 62.0, 96.0)
    for kk in np.flatnonzero(rng.random(n_plots) < 0.12):
        k = int(kk)
        j, i = divmod(k, nx - 1)
        x0, y0 = grid[j, i]
        step = rng.uniform(7, 11) * s
        for yy in np.arange(y0, y0 + cell, step):
            for xx in np.arange(x0, x0 + cell, step):
                if 0 <= int(yy) < h and 0 <= int(xx) < w and labels[int(yy), int(xx)] == k + 1:
                    cv2.circle(layers, (int(xx), int(yy)), max(1, int(2.6 * s)), (58, 82, 44, 84), -1)
    # Field edges (ditches / hedgerows).
    thick = max(1, round(2 * s))
    for j in range(ny):
        cv2.polylines(layers, [_ipts(grid[j])], False, ditch, thick)
    for i in range(nx):
        cv2.polylines(layers, [_ipts(grid[:, i])], False, ditch, thick)

    diag = math.hypot(w, h)
    # Canal with tree-lined banks.
    tree_lines: list[F64] = []
    if rng.random() < 0.75:
        canal = _walk(rng, np.array([rng.uniform(0, w), -20.0]), math.pi / 2 + rng.normal(0, 0.4),
                      30 * s, int(diag / (30 * s)) + 4, 0.12)
        cw = int(rng.uniform(12, 24) * s)
        cv2.polylines(layers, [_ipts(canal)], False, (120, 128, 90, 90), cw + int(8 * s))
        cv2.polylines(layers, [_ipts(canal)], False, (58, 82, 88, 34), cw)
        tree_lines.append(canal)
    # Secondary dirt roads, then the main road along the camera path.
    roads: list[F64] = []
    for _ in range(int(rng.integers(3, 7))):
        start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        road = _walk(rng, start, rng.uniform(0, 2 * math.pi), 25 * s, int(diag / (25 * s)), 0.08)
        cv2.polylines(layers, [_ipts(road)], False, (178, 162, 128, 162), max(2, int(5 * s)))
        roads.append(road)
    if main_path is None:
        main_path = (np.array([w * 0.2, h * 0.5]), np.array([w * 0.8, h * 0.5]))
    p0, p1 = main_path
    d = (p1 - p0) / max(float(np.linalg.norm(p1 - p0)), 1e-6)
    perp = np.array([-d[1], d[0]])
    u = np.arange(-diag, diag, 12 * s)
    wig = rng.uniform(0.02, 0.06) * h * np.sin(u / (rng.uniform(180, 400) * s) + rng.uniform(0, 6.3))
    main = (p0[None, :] + u[:, None] * d[None, :] + wig[:, None] * perp[None, :]).astype(np.float64)
    inside = (main[:, 0] > -50) & (main[:, 0] < w + 50) & (main[:, 1] > -50) & (main[:, 1] < h + 50)
    main = main[inside]

    # Towns: concrete base, shadowed buildings with roof details and compound walls.
    n_towns = int(rng.integers(1, 4))
    for t_i in range(n_towns):
        if t_i == 0:
            centre = main[len(main) // 2] + perp * rng.uniform(-0.25, 0.25) * h
        else:
            centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        radius = rng.uniform(110, 240) * s
        ang = rng.uniform(-0.5, 0.5)
        ring = np.linspace(0, 2 * math.pi, 20, endpoint=False)
        rr = radius * rng.uniform(0.85, 1.12, 20)
        base = np.stack([centre[0] + rr * np.cos(ring), centre[1] + rr * np.sin(ring)], 1)
        cv2.fillPoly(layers, [_ipts(base)], (178, 170, 154, 150))
        g = 32 * s
        n = int(radius / g) + 1
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        for bj in range(-n, n + 1):
            for bi in range(-n, n + 1):
                off = rot @ (np.array([bi, bj]) * g + rng.uniform(-3, 3, 2) * s)
                if np.linalg.norm(off) > radius * 0.92 or rng.random() > 0.8:
                    continue
                cx, cy = centre + off
                bw, bh = rng.uniform(11, 26) * s, rng.uniform(10, 24) * s
                roof = _ROOF_COLORS[int(rng.integers(0, len(_ROOF_COLORS)))]
                rect = _rect_pts(cx, cy, bw, bh, ang)
                if rng.random() < 0.3:
                    wall = _rect_pts(cx, cy, bw + 9 * s, bh + 9 * s, ang)
                    cv2.polylines(layers, [_ipts(wall)], True, (120, 112, 100, 190), max(1, int(1.5 * s)))
                cv2.fillPoly(layers, [_ipts(rect + np.array(_SUN_OFFSET) * s)], (56, 52, 48, 96))
                cv2.fillPoly(layers, [_ipts(rect)], roof)
                if rng.random() < 0.45:
                    det = _rect_pts(cx + rng.uniform(-0.25, 0.25) * bw, cy + rng.uniform(-0.25, 0.25) * bh,
                                    bw * 0.28, bh * 0.28, ang)
                    cv2.fillPoly(layers, [_ipts(det)], (70, 72, 76, 250))
    # Main road drawn over towns: shoulders, asphalt, dashed centre line.
    rw = max(4, int(rng.uniform(10, 14) * s))
    cv2.polylines(layers, [_ipts(main)], False, (160, 150, 126, 150), rw + max(2, int(5 * s)))
    cv2.polylines(layers, [_ipts(main)], False, (80, 80, 82, 166), rw)
    for k in range(0, len(main) - 1, 2):
        cv2.line(layers, tuple(int(v) for v in main[k]), tuple(int(v) for v in main[k + 1]),
                 (214, 212, 200, 176), max(1, int(1.2 * s)))
    roads.insert(0, main)

    # Trees: clusters plus rows along the canal.
    centres = [np.array([rng.uniform(0, w), rng.uniform(0, h)])
               for _ in range(int(w * h / (220 * 220 * s * s)) + 2)]
    for line in tree_lines:
        centres += [p + rng.normal(0, 12 * s, 2) for p in line[:: max(1, len(line) // 25)]]
    for c in centres:
        for _ in range(int(rng.integers(6, 24))):
            p = c + rng.normal(0, 22 * s, 2)
            r = rng.uniform(2.5, 6.5) * s
            sh = p + np.array(_SUN_OFFSET) * s * 0.6
            cv2.circle(layers, (int(sh[0]), int(sh[1])), max(1, int(r)), (40, 44, 34, 92), -1)
            g_ = rng.uniform(62, 96)
            cv2.circle(layers, (int(p[0]), int(p[1])), max(1, int(r)),
                       (g_ * 0.66, g_, g_ * 0.5, rng.uniform(80, 100)), -1)

    # Fine texture and grain so feature detectors find plenty of corners.
    fine = _fractal_noise(rng, h, w, max(4, int(24 * s)), 3)
    grain = rng.normal(0, 1, (h, w)).astype(np.float32)
    layers *= (0.8 + 0.4 * fine)[..., None]
    layers[..., :3] += grain[..., None] * 5
    layers[..., 3] += grain * 7
    return _Terrain(np.clip(layers, 0, 255), roads)


def _stylize(layers: F32, style: Style, scale: float) -> U8:
    """Turn the 4-layer canvas into colour or white-hot thermal RGB."""
    if style == "color":
        rgb = cv2.GaussianBlur(layers[..., :3], (0, 0), 0.55)
        rgb = rgb * 0.93 + np.array([200, 200, 206], np.float32) * 0.07  # haze
        return np.clip(rgb, 0, 255).astype(np.uint8)
    if style != "thermal":
        raise ValueError(f"unknown style {style!r}")
    t = cv2.GaussianBlur(layers[..., 3], (0, 0), 0.7 * max(scale, 0.5))
    t = t + cv2.GaussianBlur(np.maximum(t - 180, 0), (0, 0), 5 * max(scale, 0.4)) * 0.9
    lo, hi = np.percentile(t, [1.0, 99.6])
    t8 = np.clip((t - lo) / max(hi - lo, 1e-3) * 232 + 10, 0, 255).astype(np.uint8)
    return np.repeat(t8[..., None], 3, axis=2)


def terrain_texture(rng: np.random.Generator, height: int, width: int, style: Style,
                    scale: float = 1.0) -> U8:
    """Generate a large aerial landscape texture.

    Args:
        rng: Source of randomness (the only one used).
        height: Output height in pixels.
        width: Output width in pixels.
        style: ``"color"`` (natural colours) or ``"thermal"`` (white-hot grayscale
            with blur, bloom on hot surfaces and sensor noise).
        scale: Feature size multiplier (1.0 = authored for 640 px wide frames).

    Returns:
        ``(height, width, 3)`` uint8 RGB array with fields, roads, a canal,
        buildings and trees.
    """
    return _stylize(_build_terrain(rng, height, width, scale).layers, style, scale)


# --------------------------------------------------------------------------- overlays


def _hud_overlay(kind: Hud, disclaimer: str | None, w: int, h: int) -> tuple[F32, F32]:
    """Static RGBA overlay (identical for every video of a given size)."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    dr = ImageDraw.Draw(img)
    f = h / 352.0
    lw = max(1, round(1.6 * f))
    cx, cy = w / 2, h / 2
    ink = (255, 255, 255, 235)

    def seg(x0: float, y0: float, x1: float, y1: float, width: int = lw,
            fill: tuple[int, int, int, int] = ink) -> None:
        dr.line([(x0, y0), (x1, y1)], fill=fill, width=width)

    def text(x: float, y: float, s: str, size: float, anchor: str = "la") -> None:
        dr.text((x, y), s, font=_font(round(size * f)), fill=ink, anchor=anchor,
                stroke_width=1, stroke_fill=(0, 0, 0, 200))

    if kind == "gunship":
        gap, arm = 0.035 * h, 0.17 * h
        for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            seg(cx + sx * gap, cy + sy * gap, cx + sx * arm, cy + sy * arm, lw + 1)
        dr.rectangle([cx - 2 * f, cy - 2 * f, cx + 2 * f, cy + 2 * f], fill=ink)
        for bx, by, a in ((0.3, 0.27, 0.05), (0.7, 0.27, 0.05), (0.3, 0.73, 0.05), (0.7, 0.73, 0.05),
                          (0.03, 0.05, 0.07), (0.97, 0.05, 0.07), (0.03, 0.95, 0.07), (0.97, 0.95, 0.07)):
            x, y, sx, sy = bx * w, by * h, (1 if bx < 0.5 else -1), (1 if by < 0.5 else -1)
            seg(x, y, x + sx * a * h, y)
            seg(x, y, x, y + sy * a * h)
        for k, lab in enumerate(("25MM", "40MM", "105MM")):
            text(0.06 * w, 0.08 * h + k * 17 * f, lab, 13)
        dr.rectangle([0.06 * w - 3 * f, 0.08 * h - 2 * f, 0.06 * w + 40 * f, 0.08 * h + 15 * f],
                     outline=ink, width=lw)
        for k, lab in enumerate(("ALT 11200", "HDG 274", "GS 145KT")):
            text(0.94 * w, 0.08 * h + k * 17 * f, lab, 13, "ra")
        for k, lab in enumerate(("WHOT", "N FOV", "LRF ARM")):
            text(0.06 * w, 0.72 * h + k * 16 * f, lab, 12)
        for k, lab in enumerate(("RNG 3.2 NM", "AZ 092  EL -34")):
            text(0.94 * w, 0.78 * h + k * 16 * f, lab, 12, "ra")
        lx = 0.885 * w
        seg(lx, 0.28 * h, lx, 0.68 * h)
        for k in range(9):
            y = 0.28 * h + k * 0.05 * h
            seg(lx, y, lx - (10 if k % 2 == 0 else 5) * f, y)
            if k % 2 == 0:
                text(lx + 4 * f, y, str(k + 2), 10, "lm")
        dr.polygon([(lx - 14 * f, 0.43 * h), (lx - 22 * f, 0.43 * h - 5 * f),
                    (lx - 22 * f, 0.43 * h + 5 * f)], fill=ink)
        ex = 0.115 * w
        seg(ex, 0.36 * h, ex, 0.64 * h)
        for k in range(8):
            seg(ex, 0.36 * h + k * 0.04 * h, ex + 6 * f, 0.36 * h + k * 0.04 * h)
    elif kind == "pod":
        grey = (215, 215, 215, 200)
        gap = 0.06 * h
        seg(0, cy, cx - gap, cy, 1, grey)
        seg(cx + gap, cy, w, cy, 1, grey)
        seg(cx, 0, cx, cy - gap, 1, grey)
        seg(cx, cy + gap, cx, h, 1, grey)
        r = 0.025 * h
        dr.rectangle([cx - r, cy - r, cx + r, cy + r], outline=grey, width=1)
        text(0.03 * w, 0.04 * h, "TGT TRK   IR", 11)
        text(0.97 * w, 0.04 * h, "2.0X", 11, "ra")
        text(0.03 * w, 0.93 * h, "33.3521N 043.7712E", 10)
    elif kind is not None:
        raise ValueError(f"unknown hud {kind!r}")
    if disclaimer:
        band = 0.075 * h
        dr.rectangle([0, h - band, w, h], fill=(0, 0, 0, 150))
        font = _font(round(0.042 * h))
        dr.text((cx, h - band / 2), disclaimer, font=font, fill=(255, 255, 255, 245), anchor="mm")
    arr = np.asarray(img, np.float32)
    return arr[..., :3], arr[..., 3] / 255.0


# --------------------------------------------------------------------------- video rendering


@dataclass
class _Vehicle:
    road: F64
    cum: F64
    s0: float
    speed: float
    body: tuple[float, float, float]
    length: float
    stop_t: float = float("inf")


@dataclass
class _Explosion:
    t: float
    pos: F64
    radius: float


@dataclass
class _Scene:
    texture: U8
    start: F64
    velocity: F64
    frames: int
    first: int
    wobble: float
    vehicles: list[_Vehicle]
    explosions: list[_Explosion]


def _road_point(v: _Vehicle, t: float) -> tuple[F64, float]:
    s = v.s0 + v.speed * min(t, v.stop_t)
    x = float(np.interp(s, v.cum, v.road[:, 0]))
    y = float(np.interp(s, v.cum, v.road[:, 1]))
    x2 = float(np.interp(s + 2, v.cum, v.road[:, 0]))
    y2 = float(np.interp(s + 2, v.cum, v.road[:, 1]))
    return np.array([x, y]), math.atan2(y2 - y, x2 - x)


def _blend_poly(frame: U8, pts: F64, color: tuple[float, float, float], alpha: float,
                blur: float = 0.0) -> None:
    """Alpha-blend an anti-aliased polygon (sub-pixel accurate) into ``frame`` in place."""
    pad = 2 + int(3 * blur)
    x0, y0 = np.floor(pts.min(0)).astype(int) - pad
    x1, y1 = np.ceil(pts.max(0)).astype(int) + pad
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), fw), min(int(y1), fh)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((pts - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    a = mask.astype(np.float32) * (alpha / 255.0)
    if blur > 0:
        a = np.asarray(cv2.GaussianBlur(a, (0, 0), blur), np.float32)
    reg = frame[y0:y1, x0:x1].astype(np.float32)
    reg += (np.array(color, np.float32) - reg) * a[..., None]
    frame[y0:y1, x0:x1] = np.clip(reg, 0, 255).astype(np.uint8)


def _glow(frame: U8, centre: F64, radius: float, color: tuple[float, float, float],
          strength: float) -> None:
    """Blend a Gaussian blob of ``color`` into ``frame`` (explosions, smoke)."""
    if strength <= 0.01 or radius < 0.5:
        return
    fh, fw = frame.shape[:2]
    r3 = int(3 * radius) + 1
    x0, y0 = max(int(centre[0]) - r3, 0), max(int(centre[1]) - r3, 0)
    x1, y1 = min(int(centre[0]) + r3, fw), min(int(centre[1]) + r3, fh)
    if x1 <= x0 or y1 <= y0:
        return
    k = -0.5 / (radius * radius)
    gx = np.exp(k * (np.arange(x0, x1, dtype=np.float32) - centre[0]) ** 2)
    gy = np.exp(k * (np.arange(y0, y1, dtype=np.float32) - centre[1]) ** 2)
    a = np.minimum(np.outer(gy, gx) * strength, 1.0)[..., None]
    reg = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(reg + (np.array(color, np.float32) - reg) * a, 0, 255).astype(np.uint8)


class _LookLayer:
    """Post-processing that takes texture away from a rendered frame (applied before noise and HUD).

    ``fog``: a drifting, uneven veil over the whole frame (50-90 % opacity).
    ``smoke``: dense drifting plumes hiding parts of the frame completely.
    ``blur``: motion blur along the camera's pan direction.
    ``sky``: the camera looks at the horizon: the top ~70 % is sky with soft clouds, the
    rendered ground is squeezed into the band below.
    """

    def __init__(self, spec: VideoSpec, scale: float) -> None:
        if spec.look not in LOOKS:
            raise ValueError(f"unknown look {spec.look!r}")
        self.look = spec.look
        self.thermal = spec.style == "thermal"
        w, h = spec.size
        self.size = (w, h)
        rng = _rng(spec.seed, 5)
        speed = {"fog": (5.0, 12.0), "smoke": (18.0, 32.0), "sky": (4.0, 9.0), "blur": (0.0, 0.0)}[spec.look]
        self.drift = np.array([rng.uniform(*speed) * (1 if rng.random() < 0.5 else -1),
                               -rng.uniform(0.2, 0.5) * speed[1]]) * scale  # field pixels per second
        pad_w = int(w + abs(self.drift[0]) * spec.duration_s) + 8
        pad_h = int(h + abs(self.drift[1]) * spec.duration_s) + 8
        cell = {"fog": 220, "smoke": 110, "sky": 170, "blur": 64}[spec.look]
        self.field = _fractal_noise(rng, pad_h, pad_w, max(8, int(cell * scale)), 4 if spec.look != "fog" else 3)
        self.horizon = rng.uniform(0.66, 0.76)
        self.blur_px = rng.uniform(14.0, 22.0) * scale
        self._kernels: dict[float, F32] = {}

    def _window(self, t: float) -> F32:
        w, h = self.size
        fh, fw = self.field.shape
        x0 = 4 if self.drift[0] >= 0 else fw - w - 4
        y0 = 4 if self.drift[1] >= 0 else fh - h - 4
        x = int(np.clip(round(x0 + self.drift[0] * t), 0, fw - w))
        y = int(np.clip(round(y0 + self.drift[1] * t), 0, fh - h))
        return self.field[y:y + h, x:x + w]

    def _kernel(self, angle: float) -> F32:
        key = round(angle, 3)
        if key not in self._kernels:
            n = max(3, int(self.blur_px) | 1)
            k = np.zeros((n, n), np.float32)
            c, d = (n - 1) / 2, (n - 1) / 2
            dx, dy = math.cos(angle) * d, math.sin(angle) * d
            cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
            self._kernels[key] = k / max(float(k.sum()), 1e-6)
        return self._kernels[key]

    def apply(self, frame: U8, t: float, velocity: F64) -> U8:
        img = frame.astype(np.float32)
        if self.look == "blur":
            angle = math.atan2(float(velocity[1]), float(velocity[0])) if float(np.hypot(*velocity)) > 0 else 0.3
            img = np.asarray(cv2.filter2D(img, -1, self._kernel(angle), borderType=cv2.BORDER_REFLECT), np.float32)
        elif self.look == "fog":
            d = (0.5 + 0.4 * self._window(t))[..., None]
            veil = np.array((140.0,) * 3 if self.thermal else (204.0, 207.0, 212.0), np.float32)
            img = np.asarray(cv2.GaussianBlur(img * (1 - d) + veil * d, (0, 0), 0.8), np.float32)
        elif self.look == "smoke":
            field = self._window(t)
            d = np.clip((field - 0.3) * 2.4, 0.0, 0.96)[..., None]
            base = 176.0 if self.thermal else 90.0
            tone = (base + (field - 0.5) * 50.0)[..., None] * (np.ones(3, np.float32) if self.thermal
                                                                 else np.array([1.0, 0.97, 0.93], np.float32))
            img = img * (1 - d) + tone * d
        else:  # sky
            w, h = self.size
            hz = int(h * self.horizon)
            ground = cv2.resize(img, (w, h - hz), interpolation=cv2.INTER_AREA)
            yy = np.linspace(0.0, 1.0, hz, dtype=np.float32)[:, None, None]
            top, low = ((np.array([40.0] * 3), np.array([96.0] * 3)) if self.thermal else
                        (np.array([86.0, 130.0, 196.0]), np.array([214.0, 220.0, 228.0])))
            sky = np.broadcast_to(top + (low - top) * yy, (hz, w, 3)).astype(np.float32)
            cloud = np.clip((self._window(t)[:hz] - 0.45) * 1.8, 0.0, 0.7)[..., None]
            white = np.array([120.0] * 3 if self.thermal else [240.0, 240.0, 242.0], np.float32)
            sky = sky * (1 - cloud) + white * cloud
            haze = np.clip(1.0 - np.arange(h - hz, dtype=np.float32) / max(1.0, 0.35 * (h - hz)), 0, 1)
            haze = (haze ** 2 * 0.7)[:, None, None]
            ground = ground * (1 - haze) + low.astype(np.float32) * haze
            img = np.concatenate([sky, ground], axis=0)
        return np.clip(img, 0, 255).astype(np.uint8)


class _VideoRenderer:
    """Pre-computes terrain, trajectories and overlays; renders frame ``i`` on demand."""

    def __init__(self, spec: VideoSpec) -> None:
        w, h = spec.size
        if w % 16 or h % 16:
            raise ValueError(f"frame size {spec.size} must be multiples of 16")
        if spec.scenes < 1 or spec.fps < 1 or spec.duration_s <= 0:
            raise ValueError("scenes, fps and duration_s must be positive")
        self.spec = spec
        self.scale = w / _REF_WIDTH
        self.n_frames = max(1, round(spec.duration_s * spec.fps))
        bounds = [round(self.n_frames * k / spec.scenes) for k in range(spec.scenes + 1)]
        self.cut_frames = bounds[1:-1]
        self.scenes = [self._make_scene(k, bounds[k], bounds[k + 1] - bounds[k])
                       for k in range(spec.scenes)]
        with _FONT_LOCK:  # FreeType faces are shared through the font cache; render threads may overlap
            hud_rgb, hud_a = _hud_overlay(spec.hud, spec.disclaimer, w, h)
        self.hud: tuple[U8, F32, F32] | None = None
        if float(hud_a.max()) > 0:
            self.hud = (np.round(hud_rgb).astype(np.uint8), 1.0 - hud_a, hud_a)
        self.look = _LookLayer(spec, self.scale) if spec.look is not None else None
        self.noise: list[tuple[U8, U8]] = []  # (positive, negative) parts of sensor noise
        if spec.style == "thermal":
            nr = _rng(spec.seed, 99)
            for _ in range(_THERMAL_NOISE_BANK):
                n = np.repeat(np.round(nr.normal(0, 2.6, (h, w, 1))), 3, axis=2)
                self.noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))

    def _make_scene(self, k: int, first: int, frames: int) -> _Scene:
        sp, s = self.spec, self.scale
        rng = _rng(sp.seed, 1, k)
        w, h = sp.size
        dur = frames / sp.fps
        speed = rng.uniform(40, 70) * s if sp.pan else 0.0
        ang = rng.uniform(-0.6, 0.6) + (math.pi if rng.random() < 0.5 else 0.0)
        vel = np.array([math.cos(ang), math.sin(ang)]) * speed
        margin = 80 * s
        tw = int(w + abs(vel[0]) * dur + 2 * margin)
        th = int(h + abs(vel[1]) * dur + 2 * margin)
        start = np.array([margin + w / 2 + (abs(vel[0]) * dur if vel[0] < 0 else 0),
                          margin + h / 2 + (abs(vel[1]) * dur if vel[1] < 0 else 0)])
        if speed == 0:
            direction = np.array([math.cos(ang), math.sin(ang)])
            path = (start - direction * 100, start + direction * 100)
        else:
            path = (start, start + vel * dur)
        terrain = _build_terrain(rng, th, tw, s, path)
        texture = _stylize(terrain.layers, sp.style, s)
        main = terrain.roads[0]
        cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(main, axis=0), axis=1))])
        s_centre = float(cum[int(np.argmin(np.linalg.norm(main - start, axis=1)))])
        direction_sign = 1.0 if float(np.dot(main[-1] - main[0], vel)) >= 0 else -1.0
        vehicles: list[_Vehicle] = []
        gap = rng.uniform(26, 40) * s
        base_speed = speed * rng.uniform(0.75, 1.1) * direction_sign
        for v in range(sp.vehicles):
            if sp.style == "thermal":
                body = (238.0, 238.0, 238.0) if v % 3 else (210.0, 210.0, 210.0)
            else:
                body = [(32.0, 34.0, 36.0), (214.0, 214.0, 208.0), (118.0, 108.0, 88.0)][v % 3]
            vehicles.append(_Vehicle(main, cum, s_centre - direction_sign * (v - sp.vehicles / 2) * gap,
                                     base_speed, body, rng.uniform(13, 17) * s))
        explosions: list[_Explosion] = []
        for e in range(sp.explosions):
            if e % sp.scenes != k:
                continue
            te = dur * (0.45 + 0.1 * (e // sp.scenes))
            if vehicles:
                target = vehicles[e % len(vehicles)]
                target.stop_t = te
                pos = _road_point(target, te)[0]
            else:
                pos = start + vel * te
            explosions.append(_Explosion(te, pos, rng.uniform(28, 38) * s))
        return _Scene(texture, start, vel, frames, first, rng.uniform(0, 6.3), vehicles, explosions)

    def frame(self, i: int) -> U8:
        """Render frame ``i`` (0-based) exactly as it is fed to the encoder."""
        sp, s = self.spec, self.scale
        i = min(max(i, 0), self.n_frames - 1)
        sc = next(x for x in reversed(self.scenes) if x.first <= i)
        t = (i - sc.first) / sp.fps
        w, h = sp.size
        z = 1.0 + (0.3 * t / max(sc.frames / sp.fps, 1e-6) if sp.zoom else 0.0)
        cam = sc.start + sc.velocity * t + 1.2 * s * np.array(
            [math.sin(1.7 * t + sc.wobble), math.cos(1.3 * t + sc.wobble)])
        m = np.array([[z, 0, w / 2 - z * cam[0]], [0, z, h / 2 - z * cam[1]]], np.float64)
        out = np.ascontiguousarray(cv2.warpAffine(sc.texture, m, (w, h), flags=cv2.INTER_LINEAR,
                                                  borderMode=cv2.BORDER_REFLECT), np.uint8)

        def to_frame(p: F64) -> F64:
            return np.asarray(p * z - cam * z + np.array([w / 2, h / 2]), np.float64)

        thermal = sp.style == "thermal"
        for ex in sc.explosions:
            if t >= ex.t:  # scorch mark / burnt ground
                c = to_frame(ex.pos)
                tone = (150.0,) * 3 if thermal else (40.0, 36.0, 32.0)
                _blend_poly(out, _ellipse_pts(c[0], c[1], ex.radius * z, ex.radius * z * 0.8), tone,
                            0.6, 2.5 * s)
        for v in sc.vehicles:
            p, hd = _road_point(v, t)
            c = to_frame(p)
            if not (-30 < c[0] < w + 30 and -30 < c[1] < h + 30):
                continue
            ln, wd = v.length * z, v.length * 0.48 * z
            wreck = t >= v.stop_t
            if thermal:
                _blend_poly(out, _ellipse_pts(c[0], c[1], ln * 0.9, wd * 1.1, hd), _WHITE, 0.35, 2.5 * s)
                _blend_poly(out, _rect_pts(c[0], c[1], ln, wd, hd), (255.0,) * 3 if wreck else v.body, 1.0)
                eng = c + np.array([math.cos(hd), math.sin(hd)]) * ln * 0.3
                _blend_poly(out, _rect_pts(eng[0], eng[1], ln * 0.3, wd * 0.8, hd), _WHITE, 1.0)
            else:
                sh = c + np.array(_SUN_OFFSET) * s * z * 0.7
                _blend_poly(out, _rect_pts(sh[0], sh[1], ln, wd, hd), (30.0, 28.0, 26.0), 0.55, 0.8)
                _blend_poly(out, _rect_pts(c[0], c[1], ln, wd, hd), (20.0, 18.0, 16.0) if wreck else v.body, 1.0)
                ws = c + np.array([math.cos(hd), math.sin(hd)]) * ln * 0.18
                _blend_poly(out, _rect_pts(ws[0], ws[1], ln * 0.16, wd * 0.8, hd), (50.0, 60.0, 70.0), 0.9)
        for ex in sc.explosions:
            dt = t - ex.t
            if not 0 <= dt <= 5.0:
                continue
            c = to_frame(ex.pos)
            r = ex.radius * z
            fire = math.exp(-dt / 0.45)
            smoke_c = c + np.array([14.0, -9.0]) * dt * s
            grow = r * (0.6 + 0.7 * dt)
            smoke = 0.95 * math.exp(-dt / 2.5) * min(1.0, dt * 3)
            if thermal:
                _glow(out, smoke_c, grow, (190.0, 190.0, 190.0), smoke)
                _glow(out, c, r * (0.45 + 0.55 * min(1, dt / 0.25)), _WHITE, 1.6 * fire)
                _glow(out, c, r * 0.35, _WHITE, 0.9)  # burning wreck stays hot
            else:
                _glow(out, smoke_c, grow, (74.0, 70.0, 66.0), smoke)
                _glow(out, c, r * 1.3, (255.0, 140.0, 40.0), 1.2 * fire)
                _glow(out, c, r * (0.4 + 0.5 * min(1, dt / 0.25)), (255.0, 244.0, 210.0), 1.5 * fire)
        if self.look is not None:
            out = self.look.apply(out, i / sp.fps, sc.velocity)
        if self.noise:
            pos, neg = self.noise[(i * 3) % len(self.noise)]
            out = np.asarray(cv2.subtract(cv2.add(out, pos), neg), np.uint8)
        if self.hud is not None:
            out = np.asarray(cv2.blendLinear(out, self.hud[0], self.hud[1], self.hud[2]), np.uint8)
        return out


def render_frame(seed: int, style: Style = "color", size: tuple[int, int] = FULL_FRAME_SIZE,
                 t_s: float = 0.0, **kwargs: Any) -> U8:
    """Render the un-encoded frame that :func:`render_video` would encode at ``t_s``.

    Args:
        seed: Video seed.
        style: ``"color"`` or ``"thermal"``.
        size: ``(width, height)``, multiples of 16.
        t_s: Presentation time; the frame ``round(t_s * fps)`` is returned.
        **kwargs: Any other :class:`VideoSpec` field (fps, duration_s, hud, ...),
            which must equal the values passed to :func:`render_video`.

    Returns:
        ``(height, width, 3)`` uint8 RGB frame.
    """
    spec = VideoSpec(seed=seed, style=style, size=size, **kwargs)
    return _VideoRenderer(spec).frame(round(t_s * spec.fps))


def render_video(path: Path, seed: int, style: Style = "color",
                 size: tuple[int, int] = FULL_FRAME_SIZE, fps: int = DEFAULT_FPS,
                 duration_s: float = 12.0, hud: Hud = None, disclaimer: str | None = None,
                 scenes: int = 1, pan: bool = True, zoom: bool = False, vehicles: int = 3,
                 explosions: int = 0, title: str | None = None, look: Look = None) -> list[float]:
    """Render a synthetic aerial video and encode it as H.264 MP4.

    The camera pans slowly along a road over a procedural terrain (optionally
    zooming in by 30 % per scene), vehicles drive along the road, explosions
    bloom on targeted vehicles, and an optional static HUD / disclaimer line is
    burned in.  Encoding is single-threaded libx264 (crf 22, GOP 50, mb-tree
    off, see ``X264_PARAMS``), so the same arguments give the same bytes.

    Args:
        path: Output ``.mp4`` file (parent directories are created).
        seed: Seed controlling terrain, camera and vehicles.
        style: ``"color"`` or ``"thermal"`` (white-hot).
        size: ``(width, height)``, both multiples of 16.
        fps: Frame rate (frame ``i`` has presentation time ``i / fps``).
        duration_s: Clip length.
        hud: ``"gunship"`` (the same burned-in HUD in every video using it),
            ``"pod"`` (a simpler targeting-pod reticle) or ``None``.
        disclaimer: Text drawn on a dark band along the bottom edge.
        scenes: Number of scenes; hard cuts jump to a new terrain.
        pan: Move the camera (otherwise it hovers with slight wobble).
        zoom: Zoom in slowly during each scene.
        vehicles: Vehicles per scene (a convoy on the main road).
        explosions: Number of strikes, spread over the scenes.
        title: Optional container ``title`` metadata.
        look: ``None`` (clear view) or a low-texture look from :data:`LOOKS`:
            ``"fog"`` (uneven drifting veil), ``"smoke"`` (dense drifting plumes),
            ``"blur"`` (motion blur along the pan) or ``"sky"`` (mostly sky, the
            ground squeezed into a band under the horizon).

    Returns:
        Times in seconds of the first frame of every scene after the first
        (empty for a single-scene clip).
    """
    spec = VideoSpec(seed, style, size, fps, duration_s, hud, disclaimer, scenes, pan, zoom,
                     vehicles, explosions, look)
    renderer = _VideoRenderer(spec)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream("libx264", rate=fps, options={
            "crf": str(X264_CRF), "preset": X264_PRESET, "threads": "1",
            "x264-params": X264_PARAMS})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.gop_size = GOP_SIZE
        for i in range(renderer.n_frames):
            vf = av.VideoFrame.from_ndarray(renderer.frame(i), format="rgb24").reformat(format="yuv420p")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return [f / fps for f in renderer.cut_frames]


def extract_frames(video_path: Path, times_s: Sequence[float]) -> list[tuple[Image.Image, float]]:
    """Decode ``video_path`` once and grab the frames closest to each requested time.

    Args:
        video_path: An encoded video readable by PyAV.
        times_s: Requested presentation times in seconds.

    Returns:
        ``(image, actual_time_s)`` per requested time, in the same order.
    """
    best: list[tuple[float, Any, float]] = [(math.inf, None, 0.0) for _ in times_s]
    if not best:
        return []
    last = max(times_s)
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        for fr in container.decode(stream):
            t = float(fr.time) if fr.time is not None else 0.0
            for k, target in enumerate(times_s):
                d = abs(t - target)
                if d < best[k][0]:
                    best[k] = (d, fr, t)
            if t > last + 0.5:
                break
    out: list[tuple[Image.Image, float]] = []
    for _, fr, t in best:
        if fr is None:
            raise ValueError(f"no decodable video frames in {video_path}")
        out.append((fr.to_image().convert("RGB"), t))
    return out


def extract_frame(video_path: Path, time_s: float) -> tuple[Image.Image, float]:
    """Decode the encoded video and return the frame closest to ``time_s``.

    Args:
        video_path: An encoded video readable by PyAV.
        time_s: Requested presentation time in seconds.

    Returns:
        ``(image, actual_time_s)`` where ``actual_time_s`` is ``frame.time``.
    """
    return extract_frames(video_path, [time_s])[0]


# --------------------------------------------------------------------------- stills


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
    tex = _stylize(_build_terrain(rng, int(height * 1.1), int(width * 2.4), 1.2 * s).layers, "color", s)
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
    x = 0.0
    while x < width:  # distant skyline: blocks, domes and minarets
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
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def sky_photo(rng: np.random.Generator, width: int, height: int) -> U8:
    """Plain photo-like landscape (gradient sky, sun, hills, trees); no aerial content.

    Args:
        rng: Source of randomness.
        width: Output width.
        height: Output height.

    Returns:
        ``(height, width, 3)`` uint8 RGB array.
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
        cv2.fillPoly(img, [_ipts(poly)], (tone * 0.8, tone, tone * 0.7))
    for _ in range(int(rng.integers(5, 12))):
        x, y = rng.uniform(0, width), height * rng.uniform(0.78, 0.95)
        th = height * rng.uniform(0.08, 0.2)
        tri = np.array([[x, y - th], [x - th * 0.3, y], [x + th * 0.3, y]])
        cv2.fillPoly(img, [_ipts(tri)], (20, 40, 22))
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), 1.2), np.float32) + rng.normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- claim edits


def crop(img: ImageLike, box_frac: tuple[float, float, float, float]) -> Image.Image:
    """Crop a region given in fractions of the image size.

    Args:
        img: Input image.
        box_frac: ``(x, y, w, h)``, each in ``[0, 1]`` relative to the image size.

    Returns:
        The cropped image.
    """
    im = _to_pil(img)
    x, y, w, h = box_frac
    W, H = im.size
    return im.crop((round(x * W), round(y * H), round((x + w) * W), round((y + h) * H)))


def add_caption_bar(img: ImageLike, text: str, position: str = "bottom", extend: bool = True,
                    height_frac: float = 0.13, tag: str | None = None) -> Image.Image:
    """Add a news-style caption bar (dark blue, white text, optional red tag).

    Args:
        img: Input image.
        text: Caption; the font shrinks (and the text is truncated) to fit.
        position: ``"bottom"`` or ``"top"``.
        extend: Add the bar outside the picture (default) instead of covering it.
        height_frac: Bar height as a fraction of the image height.
        tag: Optional short label in a red box at the left of the bar.

    Returns:
        The captioned image.
    """
    im = _to_pil(img)
    W, H = im.size
    bar_h = max(16, round(H * height_frac))
    if extend:
        out = Image.new("RGB", (W, H + bar_h), (14, 22, 46))
        out.paste(im, (0, bar_h if position == "top" else 0))
    else:
        out = im.copy()
    y0 = 0 if position == "top" else out.height - bar_h
    dr = ImageDraw.Draw(out)
    dr.rectangle([0, y0, W, y0 + bar_h], fill=(14, 22, 46))
    x = round(0.02 * W)
    size = round(bar_h * 0.5)
    if tag:
        tf = _font(size)
        tw, _ = _text_size(dr, tag, tf)
        dr.rectangle([0, y0, x + tw + x, y0 + bar_h], fill=(196, 18, 30))
        dr.text((x, y0 + bar_h / 2), tag, font=tf, fill=(255, 255, 255), anchor="lm")
        x += tw + 2 * x
    avail = W - x - round(0.02 * W)
    while size > 7 and _text_size(dr, text, _font(size))[0] > avail:
        size -= 1
    while len(text) > 4 and _text_size(dr, text, _font(size))[0] > avail:
        text = text[:-4] + "..."
    dr.text((x, y0 + bar_h / 2), text, font=_font(size), fill=(255, 255, 255), anchor="lm")
    return out


def add_border(img: ImageLike, px: int, color: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Pad the image with a solid border.

    Args:
        img: Input image.
        px: Border width in pixels on every side.
        color: Border RGB colour.

    Returns:
        The image, ``2 * px`` larger in each dimension.
    """
    im = _to_pil(img)
    out = Image.new("RGB", (im.width + 2 * px, im.height + 2 * px), color)
    out.paste(im, (px, px))
    return out


def add_logo(img: ImageLike, text: str, corner: str = "top-right", opacity: float = 0.7) -> Image.Image:
    """Stamp a small semi-opaque rounded logo/watermark in a corner.

    Args:
        img: Input image.
        text: Logo text (rendered at ~5.5 % of the image height).
        corner: ``"top-left"``, ``"top-right"``, ``"bottom-left"`` or ``"bottom-right"``.
        opacity: Logo opacity in ``[0, 1]``.

    Returns:
        The stamped image (same size).
    """
    im = _to_pil(img).convert("RGBA")
    W, H = im.size
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    dr = ImageDraw.Draw(layer)
    font = _font(round(H * 0.055))
    tw, th = _text_size(dr, text, font)
    pad, m = round(H * 0.015) + 2, round(H * 0.03)
    bw, bh = tw + 2 * pad, th + 2 * pad
    x = m if "left" in corner else W - m - bw
    y = m if "top" in corner else H - m - bh
    a = round(255 * opacity)
    dr.rounded_rectangle([x, y, x + bw, y + bh], radius=pad, fill=(160, 16, 24, a),
                         outline=(255, 255, 255, a), width=1)
    dr.text((x + bw / 2, y + bh / 2), text, font=font, fill=(255, 255, 255, a), anchor="mm")
    return Image.alpha_composite(im, layer).convert("RGB")


def jpeg(img: ImageLike, quality: int) -> Image.Image:
    """Simulate a JPEG recompression.

    Args:
        img: Input image.
        quality: Pillow JPEG quality (1-95), 4:2:0 chroma subsampling.

    Returns:
        The decoded result of the round trip.
    """
    buf = io.BytesIO()
    _to_pil(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def downscale(img: ImageLike, width: int) -> Image.Image:
    """Resize (Lanczos) keeping the aspect ratio; never upscales.

    Args:
        img: Input image.
        width: Target width in pixels.

    Returns:
        The resized image (a copy when already narrower).
    """
    im = _to_pil(img)
    if width >= im.width:
        return im.copy()
    return im.resize((width, max(1, round(im.height * width / im.width))), Image.Resampling.LANCZOS)


def mirror(img: ImageLike) -> Image.Image:
    """Flip left-right (a mirrored copy of ``img``)."""
    return _to_pil(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def rotation_crop_scale(width: int, height: int, deg: float) -> float:
    """Scale of the largest centred, same-aspect rectangle inside a rotated image.

    Args:
        width: Image width.
        height: Image height.
        deg: Rotation angle in degrees.

    Returns:
        The factor ``k`` (<= 1) such that a ``k * width`` by ``k * height`` centred
        rectangle has no empty corners after rotation.
    """
    c, s = abs(math.cos(math.radians(deg))), abs(math.sin(math.radians(deg)))
    return min(width / (width * c + height * s), height / (width * s + height * c))


def rotate(img: ImageLike, deg: float, expand: bool = False) -> Image.Image:
    """Rotate counter-clockwise by ``deg`` (bicubic).

    Args:
        img: Input image.
        deg: Angle in degrees.
        expand: Grow the canvas (black corners) instead of cropping to the
            largest centred rectangle of the original aspect ratio.

    Returns:
        The rotated image.
    """
    im = _to_pil(img)
    if expand:
        return im.rotate(deg, Image.Resampling.BICUBIC, expand=True)
    k = rotation_crop_scale(im.width, im.height, deg)
    r = im.rotate(deg, Image.Resampling.BICUBIC)
    return crop(r, ((1 - k) / 2 + 0.002, (1 - k) / 2 + 0.002, k - 0.004, k - 0.004))


def grayscale(img: ImageLike) -> Image.Image:
    """Convert to luminance, returned as 3-channel RGB."""
    return _to_pil(img).convert("L").convert("RGB")


def contrast(img: ImageLike, factor: float, gamma: float = 1.0) -> Image.Image:
    """Change contrast, then apply a gamma curve.

    Args:
        img: Input image.
        factor: Contrast factor around the mean grey (1.0 = unchanged).
        gamma: Exponent of ``out = 255 * (in / 255) ** gamma`` (1.0 = unchanged).

    Returns:
        The adjusted image.
    """
    im = ImageEnhance.Contrast(_to_pil(img)).enhance(factor)
    lut = [min(255, round(255 * (v / 255) ** gamma)) for v in range(256)]
    return im.point(lut * 3)


def screenshot(img: ImageLike, style: str = "phone", header: str = "@mod_news",
               caption: str = "", url: str = "https://video.example.org/watch") -> Image.Image:
    """Paste the image into a fake UI: a phone social-media post or a desktop video player.

    Args:
        img: The picture shown inside the UI.
        style: ``"phone"`` (status bar, account row, post text, action row) or
            ``"player"`` (browser window chrome, address bar, progress bar, title).
        header: Account name (phone) or window title (player).
        caption: Post text (phone) or video title under the player.
        url: Address-bar text (player only).

    Returns:
        The screenshot.  The picture is scaled to the UI width (phone: 540 px,
        player: 800 px), never cropped.
    """
    im = _to_pil(img)
    if style == "phone":
        cw = 540
        pic = im.resize((cw, round(im.height * cw / im.width)), Image.Resampling.LANCZOS)
        top, ph = 150, pic.height
        out = Image.new("RGB", (cw, top + ph + 110), (255, 255, 255))
        dr = ImageDraw.Draw(out)
        dr.rectangle([0, 0, cw, 30], fill=(20, 20, 20))
        dr.text((14, 15), "9:41", font=_font(16), fill=(255, 255, 255), anchor="lm")
        dr.rectangle([cw - 44, 9, cw - 14, 21], outline=(255, 255, 255), width=2)
        dr.rectangle([cw - 42, 11, cw - 24, 19], fill=(255, 255, 255))
        dr.ellipse([14, 44, 58, 88], fill=(30, 60, 120))
        dr.text((70, 54), header, font=_font(18), fill=(20, 20, 20), anchor="lm")
        dr.text((70, 78), "2h", font=_font(14), fill=(120, 120, 120), anchor="lm")
        dr.text((14, 118), caption[:60], font=_font(16), fill=(20, 20, 20), anchor="lm")
        out.paste(pic, (0, top))
        y = top + ph + 40
        for k, label in enumerate(("Reply", "Repost 1,204", "Like 2,310", "Share")):
            dr.text((14 + k * 130, y), label, font=_font(14), fill=(90, 90, 90), anchor="lm")
        dr.line([(0, y + 30), (cw, y + 30)], fill=(220, 220, 220), width=1)
        return out
    if style != "player":
        raise ValueError(f"unknown screenshot style {style!r}")
    cw = 800
    pic = im.resize((cw, round(im.height * cw / im.width)), Image.Resampling.LANCZOS)
    top = 72
    out = Image.new("RGB", (cw + 40, top + pic.height + 120), (248, 248, 248))
    dr = ImageDraw.Draw(out)
    dr.rectangle([0, 0, out.width, 30], fill=(222, 225, 230))
    for k, col in enumerate(((236, 95, 88), (245, 190, 80), (98, 196, 84))):
        dr.ellipse([12 + k * 20, 9, 24 + k * 20, 21], fill=col)
    dr.text((90, 15), header, font=_font(13), fill=(40, 40, 40), anchor="lm")
    dr.rounded_rectangle([20, 38, out.width - 20, 62], radius=10, fill=(255, 255, 255),
                         outline=(200, 200, 200))
    dr.text((34, 50), url, font=_font(13), fill=(60, 60, 60), anchor="lm")
    out.paste(pic, (20, top))
    y = top + pic.height
    dr.rectangle([20, y, 20 + cw, y + 26], fill=(15, 15, 15))
    dr.rectangle([20, y + 2, 20 + int(cw * 0.62), y + 5], fill=(230, 30, 30))
    dr.text((30, y + 16), "0:08 / 0:14", font=_font(12), fill=(235, 235, 235), anchor="lm")
    dr.text((20, y + 50), caption[:80], font=_font(18), fill=(20, 20, 20), anchor="lm")
    dr.text((20, y + 80), "GameDev Studio  -  48,211 views", font=_font(13), fill=(110, 110, 110),
            anchor="lm")
    return out


# --------------------------------------------------------------------------- demo corpus


def _fmt_time(t: float) -> str:
    return f"{int(t // 60):02d}:{t % 60:05.2f}"


def _save(img: Image.Image, path: Path, quality: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if quality is not None:
        img.save(path, format="JPEG", quality=quality)
    else:
        img.save(path, format="PNG", optimize=False)


def _snap(t: float, fps: int, duration: float) -> float:
    return min(max(round(t * fps), 0), round(duration * fps) - 1) / fps


def build_demo_corpus(out_dir: Path, seed: int = 2017, small: bool = False, *,
                      workers: int | None = None) -> DemoCorpus:
    """Generate the demo corpus replaying the 2017 "gunship simulator" case.

    Writes ``sources/`` (5 MP4 videos + 2 JPEG stills), ``claims/`` (15 claimed
    photos at full size, 12 with ``small=True``) and ``manifest.json`` (paths
    relative to ``out_dir``) under ``out_dir``.

    Args:
        out_dir: Output directory (created).
        seed: Master seed; the same seed reproduces the same pixels.
        small: 320x176, 4-6 s clips and fewer claims (for unit tests).
        workers: Threads used to render sources in parallel (default: CPU
            count, at most 5).  The output does not depend on it.

    Returns:
        The corpus description (absolute, resolved paths).
    """
    if seed < 0:
        raise ValueError("seed must be non-negative")
    root = Path(out_dir).resolve()
    src_dir, claim_dir = root / "sources", root / "claims"
    size = SMALL_FRAME_SIZE if small else FULL_FRAME_SIZE
    k = 0.4 if small else 1.0
    rng = _rng(seed, 7)
    sid = [int(x) for x in np.random.SeedSequence([seed, 1]).generate_state(8)]
    sw, sh = (512, 320) if small else (1024, 640)
    videos: list[tuple[str, str, str, str, str, float, dict[str, Any]]] = [
        ("ac130_simulator_trailer", "AC-130 Gunship Simulator: Special Ops Squadron - gameplay trailer",
         "https://video.example.org/watch/gs130-trailer-v3", "2015-06-02",
         "Game trailer; white-hot thermal, burned-in gunship HUD, disclaimer line at the bottom.",
         14.0, dict(style="thermal", hud="gunship", disclaimer=DISCLAIMER_SIM, zoom=True, vehicles=4,
                    explosions=1)),
        ("fallujah_convoy_p2", "Iraqi Airstrikes Hit ISIS Convoy Fleeing Fallujah P.-2-",
         "https://video.example.org/watch/iqaf-fallujah-convoy-p2", "2016-06-30",
         "Thermal targeting-pod footage, two scenes, convoy on a highway, one strike per scene.",
         16.0, dict(style="thermal", hud="pod", scenes=2, vehicles=5, explosions=2)),
        ("coalition_strike_fallujah", "Coalition strike near Fallujah",
         "https://video.example.org/watch/cjtf-strike-fallujah-0629", "2016-06-29",
         "Thermal footage without HUD, two scenes, vehicles on a road, one strike.",
         12.0, dict(style="thermal", scenes=2, vehicles=4, explosions=1)),
        ("anbar_convoy_strike", "Airstrike on convoy, Anbar",
         "https://video.example.org/watch/anbar-convoy-strike", "2016-07-01",
         "Colour daylight footage, slow zoom, convoy struck on a road.",
         12.0, dict(style="color", zoom=True, vehicles=4, explosions=1)),
        ("ac130_simulator_night_mission", "AC-130 Gunship Simulator - night mission",
         "https://video.example.org/watch/gs130-night-mission", "2015-09-14",
         "Unrelated game footage with the SAME gunship HUD but different terrain (HUD-only decoy).",
         10.0, dict(style="thermal", hud="gunship", vehicles=2))]
    stills = [
        ("press_fallujah_outskirts.jpg", "Press photo: Fallujah outskirts",
         "https://photos.example.net/agency/2016/06/fallujah-outskirts-0417.jpg", "2016-06-28",
         "Oblique colour photo with hazy skyline.", lambda: press_photo(_rng(sid[5]), sw, sh)),
        ("satellite_fallujah_june2016.jpg", "Satellite image: Fallujah, June 2016",
         "https://imagery.example.com/scenes/fallujah-20160625", "2016-06-25",
         "Nadir colour satellite-style image.",
         lambda: terrain_texture(_rng(sid[6]), sh * 6 // 5, sw, "color", sw / 1024))]
    extra: dict[Path, dict[str, Any]] = {}
    sources: list[SynthSource] = []
    n_workers = workers or max(1, min(len(videos), os.cpu_count() or 1))
    with ThreadPoolExecutor(n_workers) as pool:  # independent jobs: order of completion is irrelevant
        futures: list[Future[list[float]]] = []
        for key, (name, title, url, pub, notes, d, kw) in enumerate(videos):
            path, d = src_dir / f"{name}.mp4", float(round(d * k))
            futures.append(pool.submit(render_video, path, sid[key], size=size, duration_s=d, title=title, **kw))
            sources.append(SynthSource(path, "video", title, url, pub, notes))
            extra[path] = {"duration_s": d, "fps": DEFAULT_FPS, "size": list(size), "seed": sid[key]}
        still_jobs = [pool.submit(make) for *_, make in stills]
        decoy_job = pool.submit(render_frame, sid[7], "thermal", size, 3.0, duration_s=6.0, hud="gunship",
                                vehicles=3)
        for src, vjob in zip(sources, futures, strict=True):
            extra[src.path]["scene_cuts_s"] = vjob.result()
        for (name, title, url, pub, notes, _), sjob in zip(stills, still_jobs, strict=True):
            _save(Image.fromarray(sjob.result()), src_dir / name, SOURCE_JPEG_QUALITY)
            sources.append(SynthSource(src_dir / name, "image", title, url, pub, notes))
        decoy = decoy_job.result()
    sim, strike_a, strike_b, strike_c = (s.path for s in sources[:4])
    press, sat = (s.path for s in sources[5:7])
    dur = {p: float(extra[p]["duration_s"]) for p in extra}

    def jit(frac: float, path: Path) -> float:
        return _snap(dur[path] * frac + float(rng.uniform(-0.3, 0.3)), DEFAULT_FPS, dur[path])

    wanted: dict[Path, list[float]] = {
        sim: [jit(0.55, sim), jit(0.3, sim)],
        strike_a: [jit(0.2, strike_a), jit(0.8, strike_a)],
        strike_b: [jit(0.22, strike_b), jit(0.72, strike_b)],
        strike_c: [jit(0.35, strike_c), jit(0.6, strike_c), jit(0.2, strike_c)]}
    with ThreadPoolExecutor(n_workers) as pool:
        grabs = dict(zip(wanted, pool.map(extract_frames, wanted, wanted.values()), strict=True))
    claims: list[SynthClaim] = []
    mod = "MINISTRY OF DEFENCE"
    cap = "Terrorist convoy leaving the city under air cover, 09.11.2017"

    def emit(name: str, img: Image.Image, src: Path | None, t: float | None, edits: tuple[str, ...],
             box: tuple[float, float, float, float] | None, desc: str, quality: int | None,
             mirrored: bool = False, only_full: bool = False) -> None:
        if only_full and small:
            return
        path = claim_dir / f"{name}.{'jpg' if quality else 'png'}"
        _save(img, path, quality)
        heavy = box is not None and box[2] * box[3] < HEAVY_CROP_AREA
        claims.append(SynthClaim(path, src, t, edits, box, mirrored, heavy, desc))

    def at(t: float) -> str:
        return f"frame at {_fmt_time(t)}"

    im, t = grabs[sim][0]
    box = (0.06, 0.22, 0.78, 0.76)
    emit("01_ministry_sim_screenshot_crop",
         add_caption_bar(crop(im, box), cap, tag="MOD"), sim, t, ("crop", "caption", "jpeg"), box,
         f"{at(t)}, crop to {box[2] * box[3]:.0%} (HUD kept, disclaimer cut at right), caption bar, JPEG q=85", 85)
    im, t = grabs[strike_a][0]
    emit("02_ministry_convoy_leaving", add_caption_bar(im, cap, tag="MOD"), strike_a, t,
         ("caption", "jpeg"), None, f"{at(t)}, whole frame, caption bar, JPEG q=60", 60)
    im, t = grabs[strike_b][0]
    w480 = round(size[0] * 0.75)
    emit("03_ministry_convoy_logo", downscale(add_logo(im, mod), w480), strike_b, t,
         ("logo", "downscale", "jpeg"), None,
         f"{at(t)}, whole frame, logo top-right, downscaled to {w480} px wide, JPEG q=80", 80)
    im, t = grabs[strike_b][1]
    box = (0.2, 0.21, 0.58, 0.58)
    emit("04_ministry_convoy_closeup", add_caption_bar(crop(im, box), cap, tag="MOD"), strike_b, t,
         ("crop", "caption", "jpeg"), box,
         f"{at(t)} (same video as 03), centre crop to {box[2] * box[3]:.0%}, caption bar, JPEG q=80", 80)
    im, t = grabs[strike_c][0]
    bpx = max(4, round(size[0] / 50))
    emit("05_ministry_strike_mirrored", add_border(mirror(im), bpx, (240, 240, 240)), strike_c, t,
         ("mirror", "border", "jpeg"), None,
         f"{at(t)}, whole frame, mirrored, {bpx} px border, JPEG q=85", 85, mirrored=True)
    im, t = grabs[strike_a][1]
    emit("06_repost_caption_q40", add_caption_bar(im, "BREAKING: convoy hit on highway", tag="LIVE"),
         strike_a, t, ("caption", "jpeg"), None,
         f"{at(t)} (second scene), whole frame, caption bar, JPEG q=40", 40, only_full=True)
    im, t = grabs[strike_c][1]
    emit("07_grayscale_contrast", contrast(grayscale(im), 1.5, 0.85), strike_c, t,
         ("grayscale", "contrast"), None, f"{at(t)}, whole frame, grayscale, contrast x1.5, gamma 0.85",
         None, only_full=True)
    press_im = Image.open(press).convert("RGB")
    emit("08_phone_screenshot_press_photo",
         screenshot(press_im, "phone", "@mod_news", "Photo from today's briefing"), press, None,
         ("screenshot",), None, "press photo, whole, in a phone social-media post UI (540 px wide)", None)
    sat_im = Image.open(sat).convert("RGB")
    emit("09_satellite_still_downscaled", downscale(sat_im, 400), sat, None, ("downscale", "jpeg"), None,
         "satellite still, whole, downscaled to 400 px, JPEG q=88", 88)
    box = (0.45, 0.56, 0.4, 0.375)
    emit("10_press_still_heavy_crop", crop(press_im, box), press, None, ("crop",), box,
         f"press photo, crop to {box[2] * box[3]:.0%} (lower-right ground)", None)
    im, t = grabs[strike_c][2]
    ks = rotation_crop_scale(im.width, im.height, 3.0)
    box = ((1 - ks) / 2, (1 - ks) / 2, ks, ks)
    emit("11_rotated_3deg", rotate(im, 3.0), strike_c, t, ("rotate", "crop", "jpeg"), box,
         f"{at(t)}, rotated 3 deg, cropped to inscribed {ks:.0%} rectangle, JPEG q=85", 85)
    im, t = grabs[sim][1]
    emit("12_player_screenshot_sim", screenshot(im, "player", "AC-130 Gunship Simulator - Video",
                                               "AC-130 Gunship Simulator: Special Ops Squadron - gameplay trailer",
                                               "https://video.example.org/watch/gs130-trailer-v3"),
         sim, t, ("screenshot",), None, f"{at(t)}, whole frame in a desktop video-player window", None,
         only_full=True)
    emit("13_unrelated_gunship_hud", add_caption_bar(decoy, cap, tag="MOD"), None, None,
         ("caption", "jpeg"), None,
         "UNRELATED: same gunship HUD over un-indexed terrain, caption bar, JPEG q=85", 85)
    emit("14_unrelated_terrain_still",
         Image.fromarray(terrain_texture(_rng(seed, 8), sh * 3 // 4, sw * 3 // 4, "color", sw / 1024)),
         None, None, (), None, "UNRELATED: colour aerial terrain from an unused seed", None)
    emit("15_unrelated_sky_photo", Image.fromarray(sky_photo(_rng(seed, 9), sw * 3 // 4, sh * 3 // 4)), None,
         None, ("jpeg",), None, "UNRELATED: landscape photo (sky, hills, trees), JPEG q=90", 90)

    corpus = DemoCorpus(root, tuple(sources), tuple(claims))
    write_manifest(corpus, seed, small, extra)
    return corpus


def _rel(p: Path | None, root: Path) -> str | None:
    return None if p is None else p.relative_to(root).as_posix()


def write_manifest(corpus: DemoCorpus, seed: int, small: bool,
                   extra: dict[Path, dict[str, Any]] | None = None) -> Path:
    """Write ``manifest.json`` (ground truth, paths relative to ``corpus.root``).

    Args:
        corpus: The corpus to describe.
        seed: Master seed used.
        small: Whether the small variant was built.
        extra: Optional per-source extra fields (duration, fps, scene cuts).

    Returns:
        Path of the manifest.
    """
    root = corpus.root
    data = {
        "generator": "provcheck.synth.build_demo_corpus", "seed": seed, "small": small,
        "sources": [{"path": _rel(s.path, root), "kind": s.kind, "title": s.title, "url": s.url,
                     "published": s.published, "notes": s.notes, **(extra or {}).get(s.path, {})}
                    for s in corpus.sources],
        "claims": [{"path": _rel(c.path, root), "source_path": _rel(c.source_path, root),
                    "should_match": c.source_path is not None, "time_s": c.time_s, "edits": list(c.edits),
                    "crop": None if c.crop is None else list(c.crop),
                    "mirrored": c.mirrored, "heavy_crop": c.heavy_crop, "description": c.description}
                   for c in corpus.claims]}
    path = root / MANIFEST_NAME
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def load_manifest(root: Path) -> DemoCorpus:
    """Read ``manifest.json`` back into a :class:`DemoCorpus`.

    Args:
        root: The directory passed to :func:`build_demo_corpus`.

    Returns:
        The corpus with paths joined to ``root``.
    """
    root = Path(root)
    data = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    sources = tuple(SynthSource(root / s["path"], s["kind"], s["title"], s["url"], s["published"],
                                s["notes"]) for s in data["sources"])
    claims = tuple(SynthClaim(
        root / c["path"], None if c["source_path"] is None else root / c["source_path"], c["time_s"],
        tuple(c["edits"]), None if c["crop"] is None else tuple(c["crop"]), c["mirrored"],
        c["heavy_crop"], c["description"]) for c in data["claims"])
    return DemoCorpus(root, sources, claims)
