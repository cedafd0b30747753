"""Indexing and batch-matching speed of the real CLI, each against a baseline measured in the same run.

Sections (``--section``, comma-separated, run in this order; default all):

- ``index``: bench videos generated with ``provcheck.synth`` at 640x360, 1280x720 and
  1920x1080 (the same content and duration at every size, H.264, FILES_PER_SIZE files a
  size), then per size: PyAV decoding every frame to an RGB ndarray in 1 and in 2
  processes (the limit), ``provcheck index add --jobs 1`` and ``--jobs 2`` into fresh
  indexes (subprocesses), and provcheck's ingest stages timed one after another in one
  process (where indexing time goes). One file is read by one worker, so ``--jobs 2``
  needs two files to use two cores: each size has FILES_PER_SIZE files.
- ``batch``: claims made from frames of the indexed 640x360 videos with the synth edits
  kit (crops with a caption bar, whole frames), matched in one ``provcheck match
  --json-lines`` call and again in one ``provcheck match --json`` call per claim; checks
  both give the same results.
- ``dask``: ingest throughput of the 640x360 videos on Dask against the local pool, at 1
  and 2 workers (DASK_WORKERS): ``index add --jobs N`` (the local pool; 1 reads in the
  command's own process), ``index add --dask local --jobs N`` (a LocalCluster started
  by the command, start-up included) and ``index add --dask tcp://...`` against a
  LocalCluster of N workers already running with provcheck imported (started here, not
  timed: the steady state of a cluster that outlives the job; its workers' CPU is not in
  the command's). Checks every run indexes the same frames. Needs ``provcheck[dask]``
  (without it the section says so and is skipped).

- ``backends`` (with ``--backend postgresql``): for each ``--archive SQLITE=URL`` (a SQLite
  index and its copy in PostgreSQL made by ``bench/to_postgresql.py``), hash search (the
  matcher's in-memory scan against multi-index hashing in SQL) and, with ``CLAIMS`` given
  (``SQLITE=URL=CLAIMS``, a ``bench/query_scale.py`` claims file), crop and whole-claim
  latency on both, alternated (``bench/backends.py``). A side left empty (``=URL=CLAIMS``,
  ``SQLITE==CLAIMS``) is not measured, for an archive too large to be on the disk in both
  backends at once; with more than one archive, a last table sets every claims row against
  the first one measured.

``--backend postgresql`` (server from ``--postgresql URL`` or ``$PROVCHECK_BENCH_POSTGRESQL``)
writes every index the sections build into a fresh database on that server (dropped at
the end) instead of a SQLite file, so the ``index``, ``batch`` and ``dask`` rows measure
that backend.

Wall times are taken from outside the child processes, interpreter start and imports
included. Tables (markdown) go to stdout, progress to stderr; ``--out FILE`` writes
every measured number as JSON.

    python bench/speed.py [--quick] [--section index,batch,dask,backends] [--seed 2017] [--out FILE]
        [--backend sqlite|postgresql] [--postgresql URL] [--archive SQLITE=URL[=CLAIMS] ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_tools import Measured, render_bench_video, run_measured  # noqa: E402

from provcheck import __version__  # noqa: E402
from provcheck.store.locations import shown_location  # noqa: E402
from provcheck.synth import add_caption_bar, crop, extract_frames  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TOOLS = Path(__file__).resolve().parent / "speed_tools.py"
#: Frame sizes of the indexing section; content and duration are the same at each.
SIZES: tuple[tuple[int, int], ...] = ((640, 360), (1280, 720), (1920, 1080))
#: Files a size: --jobs 2 reads one file per worker, so two files are needed to use two cores.
FILES_PER_SIZE = 2
FPS = 25
#: The videos the batch section's claims are made from and matched against (the index section's
#: 640x360 index when it ran). A claim from 1280x720 footage took ~3.5 s to match on the 2-core
#: machine, so 200 matches at that size would make the full run take half an hour.
BATCH_SIZE = (640, 360)


@dataclass(frozen=True)
class Settings:
    video_s: float  # length of each bench video
    claims: int  # claims of the batch section


FULL = Settings(video_s=24.0, claims=100)
QUICK = Settings(video_s=2.0, claims=8)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def provcheck(*args: str) -> list[str]:
    return [sys.executable, "-m", "provcheck", *args]


def size_name(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def checked(measured: Measured, what: str) -> Measured:
    """The measurement, or exit with the child's stderr when it failed."""
    if any(code != 0 for code in measured.returncodes):
        sys.exit(f"{what} failed ({measured.returncodes}):\n" + "\n".join(measured.stderrs))
    return measured


