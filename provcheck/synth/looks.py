"""Low-texture looks a clip can be given: fog, smoke, motion blur, a mostly-sky view.

This module owns the post-processing that takes texture away from a rendered frame
(applied before sensor noise and HUD), the hard cases for matching.  Its drifting
fields are drawn from the video's seed with their own key, so a look never changes
the terrain or the traffic under it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .base import F32, F64, U8, VideoSpec, seeded_rng
from .terrain import fractal_noise

#: Low-texture looks :func:`provcheck.synth.render_video` can give a clip (``look=``); see :class:`LookLayer`.
LOOKS: tuple[str, ...] = ("fog", "smoke", "blur", "sky")


class LookLayer:
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
        rng = seeded_rng(spec.seed, 5)
        speed = {"fog": (5.0, 12.0), "smoke": (18.0, 32.0), "sky": (4.0, 9.0), "blur": (0.0, 0.0)}[spec.look]
        self.drift = np.array([rng.uniform(*speed) * (1 if rng.random() < 0.5 else -1),
                               -rng.uniform(0.2, 0.5) * speed[1]]) * scale  # field pixels per second
        pad_w = int(w + abs(self.drift[0]) * spec.duration_s) + 8
        pad_h = int(h + abs(self.drift[1]) * spec.duration_s) + 8
        cell = {"fog": 220, "smoke": 110, "sky": 170, "blur": 64}[spec.look]
        self.field = fractal_noise(rng, pad_h, pad_w, max(8, int(cell * scale)), 4 if spec.look != "fog" else 3)
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
        """The frame at time ``t`` seen through the look (``velocity``: the camera's, for blur)."""
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
        else:
            img = self._sky(img, t)
        return np.clip(img, 0, 255).astype(np.uint8)

    def _sky(self, img: F32, t: float) -> F32:
        """Sky with drifting clouds over the top ~70 %, the frame squeezed into a hazy band below."""
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
        return np.asarray(np.concatenate([sky, ground], axis=0))
