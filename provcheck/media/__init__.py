"""Reading media: still images through Pillow, videos through PyAV, both as :class:`Frame`.

The package owns everything that touches a media file's bytes, in three parts:

- :mod:`.sniff`: what a file is before anything decodes it (signatures, whitelists,
  the guarded FFmpeg open, truncation checks, SHA-256);
- :mod:`.still`: stills through Pillow (bomb limit, EXIF orientation, any mode to RGB);
- :mod:`.video`: videos through PyAV (probe, sample at a rate plus scene cuts, decode upright);

and :mod:`.frame`, the :class:`Frame` record they all return. Whatever is wrong with a
file, these raise :class:`~provcheck.errors.MediaError` with one line naming the file
and the problem, and never any other exception.

The names below are what the rest of provcheck, the tests and the benches import
(``from provcheck.media import ...``); the submodules are the places to edit.
"""

from __future__ import annotations

from .frame import Frame, RGBArray
from .sniff import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, media_kind, sha256_file
from .still import MAX_IMAGE_PIXELS, image_frame, load_image
from .video import (
    DEFAULT_SAMPLE_FPS,
    MAX_VIDEO_DURATION_S,
    MAX_VIDEO_FRAME_PIXELS,
    NEAR_DUPLICATE_MEAN_ABS_DIFF,
    SCENE_CUT_MEAN_ABS_DIFF,
    VideoInfo,
    open_footage,
    probe_video,
    sample_video,
    upright_grey,
    upright_pixels,
)

__all__ = [
    "DEFAULT_SAMPLE_FPS",
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_PIXELS",
    "MAX_VIDEO_DURATION_S",
    "MAX_VIDEO_FRAME_PIXELS",
    "NEAR_DUPLICATE_MEAN_ABS_DIFF",
    "SCENE_CUT_MEAN_ABS_DIFF",
    "VIDEO_EXTENSIONS",
    "Frame",
    "RGBArray",
    "VideoInfo",
    "image_frame",
    "load_image",
    "media_kind",
    "open_footage",
    "probe_video",
    "sample_video",
    "sha256_file",
    "upright_grey",
    "upright_pixels",
]