def index_info(index_path: Path | str) -> dict[str, Any]:
    """``provcheck index info --json`` of an index (frames, size on disk)."""
    done = subprocess.run(provcheck("index", "info", "--json", "--index", str(index_path)),
                          capture_output=True, text=True, check=True)
    info: dict[str, Any] = json.loads(done.stdout)
    return info


def video_seconds(path: Path) -> float:
    """Duration of a video as its container declares it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / av.time_base


class Bench:
    """What the sections share: the scratch folder, the settings, the rendered videos and built indexes."""

    def __init__(self, root: Path, settings: Settings, seed: int, postgresql: str | None = None,
                 archives: Sequence[str] = ()) -> None:
        self.root = root
        self.settings = settings
        self.seed = seed
        self.postgresql = postgresql  # a server's URL: indexes go into fresh databases there
        self.archives = list(archives)
        self._databases: list[str] = []
        self._videos: dict[tuple[int, int], list[Path]] = {}
        self.indexes: dict[tuple[int, int], Path | str] = {}  # a complete index of each size's videos, once built

    def index_location(self, name: str) -> Path | str:
        """Where a new index called ``name`` goes: a SQLite file in the scratch folder, or a fresh database."""
        if self.postgresql is None:
            return self.root / f"{name}.sqlite"
        import psycopg

        database = f"provcheck_speed_{name}".lower()
        with psycopg.connect(self.postgresql, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {database}")
        self._databases.append(database)
        return f"{self.postgresql.rpartition('/')[0]}/{database}"

    def drop_databases(self) -> None:
        if self.postgresql is None or not self._databases:
            return
        import psycopg

        with psycopg.connect(self.postgresql, autocommit=True) as admin:
            for database in self._databases:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    def render(self, sizes: Iterable[tuple[int, int]]) -> None:
        """Render the videos of every size not rendered yet, in one process per core (not measured)."""
        todo = [size for size in dict.fromkeys(sizes) if size not in self._videos]
        if not todo:
            return
        start = time.perf_counter()
        jobs = []
        for size in todo:
            paths = [self.root / "videos" / size_name(size) / f"bench{number}_{size_name(size)}.mp4"
                     for number in range(FILES_PER_SIZE)]
            self._videos[size] = paths
            # file k has the same seed at every size: same content and duration, scaled
            jobs += [(path, self.seed + number, size) for number, path in enumerate(paths)]
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            futures = [pool.submit(render_bench_video, path, seed, size, self.settings.video_s, FPS)
                       for path, seed, size in jobs]
            for future in futures:
                future.result()
        say(f"rendered {len(jobs)} videos ({', '.join(map(size_name, todo))}) in {time.perf_counter() - start:.0f} s")

    def videos(self, size: tuple[int, int]) -> list[Path]:
        self.render([size])
        return self._videos[size]

    def index_of(self, size: tuple[int, int]) -> Path | str:
        """An index of the videos of ``size``: the index section's, or one built now (not measured)."""
        if size not in self.indexes:
            path = self.index_location(f"index_{size_name(size)}")
            say(f"indexing the {size_name(size)} videos for the batch section")
            checked(run_measured([provcheck("index", "add", *map(str, self.videos(size)), "--jobs", "2", "--quiet",
                                            "--index", str(path))]), "index add")
            self.indexes[size] = path
        return self.indexes[size]


