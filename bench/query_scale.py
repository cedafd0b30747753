"""Query cost as the index grows: 10^3 to 10^5 (10^6) frames, the shortlist's inverted file against today's engine.

Real frames: the demo corpus (seed 2017: 5 videos, 2 stills, 130 sampled frames) is
generated and indexed with `Index.add`. Claims are frames of its videos at random times:
whole frames with a caption bar (JPEG q 70), and crops of 10-35 % of the frame at a random
place with a caption bar (JPEG q 75-90). Distractors fill the index up to each size: a
distractor frame holds 1,000 descriptors, each a real stored descriptor of the corpus with
1 or 2 of its four 2x2-cell quadrants (32 values) replaced by the same quadrant of other
random real descriptors, renormalised as SIFT does (L2, clip 0.2, L2, x512, uint8); its
position is the base descriptor's; its hashes are random. 200 distractor frames form one
source (so the per-source cap applies to them), written with `SQLiteStore.add_source`, one
transaction a source, quantised by the index's vocabulary like any added frame. After each
size the index keeps its vocabulary trained and its word file current as `index add`
would (`shortlist_upkeep`).

Each measurement runs in a fresh process (`--child`): it opens the index, answers every
claim once, and reports time to first result (open + first claim), per-claim latency
and its peak RSS; CPU seconds (all threads) are reported beside wall time because a
shared machine's wall times move with its load. Recall is the true source among the matches and the true frame
(the sampled frame nearest the claim's time, within 0.55 s) among the frames verified.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from search_mode import search_settings

from provcheck import Index, shortlist_upkeep, synth
from provcheck.features import LocalFeatures
from provcheck.hashing import HASHERS
from provcheck.media import probe_video
from provcheck.store import FrameRecord, NewSource, SQLiteStore
from provcheck.store.locations import open_store, shown_location

DISTRACTOR_KEYPOINTS = 1000
DISTRACTOR_FRAMES_PER_SOURCE = 200
DISTRACTOR_SIZE = (960, 540)


@dataclass(frozen=True)
class Claim:
    path: Path
    kind: str  # "whole" or "crop"
    source_path: str
    time_s: float


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_claims(corpus: synth.DemoCorpus, folder: Path, count: int, seed: int) -> list[Claim]:
    """``count`` whole-frame and ``count`` crop claims from random times of the corpus videos."""
    rng = np.random.default_rng(seed)
    videos = [source for source in corpus.sources if source.kind == "video"]
    folder.mkdir(parents=True, exist_ok=True)
    claims = []
    for number in range(count):
        source = videos[number % len(videos)]
        duration = probe_video(source.path).duration_s or 1.0
        wanted = float(rng.uniform(0.3, duration - 0.3))
        frame, time_s = synth.extract_frame(source.path, wanted)
        whole = synth.jpeg(synth.add_caption_bar(frame, f"CLAIM {number}: convoy leaves the city"), 70)
        claims.append(save(whole, folder / f"whole_{number:03d}.jpg", "whole", str(source.path), time_s))
        area = float(rng.uniform(0.10, 0.35))
        aspect = float(rng.uniform(0.75, 1.33))
        w = min(0.95, float(np.sqrt(area * aspect)))
        h = min(0.95, area / w)
        x, y = float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h))
        cropped = synth.add_caption_bar(synth.crop(frame, (x, y, w, h)), f"EXCLUSIVE {number}")
        quality = int(rng.integers(75, 91))
        claims.append(save(synth.jpeg(cropped, quality), folder / f"crop_{number:03d}.jpg", "crop", str(source.path),
                           time_s))
    return claims


def save(image: Image.Image, path: Path, kind: str, source_path: str, time_s: float) -> Claim:
    image.save(path, quality=95)
    return Claim(path, kind, source_path, time_s)


def recombine(pool: NDArray[np.uint8], xy: NDArray[np.float32], count: int, rng: np.random.Generator) -> tuple[
        NDArray[np.uint8], NDArray[np.float32]]:
    """``count`` distractor descriptors: real ones with 1-2 quadrants swapped for other real ones' (see docstring)."""
    base = rng.integers(0, pool.shape[0], count)
    out = pool[base].astype(np.float32)
    quadrant_of_value = (((np.arange(128) // 8) // 4) // 2) * 2 + ((np.arange(128) // 8) % 4) // 2
    swaps = rng.integers(1, 3, count)
    for swap in range(2):
        rows = np.flatnonzero(swaps > swap)
        quadrants = rng.integers(0, 4, rows.shape[0])
        donors = pool[rng.integers(0, pool.shape[0], rows.shape[0])].astype(np.float32)
        mask = quadrant_of_value[None, :] == quadrants[:, None]
        out[rows] = np.where(mask, donors, out[rows])
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    out = np.minimum(out, 0.2)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    return np.clip(np.rint(out * 512), 0, 255).astype(np.uint8), xy[base]


def add_distractors(store: SQLiteStore, pool: NDArray[np.uint8], xy: NDArray[np.float32], frames: int,
                    rng: np.random.Generator, first_number: int) -> int:
    """Add distractor sources holding ``frames`` frames in all; returns the number of sources added."""
    sources = 0
    while frames > 0:
        count = min(DISTRACTOR_FRAMES_PER_SOURCE, frames)
        records = []
        for number in range(count):
            descriptors, positions = recombine(pool, xy, DISTRACTOR_KEYPOINTS, rng)
            hashes = {hasher.name: rng.integers(0, 256, hasher.bits // 8, dtype=np.uint8).tobytes()
                      for hasher in HASHERS}
            features = LocalFeatures(positions, descriptors, *DISTRACTOR_SIZE)
            records.append(FrameRecord(number, number * 0.5, hashes, 100, features,
                                       np.zeros(DISTRACTOR_KEYPOINTS, bool)))
        tag = first_number + sources
        store.add_source(NewSource(kind="video", title=f"distractor {tag}", url=None, published=None, notes=None,
                                   path=f"/nonexistent/distractor_{tag}.mp4", sha256=f"{tag:064x}",
                                   duration_s=count * 0.5, width=DISTRACTOR_SIZE[0], height=DISTRACTOR_SIZE[1]),
                         records)
        frames -= count
        sources += 1
    return sources


def child(index_path: str, claims_file: Path, search: str) -> None:
    """Open the index (a file or a database URL), answer every claim once, print one JSON line of measurements."""
    claims = [Claim(Path(c["path"]), c["kind"], c["source_path"], c["time_s"])
              for c in json.loads(claims_file.read_text())]
    store = open_store(index_path)
    frames = store.frame_table()  # the engine's row order (by frame id)
    store.close()
    started = time.perf_counter()
    index = Index(index_path, settings=search_settings(search))
    sources = {record.id: record for record in index.sources()}
    rows = []
    first_result = None
    for claim in claims:
        begin, cpu = time.perf_counter(), time.process_time()
        assessment = index.assess(claim.path)
        seconds, cpu_seconds = time.perf_counter() - begin, time.process_time() - cpu
        if first_result is None:
            first_result = time.perf_counter() - started
        true_source = next(s.id for s in sources.values() if s.path == claim.source_path)
        in_source = np.flatnonzero(frames.source_ids == true_source)
        times = frames.times_s[in_source]
        near = in_source[np.abs(times - claim.time_s) <= 0.55]
        verified_rows = set(assessment.verified)
        rows.append({
            "kind": claim.kind, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "source_found": any(m.source.id == true_source and m.verdict.value == "match" for m in assessment.matches),
            "frame_verified": bool(set(near.tolist()) & verified_rows),
            "false_sources": sum(1 for m in assessment.matches if m.source.id != true_source),
        })
    peak = peak_rss_bytes()
    print(json.dumps({"frames": int(frames.frame_ids.shape[0]), "first_result_s": first_result, "peak_rss": peak,
                      "claims": rows}))


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: on Linux that keeps the peak of the
    process image before exec, i.e. of the (large) bench process that started this child."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(index_path: Path | str, claims_file: Path, search: str) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", str(index_path), str(claims_file), search]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                    os.environ.get("PYTHONPATH")])))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI runs (provcheck/cli.py); a caller's setting wins
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {search} at {index_path} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def summary(frames: int, search: str, result: dict[str, object], disk_bytes: int) -> dict[str, object]:
    claims = result["claims"]
    assert isinstance(claims, list)
    row: dict[str, object] = {"frames": frames, "search": search, "first_result_s": result["first_result_s"],
                              "peak_rss": result["peak_rss"], "disk_bytes_per_frame": disk_bytes / frames}
    for kind in ("whole", "crop"):
        mine = [c for c in claims if c["kind"] == kind]
        seconds = sorted(c["seconds"] for c in mine)
        row[kind] = {
            "claims": len(mine),
            "median_s": statistics.median(seconds),
            "median_cpu_s": statistics.median(c["cpu_seconds"] for c in mine),
            "p95_s": seconds[min(len(seconds) - 1, int(round(0.95 * (len(seconds) - 1))))],
            "source_recall": sum(c["source_found"] for c in mine) / len(mine),
            "frame_recall": sum(c["frame_verified"] for c in mine) / len(mine),
            "false_sources": sum(c["false_sources"] for c in mine),
        }
    return row


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| frames | search | claims | median s | p95 s | x per 10x frames | median CPU s | true frame verified "
             "| true source matched | other sources reported | time to first result s | peak RSS MB | disk KB/frame |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    previous: dict[tuple[str, str], tuple[int, float]] = {}
    for row in rows:
        for kind in ("whole", "crop"):
            stats = row[kind]
            assert isinstance(stats, dict)
            key = (str(row["search"]), kind)
            growth = "-"
            if key in previous:
                frames, median = previous[key]
                decades = np.log10(int(row["frames"]) / frames)  # type: ignore[call-overload]
                growth = f"{(stats['median_s'] / median) ** (1 / decades):.2f}" if decades > 0 else "-"
            previous[key] = (int(row["frames"]), stats["median_s"])  # type: ignore[call-overload]
            lines.append(
                f"| {row['frames']:,} | {row['search']} | {kind} {stats['claims']} | {stats['median_s']:.2f} | "
                f"{stats['p95_s']:.2f} | {growth} | {stats['median_cpu_s']:.2f} | {stats['frame_recall']:.3f} | "
                f"{stats['source_recall']:.3f} | "
                f"{stats['false_sources']} | {row['first_result_s']:.1f} | {int(row['peak_rss']) / 2**20:,.0f} | "  # type: ignore[call-overload]
                f"{float(row['disk_bytes_per_frame']) / 1024:.1f} |")  # type: ignore[arg-type]
    return "\n".join(lines)


