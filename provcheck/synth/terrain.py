"""Procedural aerial terrain: noise, the painted 4-layer canvas and its colour or thermal look.

This module owns the ground every video and still is cut from: fields with row
stripes and orchards, a canal, dirt roads, the main road (along a camera path when one
is given), towns of shadowed buildings and tree clusters, painted into a float canvas
holding R, G, B and a thermal intensity (white = hot), then :func:`stylize` turns the
canvas into colour or white-hot thermal RGB.  Each painting step draws from the one
generator in a fixed order, so the same generator state gives the same terrain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .base import F32, F64, SUN_OFFSET, U8, Style, int_points, rect_points

_FIELD_COLORS = np.array([  # R, G, B, thermal
    [96, 128, 62, 78], [122, 146, 72, 92], [146, 134, 86, 150], [188, 168, 114, 172],
    [112, 96, 70, 138], [80, 106, 58, 70], [160, 150, 104, 160]], np.float32)
_ROOF_COLORS = [(206, 198, 184, 222), (172, 160, 146, 205), (226, 220, 210, 238),
                (152, 122, 100, 214), (190, 186, 178, 228)]
_DITCH = (92.0, 104.0, 62.0, 96.0)


@dataclass
class Terrain:
    """The painted canvas and its roads."""

    layers: F32  # H x W x 4: R, G, B and thermal intensity (white = hot)
    roads: list[F64]  # polylines in pixel coordinates; index 0 is the main road


def fractal_noise(rng: np.random.Generator, h: int, w: int, cell: int, octaves: int,
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
    """A random walk of ``n`` steps (a canal or dirt road) whose heading drifts by ``turn``."""
    pts = [start]
    for _ in range(n):
        heading += float(rng.normal(0.0, turn))
        pts.append(pts[-1] + step * np.array([math.cos(heading), math.sin(heading)]))
    return np.array(pts, np.float64)


def build_terrain(rng: np.random.Generator, h: int, w: int, scale: float,
                  main_path: tuple[F64, F64] | None = None) -> Terrain:
    """Paint fields, canal, roads, towns and trees into a 4-layer float canvas."""
    s = max(scale, 0.25)
    layers = _ground(rng, h, w, s)
    _paint_fields(rng, layers, s)
    diag = math.hypot(w, h)
    tree_lines = _paint_canal(rng, layers, s, diag)
    roads = _paint_dirt_roads(rng, layers, s, diag)
    main, perp = _main_road_line(rng, h, w, s, diag, main_path)
    for t_i in range(int(rng.integers(1, 4))):
        if t_i == 0:
            centre = main[len(main) // 2] + perp * rng.uniform(-0.25, 0.25) * h
        else:
            centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        _paint_town(rng, layers, s, centre)
    _paint_main_road(rng, layers, s, main)  # drawn over the towns
    roads.insert(0, main)
    _paint_trees(rng, layers, s, tree_lines)
    _add_grain(rng, layers, s)
    return Terrain(np.clip(layers, 0, 255), roads)


def _ground(rng: np.random.Generator, h: int, w: int, s: float) -> F32:
    """The bare soil under everything: a low-frequency colour and heat variation."""
    low = fractal_noise(rng, h, w, max(8, int(256 * s)), 4)
    layers = np.empty((h, w, 4), np.float32)
    layers[..., :3] = np.array([170, 148, 112], np.float32) + (low[..., None] - 0.5) * 44
    layers[..., 3] = 126 + (low - 0.5) * 60
    return layers


def _paint_fields(rng: np.random.Generator, layers: F32, s: float) -> None:
    """Farm plots: a jittered grid of quads, each with its own colour and row stripes; orchards; ditches."""
    h, w = layers.shape[:2]
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
            cv2.fillPoly(labels, [int_points(quad)], k + 1)
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
    _paint_orchards(rng, layers, s, grid, labels, cell)
    thick = max(1, round(2 * s))  # field edges (ditches / hedgerows)
    for j in range(ny):
        cv2.polylines(layers, [int_points(grid[j])], False, _DITCH, thick)
    for i in range(nx):
        cv2.polylines(layers, [int_points(grid[:, i])], False, _DITCH, thick)


def _paint_orchards(rng: np.random.Generator, layers: F32, s: float, grid: F64, labels: NDArray[np.int32],
                    cell: float) -> None:
    """A lattice of tree crowns inside some plots (``labels`` holds plot ``k`` as ``k + 1``)."""
    h, w = labels.shape
    nx = grid.shape[1]
    n_plots = (nx - 1) * (grid.shape[0] - 1)
    for kk in np.flatnonzero(rng.random(n_plots) < 0.12):
        k = int(kk)
        j, i = divmod(k, nx - 1)
        x0, y0 = grid[j, i]
        step = rng.uniform(7, 11) * s
        for yy in np.arange(y0, y0 + cell, step):
            for xx in np.arange(x0, x0 + cell, step):
                if 0 <= int(yy) < h and 0 <= int(xx) < w and labels[int(yy), int(xx)] == k + 1:
                    cv2.circle(layers, (int(xx), int(yy)), max(1, int(2.6 * s)), (58, 82, 44, 84), -1)


def _paint_canal(rng: np.random.Generator, layers: F32, s: float, diag: float) -> list[F64]:
    """A canal (three times in four); returns the lines that get tree-lined banks."""
    h, w = layers.shape[:2]
    tree_lines: list[F64] = []
    if rng.random() < 0.75:
        canal = _walk(rng, np.array([rng.uniform(0, w), -20.0]), math.pi / 2 + rng.normal(0, 0.4),
                      30 * s, int(diag / (30 * s)) + 4, 0.12)
        cw = int(rng.uniform(12, 24) * s)
        cv2.polylines(layers, [int_points(canal)], False, (120, 128, 90, 90), cw + int(8 * s))
        cv2.polylines(layers, [int_points(canal)], False, (58, 82, 88, 34), cw)
        tree_lines.append(canal)
    return tree_lines


def _paint_dirt_roads(rng: np.random.Generator, layers: F32, s: float, diag: float) -> list[F64]:
    """Three to six secondary dirt roads wandering across the canvas."""
    h, w = layers.shape[:2]
    roads: list[F64] = []
    for _ in range(int(rng.integers(3, 7))):
        start = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        road = _walk(rng, start, rng.uniform(0, 2 * math.pi), 25 * s, int(diag / (25 * s)), 0.08)
        cv2.polylines(layers, [int_points(road)], False, (178, 162, 128, 162), max(2, int(5 * s)))
        roads.append(road)
    return roads


def _main_road_line(rng: np.random.Generator, h: int, w: int, s: float, diag: float,
                    main_path: tuple[F64, F64] | None) -> tuple[F64, F64]:
    """The main road's polyline (gently wiggling along ``main_path``) and the unit normal of the path."""
    if main_path is None:
        main_path = (np.array([w * 0.2, h * 0.5]), np.array([w * 0.8, h * 0.5]))
    p0, p1 = main_path
    d = (p1 - p0) / max(float(np.linalg.norm(p1 - p0)), 1e-6)
    perp = np.array([-d[1], d[0]])
    u = np.arange(-diag, diag, 12 * s)
    wig = rng.uniform(0.02, 0.06) * h * np.sin(u / (rng.uniform(180, 400) * s) + rng.uniform(0, 6.3))
    main = (p0[None, :] + u[:, None] * d[None, :] + wig[:, None] * perp[None, :]).astype(np.float64)
    inside = (main[:, 0] > -50) & (main[:, 0] < w + 50) & (main[:, 1] > -50) & (main[:, 1] < h + 50)
    return main[inside], perp