# --- section: index -------------------------------------------------------------------------------------------


def _probe(kind: str, groups: Sequence[Sequence[Path]]) -> tuple[Measured, list[dict[str, float]]]:
    """Run a speed_tools probe in one process per group of files, all at once."""
    measured = checked(run_measured([[sys.executable, str(TOOLS), kind, *map(str, group)] for group in groups]),
                       f"{kind} probe")
    return measured, [json.loads(out) for out in measured.stdouts]


def _index_add(bench: Bench, files: Sequence[Path], jobs: int, name: str,
               dask: str | None = None) -> tuple[Measured, dict[str, Any], Path | str]:
    path = bench.index_location(name)
    on_dask = () if dask is None else ("--dask", dask)
    what = f"index add --jobs {jobs}" + ("" if dask is None else f" --dask {dask}")
    measured = checked(run_measured([provcheck("index", "add", *map(str, files), "--jobs", str(jobs), *on_dask,
                                               "--json", "--quiet", "--index", str(path))]), what)
    added = json.loads(measured.stdouts[0])["added"]
    if len(added) != len(files):
        sys.exit(f"{what}: {len(added)} of {len(files)} files added")
    return measured, index_info(path), path


def _row(run: str, processes: int, measured: Measured, baseline: Measured, info: dict[str, Any] | None, *,
         decoded: int, video_s: float) -> dict[str, Any]:
    """One row of the indexing table: a run measured against its decode-only baseline."""
    return {
        "run": run, "processes": processes, "wall_s": measured.wall_s, "cpu_s": measured.cpu_s,
        "decoded_fps": decoded / measured.wall_s, "x_realtime": video_s / measured.wall_s,
        "vs_decode": measured.wall_s / baseline.wall_s,
        "max_rss_mb": measured.max_rss_mb, "tree_rss_mb": measured.tree_rss_mb,
        "indexed_frames": None if info is None else info["frames"],
        "index_bytes": None if info is None else info["size_bytes"],
        "bytes_per_frame": None if info is None else info["size_bytes"] / info["frames"],
    }


def section_index(bench: Bench) -> dict[str, Any]:
    """Indexing speed per frame size: decode-only baselines, index add --jobs 1 and 2, ingest stages."""
    bench.render(SIZES)
    results: dict[str, Any] = {}
    for size in SIZES:
        name = size_name(size)
        files = bench.videos(size)
        video_s = sum(video_seconds(path) for path in files)
        say(f"index {name}: decode-only, 1 process")
        decode1, probes = _probe("decode", [files])
        decoded = int(probes[0]["frames"])
        say(f"index {name}: decode-only, {FILES_PER_SIZE} processes")
        decode2, _ = _probe("decode", [[path] for path in files])
        say(f"index {name}: provcheck index add --jobs 1")
        add1, info1, index1 = _index_add(bench, files, 1, f"jobs1_{name}")
        say(f"index {name}: provcheck index add --jobs 2")
        add2, info2, _ = _index_add(bench, files, 2, f"jobs2_{name}")
        if info1["frames"] != info2["frames"]:
            sys.exit(f"{name}: --jobs 1 indexed {info1['frames']} frames, --jobs 2 {info2['frames']}")
        bench.indexes[size] = index1
        say(f"index {name}: ingest stages in one process")
        _, stages = _probe("stages", [files])

        row = functools.partial(_row, decoded=decoded, video_s=video_s)
        results[name] = {
            "files": len(files), "video_s": video_s, "decoded_frames": decoded,
            "video_bytes": sum(path.stat().st_size for path in files),
            "rows": [
                row("PyAV decode, every frame to RGB ndarray", 1, decode1, decode1, None),
                row("PyAV decode, every frame to RGB ndarray", len(files), decode2, decode2, None),
                row("`provcheck index add --jobs 1`", 1, add1, decode1, info1),
                row("`provcheck index add --jobs 2`", len(files), add2, decode2, info2),
            ],
            "stages": {**stages[0], "index_add_jobs1_s": add1.wall_s},
        }
    return results


