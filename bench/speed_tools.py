"""The parts of ``bench/speed.py`` that are not tables: bench videos, measured child processes, and probes.

- :func:`render_bench_video`: a synthetic aerial video (``provcheck.synth``) at any even frame
  size, H.264 with the corpus's own x264 settings;
- :func:`run_measured`: run commands as child processes, at the same time, and measure wall
  time, CPU time, the largest peak RSS of any process in their trees (``wait4``'s ``ru_maxrss``, exact)
  and the peak of the summed RSS of the trees (sampled from ``/proc``);
- run as a script, a probe timed inside its own process::

      python bench/speed_tools.py decode FILE...   # PyAV: every frame decoded to an RGB ndarray
      python bench/speed_tools.py stages FILE...   # provcheck's ingest stages one after another

  each prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

#: How often the summed RSS of a process tree is read from /proc.
RSS_SAMPLE_PERIOD_S = 0.05
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def render_bench_video(path: Path, seed: int, size: tuple[int, int], duration_s: float, fps: int) -> None:
    """Render and encode one bench video: two scenes, a zooming pan along a road, a convoy and one strike.

    The synth renderer wants sides that are multiples of 16, so a frame is rendered at
    the next such size and its bottom rows are cut off (640x360 from 640x368, 1920x1080
    from 1920x1088): content and duration are the same at every size. Encoding uses
    the demo corpus's x264 settings (``synth.X264_*``), single-threaded.
    """
    # the renderer class is private, but render_frame() would rebuild the scene for every frame
    from provcheck.synth import GOP_SIZE, X264_CRF, X264_PARAMS, X264_PRESET, VideoSpec
    from provcheck.synth.video import _VideoRenderer

    width, height = size
    spec = VideoSpec(seed=seed, style="color", size=(16 * math.ceil(width / 16), 16 * math.ceil(height / 16)),
                     fps=fps, duration_s=duration_s, scenes=2, zoom=True, vehicles=4, explosions=1)
    renderer = _VideoRenderer(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={
            "crf": str(X264_CRF), "preset": X264_PRESET, "threads": "1", "x264-params": X264_PARAMS})
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.gop_size = GOP_SIZE
        for i in range(renderer.n_frames):
            pixels = np.ascontiguousarray(renderer.frame(i)[:height, :width])
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@dataclass(frozen=True)
class Measured:
    """What :func:`run_measured` saw of one batch of child processes started together."""

    wall_s: float
    returncodes: tuple[int, ...]
    stdouts: tuple[str, ...]
    stderrs: tuple[str, ...]
    max_rss_mb: float  # the largest peak RSS of any one process in the trees (ru_maxrss of wait4)
    tree_rss_mb: float  # the peak of the RSS summed over every process of every tree (sampled)
    cpu_s: float  # user + system CPU time of the processes and their waited-for descendants (wait4)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_rss_bytes(roots: Sequence[int]) -> int:
    """The resident memory of ``roots`` and all their descendants, now."""
    children = _children_map()
    pending = list(roots)
    total = 0
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * _PAGE_BYTES
        except OSError:
            continue
    return total


def run_measured(commands: Sequence[Sequence[str]], cwd: Path | None = None) -> Measured:
    """Start every command at once (stdin closed, output to temporary files) and wait for all of them.

    Wall time runs from the first start to the last exit, as seen from here (interpreter
    start and imports included). A thread samples the summed RSS of the trees every
    ``RSS_SAMPLE_PERIOD_S`` while this thread blocks in ``wait4``, so waiting adds no
    polling delay to the wall time.
    """
    import tempfile

    outs = [tempfile.TemporaryFile() for _ in commands]
    errs = [tempfile.TemporaryFile() for _ in commands]
    try:
        start = time.perf_counter()
        procs = [subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd)
                 for command, out, err in zip(commands, outs, errs, strict=True)]
        done = threading.Event()
        peak = [0]

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_bytes([proc.pid for proc in procs]))
                done.wait(RSS_SAMPLE_PERIOD_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        codes, max_rss_kb, cpu_s = [], 0, 0.0
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            codes.append(proc.returncode)
            max_rss_kb = max(max_rss_kb, usage.ru_maxrss)
            cpu_s += usage.ru_utime + usage.ru_stime
        wall_s = time.perf_counter() - start
        done.set()
        sampler.join()
        texts = []
        for handle in (*outs, *errs):
            handle.seek(0)
            texts.append(handle.read().decode("utf-8", "replace"))
    finally:
        for handle in (*outs, *errs):
            handle.close()
    n = len(commands)
    return Measured(wall_s, tuple(codes), tuple(texts[:n]), tuple(texts[n:]), max_rss_kb / 1024,
                    peak[0] / 2**20, cpu_s)


def probe_decode(files: Sequence[str]) -> dict[str, float]:
    """Decode every frame of each file to an RGB ndarray with PyAV, threaded as provcheck decodes (the limit)."""
    frames = 0
    start = time.perf_counter()
    for file in files:
        with av.open(file) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                frames += 1
    return {"frames": frames, "decode_s": time.perf_counter() - start}


def probe_stages(files: Sequence[str]) -> dict[str, float]:
    """Time provcheck's ingest stages for each file, one after another, in this process.

    ``sample`` is ``media.sample_video`` (decode every frame, a 64x36 grey thumbnail of
    each for the sampler, RGB of the kept ones); ``hashes`` is every hasher on the kept
    frames; ``features`` is SIFT as indexing runs it (``features.extract`` with the
    video keypoint budget) plus the burned-in overlay statistics.
    """
    from provcheck.features import INDEX_KEYPOINTS, OverlayDetector, extract
    from provcheck.hashing import HASHERS
    from provcheck.media import sample_video

    times = {"sample_s": 0.0, "hashes_s": 0.0, "features_s": 0.0}
    kept = 0
    for file in files:
        start = time.perf_counter()
        frames = list(sample_video(Path(file)))
        times["sample_s"] += time.perf_counter() - start
        kept += len(frames)
        start = time.perf_counter()
        for frame in frames:
            for hasher in HASHERS:
                hasher.compute(frame.pixels)
        times["hashes_s"] += time.perf_counter() - start
        start = time.perf_counter()
        overlay = OverlayDetector()
        features = []
        for frame in frames:
            overlay.update(frame.pixels)
            features.append(extract(frame.pixels, wanted=INDEX_KEYPOINTS))
        for found in features:
            overlay.flags(found)
        times["features_s"] += time.perf_counter() - start
    return {**times, "kept": kept}


def main() -> None:
    probes = {"decode": probe_decode, "stages": probe_stages}
    if len(sys.argv) < 3 or sys.argv[1] not in probes:
        sys.exit(f"usage: python {sys.argv[0]} {{{','.join(probes)}}} FILE...")
    print(json.dumps(probes[sys.argv[1]](sys.argv[2:])))


if __name__ == "__main__":
    main()