def _paint_town(rng: np.random.Generator, layers: F32, s: float, centre: F64) -> None:
    """Concrete base, shadowed buildings with roof details and compound walls."""
    radius = rng.uniform(110, 240) * s
    ang = rng.uniform(-0.5, 0.5)
    ring = np.linspace(0, 2 * math.pi, 20, endpoint=False)
    rr = radius * rng.uniform(0.85, 1.12, 20)
    base = np.stack([centre[0] + rr * np.cos(ring), centre[1] + rr * np.sin(ring)], 1)
    cv2.fillPoly(layers, [int_points(base)], (178, 170, 154, 150))
    g = 32 * s
    n = int(radius / g) + 1
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    for bj in range(-n, n + 1):
        for bi in range(-n, n + 1):
            off = rot @ (np.array([bi, bj]) * g + rng.uniform(-3, 3, 2) * s)
            if np.linalg.norm(off) > radius * 0.92 or rng.random() > 0.8:
                continue
            cx, cy = centre + off
            _paint_building(rng, layers, s, cx, cy, ang)


def _paint_building(rng: np.random.Generator, layers: F32, s: float, cx: float, cy: float, ang: float) -> None:
    """One building: optional compound wall, shadow, roof and an optional roof detail."""
    bw, bh = rng.uniform(11, 26) * s, rng.uniform(10, 24) * s
    roof = _ROOF_COLORS[int(rng.integers(0, len(_ROOF_COLORS)))]
    rect = rect_points(cx, cy, bw, bh, ang)
    if rng.random() < 0.3:
        wall = rect_points(cx, cy, bw + 9 * s, bh + 9 * s, ang)
        cv2.polylines(layers, [int_points(wall)], True, (120, 112, 100, 190), max(1, int(1.5 * s)))
    cv2.fillPoly(layers, [int_points(rect + np.array(SUN_OFFSET) * s)], (56, 52, 48, 96))
    cv2.fillPoly(layers, [int_points(rect)], roof)
    if rng.random() < 0.45:
        det = rect_points(cx + rng.uniform(-0.25, 0.25) * bw, cy + rng.uniform(-0.25, 0.25) * bh,
                          bw * 0.28, bh * 0.28, ang)
        cv2.fillPoly(layers, [int_points(det)], (70, 72, 76, 250))