def print_index(results: dict[str, Any]) -> None:
    print(f"\n## index: {FILES_PER_SIZE} files a size, {FPS} fps; decode and index add are subprocesses, "
          "timed from outside (start-up included)\n")
    head = ("size", "run", "processes", "wall s", "CPU s", "decoded fr/s", "x realtime", "vs decode (same processes)",
            "peak RSS MB, largest process", "peak RSS MB, tree sum", "indexed frames", "bytes / indexed frame")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, result in results.items():
        for row in result["rows"]:
            indexed = "-" if row["indexed_frames"] is None else str(row["indexed_frames"])
            per_frame = "-" if row["bytes_per_frame"] is None else f"{row['bytes_per_frame'] / 1024:.0f} KiB"
            print(f"| {name} | {row['run']} | {row['processes']} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | "
                  f"{row['decoded_fps']:.0f} | {row['x_realtime']:.1f} | {row['vs_decode']:.2f}x | "
                  f"{row['max_rss_mb']:.0f} | {row['tree_rss_mb']:.0f} | {indexed} | {per_frame} |")
    print("\nvideos: " + "; ".join(
        f"{name}: {r['files']} files, {r['video_s']:.1f} s, {r['decoded_frames']} frames, "
        f"{r['video_bytes'] / 2**20:.1f} MiB" for name, r in results.items()))
    print("\nwhere indexing time goes: the ingest stages one after another in one process (no start-up, no "
          "SQLite), against `index add --jobs 1`\n")
    head = ("size", "decode + sample s", "ms / decoded frame", "kept frames", "hashes s", "SIFT + overlay s",
            "ms / kept frame (hashes, SIFT)", "stages sum s", "index add --jobs 1 s", "rest s (start-up, storing)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, result in results.items():
        st = result["stages"]
        total = st["sample_s"] + st["hashes_s"] + st["features_s"]
        kept = st["kept"]
        print(f"| {name} | {st['sample_s']:.2f} | {st['sample_s'] / result['decoded_frames'] * 1000:.1f} | {kept:.0f} | "
              f"{st['hashes_s']:.2f} | {st['features_s']:.2f} | "
              f"{st['hashes_s'] / kept * 1000:.0f}, {st['features_s'] / kept * 1000:.0f} | {total:.2f} | "
              f"{st['index_add_jobs1_s']:.2f} | {st['index_add_jobs1_s'] - total:.2f} |")


# --- section: batch -------------------------------------------------------------------------------------------

CAPTIONS = ("Convoy leaves under foreign protection", "Drone footage shows the column at dawn",
            "Exclusive: strike on the road north", "Vehicles spotted near the border crossing")


def make_claims(videos: Sequence[Path], count: int, seed: int, folder: Path) -> list[Path]:
    """``count`` claims from frames of ``videos`` (taking turns): every other one a whole frame, the rest a
    crop of 30-70 % of the frame with a caption bar; JPEG. Frames are grabbed at random times."""
    rng = np.random.default_rng([seed, 31])
    folder.mkdir(parents=True, exist_ok=True)
    per_video: dict[Path, list[int]] = {}
    for number in range(count):
        per_video.setdefault(videos[number % len(videos)], []).append(number)
    made: dict[int, Path] = {}
    for video, numbers in per_video.items():
        length = video_seconds(video)
        times = [float(rng.uniform(0.2, length - 0.2)) for _ in numbers]
        for number, (image, _) in zip(numbers, extract_frames(video, times), strict=True):
            if number % 2:
                area = rng.uniform(0.3, 0.7)
                w = h = float(np.sqrt(area))
                box = (float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h)), w, h)
                image = add_caption_bar(crop(image, box), CAPTIONS[number % len(CAPTIONS)],
                                        position="bottom" if number % 4 == 1 else "top")
                kind = "crop_caption"
            else:
                kind = "frame"
            path = folder / f"claim{number:03d}_{kind}_{video.stem}.jpg"
            image.save(path, quality=90)
            made[number] = path
    return [made[number] for number in range(count)]


