"""Accuracy benchmark: provcheck against pHash and PDQ brute-force baselines on a generated corpus.

A seeded corpus (provcheck.synth) of indexed sources -- colour and thermal videos with
pans, zooms and scene cuts, two unrelated videos burning in the SAME gunship HUD, fog,
smoke, motion-blur and sky-filled videos, and still photos -- plus non-indexed twins of
every style. Claimed photos are made from frames (decoded from the encoded videos, so
their times are true presentation times) and stills with each edit alone and in a few
combinations; the same edits applied to the non-indexed sources are the negatives.

Three systems answer every claim in the same run:

* provcheck: ``Index.check`` on an index built with ``Index.add``;
* pHash and PDQ: the nearest indexed frame by Hamming distance over the very frames
  provcheck sampled (hashes read from its SQLite index), a match when the distance is at
  most a threshold tuned on the negatives so that none of them matches ("recall at a
  fixed false-match rate" of 0, as in thorn-oss/perception's benchmark).

    python bench/accuracy.py [--seed N] [--quick] [--calibration-seed M] [--out DIR]

``--calibration-seed`` builds a second, independent corpus and prints provcheck's
calibration numbers (inliers and hash evidence of negatives and true positives) for it,
and how the baselines' thresholds tuned on the first corpus hold up on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from search_mode import add_search_option, prepare_search, search_settings

from provcheck import ClaimResult, Index, Match, Verdict, __version__, synth
from provcheck.hashing import Hasher, PDQHasher, PHasher, hamming_distances
from provcheck.match import Assessment, MatchSettings
from provcheck.media import load_image
from provcheck.store import HashTable
from provcheck.store.locations import open_store, shown_location

# --------------------------------------------------------------------------- settings

FPS = synth.DEFAULT_FPS
#: A reported rotation within this of the true one is right (None counts as 0 degrees).
ROTATION_TOLERANCE_DEG = 1.0
#: Timestamp tolerance of the "within 1 s" column (the demo's tolerance for a right time).
TIME_TOLERANCE_S = 1.0
#: Baseline thresholds are tuned so that at most this many negatives match.
BASELINE_ALLOWED_FALSE_MATCHES = 0
#: Crop areas of the crop edits, as a share of the frame.
CROP_AREAS = {"crop90": 0.9, "crop60": 0.6, "crop35": 0.35, "crop10": 0.1}
#: Aspect ratio of a crop is the frame's times a factor in this range.
CROP_ASPECT_JITTER = (0.85, 1.18)
ROTATION_RANGE_DEG = (2.0, 5.0)
JPEG_QUALITY_RANGE = (30, 85)
CAPTIONS = ("Terrorist convoy leaving the city under air cover", "BREAKING: convoy hit on highway",
            "Footage from today's operation", "Drone video shows militants fleeing")
CAPTION_TAGS = (None, "MOD", "LIVE", "BREAKING")
LOGOS = ("MOD", "NEWS 24", "@warfeed", "TV")
BORDER_COLOURS = ((255, 255, 255), (0, 0, 0), (238, 238, 238), (24, 24, 24))
DIFFICULTIES = ("easy", "medium", "hard")
SYSTEMS = ("provcheck", "phash", "pdq")
PERCENTILES = (0, 1, 5, 25, 50, 75, 95, 99, 100)
#: The matcher's thresholds as the bench runs it (the calibration tables read its gates).
SETTINGS = MatchSettings()


@dataclass(frozen=True)
class Settings:
    """Corpus and claim counts of one benchmark mode."""

    name: str
    frame_size: tuple[int, int]
    still_size: tuple[int, int]
    duration_s: float
    positives_per_row: int
    negatives_per_row: int
    calibration_positives_per_row: int
    calibration_negatives_per_row: int
    downscale_width: int
    thumbnail_width: int  # the "thumbnail" edit (a 10 % crop of a full-size frame is ~200 px wide)
    negative_row_stride: int = 1  # negatives are made for every n-th edit row only


FULL = Settings("full", (640, 352), (1024, 640), 8.0, 8, 4, 2, 3, 480, 160)
QUICK = Settings("quick", (320, 176), (512, 320), 4.0, 1, 1, 1, 1, 240, 80, negative_row_stride=2)


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class SourceStyle:
    """One kind of source: a video (``render_video`` keyword arguments) or a still maker."""

    key: str
    label: str
    kind: str  # "video" or "image"
    options: tuple[tuple[str, Any], ...] = ()


VIDEO_STYLES = (
    SourceStyle("colour_pan_zoom", "colour, pan+zoom, cut", "video",
                (("style", "color"), ("zoom", True), ("scenes", 2), ("vehicles", 4), ("explosions", 1))),
    SourceStyle("colour_cuts", "colour, 3 scenes", "video", (("style", "color"), ("scenes", 3))),
    SourceStyle("gunship_a", "thermal, gunship HUD", "video",
                (("style", "thermal"), ("hud", "gunship"), ("zoom", True), ("vehicles", 4), ("explosions", 1))),
    SourceStyle("gunship_b", "thermal, gunship HUD", "video",
                (("style", "thermal"), ("hud", "gunship"), ("scenes", 2))),
    SourceStyle("thermal_pod", "thermal, pod HUD, cut", "video",
                (("style", "thermal"), ("hud", "pod"), ("scenes", 2), ("vehicles", 5), ("explosions", 2))),
    SourceStyle("fog", "fog", "video", (("style", "color"), ("look", "fog"))),
    SourceStyle("smoke", "smoke", "video", (("style", "color"), ("look", "smoke"), ("explosions", 1))),
    SourceStyle("blur", "motion blur", "video", (("style", "color"), ("look", "blur"), ("zoom", True))),
    SourceStyle("sky", "sky", "video", (("style", "color"), ("look", "sky"))),
)
STILL_STYLES = (
    SourceStyle("press", "still: press photo", "image"),
    SourceStyle("skyphoto", "still: sky photo", "image"),
    SourceStyle("terrain", "still: aerial terrain", "image"),
)
STYLES = VIDEO_STYLES + STILL_STYLES


@dataclass(frozen=True)
class Source:
    """A generated source file."""

    name: str
    style: SourceStyle
    path: Path
    indexed: bool
    seed: int
    duration_s: float | None
    scene_cuts_s: tuple[float, ...] = ()  # first frame of every scene after the first (videos)


def _write_still(path: Path, style: SourceStyle, seed: int, size: tuple[int, int]) -> list[float]:
    rng = np.random.default_rng(seed)
    width, height = size
    if style.key == "press":
        pixels = synth.press_photo(rng, width, height)
    elif style.key == "skyphoto":
        pixels = synth.sky_photo(rng, width, height)
    else:
        pixels = synth.terrain_texture(rng, height * 6 // 5, width, "color", width / 1024)
    Image.fromarray(pixels).save(path, quality=synth.SOURCE_JPEG_QUALITY)
    return []


def generate_sources(root: Path, seed: int, settings: Settings) -> list[Source]:
    """Render every indexed source and its non-indexed twin (a different seed) under ``root``."""
    seeds = [int(x) for x in np.random.SeedSequence([seed, 1]).generate_state(2 * len(STYLES))]
    sources: list[Source] = []
    jobs: list[Callable[[], list[float]]] = []
    for indexed in (True, False):
        for number, style in enumerate(STYLES):
            source_seed = seeds[number + (0 if indexed else len(STYLES))]
            name = f"{'idx' if indexed else 'neg'}_{style.key}"
            if style.kind == "video":
                path = root / f"{name}.mp4"
                jobs.append(partial(synth.render_video, path, source_seed, size=settings.frame_size, fps=FPS,
                                    duration_s=settings.duration_s, **dict(style.options)))
                duration: float | None = settings.duration_s
            else:
                path = root / f"{name}.jpg"
                jobs.append(partial(_write_still, path, style, source_seed, settings.still_size))
                duration = None
            sources.append(Source(name, style, path, indexed, source_seed, duration))
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        cuts = [future.result() for future in [pool.submit(job) for job in jobs]]
    return [dataclasses.replace(source, scene_cuts_s=tuple(c)) for source, c in zip(sources, cuts, strict=True)]


# --------------------------------------------------------------------------- edits


@dataclass
class Picture:
    """A claim being made: the image, where its picture lies in the source, and what was done.

    The footprint is the parallelogram ``origin + u * ex + v * ey`` (``u, v`` in [0, 1]
    over the current picture) in fractions of the source frame.
    """

    image: Image.Image
    origin: NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))
    ex: NDArray[np.float64] = field(default_factory=lambda: np.array([1.0, 0.0]))
    ey: NDArray[np.float64] = field(default_factory=lambda: np.array([0.0, 1.0]))
    geometric: bool = False  # cropped or rotated: the claim does not show the whole frame
    overlaid: bool = False  # bands or UI added: later edits cannot change the footprint
    mirrored: bool = False
    rotation_deg: float = 0.0
    jpeg_quality: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_source(self, u: float, v: float) -> NDArray[np.float64]:
        return np.asarray(self.origin + u * self.ex + v * self.ey, dtype=np.float64)

    def crop_box(self) -> tuple[float, float, float, float] | None:
        """The footprint's bounding box in source fractions (None: the whole frame)."""
        if not self.geometric:
            return None
        corners = np.array([self.to_source(u, v) for u in (0.0, 1.0) for v in (0.0, 1.0)])
        lo = np.clip(corners.min(axis=0), 0.0, 1.0)
        hi = np.clip(corners.max(axis=0), 0.0, 1.0)
        return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))

    def reframe(self, box: tuple[float, float, float, float]) -> None:
        """The picture becomes the part ``box`` (fractions of the current picture) of itself."""
        x, y, w, h = box
        self.origin = self.to_source(x, y)
        self.ex, self.ey = self.ex * w, self.ey * h


