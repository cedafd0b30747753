"""The demo case corpus: sources, claimed photos with their ground truth, and the manifest.

This module owns :func:`build_demo_corpus`, which replays the 2017 case in which a
defence ministry published a screenshot of a gunship *simulator* trailer and edited
frames of 2016 Fallujah airstrike videos as "drone evidence": the catalogue of
sources, the rendering of them, the frame grabs, the fifteen claims made from them
(and from nothing indexed), and ``manifest.json`` with every claim's truth, written
by :func:`write_manifest` and read back by :func:`load_manifest`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import edits
from .base import DEFAULT_FPS, FULL_FRAME_SIZE, SMALL_FRAME_SIZE, U8, seeded_rng
from .photos import press_photo, sky_photo
from .terrain import terrain_texture
from .video import extract_frames, render_frame, render_video

HEAVY_CROP_AREA = 0.5  # crops keeping less than this fraction of the frame are "heavy"
SOURCE_JPEG_QUALITY = 92
DISCLAIMER_SIM = "DEVELOPMENT FOOTAGE - NOT REPRESENTATIVE OF FINAL GAME"
MANIFEST_NAME = "manifest.json"
_MOD = "MINISTRY OF DEFENCE"
_CAPTION = "Terrorist convoy leaving the city under air cover, 09.11.2017"
Box = tuple[float, float, float, float]


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
    crop: Box | None
    mirrored: bool
    heavy_crop: bool
    description: str


@dataclass(frozen=True)
class DemoCorpus:
    """Sources + claims written under ``root`` (see ``manifest.json``)."""

    root: Path
    sources: tuple[SynthSource, ...]
    claims: tuple[SynthClaim, ...]


# --------------------------------------------------------------------------- the case's sources


@dataclass(frozen=True)
class _VideoCase:
    name: str
    title: str
    url: str
    published: str
    notes: str
    duration_s: float  # at full size
    options: Mapping[str, Any]  # render_video keyword arguments


@dataclass(frozen=True)
class _StillCase:
    name: str
    title: str
    url: str
    published: str
    notes: str
    make: Callable[[Sequence[int], int, int], U8]  # (source seeds, width, height) -> pixels


_VIDEOS = (
    _VideoCase("ac130_simulator_trailer", "AC-130 Gunship Simulator: Special Ops Squadron - gameplay trailer",
               "https://video.example.org/watch/gs130-trailer-v3", "2015-06-02",
               "Game trailer; white-hot thermal, burned-in gunship HUD, disclaimer line at the bottom.",
               14.0, dict(style="thermal", hud="gunship", disclaimer=DISCLAIMER_SIM, zoom=True, vehicles=4,
                          explosions=1)),
    _VideoCase("fallujah_convoy_p2", "Iraqi Airstrikes Hit ISIS Convoy Fleeing Fallujah P.-2-",
               "https://video.example.org/watch/iqaf-fallujah-convoy-p2", "2016-06-30",
               "Thermal targeting-pod footage, two scenes, convoy on a highway, one strike per scene.",
               16.0, dict(style="thermal", hud="pod", scenes=2, vehicles=5, explosions=2)),
    _VideoCase("coalition_strike_fallujah", "Coalition strike near Fallujah",
               "https://video.example.org/watch/cjtf-strike-fallujah-0629", "2016-06-29",
               "Thermal footage without HUD, two scenes, vehicles on a road, one strike.",
               12.0, dict(style="thermal", scenes=2, vehicles=4, explosions=1)),
    _VideoCase("anbar_convoy_strike", "Airstrike on convoy, Anbar",
               "https://video.example.org/watch/anbar-convoy-strike", "2016-07-01",
               "Colour daylight footage, slow zoom, convoy struck on a road.",
               12.0, dict(style="color", zoom=True, vehicles=4, explosions=1)),
    _VideoCase("ac130_simulator_night_mission", "AC-130 Gunship Simulator - night mission",
               "https://video.example.org/watch/gs130-night-mission", "2015-09-14",
               "Unrelated game footage with the SAME gunship HUD but different terrain (HUD-only decoy).",
               10.0, dict(style="thermal", hud="gunship", vehicles=2)))
_STILLS = (
    _StillCase("press_fallujah_outskirts.jpg", "Press photo: Fallujah outskirts",
               "https://photos.example.net/agency/2016/06/fallujah-outskirts-0417.jpg", "2016-06-28",
               "Oblique colour photo with hazy skyline.",
               lambda sid, sw, sh: press_photo(seeded_rng(sid[5]), sw, sh)),
    _StillCase("satellite_fallujah_june2016.jpg", "Satellite image: Fallujah, June 2016",
               "https://imagery.example.com/scenes/fallujah-20160625", "2016-06-25",
               "Nadir colour satellite-style image.",
               lambda sid, sw, sh: terrain_texture(seeded_rng(sid[6]), sh * 6 // 5, sw, "color", sw / 1024)))


@dataclass(frozen=True)
class _Variant:
    """Sizes of the full or the small corpus."""

    frame: tuple[int, int]
    still: tuple[int, int]
    duration_factor: float

    @classmethod
    def of(cls, small: bool) -> _Variant:
        return cls(SMALL_FRAME_SIZE, (512, 320), 0.4) if small else cls(FULL_FRAME_SIZE, (1024, 640), 1.0)


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
    variant = _Variant.of(small)
    sid = [int(x) for x in np.random.SeedSequence([seed, 1]).generate_state(8)]
    n_workers = workers or max(1, min(len(_VIDEOS), os.cpu_count() or 1))
    sources, extra, decoy = _render_sources(root / "sources", sid, variant, n_workers)
    grabs = _grab_frames(sources, extra, seeded_rng(seed, 7), n_workers)
    maker = _ClaimMaker(root / "claims", small, variant, sources, grabs)
    maker.ministry()
    maker.reposts()
    maker.stills()
    maker.reframed()
    maker.unrelated(decoy, seed)
    corpus = DemoCorpus(root, tuple(sources), tuple(maker.claims))
    write_manifest(corpus, seed, small, extra)
    return corpus


def _render_sources(src_dir: Path, sid: Sequence[int], variant: _Variant, n_workers: int
                    ) -> tuple[list[SynthSource], dict[Path, dict[str, Any]], U8]:
    """Render the videos and stills in parallel; also the un-indexed decoy frame (gunship HUD)."""
    extra: dict[Path, dict[str, Any]] = {}
    sources: list[SynthSource] = []
    size = variant.frame
    with ThreadPoolExecutor(n_workers) as pool:  # independent jobs: order of completion is irrelevant
        futures: list[Future[list[float]]] = []
        for key, case in enumerate(_VIDEOS):
            path, d = src_dir / f"{case.name}.mp4", float(round(case.duration_s * variant.duration_factor))
            futures.append(pool.submit(render_video, path, sid[key], size=size, duration_s=d, title=case.title,
                                       **case.options))
            sources.append(SynthSource(path, "video", case.title, case.url, case.published, case.notes))
            extra[path] = {"duration_s": d, "fps": DEFAULT_FPS, "size": list(size), "seed": sid[key]}
        still_jobs = [pool.submit(still.make, sid, *variant.still) for still in _STILLS]
        decoy_job = pool.submit(render_frame, sid[7], "thermal", size, 3.0, duration_s=6.0, hud="gunship",
                                vehicles=3)
        for src, vjob in zip(sources, futures, strict=True):
            extra[src.path]["scene_cuts_s"] = vjob.result()
        for still, sjob in zip(_STILLS, still_jobs, strict=True):
            _save(Image.fromarray(sjob.result()), src_dir / still.name, SOURCE_JPEG_QUALITY)
            sources.append(SynthSource(src_dir / still.name, "image", still.title, still.url, still.published,
                                       still.notes))
        decoy = decoy_job.result()
    return sources, extra, decoy


def _snap(t: float, fps: int, duration: float) -> float:
    return min(max(round(t * fps), 0), round(duration * fps) - 1) / fps


def _grab_frames(sources: Sequence[SynthSource], extra: dict[Path, dict[str, Any]], rng: np.random.Generator,
                 n_workers: int) -> dict[Path, list[tuple[Image.Image, float]]]:
    """Grab the claims' frames from the encoded videos at jittered times (in this order of ``rng`` draws)."""
    sim, strike_a, strike_b, strike_c = (s.path for s in sources[:4])
    dur = {p: float(extra[p]["duration_s"]) for p in extra}

    def jit(frac: float, path: Path) -> float:
        return _snap(dur[path] * frac + float(rng.uniform(-0.3, 0.3)), DEFAULT_FPS, dur[path])

    wanted: dict[Path, list[float]] = {
        sim: [jit(0.55, sim), jit(0.3, sim)],
        strike_a: [jit(0.2, strike_a), jit(0.8, strike_a)],
        strike_b: [jit(0.22, strike_b), jit(0.72, strike_b)],
        strike_c: [jit(0.35, strike_c), jit(0.6, strike_c), jit(0.2, strike_c)]}
    with ThreadPoolExecutor(n_workers) as pool:
        return dict(zip(wanted, pool.map(extract_frames, wanted, wanted.values()), strict=True))