def remeasure(root: Path, baseline_max: int, out: Path | None, grow_to: int | None = None) -> int:
    """Measure an index a previous run left in ``root``, first grown to ``grow_to`` frames with more distractors."""
    index_path, claims_file = root / "index.sqlite", root / "claims.json"
    store = SQLiteStore(index_path)
    frames = len(store.frame_table())
    if grow_to is not None and grow_to > frames:
        real_ids = {s.id for s in store.list_sources() if not s.title.startswith("distractor")}
        table_ = store.frame_table()
        wanted = table_.frame_ids[np.isin(table_.source_ids, list(real_ids))].tolist()
        real = list(store.features_of(wanted).values())
        pool = np.concatenate([s.features.descriptors[~s.static] for s in real])
        xy = np.concatenate([s.features.xy[~s.static] for s in real])
        distractors = sum(1 for s in store.list_sources() if s.title.startswith("distractor"))
        log(f"adding {grow_to - frames:,} distractor frames")
        begin = time.perf_counter()
        add_distractors(store, pool, xy, grow_to - frames, np.random.default_rng(2026 + frames), distractors)
        log(f"  {time.perf_counter() - begin:.0f} s")
        for step, upkeep in (("trained", shortlist_upkeep.keep_trained), ("word file", shortlist_upkeep.keep_word_file)):
            begin = time.perf_counter()
            if upkeep(store):
                log(f"{step} in {time.perf_counter() - begin:.0f} s")
        frames = grow_to
    store.close()
    disk = sum(p.stat().st_size for p in root.glob("index.sqlite*"))
    rows = [summary(frames, search, measure(index_path, claims_file, search), disk)
            for search in ("inverted", "exact") if search == "inverted" or frames <= baseline_max]
    print(table(rows))
    if out:
        out.write_text(json.dumps(rows, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="indexed frames to measure at, ascending")
    parser.add_argument("--claims", type=int, default=12, help="whole-frame claims (and as many crop claims)")
    parser.add_argument("--baseline-max", type=int, default=1000,
                        help="also run today's in-memory engine (search=exact) up to this many frames")
    parser.add_argument("--quick", action="store_true", help="sizes 300,1000 and 4 + 4 claims")
    parser.add_argument("--work", type=Path, default=None, help="keep the corpus and index here")
    parser.add_argument("--out", type=Path, default=None, help="write the measured rows as JSON")
    parser.add_argument("--remeasure", action="store_true",
                        help="measure the index already in --work at its present size (no corpus, no distractors)")
    parser.add_argument("--grow-to", type=int, default=None,
                        help="with --remeasure: first add distractor frames up to this many frames")
    parser.add_argument("--child", nargs=3, metavar=("INDEX", "CLAIMS", "SEARCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), args.child[2])
        return 0
    if args.remeasure:
        return remeasure(args.work.resolve(), args.baseline_max, args.out, args.grow_to)
    sizes = [300, 1000] if args.quick else [int(s) for s in args.sizes.split(",")]
    count = 4 if args.quick else args.claims
    command = " ".join(map(shown_location, sys.argv[1:]))
    print(f"**provcheck query scale bench**: `python bench/query_scale.py {command}`".rstrip())
    print(f"- machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load average at start {os.getloadavg()[0]:.1f}\n")
    with tempfile.TemporaryDirectory(prefix="provcheck-query-") as tmp:
        root = args.work.resolve() if args.work else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        log("generating the demo corpus (seed 2017)")
        corpus = synth.build_demo_corpus(root / "corpus", seed=2017)
        claims = make_claims(corpus, root / "claims", count, seed=5)
        claims_file = root / "claims.json"
        claims_file.write_text(json.dumps([{"path": str(c.path), "kind": c.kind, "source_path": c.source_path,
                                            "time_s": c.time_s} for c in claims]))
        index_path = root / "index.sqlite"
        index_path.unlink(missing_ok=True)
        log("indexing the corpus")
        with Index(index_path) as index:
            index.add_many([source.path for source in corpus.sources], jobs=1)
        store = SQLiteStore(index_path)
        real = [(s.features.descriptors[~s.static], s.features.xy[~s.static]) for s in store.feature_table()]
        pool = np.concatenate([d for d, _ in real])
        xy = np.concatenate([p for _, p in real])
        real_frames = len(store.frame_table())
        rng = np.random.default_rng(2026)
        rows: list[dict[str, object]] = []
        frames, sources = real_frames, 0
        for size in sizes:
            if size > frames:
                log(f"adding {size - frames:,} distractor frames")
                begin = time.perf_counter()
                sources += add_distractors(store, pool, xy, size - frames, rng, sources)
                log(f"  {time.perf_counter() - begin:.0f} s")
                frames = size
            begin = time.perf_counter()
            trained = shortlist_upkeep.keep_trained(store)
            if trained is not None:
                log(f"trained {trained.size:,} words on {trained.training_descriptors:,} descriptors in "
                    f"{time.perf_counter() - begin:.0f} s")
            begin = time.perf_counter()
            if shortlist_upkeep.keep_word_file(store):
                log(f"wrote the word file in {time.perf_counter() - begin:.0f} s")
            disk = sum(p.stat().st_size for p in root.glob("index.sqlite*"))
            for search in ("inverted", "exact"):
                if search == "exact" and frames > args.baseline_max:
                    continue
                log(f"measuring {search} at {frames:,} frames")
                rows.append(summary(frames, search, measure(index_path, claims_file, search), disk))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        store.close()
        print(table(rows))
        if args.out:
            args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
