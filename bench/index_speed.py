"""Indexing one video with ``provcheck index add`` against decoding it, at two frame sizes and two job counts.

Renders one clip per size with :func:`provcheck.synth.render_video` (H.264, 25 fps,
seeded), then for each: decodes every frame with PyAV and nothing else (threaded, as
provcheck decodes; with and without conversion to RGB), and runs the real command
``python -m provcheck index add CLIP --jobs J --quiet`` into a fresh index, timed from
outside (interpreter start-up and imports included). ``--tree DIR`` runs the command
from another checkout (PYTHONPATH=DIR), so a before/after comparison uses the same clips
and the same script.

    python bench/index_speed.py [--seconds 30] [--seed 7] [--sizes 640x352,1280x720] [--jobs 1,2] [--tree DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from provcheck import __version__
from provcheck.synth import render_video


def cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def decode_only(path: Path, rgb: bool) -> tuple[int, float, float]:
    """Frames decoded, wall and CPU seconds taken, decoding every frame (and converting it to RGB if ``rgb``)."""
    frames = 0
    cpu_start = cpu_s(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if rgb:
                frame.to_ndarray(format="rgb24")
            frames += 1
    return frames, time.perf_counter() - start, cpu_s(resource.RUSAGE_SELF) - cpu_start


def index_add(path: Path, jobs: int, tree: Path, scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds (its worker processes included) of ``provcheck index add`` of one clip into a
    fresh index, run from ``tree``."""
    index = scratch / f"index-{path.stem}-{jobs}-{time.monotonic_ns()}.sqlite"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cpu_start = cpu_s(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "provcheck", "index", "add", str(path), "--index", str(index),
                    "--jobs", str(jobs), "--quiet"], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, cpu_s(resource.RUSAGE_CHILDREN) - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length (default 30 s)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the clips (default 7)")
    parser.add_argument("--sizes", default="640x352,1280x720", help="frame sizes, multiples of 16")
    parser.add_argument("--jobs", default="1,2", help="job counts to run (default 1,2)")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="checkout whose provcheck is run (default this one)")
    parser.add_argument("--clips", type=Path, default=None, help="keep (or reuse) the rendered clips in this folder")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    jobs_list = [int(j) for j in args.jobs.split(",")]
    print(f"provcheck {__version__} index speed; tree {args.tree}; Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, av {av.__version__}; clips {args.seconds:g} s, "
          f"seed {args.seed}; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="provcheck-speed-") as tmp:
        scratch = Path(tmp)
        clips = args.clips or scratch
        for width, height in sizes:
            clip = clips / f"clip{width}x{height}-{args.seed}-{args.seconds:g}s.mp4"
            if not clip.exists():
                render_video(clip, args.seed, size=(width, height), duration_s=args.seconds, scenes=3)
            frames, decode_s, decode_cpu_s = decode_only(clip, rgb=False)
            _, rgb_s, _ = decode_only(clip, rgb=True)
            for jobs in jobs_list:
                wall_s, used_cpu_s = index_add(clip, jobs, args.tree, scratch)
                rows.append((f"{width}x{height}", frames, frames / decode_s, frames / rgb_s, decode_cpu_s, jobs,
                             wall_s, frames / wall_s, args.seconds / wall_s, decode_s / wall_s, used_cpu_s))
    print("| size | frames | decode-only fr/s | decode+RGB fr/s | decode-only CPU s | jobs | index add s | index fr/s "
          "| x realtime | index / decode-only | index CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, frames, decode_fps, rgb_fps, decode_cpu_s, jobs, wall_s, index_fps, realtime, ratio, used_cpu_s in rows:
        print(f"| {size} | {frames} | {decode_fps:.0f} | {rgb_fps:.0f} | {decode_cpu_s:.2f} | {jobs} | {wall_s:.2f} | "
              f"{index_fps:.0f} | {realtime:.1f} | {ratio:.2f} | {used_cpu_s:.1f} |")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