# --------------------------------------------------------------------------- the claims


def _save(img: Image.Image, path: Path, quality: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if quality is not None:
        img.save(path, format="JPEG", quality=quality)
    else:
        img.save(path, format="PNG", optimize=False)


def _at(t: float) -> str:
    return f"frame at {int(t // 60):02d}:{t % 60:05.2f}"


@dataclass
class _ClaimMaker:
    """Writes the claims in manifest order; each method makes one group of them."""

    claim_dir: Path
    small: bool
    variant: _Variant
    sources: Sequence[SynthSource]
    grabs: dict[Path, list[tuple[Image.Image, float]]]
    claims: list[SynthClaim] = field(default_factory=list)

    def emit(self, name: str, img: Image.Image, src: Path | None, t: float | None, applied: tuple[str, ...],
             box: Box | None, desc: str, quality: int | None, mirrored: bool = False,
             only_full: bool = False) -> None:
        """Save claim ``name`` (JPEG at ``quality``, else PNG) and record its truth; ``only_full``: not when small."""
        if only_full and self.small:
            return
        path = self.claim_dir / f"{name}.{'jpg' if quality else 'png'}"
        _save(img, path, quality)
        heavy = box is not None and box[2] * box[3] < HEAVY_CROP_AREA
        self.claims.append(SynthClaim(path, src, t, applied, box, mirrored, heavy, desc))

    def ministry(self) -> None:
        """01-05: what the ministry published (simulator crop, convoy frames with caption or logo, mirror)."""
        sim, strike_a, strike_b, strike_c = (s.path for s in self.sources[:4])
        width = self.variant.frame[0]
        im, t = self.grabs[sim][0]
        box = (0.06, 0.22, 0.78, 0.76)
        self.emit("01_ministry_sim_screenshot_crop",
                  edits.add_caption_bar(edits.crop(im, box), _CAPTION, tag="MOD"), sim, t,
                  ("crop", "caption", "jpeg"), box,
                  f"{_at(t)}, crop to {box[2] * box[3]:.0%} (HUD kept, disclaimer cut at right), caption bar, "
                  "JPEG q=85", 85)
        im, t = self.grabs[strike_a][0]
        self.emit("02_ministry_convoy_leaving", edits.add_caption_bar(im, _CAPTION, tag="MOD"), strike_a, t,
                  ("caption", "jpeg"), None, f"{_at(t)}, whole frame, caption bar, JPEG q=60", 60)
        im, t = self.grabs[strike_b][0]
        w480 = round(width * 0.75)
        self.emit("03_ministry_convoy_logo", edits.downscale(edits.add_logo(im, _MOD), w480), strike_b, t,
                  ("logo", "downscale", "jpeg"), None,
                  f"{_at(t)}, whole frame, logo top-right, downscaled to {w480} px wide, JPEG q=80", 80)
        im, t = self.grabs[strike_b][1]
        box = (0.2, 0.21, 0.58, 0.58)
        self.emit("04_ministry_convoy_closeup", edits.add_caption_bar(edits.crop(im, box), _CAPTION, tag="MOD"),
                  strike_b, t, ("crop", "caption", "jpeg"), box,
                  f"{_at(t)} (same video as 03), centre crop to {box[2] * box[3]:.0%}, caption bar, JPEG q=80", 80)
        im, t = self.grabs[strike_c][0]
        bpx = max(4, round(width / 50))
        self.emit("05_ministry_strike_mirrored", edits.add_border(edits.mirror(im), bpx, (240, 240, 240)),
                  strike_c, t, ("mirror", "border", "jpeg"), None,
                  f"{_at(t)}, whole frame, mirrored, {bpx} px border, JPEG q=85", 85, mirrored=True)

    def reposts(self) -> None:
        """06-07: reposts of the strike videos' frames (full corpus only)."""
        strike_a, strike_c = self.sources[1].path, self.sources[3].path
        im, t = self.grabs[strike_a][1]
        self.emit("06_repost_caption_q40", edits.add_caption_bar(im, "BREAKING: convoy hit on highway", tag="LIVE"),
                  strike_a, t, ("caption", "jpeg"), None,
                  f"{_at(t)} (second scene), whole frame, caption bar, JPEG q=40", 40, only_full=True)
        im, t = self.grabs[strike_c][1]
        self.emit("07_grayscale_contrast", edits.contrast(edits.grayscale(im), 1.5, 0.85), strike_c, t,
                  ("grayscale", "contrast"), None, f"{_at(t)}, whole frame, grayscale, contrast x1.5, gamma 0.85",
                  None, only_full=True)

    def stills(self) -> None:
        """08-10: the press photo in a phone post and heavily cropped, the satellite still downscaled."""
        press, sat = (s.path for s in self.sources[5:7])
        press_im = Image.open(press).convert("RGB")
        self.emit("08_phone_screenshot_press_photo",
                  edits.screenshot(press_im, "phone", "@mod_news", "Photo from today's briefing"), press, None,
                  ("screenshot",), None, "press photo, whole, in a phone social-media post UI (540 px wide)", None)
        sat_im = Image.open(sat).convert("RGB")
        self.emit("09_satellite_still_downscaled", edits.downscale(sat_im, 400), sat, None,
                  ("downscale", "jpeg"), None, "satellite still, whole, downscaled to 400 px, JPEG q=88", 88)
        box = (0.45, 0.56, 0.4, 0.375)
        self.emit("10_press_still_heavy_crop", edits.crop(press_im, box), press, None, ("crop",), box,
                  f"press photo, crop to {box[2] * box[3]:.0%} (lower-right ground)", None)

    def reframed(self) -> None:
        """11-12: a strike frame rotated 3 degrees; the simulator frame in a desktop video player."""
        sim, strike_c = self.sources[0].path, self.sources[3].path
        im, t = self.grabs[strike_c][2]
        ks = edits.rotation_crop_scale(im.width, im.height, 3.0)
        box = ((1 - ks) / 2, (1 - ks) / 2, ks, ks)
        self.emit("11_rotated_3deg", edits.rotate(im, 3.0), strike_c, t, ("rotate", "crop", "jpeg"), box,
                  f"{_at(t)}, rotated 3 deg, cropped to inscribed {ks:.0%} rectangle, JPEG q=85", 85)
        im, t = self.grabs[sim][1]
        self.emit("12_player_screenshot_sim",
                  edits.screenshot(im, "player", "AC-130 Gunship Simulator - Video",
                                   "AC-130 Gunship Simulator: Special Ops Squadron - gameplay trailer",
                                   "https://video.example.org/watch/gs130-trailer-v3"),
                  sim, t, ("screenshot",), None, f"{_at(t)}, whole frame in a desktop video-player window", None,
                  only_full=True)

    def unrelated(self, decoy: U8, seed: int) -> None:
        """13-15: claims from nothing indexed (same gunship HUD over other terrain, terrain, landscape)."""
        sw, sh = self.variant.still
        self.emit("13_unrelated_gunship_hud", edits.add_caption_bar(decoy, _CAPTION, tag="MOD"), None, None,
                  ("caption", "jpeg"), None,
                  "UNRELATED: same gunship HUD over un-indexed terrain, caption bar, JPEG q=85", 85)
        self.emit("14_unrelated_terrain_still",
                  Image.fromarray(terrain_texture(seeded_rng(seed, 8), sh * 3 // 4, sw * 3 // 4, "color", sw / 1024)),
                  None, None, (), None, "UNRELATED: colour aerial terrain from an unused seed", None)
        self.emit("15_unrelated_sky_photo",
                  Image.fromarray(sky_photo(seeded_rng(seed, 9), sw * 3 // 4, sh * 3 // 4)), None,
                  None, ("jpeg",), None, "UNRELATED: landscape photo (sky, hills, trees), JPEG q=90", 90)


# --------------------------------------------------------------------------- the manifest


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