def section_batch(bench: Bench) -> dict[str, Any]:
    """Many claims in one ``match --json-lines`` call against one ``match --json`` call per claim."""
    videos = bench.videos(BATCH_SIZE)
    index_path = bench.index_of(BATCH_SIZE)
    claims = make_claims(videos, bench.settings.claims, bench.seed, bench.root / "claims")
    listing = bench.root / "claims.txt"
    listing.write_text("".join(f"{path}\n" for path in claims), encoding="utf-8")
    frames = index_info(index_path)["frames"]
    cores = os.cpu_count() or 1
    say(f"batch: {len(claims)} claims in one `provcheck match --json-lines` call, --jobs 1 and --jobs {cores}"
        f" ({frames} indexed frames)")
    alone = checked(run_measured([provcheck("match", "--json-lines", "--quiet", "--jobs", "1", "--index",
                                            str(index_path), "--from-file", str(listing))]), "match --jobs 1")
    one = checked(run_measured([provcheck("match", "--json-lines", "--quiet", "--jobs", str(cores), "--index",
                                          str(index_path), "--from-file", str(listing))]), "match --json-lines")
    batch_results = [json.loads(line) for line in one.stdouts[0].splitlines() if line.strip()]
    alone_results = [json.loads(line) for line in alone.stdouts[0].splitlines() if line.strip()]
    separate_walls, separate_cpu, separate_rss, separate_results = [], [], [], []
    for number, claim in enumerate(claims, 1):
        if number % 10 == 1:
            say(f"batch: separate `provcheck match --json` calls, {number}/{len(claims)}")
        measured = checked(run_measured([provcheck("match", "--json", "--quiet", "--index", str(index_path),
                                                   str(claim))]), "match --json")
        separate_walls.append(measured.wall_s)
        separate_cpu.append(measured.cpu_s)
        separate_rss.append(measured.max_rss_mb)
        separate_results.extend(json.loads(measured.stdouts[0])["results"])

    def strip(result: dict[str, Any]) -> dict[str, Any]:  # the per-line envelope is not part of the result
        return {key: value for key, value in result.items() if key not in ("schema", "provcheck", "index")}

    same_verdicts = [a["verdict"] == b["verdict"] for a, b in zip(batch_results, separate_results, strict=True)]
    same_results = [strip(a) == strip(b) for a, b in zip(batch_results, separate_results, strict=True)]
    verdicts = {verdict: sum(r["verdict"] == verdict for r in batch_results) for verdict in ("match", "possible", "none")}
    own = sum(bool(r["matches"]) and r["matches"][0]["verdict"] == "match"
              and Path(r["matches"][0]["source"]["path"]).stem in Path(r["query"]).stem for r in batch_results)
    total_separate = sum(separate_walls)
    return {
        "size": size_name(BATCH_SIZE), "indexed_frames": frames, "claims": len(claims),
        "claim_kinds": {"frame": sum("_frame_" in p.name for p in claims),
                        "crop_caption": sum("_crop_caption_" in p.name for p in claims)},
        "jobs": cores,
        "one_call": {"wall_s": one.wall_s, "cpu_s": one.cpu_s, "per_claim_s": one.wall_s / len(claims),
                     "max_rss_mb": one.max_rss_mb},
        "one_call_jobs_1": {"wall_s": alone.wall_s, "cpu_s": alone.cpu_s, "per_claim_s": alone.wall_s / len(claims),
                            "max_rss_mb": alone.max_rss_mb},
        "jobs_1_same_results": sum(a == b for a, b in zip(alone_results, batch_results, strict=True)),
        "separate_calls": {"wall_s": total_separate, "cpu_s": sum(separate_cpu),
                           "per_claim_s": total_separate / len(claims),
                           "median_call_s": statistics.median(separate_walls), "min_call_s": min(separate_walls),
                           "max_call_s": max(separate_walls), "max_rss_mb": max(separate_rss)},
        "separate_vs_one": total_separate / one.wall_s,
        "verdicts": verdicts, "matched_own_video": own,
        "same_verdicts": sum(same_verdicts), "same_results": sum(same_results),
    }


