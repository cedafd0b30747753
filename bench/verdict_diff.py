"""Compare two runs of a bench claim for claim: what a refactor must leave unchanged.

Reads the per-claim results that ``bench/accuracy.py --out DIR`` (``DIR/seedN/results.json``)
and ``bench/credits.py --out FILE`` write, and prints every claim whose provcheck answer
differs between the two (verdict, sources named, time, window, crop box, mirroring,
rotation, inliers and hash evidence for the accuracy bench; every source's verdict and
confidence for the credits bench), then a one-line count. Timings are ignored.

    python bench/verdict_diff.py before/seed2024/results.json after/seed2024/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

IGNORED = ("seconds",)


def answers(path: Path) -> dict[str, Any]:
    """Claim name -> what provcheck answered (and the calibration probe, when the bench records one)."""
    data = json.loads(path.read_text())
    result: dict[str, Any] = {}
    for claim in data["claims"]:
        if "provcheck" in claim:  # accuracy bench
            answer = {k: v for k, v in claim["provcheck"].items() if k not in IGNORED}
            result[claim["claim"]] = {"answer": answer, "probe": claim.get("probe")}
        else:  # credits bench
            result[claim["claim"]] = {"answer": claim["matches"]}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--answers-only", action="store_true",
                        help="ignore the calibration probe (the other sources a claim was verified against), which"
                             " moves whenever the shortlist changes")
    args = parser.parse_args(argv)
    before, after = answers(args.before), answers(args.after)
    if args.answers_only:
        before = {name: {"answer": claim["answer"]} for name, claim in before.items()}
        after = {name: {"answer": claim["answer"]} for name, claim in after.items()}
    changed = 0
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changed += 1
            print(f"{name}:\n  before: {json.dumps(old)}\n  after:  {json.dumps(new)}")
    print(f"{len(before)} claims before, {len(after)} after; {changed} with a different answer"
          f"{'' if args.answers_only else ' or probe'}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
