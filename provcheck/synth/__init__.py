"""Deterministic synthetic corpus for provcheck demos, tests and benchmarks.

This package owns everything that *fabricates* media; each module owns one part:

- :mod:`~provcheck.synth.base`: shared types, :class:`VideoSpec`, the seeded RNG, polygon points;
- :mod:`~provcheck.synth.terrain`: procedural aerial terrain (colour or white-hot thermal);
- :mod:`~provcheck.synth.scene`, :mod:`~provcheck.synth.looks`, :mod:`~provcheck.synth.hud`:
  what a video shows (camera path, convoy, strikes), low-texture looks, burned-in HUDs;
- :mod:`~provcheck.synth.video`: rendering and H.264 encoding with PyAV, frame grabs;
- :mod:`~provcheck.synth.photos`: still photos (oblique press photo, unrelated landscape);
- :mod:`~provcheck.synth.edits`: the edits kit that turns a frame or photo into a "claimed
  photo" (crop, caption bar, logo, credit stamp, JPEG, screenshot, ...), and its fonts;
- :mod:`~provcheck.synth.corpus`: :func:`build_demo_corpus`, which replays the 2017 case in
  which a defence ministry published a screenshot of a gunship *simulator* trailer and
  edited frames of 2016 Fallujah airstrike videos as "drone evidence", and its manifest.

Everything is a pure function of an integer seed: randomness only comes from
``numpy.random.default_rng([seed, ...])``, video encoding is single-threaded
x264, and no clock, global RNG or system font is used.  No real footage is
shipped; the generated corpus is the fixture.  The names below are the public API
(``from provcheck import synth; synth.render_video(...)``).
"""

from __future__ import annotations

from .base import DEFAULT_FPS, F32, F64, FULL_FRAME_SIZE, SMALL_FRAME_SIZE, U8, Hud, ImageLike, Look, Style, VideoSpec
from .corpus import (
    DISCLAIMER_SIM,
    HEAVY_CROP_AREA,
    MANIFEST_NAME,
    SOURCE_JPEG_QUALITY,
    DemoCorpus,
    SynthClaim,
    SynthSource,
    build_demo_corpus,
    load_manifest,
    write_manifest,
)
from .edits import (
    Font,
    add_border,
    add_caption_bar,
    add_logo,
    contrast,
    crop,
    downscale,
    font,
    grayscale,
    jpeg,
    mirror,
    rotate,
    rotation_crop_box,
    rotation_crop_scale,
    screenshot,
    stamp_credit,
    text_size,
)
from .looks import LOOKS
from .photos import press_photo, sky_photo
from .terrain import terrain_texture
from .video import GOP_SIZE, X264_CRF, X264_PARAMS, X264_PRESET, extract_frame, extract_frames, render_frame, render_video

__all__ = [
    "DEFAULT_FPS", "DISCLAIMER_SIM", "F32", "F64", "FULL_FRAME_SIZE", "GOP_SIZE", "HEAVY_CROP_AREA", "LOOKS",
    "MANIFEST_NAME", "SMALL_FRAME_SIZE", "SOURCE_JPEG_QUALITY", "U8", "X264_CRF", "X264_PARAMS", "X264_PRESET",
    "DemoCorpus", "Font", "Hud", "ImageLike", "Look", "Style", "SynthClaim", "SynthSource", "VideoSpec",
    "add_border", "add_caption_bar", "add_logo", "build_demo_corpus", "contrast", "crop", "downscale",
    "extract_frame", "extract_frames", "font", "grayscale", "jpeg", "load_manifest", "mirror", "press_photo",
    "render_frame", "render_video", "rotate", "rotation_crop_box", "rotation_crop_scale", "screenshot",
    "sky_photo", "stamp_credit", "terrain_texture", "text_size", "write_manifest",
]
