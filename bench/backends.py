"""The PostgreSQL backend against the SQLite one on the same archive: hash search and claim latency.

Takes a SQLite index and its copy in PostgreSQL (``bench/to_postgresql.py``), and measures
in one run, alternating the backends:

- **hash search**: for each query (a stored frame's hash with a few bits flipped, per
  hasher at the engine's radii), the SQLite way (the hash matrix loaded once, then every
  row compared in NumPy) and PostgreSQL's multi-index hashing in SQL
  (``PostgresStore.frames_within``); both answers must be equal. Also the seconds to load
  the whole hash matrix from each backend, which is what the matcher does on opening.
- **claims** (unless ``--hashes-only``): the query-scale bench's child process
  (``bench/query_scale.py``) on each backend: it opens the index, answers every claim of
  ``CLAIMS`` (made by that bench) and reports time to first result, median latency and CPU
  seconds, and recall.

    python bench/backends.py INDEX.sqlite postgresql://user@host/db [--claims CLAIMS.json] [--rounds 2]
        [--hashes-only] [--queries 50] [--out FILE]

Tables (markdown) go to stdout with ratios against SQLite measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import query_scale  # noqa: E402

from provcheck.store import SQLiteStore  # noqa: E402
from provcheck.store.locations import shown_location  # noqa: E402
from provcheck.store.mih import within_radius  # noqa: E402
from provcheck.store.postgres import PostgresStore  # noqa: E402

#: Radii the hash rows are measured at: the engine's neighbourhood for each hasher (pHash
#: <= 7 and PDQ <= 31 bits are the radii the [scale-out] issue quotes).
RADII = {"phash": 7, "pdq": 31}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def hash_rows(sqlite_path: Path, url: str, queries: int, seed: int) -> list[dict[str, Any]]:
    lite, pg = SQLiteStore(sqlite_path), PostgresStore(url)
    rows = []
    try:
        for hasher, radius in RADII.items():
            begin = time.perf_counter()
            frames = lite.frame_table()
            matrix = lite.hash_matrix(hasher)
            lite_load = time.perf_counter() - begin
            begin = time.perf_counter()
            pg_matrix = pg.hash_matrix(hasher)
            pg_load = time.perf_counter() - begin
            assert np.array_equal(matrix, pg_matrix), "the two backends hold different hashes"
            rng = np.random.default_rng(seed)
            lite_s, pg_s, found = [], [], []
            for row in rng.choice(matrix.shape[0], queries, replace=False):
                bits = np.unpackbits(matrix[row])
                bits[rng.choice(bits.shape[0], radius // 2, replace=False)] ^= 1
                query = np.packbits(bits).tobytes()
                begin = time.perf_counter()
                expected = within_radius(matrix, frames.frame_ids, query, radius)
                lite_s.append(time.perf_counter() - begin)
                begin = time.perf_counter()
                answer = pg.frames_within(hasher, query, radius)
                pg_s.append(time.perf_counter() - begin)
                assert answer == expected, f"{hasher}: SQL and NumPy disagree"
                found.append(len(answer))
            rows.append({"hasher": hasher, "radius": radius, "frames": int(matrix.shape[0]), "queries": queries,
                         "sqlite_load_s": lite_load, "postgresql_load_s": pg_load,
                         "numpy_scan_ms": 1000 * statistics.median(lite_s),
                         "sql_mih_ms": 1000 * statistics.median(pg_s),
                         "sql_mih_p95_ms": 1000 * sorted(pg_s)[int(0.95 * (len(pg_s) - 1))],
                         "median_found": statistics.median(found)})
    finally:
        lite.close()
        pg.close()
    return rows


def claim_rows(sqlite_path: Path | None, url: str | None, claims: Path, rounds: int) -> list[dict[str, Any]]:
    """Claims answered on each backend given, alternated round by round; a side left out (None) is not measured,
    for an archive that fits on the disk in one backend only."""
    sides = [(backend, str(location)) for backend, location in (("sqlite", sqlite_path), ("postgresql", url))
             if location is not None]
    rows = []
    for round_ in range(rounds):
        for backend, location in sides:
            say(f"claims on {backend}, round {round_ + 1}")
            measured = query_scale.measure(location, claims, "inverted")
            row: dict[str, Any] = {"backend": backend, "round": round_ + 1, "frames": measured["frames"],
                                   "first_result_s": measured["first_result_s"], "peak_rss": measured["peak_rss"]}
            listed = measured["claims"]
            assert isinstance(listed, list)
            for kind in ("crop", "whole"):
                mine = [c for c in listed if c["kind"] == kind]
                row[kind] = {"claims": len(mine), "median_s": statistics.median(c["seconds"] for c in mine),
                             "median_cpu_s": statistics.median(c["cpu_seconds"] for c in mine),
                             "source_recall": sum(c["source_found"] for c in mine) / len(mine),
                             "false_sources": sum(c["false_sources"] for c in mine)}
            rows.append(row)
    return rows


def print_tables(hashes: list[dict[str, Any]], claims: list[dict[str, Any]]) -> None:
    if hashes:
        print_hashes(hashes)
    if not claims:
        return
    print()
    print_claims(claims)


def print_hashes(hashes: list[dict[str, Any]]) -> None:
    print("| hasher | radius | frames | queries | NumPy scan ms (SQLite baseline) | SQL MIH ms | p95 | ratio |"
          " found (median) | load hash matrix s: SQLite | PostgreSQL |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in hashes:
        print(f"| {row['hasher']} | {row['radius']} | {row['frames']:,} | {row['queries']} | "
              f"{row['numpy_scan_ms']:.2f} | {row['sql_mih_ms']:.2f} | {row['sql_mih_p95_ms']:.2f} | "
              f"{row['sql_mih_ms'] / row['numpy_scan_ms']:.2f}x | {row['median_found']:g} | "
              f"{row['sqlite_load_s']:.2f} | {row['postgresql_load_s']:.2f} |")


def print_claims(claims: list[dict[str, Any]]) -> None:
    print("| round | backend | crop: median s | CPU s | recall | other sources | whole: median s | CPU s | recall |"
          " other sources | time to first result s | peak RSS MB | crop median vs SQLite |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    baseline: dict[int, float] = {}
    for row in claims:
        crop, whole = row["crop"], row["whole"]
        if row["backend"] == "sqlite":
            baseline[row["round"]] = crop["median_s"]
        ratio = f"{crop['median_s'] / baseline[row['round']]:.2f}x" if row["round"] in baseline else "-"
        print(f"| {row['round']} | {row['backend']} | {crop['median_s']:.2f} | {crop['median_cpu_s']:.2f} | "
              f"{crop['source_recall']:.3f} | {crop['false_sources']} | {whole['median_s']:.2f} | "
              f"{whole['median_cpu_s']:.2f} | {whole['source_recall']:.3f} | {whole['false_sources']} | "
              f"{row['first_result_s']:.1f} | {row['peak_rss'] / 2**20:,.0f} | {ratio} |")


def print_scaling(claims: list[dict[str, Any]]) -> None:
    """Every claims row of a run, across archives and backends, against the first row measured (the baseline)."""
    base = claims[0]
    print("\n| frames | backend | round | crop median s | vs baseline | whole median s | vs baseline | crop recall |"
          " other sources | time to first result s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in claims:
        crop, whole = row["crop"], row["whole"]
        print(f"| {row['frames']:,} | {row['backend']} | {row['round']} | {crop['median_s']:.2f} | "
              f"{crop['median_s'] / base['crop']['median_s']:.2f}x | {whole['median_s']:.2f} | "
              f"{whole['median_s'] / base['whole']['median_s']:.2f}x | {crop['source_recall']:.3f} | "
              f"{crop['false_sources'] + whole['false_sources']} | {row['first_result_s']:.1f} | "
              f"{row['peak_rss'] / 2**20:,.0f} |")
    print(f"\nBaseline: {base['backend']} at {base['frames']:,} frames, round {base['round']}, in this run.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sqlite", type=Path)
    parser.add_argument("url")
    parser.add_argument("--claims", type=Path, help="claims file of bench/query_scale.py (needed unless --hashes-only)")
    parser.add_argument("--hashes-only", action="store_true")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    print(f"**provcheck backends bench**: `python bench/backends.py {' '.join(map(shown_location, sys.argv[1:]))}`")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()},"
          f" load average at start {os.getloadavg()[0]:.1f}\n")
    say("hash search")
    hashes = hash_rows(args.sqlite, args.url, args.queries, args.seed)
    claims = [] if args.hashes_only else claim_rows(args.sqlite, args.url, args.claims, args.rounds)
    print_tables(hashes, claims)
    if args.out:
        args.out.write_text(json.dumps({"hashes": hashes, "claims": claims}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