def print_batch(result: dict[str, Any]) -> None:
    one, sep, n = result["one_call"], result["separate_calls"], result["claims"]
    kinds = result["claim_kinds"]
    print(f"\n## batch: {n} claims ({kinds['frame']} whole frames, {kinds['crop_caption']} crops of 30-70 % with a "
          f"caption bar, JPEG) against {result['indexed_frames']} indexed frames of {FILES_PER_SIZE} "
          f"{result['size']} videos\n")
    print("| run | processes | total wall s | CPU s | wall s / claim | median s / call | vs one call | "
          "peak RSS MB, largest |")
    print("|---|---|---|---|---|---|---|---|")
    alone = result["one_call_jobs_1"]
    print(f"| one `provcheck match --json-lines --jobs {result['jobs']}` call | 1 + {result['jobs']} workers | "
          f"{one['wall_s']:.1f} | {one['cpu_s']:.1f} | "
          f"{one['per_claim_s']:.2f} | {one['wall_s']:.1f} | 1.00x | {one['max_rss_mb']:.0f} |")
    print(f"| one `provcheck match --json-lines --jobs 1` call | 1 | {alone['wall_s']:.1f} | {alone['cpu_s']:.1f} | "
          f"{alone['per_claim_s']:.2f} | {alone['wall_s']:.1f} | {alone['wall_s'] / one['wall_s']:.2f}x | "
          f"{alone['max_rss_mb']:.0f} |")
    print(f"| one `provcheck match --json` call per claim | {n} | {sep['wall_s']:.1f} | {sep['cpu_s']:.1f} | "
          f"{sep['per_claim_s']:.2f} | {sep['median_call_s']:.2f} | {result['separate_vs_one']:.2f}x | "
          f"{sep['max_rss_mb']:.0f} |")
    v = result["verdicts"]
    print(f"\nverdicts (one call): {v['match']} match, {v['possible']} possible, {v['none']} none; "
          f"{result['matched_own_video']}/{n} matched the video they were made from")
    print(f"same verdict both ways: {result['same_verdicts']}/{n}; identical results (every field): "
          f"{result['same_results']}/{n}; --jobs 1 and --jobs {result['jobs']} identical lines: "
          f"{result['jobs_1_same_results']}/{n}")


# --- section: dask --------------------------------------------------------------------------------------------

#: Worker counts of the dask section: the local pool's --jobs N against N Dask workers of one thread.
DASK_WORKERS = (1, 2)


def _running_cluster(workers: int) -> Any:
    """A LocalCluster of ``workers`` one-thread processes on 127.0.0.1, as ``--dask local`` starts one."""
    import distributed

    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                    silence_logs=logging.ERROR)


