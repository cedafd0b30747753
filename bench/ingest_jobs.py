"""Indexing several files with worker processes: ``Index.add_many`` with jobs=1, then jobs=2, in one run.

Generates N clips with :func:`provcheck.synth.render_video` (seeded, 640x352), adds
them to a fresh index with ``jobs=1`` and again to another with ``jobs=2``, checks the
two indexes hold the same rows, and prints the wall time of each, the speed as a
multiple of real time, the ratio, and the parent process's peak RSS (ru_maxrss, which
only grows: the jobs=2 figure is the peak over the whole run so far).

    python bench/ingest_jobs.py [--clips 6] [--seconds 4] [--seed 2024]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from provcheck import Index, __version__
from provcheck.store import SourceRecord
from provcheck.synth import render_video

#: Frame size of the generated clips (both sides multiples of 16, as render_video needs).
CLIP_SIZE = (640, 352)


def rows(index_path: Path) -> list[tuple[object, ...]]:
    """The frames and features tables, for checking the two runs wrote the same index."""
    with sqlite3.connect(index_path) as conn:
        return [*conn.execute("SELECT * FROM frames ORDER BY id"), *conn.execute("SELECT * FROM features ORDER BY frame_id")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6, help="clips generated (default 6)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each clip (default 4 s)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the first clip (default 2024)")
    args = parser.parse_args()
    print(f"provcheck {__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores; clips {args.clips} x {args.seconds:g} s at {CLIP_SIZE[0]}x{CLIP_SIZE[1]}, "
          f"seed {args.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="provcheck-ingest-") as scratch:
        folder = Path(scratch)
        clips = []
        for number in range(args.clips):
            path = folder / f"clip{number:02d}.mp4"
            render_video(path, args.seed + number, size=CLIP_SIZE, duration_s=args.seconds, scenes=2)
            clips.append(path)
        table = []
        for jobs in (1, 2):
            index_path = folder / f"jobs{jobs}.sqlite"
            start = time.perf_counter()
            with Index(index_path) as index:
                outcomes = index.add_many(clips, jobs=jobs)
            wall_s = time.perf_counter() - start
            added = [outcome for outcome in outcomes if isinstance(outcome, SourceRecord)]
            if len(added) != len(clips):
                sys.exit(f"jobs={jobs}: only {len(added)} of {len(clips)} clips added: {outcomes}")
            video_s = sum(source.duration_s or 0.0 for source in added)
            frames = sum(source.frame_count for source in added)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            table.append((jobs, len(added), video_s, frames, wall_s, video_s / wall_s, peak_mb))
        same = rows(folder / "jobs1.sqlite") == rows(folder / "jobs2.sqlite")
    print("| jobs | files | video s | frames | wall s | x realtime | wall vs jobs=1 | parent peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for jobs, files, video_s, frames, wall_s, speed, peak_mb in table:
        print(f"| {jobs} | {files} | {video_s:.1f} | {frames} | {wall_s:.2f} | {speed:.2f} | "
              f"{wall_s / table[0][4]:.2f} | {peak_mb:.0f} |")
    print(f"indexes identical (frames and features rows): {same}")


if __name__ == "__main__":
    main()
