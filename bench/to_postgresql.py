"""Copy a SQLite index into a PostgreSQL database as it is stored: the bench's way to measure both backends on
one archive without indexing it twice.

The copy is `provcheck index migrate` (``provcheck.store.migrate``); ``--hashes-only``
copies sources and frames alone, for the hash-search rows at sizes whose features would
not fit on the disk twice.

    python bench/to_postgresql.py INDEX.sqlite postgresql://user@host/db [--hashes-only]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from provcheck.store.migrate import sqlite_to_postgresql


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("url")
    parser.add_argument("--hashes-only", action="store_true", help="copy sources and frames only")
    args = parser.parse_args()
    started = time.perf_counter()

    def say(table: str, rows: int) -> None:
        print(f"{table}: {rows:,} rows, {time.perf_counter() - started:.0f} s from the start", file=sys.stderr,
              flush=True)

    sqlite_to_postgresql(args.index, args.url, progress=say, hashes_only=args.hashes_only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