def section_dask(bench: Bench) -> dict[str, Any]:
    """Ingest on Dask (a LocalCluster the command starts, one already running) against the local pool."""
    try:
        import distributed
    except ImportError:
        return {"skipped": "Dask's distributed is not installed (pip install 'provcheck[dask]')"}
    files = bench.videos(BATCH_SIZE)
    video_s = sum(video_seconds(path) for path in files)
    say("dask: a first index add, not timed (the first run reads the libraries from disk)")
    _index_add(bench, files[:1], 1, "dask_warm_up")
    rows = []
    for workers in DASK_WORKERS:
        say(f"dask: index add --jobs {workers} (the local pool)")
        pool, pool_info, _ = _index_add(bench, files, workers, f"dask_pool{workers}")
        say(f"dask: index add --dask local --jobs {workers}")
        local, local_info, _ = _index_add(bench, files, workers, f"dask_local{workers}", dask="local")
        say(f"dask: index add --dask tcp://... ({workers} workers already running, provcheck imported)")
        with _running_cluster(workers) as cluster, distributed.Client(cluster, set_as_default=False) as client:
            client.run(importlib.import_module, "provcheck.dask_pool")  # the workers' imports are paid here
            running, running_info, _ = _index_add(bench, files, workers, f"dask_running{workers}",
                                               dask=str(cluster.scheduler_address))
        frames = {pool_info["frames"], local_info["frames"], running_info["frames"]}
        if len(frames) != 1:
            sys.exit(f"dask, {workers} workers: the runs indexed different frame counts {sorted(frames)}")
        for run, measured in ((f"`index add --jobs {workers}` (local pool)", pool),
                              (f"`index add --dask local --jobs {workers}`", local),
                              (f"`index add --dask tcp://...` ({workers} running workers)", running)):
            rows.append({"workers": workers, "run": run, "wall_s": measured.wall_s, "cpu_s": measured.cpu_s,
                         "x_realtime": video_s / measured.wall_s, "vs_pool": measured.wall_s / pool.wall_s,
                         "max_rss_mb": measured.max_rss_mb, "indexed_frames": pool_info["frames"]})
    return {"size": size_name(BATCH_SIZE), "files": len(files), "video_s": video_s, "rows": rows}


def print_dask(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"\n## dask: skipped: {result['skipped']}")
        return
    print(f"\n## dask: {result['files']} {result['size']} videos ({result['video_s']:.1f} s of video), "
          "index add in subprocesses timed from outside (start-up included); wall time against the local pool "
          "with as many workers, same run\n")
    head = ("workers", "run", "wall s", "CPU s (command's process tree)", "x realtime", "wall vs local pool",
            "peak RSS MB, largest process", "indexed frames")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in result["rows"]:
        print(f"| {row['workers']} | {row['run']} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | "
              f"{row['x_realtime']:.1f} | {row['vs_pool']:.2f}x | {row['max_rss_mb']:.0f} | {row['indexed_frames']} |")


def section_backends(bench: Bench) -> dict[str, Any]:
    """Hash search and claim latency on each archive, SQLite against its PostgreSQL copy (bench/backends.py)."""
    if bench.postgresql is None or not bench.archives:
        return {"skipped": "needs --backend postgresql and at least one --archive SQLITE=URL[=CLAIMS]"}
    import backends

    measured = []
    for archive in bench.archives:
        sqlite_side, url_side, *claims = archive.split("=", 2)
        sqlite_path = Path(sqlite_side) if sqlite_side else None
        url = url_side or None
        hashes = []
        if sqlite_path is not None and url is not None:
            say(f"backends: hash search on {sqlite_path} and {shown_location(url)}")
            hashes = backends.hash_rows(sqlite_path, url, 50, bench.seed)
        rows = backends.claim_rows(sqlite_path, url, Path(claims[0]), 2) if claims else []
        measured.append({"sqlite": sqlite_side, "postgresql": shown_location(url_side), "hashes": hashes, "claims": rows})
    return {"archives": measured}


def print_backends(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"\n## backends: skipped: {result['skipped']}")
        return
    import backends

    for archive in result["archives"]:
        sides = [side for side in (archive["sqlite"], archive["postgresql"]) if side]
        print(f"\n## backends: {' against '.join(sides)}{'' if len(sides) > 1 else ' (one backend)'}\n")
        backends.print_tables(archive["hashes"], archive["claims"])
    claims = [row for archive in result["archives"] for row in archive["claims"]]
    if len(result["archives"]) > 1 and claims:
        backends.print_scaling(claims)


