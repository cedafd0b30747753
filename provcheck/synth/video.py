"""Synthetic aerial videos: the frame renderer, H.264 encoding with PyAV and frame grabs.

This module owns turning a :class:`~provcheck.synth.base.VideoSpec` into frames (scenes
with hard cuts, then a look, thermal sensor noise and the burned-in HUD) and into a
reproducible MP4 (single-threaded libx264, mb-tree off), and decoding frames back out
of an encoded video the way a person grabbing a frame would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from PIL import Image

from .base import DEFAULT_FPS, F32, FULL_FRAME_SIZE, U8, Hud, Look, Style, VideoSpec, seeded_rng
from .hud import hud_overlay
from .looks import LookLayer
from .scene import draw_scene, make_scene

X264_CRF = 22  # with mb-tree off (see X264_PARAMS) this is about the size of crf 20 with it on
X264_PRESET = "veryfast"
# Single-threaded and tuned for speed (the corpus must build in seconds).  mbtree=0 is needed
# for reproducibility: with mb-tree on, this x264 build gave run-to-run different bitstreams
# for small frames (320x176, 352x192, ...) even single-threaded; 640x352 was stable either way.
X264_PARAMS = "threads=1:lookahead-threads=1:me=dia:subme=1:ref=1:rc-lookahead=5:mbtree=0"
GOP_SIZE = 50
_REF_WIDTH = 640.0  # feature sizes are authored for this frame width
_THERMAL_NOISE_BANK = 7


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
        self.scenes = [make_scene(spec, self.scale, k, bounds[k], bounds[k + 1] - bounds[k])
                       for k in range(spec.scenes)]
        hud_rgb, hud_a = hud_overlay(spec.hud, spec.disclaimer, w, h)
        self.hud: tuple[U8, F32, F32] | None = None
        if float(hud_a.max()) > 0:
            self.hud = (np.round(hud_rgb).astype(np.uint8), 1.0 - hud_a, hud_a)
        self.look = LookLayer(spec, self.scale) if spec.look is not None else None
        self.noise: list[tuple[U8, U8]] = []  # (positive, negative) parts of sensor noise
        if spec.style == "thermal":
            nr = seeded_rng(spec.seed, 99)
            for _ in range(_THERMAL_NOISE_BANK):
                n = np.repeat(np.round(nr.normal(0, 2.6, (h, w, 1))), 3, axis=2)
                self.noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))

    def frame(self, i: int) -> U8:
        """Render frame ``i`` (0-based) exactly as it is fed to the encoder."""
        sp = self.spec
        i = min(max(i, 0), self.n_frames - 1)
        sc = next(x for x in reversed(self.scenes) if x.first <= i)
        out = draw_scene(sc, sp, self.scale, (i - sc.first) / sp.fps)
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
    _encode(renderer, Path(path), title)
    return [f / fps for f in renderer.cut_frames]


def _encode(renderer: _VideoRenderer, path: Path, title: str | None) -> None:
    """Encode every frame of ``renderer`` to ``path`` (see ``X264_PARAMS`` for why these settings)."""
    spec = renderer.spec
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream("libx264", rate=spec.fps, options={
            "crf": str(X264_CRF), "preset": X264_PRESET, "threads": "1",
            "x264-params": X264_PARAMS})
        stream.width, stream.height = spec.size
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
