"""One scene of a video: its terrain, camera path, convoy and strikes, and how a frame of it is drawn.

This module owns what the camera sees before any look, noise or HUD: a terrain built
around the camera's path, vehicles driving along its main road, strikes that stop and
burn their target, and the drawing of a frame at time ``t`` (camera pan, wobble and
zoom, scorch marks, anti-aliased vehicles, fire and smoke).  A scene's randomness comes
from ``(seed, 1, scene number)`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .base import F64, SUN_OFFSET, U8, VideoSpec, ellipse_points, rect_points, seeded_rng
from .terrain import build_terrain, stylize

_WHITE: tuple[float, float, float] = (255.0, 255.0, 255.0)


@dataclass
class Vehicle:
    """A vehicle driving along ``road`` (arc lengths ``cum``); it stops for good at ``stop_t``."""

    road: F64
    cum: F64
    s0: float
    speed: float
    body: tuple[float, float, float]
    length: float
    stop_t: float = float("inf")


@dataclass
class Explosion:
    """A strike at scene time ``t`` at terrain position ``pos``."""

    t: float
    pos: F64
    radius: float


@dataclass
class Scene:
    """A scene: the terrain texture, the camera's start and velocity, its frames and contents."""

    texture: U8
    start: F64
    velocity: F64
    frames: int
    first: int
    wobble: float
    vehicles: list[Vehicle]
    explosions: list[Explosion]


def road_point(v: Vehicle, t: float) -> tuple[F64, float]:
    """Position and heading (radians) of vehicle ``v`` at scene time ``t``."""
    s = v.s0 + v.speed * min(t, v.stop_t)
    x = float(np.interp(s, v.cum, v.road[:, 0]))
    y = float(np.interp(s, v.cum, v.road[:, 1]))
    x2 = float(np.interp(s + 2, v.cum, v.road[:, 0]))
    y2 = float(np.interp(s + 2, v.cum, v.road[:, 1]))
    return np.array([x, y]), math.atan2(y2 - y, x2 - x)


def make_scene(spec: VideoSpec, scale: float, k: int, first: int, frames: int) -> Scene:
    """Scene ``k`` of the video, starting at frame ``first`` and lasting ``frames`` frames."""
    rng = seeded_rng(spec.seed, 1, k)
    dur = frames / spec.fps
    start, vel, speed, (tw, th), path = _camera_path(rng, spec, scale, dur)
    terrain = build_terrain(rng, th, tw, scale, path)
    texture = stylize(terrain.layers, spec.style, scale)
    vehicles = _convoy(rng, spec, scale, terrain.roads[0], start, vel, speed)
    explosions = _strikes(rng, spec, scale, k, dur, vehicles, start, vel)
    return Scene(texture, start, vel, frames, first, rng.uniform(0, 6.3), vehicles, explosions)


def _camera_path(rng: np.random.Generator, spec: VideoSpec, s: float, dur: float
                 ) -> tuple[F64, F64, float, tuple[int, int], tuple[F64, F64]]:
    """Camera start, velocity and speed, the terrain size it needs and the path the main road follows."""
    w, h = spec.size
    speed = rng.uniform(40, 70) * s if spec.pan else 0.0
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
    return start, vel, speed, (tw, th), path


def _convoy(rng: np.random.Generator, spec: VideoSpec, s: float, main: F64, start: F64, vel: F64,
            speed: float) -> list[Vehicle]:
    """``spec.vehicles`` vehicles in a column on the main road, centred under the camera's start."""
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(main, axis=0), axis=1))])
    s_centre = float(cum[int(np.argmin(np.linalg.norm(main - start, axis=1)))])
    direction_sign = 1.0 if float(np.dot(main[-1] - main[0], vel)) >= 0 else -1.0
    vehicles: list[Vehicle] = []
    gap = rng.uniform(26, 40) * s
    base_speed = speed * rng.uniform(0.75, 1.1) * direction_sign
    for v in range(spec.vehicles):
        if spec.style == "thermal":
            body = (238.0, 238.0, 238.0) if v % 3 else (210.0, 210.0, 210.0)
        else:
            body = [(32.0, 34.0, 36.0), (214.0, 214.0, 208.0), (118.0, 108.0, 88.0)][v % 3]
        vehicles.append(Vehicle(main, cum, s_centre - direction_sign * (v - spec.vehicles / 2) * gap,
                                base_speed, body, rng.uniform(13, 17) * s))
    return vehicles