def random_crop_box(rng: np.random.Generator, area: float, aspect: float) -> tuple[float, float, float, float]:
    """A box of the given area share, aspect ratio ``aspect`` x the frame's, at a random position."""
    w = math.sqrt(area * aspect)
    h = math.sqrt(area / aspect)
    if w > 1.0:
        w, h = 1.0, area
    if h > 1.0:
        w, h = area, 1.0
    return (float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h)), w, h)


def _edit_crop(area: float) -> Callable[[Picture, np.random.Generator, Settings], None]:
    def apply(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
        box = random_crop_box(rng, area, float(rng.uniform(*CROP_ASPECT_JITTER)))
        pic.image = synth.crop(pic.image, box)
        pic.reframe(box)
        pic.geometric = True
        pic.notes.append(f"crop {area:.0%} at ({box[0]:.2f},{box[1]:.2f})")
    return apply


def _edit_mirror(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    pic.image = synth.mirror(pic.image)
    pic.origin, pic.ex = pic.to_source(1.0, 0.0), -pic.ex
    pic.mirrored = not pic.mirrored
    pic.rotation_deg = -pic.rotation_deg
    pic.notes.append("mirror")


def _edit_rotate(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    """synth.rotate: counter-clockwise about the centre (Pillow), then the inscribed centred crop."""
    deg = float(rng.uniform(*ROTATION_RANGE_DEG)) * (1 if rng.random() < 0.5 else -1)
    width, height = pic.image.size
    pic.image = synth.rotate(pic.image, deg)
    inset, _, side, _ = synth.rotation_crop_box(width, height, deg)  # what synth.rotate crops
    cos, sin = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    cx, cy = width / 2, height / 2

    def rotated_to_picture(u: float, v: float) -> tuple[float, float]:
        # Pillow samples input = R (output - centre) + centre, R = [[cos, -sin], [sin, cos]] in pixels.
        ox, oy = (inset + u * side) * width - cx, (inset + v * side) * height - cy
        return (cos * ox - sin * oy + cx) / width, (sin * ox + cos * oy + cy) / height

    origin, right, down = (rotated_to_picture(u, v) for u, v in ((0, 0), (1, 0), (0, 1)))
    new_origin = pic.to_source(*origin)
    pic.ex, pic.ey = pic.to_source(*right) - new_origin, pic.to_source(*down) - new_origin
    pic.origin = new_origin
    pic.geometric = True
    pic.rotation_deg += deg
    pic.notes.append(f"rotate {deg:+.1f} deg")


def _edit_caption(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    text = CAPTIONS[int(rng.integers(len(CAPTIONS)))]
    tag = CAPTION_TAGS[int(rng.integers(len(CAPTION_TAGS)))]
    position = "top" if rng.random() < 0.25 else "bottom"
    pic.image = synth.add_caption_bar(pic.image, text, position=position, tag=tag)
    pic.overlaid = True
    pic.notes.append(f"caption {position}")


def _edit_border(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    px = max(3, round(pic.image.width * float(rng.uniform(0.01, 0.04))))
    colour = BORDER_COLOURS[int(rng.integers(len(BORDER_COLOURS)))]
    pic.image = synth.add_border(pic.image, px, colour)
    pic.overlaid = True
    pic.notes.append(f"border {px}px")


def _edit_logo(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    corner = ("top-left", "top-right", "bottom-left", "bottom-right")[int(rng.integers(4))]
    pic.image = synth.add_logo(pic.image, LOGOS[int(rng.integers(len(LOGOS)))], corner,
                               float(rng.uniform(0.6, 0.9)))
    pic.notes.append(f"logo {corner}")


def _edit_contrast(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    factor, gamma = float(rng.uniform(0.7, 1.5)), float(rng.uniform(0.75, 1.35))
    pic.image = synth.contrast(pic.image, factor, gamma)
    pic.notes.append(f"contrast x{factor:.2f} gamma {gamma:.2f}")


def _edit_grayscale(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    pic.image = synth.grayscale(pic.image)
    pic.notes.append("grayscale")


def _edit_jpeg(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    pic.jpeg_quality = int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))
    pic.notes.append(f"JPEG q{pic.jpeg_quality}")  # applied when the claim is saved


def _edit_downscale(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    pic.image = synth.downscale(pic.image, settings.downscale_width)
    pic.notes.append(f"downscale {pic.image.width}px")


def _edit_thumbnail(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    pic.image = synth.downscale(pic.image, settings.thumbnail_width)
    pic.notes.append(f"thumbnail {pic.image.width}px")


def _edit_screenshot(pic: Picture, rng: np.random.Generator, settings: Settings) -> None:
    style = "phone" if rng.random() < 0.5 else "player"
    pic.image = synth.screenshot(pic.image, style, "@mod_news" if style == "phone" else "Video player",
                                 CAPTIONS[int(rng.integers(len(CAPTIONS)))])
    pic.overlaid = True
    pic.notes.append(f"screenshot {style}")


EditFn = Callable[[Picture, np.random.Generator, Settings], None]
EDITS: dict[str, EditFn] = {
    **{name: _edit_crop(area) for name, area in CROP_AREAS.items()},
    "mirror": _edit_mirror, "rotate": _edit_rotate, "caption": _edit_caption, "border": _edit_border,
    "logo": _edit_logo, "contrast": _edit_contrast, "grayscale": _edit_grayscale, "jpeg": _edit_jpeg,
    "downscale": _edit_downscale, "thumbnail": _edit_thumbnail, "screenshot": _edit_screenshot,
}
#: Edits that move the picture inside the source: they must come before any band or UI is added.
GEOMETRIC_EDITS = frozenset({*CROP_AREAS, "mirror", "rotate"})


@dataclass(frozen=True)
class EditRow:
    """One row of the tables: a named chain of edits and its difficulty."""

    name: str
    difficulty: str
    edits: tuple[str, ...]


ROWS = (
    EditRow("caption bar", "easy", ("caption",)),
    EditRow("border", "easy", ("border",)),
    EditRow("logo", "easy", ("logo",)),
    EditRow("mirror", "easy", ("mirror",)),
    EditRow("contrast+gamma", "easy", ("contrast",)),
    EditRow("grayscale", "easy", ("grayscale",)),
    EditRow("JPEG q30-85", "easy", ("jpeg",)),
    EditRow("downscale", "easy", ("downscale",)),
    EditRow("caption+logo+JPEG", "easy", ("caption", "logo", "jpeg")),
    EditRow("crop 90 %", "medium", ("crop90",)),
    EditRow("crop 60 %", "medium", ("crop60",)),
    EditRow("rotate 2-5 deg", "medium", ("rotate",)),
    EditRow("crop 60 %+mirror+logo", "medium", ("crop60", "mirror", "logo")),
    EditRow("rotate+grayscale+JPEG", "medium", ("rotate", "grayscale", "jpeg")),
    EditRow("crop 35 %", "hard", ("crop35",)),
    EditRow("crop 35 %+caption+JPEG", "hard", ("crop35", "caption", "jpeg")),
    EditRow("screenshot (UI chrome)", "hard", ("screenshot",)),
    # appended last so that the claims of the rows above stay the same for a given seed
    EditRow("crop 10 %+thumbnail+JPEG", "hard", ("crop10", "thumbnail", "jpeg")),
)


def apply_edits(image: Image.Image, edits: Sequence[str], rng: np.random.Generator, settings: Settings) -> Picture:
    """Apply a chain of edits, tracking the ground truth of the picture's footprint."""
    pic = Picture(image.convert("RGB"))
    for name in edits:
        if name in GEOMETRIC_EDITS and pic.overlaid:
            raise ValueError(f"geometric edit {name!r} after a band or UI was added: the truth would be wrong")
        EDITS[name](pic, rng, settings)
    return pic


# --------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """A claimed photo and its ground truth (source None: a negative)."""

    name: str
    path: Path
    row: EditRow
    style: SourceStyle
    from_source: str  # the (indexed or not) source it was made from
    source: str | None  # the indexed source it should match; None for a negative
    time_s: float | None
    frame: int | None
    crop: tuple[float, float, float, float] | None
    mirrored: bool
    rotation_deg: float
    description: str

    @property
    def positive(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class _Plan:
    row_number: int
    row: EditRow
    number: int
    source: Source
    time_s: float | None


def plan_claims(sources: Sequence[Source], seed: int, positives: int, negatives: int,
                negative_row_stride: int = 1) -> list[_Plan]:
    """Which source (and time) each claim comes from: sources rotate through the rows."""
    plans = []
    for indexed, count in ((True, positives), (False, negatives)):
        pool = [s for s in sources if s.indexed is indexed]
        for row_number, row in enumerate(ROWS):
            if not indexed and row_number % negative_row_stride:
                continue
            for number in range(count):
                source = pool[(row_number * count + number) % len(pool)]
                rng = np.random.default_rng([seed, 2, row_number, number, int(indexed)])
                time_s = None
                if source.duration_s is not None:
                    time_s = float(rng.uniform(0.0, source.duration_s - 1.0 / FPS))
                plans.append(_Plan(row_number, row, number, source, time_s))
    return plans


def _grab_frames(plans: Sequence[_Plan]) -> dict[int, tuple[Image.Image, float | None]]:
    """Decode the needed frames (one pass per video) and load the stills."""
    grabs: dict[int, tuple[Image.Image, float | None]] = {}
    by_video: dict[Path, list[int]] = {}
    for k, plan in enumerate(plans):
        if plan.time_s is None:
            grabs[k] = (Image.open(plan.source.path).convert("RGB"), None)
        else:
            by_video.setdefault(plan.source.path, []).append(k)

    def grab(path: Path) -> None:
        ks = by_video[path]
        frames = synth.extract_frames(path, [float(plans[k].time_s or 0.0) for k in ks])
        for k, (image, actual) in zip(ks, frames, strict=True):
            grabs[k] = (image, actual)

    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(grab, by_video))
    return grabs


def make_claims(sources: Sequence[Source], root: Path, seed: int, settings: Settings, positives: int,
                negatives: int) -> list[Claim]:
    """Write every claim (PNG, or JPEG when the chain recompresses) and return its truth."""
    plans = plan_claims(sources, seed, positives, negatives, settings.negative_row_stride)
    grabs = _grab_frames(plans)
    root.mkdir(parents=True, exist_ok=True)
    claims = []
    for k, plan in enumerate(plans):
        image, actual = grabs[k]
        rng = np.random.default_rng([seed, 3, plan.row_number, plan.number, int(plan.source.indexed)])
        pic = apply_edits(image, plan.row.edits, rng, settings)
        kind = "pos" if plan.source.indexed else "neg"
        stem = f"{kind}_{plan.row_number:02d}_{plan.number:02d}_{plan.source.style.key}"
        if pic.jpeg_quality is not None:
            path = root / f"{stem}.jpg"
            pic.image.save(path, quality=pic.jpeg_quality)
        else:
            path = root / f"{stem}.png"
            pic.image.save(path)
        at = "" if actual is None else f" at {actual:.2f}s"
        claims.append(Claim(
            name=stem, path=path, row=plan.row, style=plan.source.style, from_source=plan.source.name,
            source=plan.source.name if plan.source.indexed else None, time_s=actual,
            frame=None if actual is None else round(actual * FPS), crop=pic.crop_box(), mirrored=pic.mirrored,
            rotation_deg=pic.rotation_deg, description=f"{plan.source.name}{at}: {', '.join(pic.notes)}"))
    return claims


# --------------------------------------------------------------------------- systems


@dataclass(frozen=True)
class Answer:
    """What one system said about one claim (the right source's match when it named it)."""

    verdict: str  # "match", "possible" or "none"
    matched: tuple[str, ...]  # every source named with verdict "match"
    source: str | None  # the source the fields below describe
    time_s: float | None = None
    window_s: tuple[float, float] | None = None
    crop: tuple[float, float, float, float] | None = None
    mirrored: bool | None = None
    rotation_deg: float | None = None
    inliers: int | None = None
    hash_evidence: float | None = None
    seconds: float = 0.0
    distance: int | None = None
    derives: bool = False  # the system reports crop, mirroring and rotation (the baselines do not)


@dataclass(frozen=True)
class Probe:
    """The matcher's best evidence per source for one claim, recorded while it ran (calibration)."""

    inliers: dict[str, int]  # best verified frame of each source
    inliers_gated: dict[str, int]  # the same, among frames whose inliers span >= SETTINGS.min_hull_share of the claim
    hull_share: dict[str, float]  # of the best verified frame
    hash_evidence: dict[str, float]
    agreement: dict[str, float] = dataclasses.field(default_factory=dict)  # pixel agreement, where measured


def probe_of(assessment: Assessment, source_of_row: Sequence[str], name_of_source: dict[int, str]) -> Probe:
    """The matcher's best evidence per source for one claim, from its public assessment."""
    evidence: dict[str, float] = {}
    for row, value in enumerate(np.asarray(assessment.hash_evidence, dtype=np.float64)):
        name = source_of_row[row]
        evidence[name] = max(evidence.get(name, -math.inf), float(value))
    inliers: dict[str, int] = {}
    gated: dict[str, int] = {}
    hull: dict[str, float] = {}
    for row, verification in assessment.verified.items():
        name = source_of_row[int(row)]
        count, share = int(verification.inliers), float(verification.hull_share)
        if count > inliers.get(name, -1):
            inliers[name], hull[name] = count, share
        if share >= SETTINGS.min_hull_share:
            gated[name] = max(gated.get(name, 0), count)
    agreement = {name_of_source[source_id]: float(measured.share())
                 for source_id, measured in assessment.agreements.items()
                 if measured.counts()[0] >= SETTINGS.agreement_min_cells}
    return Probe(inliers, gated, hull, evidence, agreement)


def _crop_tuple(match: Match) -> tuple[float, float, float, float] | None:
    box = match.derivation.crop
    return None if box is None else (box.x, box.y, box.w, box.h)


def run_provcheck(index: Index, claims: Sequence[Claim], name_of_path: dict[str, str], source_of_row: Sequence[str],
                  name_of_source: dict[int, str], log: Callable[[str], None]) -> tuple[list[Answer], list[Probe | None]]:
    """Match every claim as ``Index.check`` does (top 5); the answer describes the right source's match if named."""
    answers: list[Answer] = []
    probes: list[Probe | None] = []
    for k, claim in enumerate(claims):
        start = time.perf_counter()
        assessment = index.assess(claim.path)
        result = ClaimResult.of(str(claim.path), assessment.matches[:5])
        seconds = time.perf_counter() - start
        probes.append(probe_of(assessment, source_of_row, name_of_source))
        named = [(name_of_path.get(m.source.path, m.source.path), m) for m in result.matches]
        matched = tuple(name for name, m in named if m.verdict is Verdict.MATCH)
        chosen = next(((n, m) for n, m in named if n == claim.source and m.verdict is Verdict.MATCH),
                      named[0] if named else None)
        if chosen is None:
            answers.append(Answer(result.verdict.value, matched, None, seconds=seconds))
        else:
            name, m = chosen
            answers.append(Answer(
                result.verdict.value, matched, name, m.timestamp_s, m.window_s, _crop_tuple(m), m.derivation.mirrored,
                m.derivation.rotation_deg, m.evidence.inliers, m.evidence.hash_evidence, seconds, derives=True))
        if (k + 1) % 25 == 0:
            log(f"  provcheck: {k + 1}/{len(claims)} claims")
    return answers, probes


@dataclass
class HashBaseline:
    """Brute-force nearest indexed frame by Hamming distance of one perceptual hash."""

    name: str
    hasher: Hasher
    table: HashTable
    source_of_row: list[str]

    def nearest(self, path: Path) -> tuple[int, int, float]:
        """(row, distance, seconds) of the nearest indexed frame, timing load + hash + search."""
        start = time.perf_counter()
        pixels = np.asarray(load_image(path), dtype=np.uint8)
        distances = hamming_distances(self.hasher.compute(pixels).packed, self.table.hashes)
        row = int(np.argmin(distances))
        return row, int(distances[row]), time.perf_counter() - start

    def answers(self, nearest: Sequence[tuple[int, int, float]], threshold: int) -> list[Answer]:
        out = []
        for row, distance, seconds in nearest:
            name = self.source_of_row[row]
            t = float(self.table.times_s[row])
            time_s = None if math.isnan(t) else t
            if distance <= threshold:
                out.append(Answer("match", (name,), name, time_s, seconds=seconds, distance=distance))
            else:
                out.append(Answer("none", (), None, seconds=seconds, distance=distance))
        return out


def tune_threshold(negative_distances: Iterable[int], allowed: int = BASELINE_ALLOWED_FALSE_MATCHES) -> int:
    """Largest distance threshold at which at most ``allowed`` negatives match (distance <= threshold)."""
    ordered = sorted(negative_distances)
    if len(ordered) <= allowed:
        return 10**6
    return ordered[allowed] - 1


# --------------------------------------------------------------------------- metrics


def iou(a: tuple[float, float, float, float] | None, b: tuple[float, float, float, float] | None) -> float:
    """Intersection over union of two (x, y, w, h) boxes; None is the whole frame."""
    ax, ay, aw, ah = a or (0.0, 0.0, 1.0, 1.0)
    bx, by, bw, bh = b or (0.0, 0.0, 1.0, 1.0)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    answer: Answer

    @property
    def hit(self) -> bool:
        return self.claim.positive and self.claim.source in self.answer.matched

    @property
    def wrong_source(self) -> bool:
        return self.claim.positive and any(name != self.claim.source for name in self.answer.matched)

    @property
    def false_match(self) -> bool:
        return not self.claim.positive and self.answer.verdict == "match"

    @property
    def possible(self) -> bool:
        return self.answer.verdict == "possible"

    @property
    def time_error(self) -> float | None:
        if not self.hit or self.claim.time_s is None or self.answer.time_s is None:
            return None
        return abs(self.answer.time_s - self.claim.time_s)

    @property
    def in_window(self) -> bool | None:
        """The true time lies in the reported window of equally good times (half a frame of slack)."""
        if self.time_error is None or self.answer.window_s is None:
            return None
        low, high = self.answer.window_s
        return low - 0.5 / FPS <= (self.claim.time_s or 0.0) <= high + 0.5 / FPS

    @property
    def crop_iou(self) -> float | None:
        if not self.hit or self.claim.crop is None or not self.answer.derives:
            return None
        return iou(self.answer.crop, self.claim.crop)

    @property
    def mirror_ok(self) -> bool | None:
        return None if not self.hit or not self.answer.derives else self.answer.mirrored == self.claim.mirrored

    @property
    def rotation_ok(self) -> bool | None:
        if not self.hit or not self.answer.derives:
            return None
        return abs((self.answer.rotation_deg or 0.0) - self.claim.rotation_deg) <= ROTATION_TOLERANCE_DEG


@dataclass(frozen=True)
class Stats:
    """Aggregates over a set of outcomes of one system."""

    positives: int
    hits: int
    wrong: int
    negatives: int
    false_matches: int
    possibles: int
    ious: list[float]
    time_errors: list[float]
    in_window: list[bool]
    mirror: list[bool]
    rotation: list[bool]
    seconds: list[float]

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Stats:
        pos = [o for o in outcomes if o.claim.positive]
        neg = [o for o in outcomes if not o.claim.positive]
        return cls(
            positives=len(pos), hits=sum(o.hit for o in pos), wrong=sum(o.wrong_source for o in pos),
            negatives=len(neg), false_matches=sum(o.false_match for o in neg), possibles=sum(o.possible for o in neg),
            ious=[v for o in pos if (v := o.crop_iou) is not None],
            time_errors=[v for o in pos if (v := o.time_error) is not None],
            in_window=[v for o in pos if (v := o.in_window) is not None],
            mirror=[v for o in pos if (v := o.mirror_ok) is not None],
            rotation=[v for o in pos if (v := o.rotation_ok) is not None],
            seconds=[o.answer.seconds for o in outcomes])


def _ratio(k: int, n: int) -> str:
    return "-" if n == 0 else f"{k}/{n}"


def _pct(k: int, n: int) -> str:
    return "-" if n == 0 else f"{100 * k / n:.0f} % ({k}/{n})"


def _median(values: Sequence[float], fmt: str) -> str:
    return "-" if not values else format(statistics.median(values), fmt)


def _share(flags: Sequence[bool]) -> str:
    return "-" if not flags else _ratio(sum(flags), len(flags))


def _within(values: Sequence[float], limit: float) -> str:
    return "-" if not values else _ratio(sum(v <= limit + 1e-6 for v in values), len(values))


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


SYSTEM_TITLES = {"provcheck": "provcheck (Index.check)", "phash": "pHash baseline (64 bit, brute force)",
                 "pdq": "PDQ baseline (256 bit, brute force)"}


def system_table(outcomes: Sequence[Outcome]) -> str:
    """Per edit row: recall, wrong source, negatives, derivation accuracy, speed."""
    header = ("edit", "level", "recall", "wrong src", "false match (neg)", "possible (neg)", "crop IoU med",
              "time err med s", "<=1 frame", "<=1 s", "in window", "mirror ok", "rotation ok", "ms/query med")
    rows = []
    groups = [(row.name, row.difficulty, [o for o in outcomes if o.claim.row == row]) for row in ROWS]
    groups.append(("**all**", "", list(outcomes)))
    for name, level, group in groups:
        s = Stats.of(group)
        rows.append((name, level, _ratio(s.hits, s.positives), _ratio(s.wrong, s.positives),
                     _ratio(s.false_matches, s.negatives), _ratio(s.possibles, s.negatives), _median(s.ious, ".3f"),
                     _median(s.time_errors, ".3f"), _within(s.time_errors, 1.0 / FPS),
                     _within(s.time_errors, TIME_TOLERANCE_S), _share(s.in_window), _share(s.mirror),
                     _share(s.rotation),
                     _median([1000 * x for x in s.seconds], ".0f")))
    return _table(header, rows)


def summary_by(outcomes: dict[str, list[Outcome]], key: Callable[[Claim], str], keys: Sequence[str],
               first: str) -> str:
    """Recall and false matches of every system, grouped by ``key``."""
    header = [first] + [f"{s} recall" for s in SYSTEMS] + [f"{s} false match" for s in SYSTEMS] + [
        "provcheck possible (neg)"]
    rows = []
    for value in keys:
        stats = {s: Stats.of([o for o in outcomes[s] if key(o.claim) == value]) for s in SYSTEMS}
        rows.append([value] + [_pct(stats[s].hits, stats[s].positives) for s in SYSTEMS]
                    + [_ratio(stats[s].false_matches, stats[s].negatives) for s in SYSTEMS]
                    + [_ratio(stats["provcheck"].possibles, stats["provcheck"].negatives)])
    return _table(header, rows)


def difficulty_table(outcomes: dict[str, list[Outcome]]) -> str:
    header = ("level", "system", "recall", "wrong src", "false match (neg)", "possible (neg)", "crop IoU med",
              "time err med s", "ms/query med")
    rows = []
    for level in (*DIFFICULTIES, "all"):
        for system in SYSTEMS:
            group = [o for o in outcomes[system] if level == "all" or o.claim.row.difficulty == level]
            s = Stats.of(group)
            rows.append((level, system, _pct(s.hits, s.positives), _ratio(s.wrong, s.positives),
                         _ratio(s.false_matches, s.negatives), _ratio(s.possibles, s.negatives),
                         _median(s.ious, ".3f"), _median(s.time_errors, ".3f"),
                         _median([1000 * x for x in s.seconds], ".0f")))
    return _table(header, rows)


# --------------------------------------------------------------------------- calibration


def _percentile_cells(values: Sequence[float], fmt: str) -> list[str]:
    if not values:
        return ["-"] * len(PERCENTILES)
    return [format(float(np.percentile(np.asarray(values, dtype=np.float64), p, method="lower")), fmt)
            for p in PERCENTILES]


def calibration_table(outcomes: Sequence[Outcome], probes: Sequence[Probe | None]) -> str:
    """Inliers and hash evidence of negatives' best candidates against true positives' values.

    Populations: "negatives" -- the best candidate over all sources for claims of
    non-indexed sources; "impostors" -- for claims of indexed sources, the best WRONG
    source; "true source (all positives)" -- the right source's best values as the
    matcher saw them, misses included; "hits (reported)" -- the evidence of the right
    source's reported match (after timestamp refinement re-verified the exact frame).
    """
    names = ("negatives: best source", "positives: best wrong source", "positives: true source (incl. misses)",
             "hits: reported match")
    values: dict[str, dict[str, list[float]]] = {name: {"inliers": [], "gated": [], "hash": [], "agreement": []}
                                                  for name in names}

    def add(population: str, inliers: float, gated: float | None, evidence: float) -> None:
        values[population]["inliers"].append(inliers)
        if gated is not None:
            values[population]["gated"].append(gated)
        values[population]["hash"].append(evidence)

    for outcome, probe in zip(outcomes, probes, strict=True):
        claim = outcome.claim
        if outcome.hit and outcome.answer.inliers is not None:
            add("hits: reported match", outcome.answer.inliers, None, outcome.answer.hash_evidence or 0.0)
        if probe is None:
            continue
        others = set(probe.hash_evidence) - {claim.source or ""}
        # pixel agreement is measured only for sources whose verified frame reached the decision
        measured = [probe.agreement[n] for n in others if n in probe.agreement]
        if measured:
            values["positives: best wrong source" if claim.positive else "negatives: best source"][
                "agreement"].append(max(measured))
        if claim.positive and (claim.source or "") in probe.agreement:
            population = "hits: reported match" if outcome.hit else "positives: true source (incl. misses)"
            values[population]["agreement"].append(probe.agreement[claim.source or ""])
        if claim.positive:
            truth = claim.source or ""
            add("positives: true source (incl. misses)", probe.inliers.get(truth, 0), probe.inliers_gated.get(truth, 0),
                probe.hash_evidence.get(truth, 0.0))
        add("positives: best wrong source" if claim.positive else "negatives: best source",
            max((probe.inliers.get(n, 0) for n in others), default=0),
            max((probe.inliers_gated.get(n, 0) for n in others), default=0),
            max((probe.hash_evidence[n] for n in others), default=0.0))
    header = ["population", "n", "value"] + [("min" if p == 0 else "max" if p == 100 else f"p{p}")
                                               for p in PERCENTILES]
    labels = {"inliers": ("inliers", ".0f"), "gated": (f"inliers, hull >= {SETTINGS.min_hull_share:g}", ".0f"),
              "hash": ("hash evidence", ".2f"), "agreement": ("pixel agreement (where measured)", ".2f")}
    rows = []
    for name in names:
        for key, (label, fmt) in labels.items():
            series = values[name][key]
            if series:
                rows.append([name, str(len(series)), label] + _percentile_cells(series, fmt))
    return _table(header, rows)


# --------------------------------------------------------------------------- a full corpus run


@dataclass
class CorpusRun:
    """Everything measured on one corpus."""

    seed: int
    sources: list[Source]
    claims: list[Claim]
    outcomes: dict[str, list[Outcome]]
    probes: list[Probe | None]
    nearest: dict[str, list[tuple[int, int, float]]]
    thresholds: dict[str, int]
    source_of_row: list[str]
    index_seconds: float
    index_frames: int
    video_seconds: float
    engine_load_seconds: float
    generate_seconds: float
    calibration_available: bool
    scene_cuts: int = 0
    unsampled_cuts: list[str] = field(default_factory=list)


def run_corpus(root: Path, seed: int, settings: Settings, positives: int, negatives: int,
               log: Callable[[str], None], search: str = "inverted", index_location: str | None = None) -> CorpusRun:
    """Generate a corpus, index it (into ``index_location``, an empty index, when given: a PostgreSQL database,
    say), and answer every claim with the three systems."""
    start = time.perf_counter()
    log(f"[seed {seed}] rendering sources")
    sources = generate_sources(root / "sources", seed, settings)
    log(f"[seed {seed}] making claims")
    claims = make_claims(sources, root / "claims", seed, settings, positives, negatives)
    generate_seconds = time.perf_counter() - start
    index_path: Path | str = index_location if index_location is not None else root / "index.sqlite"
    name_of_path: dict[str, str] = {}
    log(f"[seed {seed}] indexing {sum(s.indexed for s in sources)} sources")
    start = time.perf_counter()
    with Index(index_path, settings=search_settings(search)) as index:
        for source in sources:
            if source.indexed:
                record = index.add(source.path, title=source.name)
                name_of_path[record.path] = source.name
        prepare_search(index, search)
        index_seconds = time.perf_counter() - start
        store = open_store(index_path)
        tables = {name: store.hash_table(name) for name in ("phash", "pdq")}
        store.close()
        by_id = {record.id: name_of_path[record.path] for record in index.sources()}
        source_of_row = [by_id[int(i)] for i in tables["pdq"].source_ids]
        index_frames = len(source_of_row)
        log(f"[seed {seed}] provcheck: {len(claims)} claims")
        start = time.perf_counter()
        index.check(claims[0].path)  # loads the engine (hash tables, features, FAISS); not timed per query
        engine_load_seconds = time.perf_counter() - start
        provcheck_answers, probes = run_provcheck(index, claims, name_of_path, source_of_row,
                                                  {record.id: name_of_path[record.path] for record in index.sources()}, log)
    outcomes = {"provcheck": [Outcome(c, a) for c, a in zip(claims, provcheck_answers, strict=True)]}
    nearest: dict[str, list[tuple[int, int, float]]] = {}
    thresholds: dict[str, int] = {}
    for name, hasher in (("phash", PHasher()), ("pdq", PDQHasher())):
        baseline = HashBaseline(name, hasher, tables[name], source_of_row)
        log(f"[seed {seed}] {name} baseline")
        nearest[name] = [baseline.nearest(claim.path) for claim in claims]
        thresholds[name] = tune_threshold(d for (_, d, _), c in zip(nearest[name], claims, strict=True)
                                          if not c.positive)
        outcomes[name] = [Outcome(c, a) for c, a in
                          zip(claims, baseline.answers(nearest[name], thresholds[name]), strict=True)]
    video_seconds = sum(s.duration_s or 0.0 for s in sources if s.indexed)
    cuts, unsampled = unsampled_scene_cuts(sources, source_of_row, tables["pdq"].times_s)
    return CorpusRun(seed, sources, claims, outcomes, probes, nearest, thresholds, source_of_row, index_seconds,
                     index_frames, video_seconds, engine_load_seconds, generate_seconds, True, cuts,
                     unsampled)


def unsampled_scene_cuts(sources: Sequence[Source], source_of_row: Sequence[str],
                         times_s: NDArray[np.float64]) -> tuple[int, list[str]]:
    """Scene cuts of the indexed videos, and those without an indexed frame at the cut's first frame."""
    total, missed = 0, []
    for source in sources:
        if not source.indexed:
            continue
        sampled = np.array([t for name, t in zip(source_of_row, times_s, strict=True) if name == source.name])
        for cut in source.scene_cuts_s:
            total += 1
            if not np.any(np.abs(sampled - cut) <= 0.5 / FPS):
                missed.append(f"{source.name} at {cut:.2f} s")
    return total, missed


def _baseline_recall(run: CorpusRun, baseline: str, threshold: int) -> tuple[int, int]:
    """Positives whose nearest frame is of the right source and within ``threshold`` bits."""
    pos = [(c, row, d) for c, (row, d, _) in zip(run.claims, run.nearest[baseline], strict=True) if c.positive]
    return sum(d <= threshold and run.source_of_row[row] == c.source for c, row, d in pos), len(pos)


def baseline_transfer_table(tuned: CorpusRun, held_out: CorpusRun) -> str:
    """The baselines' thresholds tuned on one corpus, applied to another one's claims."""
    header = ("baseline", "threshold (tuned on main)", "held-out false match", "held-out recall",
              "held-out own threshold", "held-out recall at own threshold")
    rows = []
    for name in ("phash", "pdq"):
        neg = [d for c, (_, d, _) in zip(held_out.claims, held_out.nearest[name], strict=True) if not c.positive]
        threshold, own = tuned.thresholds[name], held_out.thresholds[name]
        rows.append((name, str(threshold), _ratio(sum(d <= threshold for d in neg), len(neg)),
                     _pct(*_baseline_recall(held_out, name, threshold)), str(own),
                     _pct(*_baseline_recall(held_out, name, own))))
    return _table(header, rows)


# --------------------------------------------------------------------------- report


def _git_commit() -> str:
    """HEAD of the checkout this script is in, and which tracked or bench files differ from it."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", "..", ":!*.egg-info"], cwd=here,
                                capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in status if not line.startswith("??") or line[3:].startswith("bench/")]
    return commit + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def header_lines(args: argparse.Namespace, settings: Settings) -> list[str]:
    return [
        f"**provcheck accuracy bench** (provcheck {__version__}, commit {_git_commit()})",
        "",
        f"- command: `{' '.join(['python bench/accuracy.py', *map(shown_location, sys.argv[1:])])}`",
        f"- machine: {platform.platform()}, {platform.machine()}, cores={os.cpu_count()}, "
        f"python {platform.python_version()}, numpy {np.__version__}, av {av.__version__}",
        f"- settings: mode={settings.name} search={args.search} seed={args.seed} calibration-seed={args.calibration_seed} "
        f"frames {settings.frame_size[0]}x{settings.frame_size[1]} @ {FPS} fps, {settings.duration_s:g} s clips, "
        f"stills {settings.still_size[0]}x{settings.still_size[1]}, claims per edit row: "
        f"{settings.positives_per_row} positive + {settings.negatives_per_row} negative"
        f"{'' if settings.negative_row_stride == 1 else f' (negatives for 1 row in {settings.negative_row_stride})'}, "
        f"downscale to {settings.downscale_width} px, thumbnail {settings.thumbnail_width} px, "
        f"rotation tolerance {ROTATION_TOLERANCE_DEG:g} deg",
    ]


def corpus_lines(run: CorpusRun) -> list[str]:
    indexed = [s for s in run.sources if s.indexed]
    positives = sum(c.positive for c in run.claims)
    return [
        f"- corpus (seed {run.seed}): {len(indexed)} indexed sources "
        f"({sum(s.style.kind == 'video' for s in indexed)} videos, {sum(s.style.kind == 'image' for s in indexed)} "
        f"stills), {len(run.sources) - len(indexed)} non-indexed twins; {positives} positive + "
        f"{len(run.claims) - positives} negative claims; generated in {run.generate_seconds:.1f} s",
        f"- indexing (Index.add): {run.index_seconds:.1f} s for {run.video_seconds:g} s of video + stills, "
        f"{run.index_frames} frames indexed ({run.video_seconds / max(run.index_seconds, 1e-9):.1f} s of video "
        f"per second); engine load + first query {run.engine_load_seconds:.1f} s",
        f"- scene cuts with an indexed frame at the cut: {run.scene_cuts - len(run.unsampled_cuts)}/{run.scene_cuts}"
        + (f" (first frame of the new scene not indexed: {', '.join(run.unsampled_cuts)})" if run.unsampled_cuts
           else ""),
        f"- baseline thresholds tuned on the negatives (match when distance <= threshold): "
        f"pHash {run.thresholds['phash']} of 64 bits, PDQ {run.thresholds['pdq']} of 256 bits",
    ]


def print_report(run: CorpusRun) -> None:
    for line in corpus_lines(run):
        print(line)
    print("\n### Recall per edit at zero false matches on the negatives\n")
    print(summary_by(run.outcomes, lambda c: c.row.name, [r.name for r in ROWS], "edit"))
    print("\n### Per difficulty\n")
    print(difficulty_table(run.outcomes))
    print("\n### Per source style\n")
    labels = list(dict.fromkeys(s.label for s in STYLES))
    print(summary_by(run.outcomes, lambda c: c.style.label, labels, "source style"))
    for system in SYSTEMS:
        print(f"\n### {SYSTEM_TITLES[system]}\n")
        print(system_table(run.outcomes[system]))
    print_calibration(run)


def print_calibration(run: CorpusRun, heading: str = "###") -> None:
    print(f"\n{heading} provcheck calibration (seed {run.seed})\n")
    if not run.calibration_available:
        print("(unavailable: the matcher's internal stages could not be recorded)")
        return
    print(calibration_table(run.outcomes["provcheck"], run.probes))


def print_misses(run: CorpusRun, heading: str = "###") -> None:
    """Every provcheck error (missed, wrong source, false match) and timestamp off by more than a frame."""
    print(f"\n{heading} provcheck failures and timestamps off by more than a frame (seed {run.seed})\n")
    lines = []
    for outcome in run.outcomes["provcheck"]:
        claim, answer = outcome.claim, outcome.answer
        if claim.positive and not outcome.hit:
            kind = "missed"
        elif outcome.wrong_source:
            kind = "wrong source"
        elif outcome.false_match:
            kind = "false match"
        elif (outcome.time_error or 0.0) > 1.0 / FPS + 1e-6 and not outcome.in_window:
            kind = f"time off by {outcome.time_error:.2f} s (window {answer.window_s})"
        else:
            continue
        found = f"{answer.verdict} {', '.join(answer.matched) or answer.source or '-'}"
        lines.append(f"- {kind}: {claim.row.name} | {claim.description} | answer: {found}")
    print("\n".join(lines) if lines else "(none)")


def dump_json(run: CorpusRun, path: Path) -> None:
    records = []
    for k, claim in enumerate(run.claims):
        record: dict[str, Any] = {"claim": claim.name, "path": str(claim.path), "row": claim.row.name,
                                  "difficulty": claim.row.difficulty, "style": claim.style.label,
                                  "truth": {"source": claim.source, "time_s": claim.time_s, "frame": claim.frame,
                                            "crop": claim.crop, "mirrored": claim.mirrored,
                                            "rotation_deg": claim.rotation_deg},
                                  "description": claim.description}
        for system in SYSTEMS:
            record[system] = dataclasses.asdict(run.outcomes[system][k].answer)
        probe = run.probes[k]
        record["probe"] = None if probe is None else dataclasses.asdict(probe)
        records.append(record)
    path.write_text(json.dumps({"seed": run.seed, "thresholds": run.thresholds, "claims": records}, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2024, help="corpus seed (default 2024)")
    parser.add_argument("--quick", action="store_true", help="small corpus, one claim per row (under 2 minutes)")
    parser.add_argument("--calibration-seed", type=int, default=None,
                        help="also build an independent corpus with this seed and print calibration numbers for it")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the corpora, indexes and per-claim results.json here (default: a temp dir)")
    parser.add_argument("--positives", type=int, default=None,
                        help="positive claims per edit row of the main corpus (default: 8, quick 1)")
    parser.add_argument("--negatives", type=int, default=None,
                        help="negative claims per edit row of the main corpus (default: 4, quick 1)")
    parser.add_argument("--index", default=None, metavar="URL",
                        help="index the main corpus into this empty index (a postgresql:// URL) instead of a file")
    add_search_option(parser)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.positives is not None or args.negatives is not None:
        settings = dataclasses.replace(
            settings,
            positives_per_row=settings.positives_per_row if args.positives is None else args.positives,
            negatives_per_row=settings.negatives_per_row if args.negatives is None else args.negatives,
        )
    wall = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - wall:6.1f}s] {message}", file=sys.stderr, flush=True)

    for line in header_lines(args, settings):
        print(line)
    with tempfile.TemporaryDirectory(prefix="provcheck-accuracy-") as tmp:
        root = args.out.resolve() if args.out is not None else Path(tmp)
        main_run = run_corpus(root / f"seed{args.seed}", args.seed, settings, settings.positives_per_row,
                              settings.negatives_per_row, log, args.search, args.index)
        print_report(main_run)
        print_misses(main_run)
        if args.out is not None:
            dump_json(main_run, root / f"seed{args.seed}" / "results.json")
        if args.calibration_seed is not None:
            held_out = run_corpus(root / f"seed{args.calibration_seed}", args.calibration_seed, settings,
                                  settings.calibration_positives_per_row, settings.calibration_negatives_per_row, log,
                                  args.search)
            print(f"\n### Held-out corpus (calibration seed {args.calibration_seed})\n")
            for line in corpus_lines(held_out):
                print(line)
            print("\n#### Per difficulty (held-out)\n")
            print(difficulty_table(held_out.outcomes))
            print("\n#### Baseline thresholds tuned on the main corpus, applied to the held-out one\n")
            print(baseline_transfer_table(main_run, held_out))
            print_calibration(held_out, "####")
            print_misses(held_out, "####")
            if args.out is not None:
                dump_json(held_out, root / f"seed{args.calibration_seed}" / "results.json")
    print(f"\nwall time: {time.perf_counter() - wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
