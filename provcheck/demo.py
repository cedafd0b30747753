"""The built-in demo: generate the case corpus, index it, match its claims, score the answers.

The corpus comes from :mod:`provcheck.synth` (deterministic from a seed). Every claim
knows the source and time it was derived from, so the demo also prints a table of
expected against found, which makes misses and false matches visible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .api import Index
from .errors import MediaError
from .evidence import EvidenceFiles, write_evidence
from .html_report import html_report
from .manifest import ManifestEntry, read_manifest, write_manifest
from .results import ClaimResult, FailedFile, Verdict
from .synth import DemoCorpus, SynthClaim, build_demo_corpus

#: A video hit counts as right when its time is within this of the true time.
TIMESTAMP_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class ClaimOutcome:
    """How the answer for one claim compares with the truth."""

    claim: SynthClaim
    result: ClaimResult
    status: str  # "ok", "missed", "wrong source", "wrong time", "false match"


@dataclass(frozen=True)
class DemoOutcome:
    """Everything the demo produced."""

    corpus: DemoCorpus
    index_location: str
    results: list[ClaimResult]
    outcomes: list[ClaimOutcome]
    evidence: list[EvidenceFiles]
    report: Path

    @property
    def summary_table(self) -> str:
        return render_outcome_table(self.outcomes)


def judge(claim: SynthClaim, result: ClaimResult) -> str:
    """Compare a claim's best match with the truth it was generated from."""
    best = result.matches[0] if result.matches and result.verdict is Verdict.MATCH else None
    if claim.source_path is None:
        return "false match" if best is not None else "ok"
    if best is None:
        return "missed"
    if Path(best.source.path) != claim.source_path.resolve():
        return "wrong source"
    if claim.time_s is not None and (
        best.timestamp_s is None or abs(best.timestamp_s - claim.time_s) > TIMESTAMP_TOLERANCE_S
    ):
        return "wrong time"
    return "ok"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def render_outcome_table(outcomes: list[ClaimOutcome]) -> str:
    """A fixed-width table: claim, what it is, expected, found, verdict, status."""
    titles = {}
    rows = [("claim", "derivation", "expected", "found", "verdict", "result")]
    for outcome in outcomes:
        claim, result = outcome.claim, outcome.result
        expected = "none (unrelated)"
        if claim.source_path is not None:
            expected = f"{claim.source_path.name} @ {_clock(claim.time_s)}"
        found = "-"
        if result.matches:
            best = result.matches[0]
            found = f"{Path(best.source.path).name} @ {_clock(best.timestamp_s)}"
            titles[best.source.path] = best.source.title
        rows.append((claim.path.name, claim.description, expected, found, result.verdict.value, outcome.status))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    derived = [o for o in outcomes if o.claim.source_path is not None]
    whole = [o for o in derived if not o.claim.heavy_crop]
    lines.append("")
    lines.append(
        f"derived claims found: {sum(o.status == 'ok' for o in derived)}/{len(derived)} "
        f"(whole-frame {sum(o.status == 'ok' for o in whole)}/{len(whole)}, "
        f"heavy crops {sum(o.status == 'ok' for o in derived if o.claim.heavy_crop)}"
        f"/{len(derived) - len(whole)}); "
        f"unrelated claims kept clean: {sum(o.status == 'ok' for o in outcomes if o.claim.source_path is None)}"
        f"/{sum(o.claim.source_path is None for o in outcomes)}; "
        f"false matches: {counts.get('false match', 0)}, wrong source: {counts.get('wrong source', 0)}"
    )
    return "\n".join(lines)


#: Where the demo writes its evidence images and its HTML report, in its folder.
EVIDENCE_FOLDER = "evidence"
REPORT_NAME = "report.html"
#: The demo corpus's source manifest (the format of ``index add --manifest``), beside its files.
SOURCES_MANIFEST = "sources.csv"


def run_demo(
    folder: Path, seed: int = 2017, small: bool = False, log: Callable[[str], None] | None = None
) -> DemoOutcome:
    """Generate the corpus in ``folder``, index its sources, match its claims.

    Args:
        folder: where the corpus and ``index.sqlite`` are written.
        seed: corpus seed.
        small: the small corpus the tests use.
        log: called with progress messages.
    """
    say = log or (lambda message: None)
    say(f"generating the corpus (seed {seed}) in {folder}")
    corpus = build_demo_corpus(folder / "corpus", seed=seed, small=small)
    index_path = folder / "index.sqlite"
    results: list[ClaimResult] = []
    # indexed the way a newsroom would: from a manifest giving each file its own title, URL and date
    manifest = folder / "corpus" / SOURCES_MANIFEST
    write_manifest(manifest, [ManifestEntry(str(source.path), source.title, source.url, source.published,
                                            source.notes) for source in corpus.sources])
    say(f"indexing the {len(corpus.sources)} sources listed in {manifest}")
    with Index(index_path) as index:
        for outcome in index.iter_add(read_manifest(manifest), jobs=1):
            if isinstance(outcome, FailedFile):
                raise MediaError(outcome.error)
            say(f"indexed {Path(outcome.path).name}")
        say(f"matching {len(corpus.claims)} claimed photos")
        for claim in corpus.claims:
            results.append(index.check(claim.path))
    pairs = zip(corpus.claims, results, strict=True)
    outcomes = [ClaimOutcome(claim, result, judge(claim, result)) for claim, result in pairs]
    # what a fact-check would publish: an evidence image per matched claim, and one report of them all
    evidence_folder, report_path = folder / EVIDENCE_FOLDER, folder / REPORT_NAME
    evidence = [found for number, result in enumerate(results, start=1)
                if (found := write_evidence(result, evidence_folder, number)) is not None]
    report_path.write_text(html_report(results, str(index_path)), encoding="utf-8")
    say(f"wrote {len(evidence)} evidence images into {evidence_folder} and the report {report_path}")
    return DemoOutcome(corpus=corpus, index_location=str(index_path), results=results, outcomes=outcomes,
                       evidence=evidence, report=report_path)