# Sections in the order they run: name -> (measure, print). A section measures into a JSON-ready dict.
SECTIONS: dict[str, tuple[Callable[[Bench], Any], Callable[[Any], None]]] = {
    "index": (section_index, print_index),
    "batch": (section_batch, print_batch),
    "dask": (section_dask, print_dask),
    "backends": (section_backends, print_backends),
}


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        with open(path, encoding="utf-8") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith(key)), "?")

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    import cv2

    return {
        "cpu": first("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)), "ram": first("/proc/meminfo", "MemTotal"),
        "load_avg_at_start": os.getloadavg(), "python": platform.python_version(), "av": av.__version__,
        "ffmpeg": ".".join(map(str, av.library_versions.get("libavcodec", ()))), "opencv": cv2.__version__,
        "numpy": np.__version__, "provcheck": __version__,
        "commit": git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "--", "provcheck")
                                                        else ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="\n".join(__doc__.splitlines()[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK.video_s:g} s videos and {QUICK.claims} claims (under 2 minutes on 2 cores)")
    parser.add_argument("--section", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--seed", type=int, default=2017, help="seed of the videos and claims (default 2017)")
    parser.add_argument("--out", type=Path, help="also write the measured numbers to this JSON file")
    parser.add_argument("--keep", type=Path, help="keep the videos, indexes and claims in this folder")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="where the sections' indexes go (default: SQLite files)")
    parser.add_argument("--postgresql", default=os.environ.get("PROVCHECK_BENCH_POSTGRESQL"),
                        help="with --backend postgresql: a server URL whose user may create databases")
    parser.add_argument("--archive", action="append", default=[], metavar="SQLITE=URL[=CLAIMS]",
                        help="the backends section: a SQLite index, its PostgreSQL copy and a claims file")
    args = parser.parse_args()
    if args.backend == "postgresql" and not args.postgresql:
        parser.error("--backend postgresql needs --postgresql URL (or $PROVCHECK_BENCH_POSTGRESQL)")
    wanted = [name.strip() for name in args.section.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown or not wanted:
        parser.error(f"unknown section {', '.join(unknown) or '(none)'}; choose from {', '.join(SECTIONS)}")
    settings = QUICK if args.quick else FULL
    host = machine()
    start = time.perf_counter()
    print(f"# provcheck {host['provcheck']} speed bench at {host['commit']}  seed={args.seed} quick={args.quick} "
          f"backend={args.backend} sections={','.join(name for name in SECTIONS if name in wanted)}")
    print(f"# machine: {host['cpu']}, {host['cores']} cores ({host['cores_usable']} usable), RAM {host['ram']}, "
          f"load average at start {' '.join(f'{x:.2f}' for x in host['load_avg_at_start'])}")
    print(f"# python {host['python']}, PyAV {host['av']} (libavcodec {host['ffmpeg']}), OpenCV {host['opencv']}, "
          f"numpy {host['numpy']}; videos {settings.video_s:g} s each, claims {settings.claims}", flush=True)
    scratch = tempfile.mkdtemp(prefix="provcheck-speed-") if args.keep is None else str(args.keep)
    results: dict[str, Any] = {}
    try:
        bench = Bench(Path(scratch), settings, args.seed,
                      args.postgresql if args.backend == "postgresql" else None, args.archive)
        if "index" in wanted:  # render every size at once, so both cores render
            bench.render([*SIZES, BATCH_SIZE] if "batch" in wanted else SIZES)
        for name, (measure, show) in SECTIONS.items():
            if name in wanted:
                results[name] = measure(bench)
                show(results[name])
                sys.stdout.flush()
    finally:
        if "bench" in locals():
            bench.drop_databases()
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    wall_s = time.perf_counter() - start
    load_end = os.getloadavg()
    print(f"\nbench wall time: {wall_s:.0f} s; load average at end {' '.join(f'{x:.2f}' for x in load_end)}")
    if args.out is not None:
        document = {"bench": "speed", "seed": args.seed, "quick": args.quick, "settings": dataclasses.asdict(settings),
                    "files_per_size": FILES_PER_SIZE, "fps": FPS, "machine": host, "wall_s": wall_s,
                    "load_avg_at_end": load_end,
                    "sections": results}
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