def _strikes(rng: np.random.Generator, spec: VideoSpec, s: float, k: int, dur: float, vehicles: list[Vehicle],
             start: F64, vel: F64) -> list[Explosion]:
    """The strikes falling in scene ``k`` (spread round-robin over the scenes); each stops its target."""
    explosions: list[Explosion] = []
    for e in range(spec.explosions):
        if e % spec.scenes != k:
            continue
        te = dur * (0.45 + 0.1 * (e // spec.scenes))
        if vehicles:
            target = vehicles[e % len(vehicles)]
            target.stop_t = te
            pos = road_point(target, te)[0]
        else:
            pos = start + vel * te
        explosions.append(Explosion(te, pos, rng.uniform(28, 38) * s))
    return explosions


@dataclass(frozen=True)
class _View:
    """The camera at one instant: zoom ``z`` centred on terrain point ``cam``."""

    z: float
    cam: F64
    w: int
    h: int
    s: float
    thermal: bool

    def to_frame(self, p: F64) -> F64:
        return np.asarray(p * self.z - self.cam * self.z + np.array([self.w / 2, self.h / 2]), np.float64)


def draw_scene(sc: Scene, spec: VideoSpec, s: float, t: float) -> U8:
    """The frame of scene ``sc`` at scene time ``t``, before any look, sensor noise or HUD."""
    w, h = spec.size
    z = 1.0 + (0.3 * t / max(sc.frames / spec.fps, 1e-6) if spec.zoom else 0.0)
    cam = sc.start + sc.velocity * t + 1.2 * s * np.array(
        [math.sin(1.7 * t + sc.wobble), math.cos(1.3 * t + sc.wobble)])
    m = np.array([[z, 0, w / 2 - z * cam[0]], [0, z, h / 2 - z * cam[1]]], np.float64)
    out = np.ascontiguousarray(cv2.warpAffine(sc.texture, m, (w, h), flags=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REFLECT), np.uint8)
    view = _View(z, cam, w, h, s, spec.style == "thermal")
    for ex in sc.explosions:
        if t >= ex.t:  # scorch mark / burnt ground
            c = view.to_frame(ex.pos)
            tone = (150.0,) * 3 if view.thermal else (40.0, 36.0, 32.0)
            _blend_poly(out, ellipse_points(c[0], c[1], ex.radius * z, ex.radius * z * 0.8), tone, 0.6, 2.5 * s)
    for v in sc.vehicles:
        _draw_vehicle(out, v, t, view)
    for ex in sc.explosions:
        _draw_fire_and_smoke(out, ex, t, view)
    return out


def _draw_vehicle(out: U8, v: Vehicle, t: float, view: _View) -> None:
    """Vehicle ``v`` at time ``t``: hot body and engine (thermal) or shadow, body and windscreen."""
    p, hd = road_point(v, t)
    c = view.to_frame(p)
    z, s, w, h = view.z, view.s, view.w, view.h
    if not (-30 < c[0] < w + 30 and -30 < c[1] < h + 30):
        return
    ln, wd = v.length * z, v.length * 0.48 * z
    wreck = t >= v.stop_t
    if view.thermal:
        _blend_poly(out, ellipse_points(c[0], c[1], ln * 0.9, wd * 1.1, hd), _WHITE, 0.35, 2.5 * s)
        _blend_poly(out, rect_points(c[0], c[1], ln, wd, hd), (255.0,) * 3 if wreck else v.body, 1.0)
        eng = c + np.array([math.cos(hd), math.sin(hd)]) * ln * 0.3
        _blend_poly(out, rect_points(eng[0], eng[1], ln * 0.3, wd * 0.8, hd), _WHITE, 1.0)
    else:
        sh = c + np.array(SUN_OFFSET) * s * z * 0.7
        _blend_poly(out, rect_points(sh[0], sh[1], ln, wd, hd), (30.0, 28.0, 26.0), 0.55, 0.8)
        _blend_poly(out, rect_points(c[0], c[1], ln, wd, hd), (20.0, 18.0, 16.0) if wreck else v.body, 1.0)
        ws = c + np.array([math.cos(hd), math.sin(hd)]) * ln * 0.18
        _blend_poly(out, rect_points(ws[0], ws[1], ln * 0.16, wd * 0.8, hd), (50.0, 60.0, 70.0), 0.9)


def _draw_fire_and_smoke(out: U8, ex: Explosion, t: float, view: _View) -> None:
    """Fireball, drifting smoke and the burning wreck during the 5 s after strike ``ex``."""
    dt = t - ex.t
    if not 0 <= dt <= 5.0:
        return
    c = view.to_frame(ex.pos)
    r = ex.radius * view.z
    fire = math.exp(-dt / 0.45)
    smoke_c = c + np.array([14.0, -9.0]) * dt * view.s
    grow = r * (0.6 + 0.7 * dt)
    smoke = 0.95 * math.exp(-dt / 2.5) * min(1.0, dt * 3)
    if view.thermal:
        _glow(out, smoke_c, grow, (190.0, 190.0, 190.0), smoke)
        _glow(out, c, r * (0.45 + 0.55 * min(1, dt / 0.25)), _WHITE, 1.6 * fire)
        _glow(out, c, r * 0.35, _WHITE, 0.9)  # burning wreck stays hot
    else:
        _glow(out, smoke_c, grow, (74.0, 70.0, 66.0), smoke)
        _glow(out, c, r * 1.3, (255.0, 140.0, 40.0), 1.2 * fire)
        _glow(out, c, r * (0.4 + 0.5 * min(1, dt / 0.25)), (255.0, 244.0, 210.0), 1.5 * fire)


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