def _paint_main_road(rng: np.random.Generator, layers: F32, s: float, main: F64) -> None:
    """Shoulders, asphalt and a dashed centre line along ``main``."""
    rw = max(4, int(rng.uniform(10, 14) * s))
    cv2.polylines(layers, [int_points(main)], False, (160, 150, 126, 150), rw + max(2, int(5 * s)))
    cv2.polylines(layers, [int_points(main)], False, (80, 80, 82, 166), rw)
    for k in range(0, len(main) - 1, 2):
        cv2.line(layers, tuple(int(v) for v in main[k]), tuple(int(v) for v in main[k + 1]),
                 (214, 212, 200, 176), max(1, int(1.2 * s)))


def _paint_trees(rng: np.random.Generator, layers: F32, s: float, tree_lines: list[F64]) -> None:
    """Tree clusters scattered over the canvas plus rows along ``tree_lines`` (the canal)."""
    h, w = layers.shape[:2]
    centres = [np.array([rng.uniform(0, w), rng.uniform(0, h)])
               for _ in range(int(w * h / (220 * 220 * s * s)) + 2)]
    for line in tree_lines:
        centres += [p + rng.normal(0, 12 * s, 2) for p in line[:: max(1, len(line) // 25)]]
    for c in centres:
        for _ in range(int(rng.integers(6, 24))):
            p = c + rng.normal(0, 22 * s, 2)
            r = rng.uniform(2.5, 6.5) * s
            sh = p + np.array(SUN_OFFSET) * s * 0.6
            cv2.circle(layers, (int(sh[0]), int(sh[1])), max(1, int(r)), (40, 44, 34, 92), -1)
            g_ = rng.uniform(62, 96)
            cv2.circle(layers, (int(p[0]), int(p[1])), max(1, int(r)),
                       (g_ * 0.66, g_, g_ * 0.5, rng.uniform(80, 100)), -1)


def _add_grain(rng: np.random.Generator, layers: F32, s: float) -> None:
    """Fine texture and grain so feature detectors find plenty of corners."""
    h, w = layers.shape[:2]
    fine = fractal_noise(rng, h, w, max(4, int(24 * s)), 3)
    grain = rng.normal(0, 1, (h, w)).astype(np.float32)
    layers *= (0.8 + 0.4 * fine)[..., None]
    layers[..., :3] += grain[..., None] * 5
    layers[..., 3] += grain * 7


def stylize(layers: F32, style: Style, scale: float) -> U8:
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
    return stylize(build_terrain(rng, height, width, scale).layers, style, scale)
