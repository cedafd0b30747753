"""One self-contained HTML report for a batch of claims: the same facts as the JSON, and the evidence.

Everything is inside the one file (evidence images embedded as JPEG data URIs, the
style inline), so it can be mailed, archived or printed as it is; each claim starts
on its own printed page. Text from the index and the claims (titles, URLs, notes,
file names) is escaped; links are only made of http(s) URLs.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from html import escape

from PIL import Image

from ._version import __version__
from .evidence import draw
from .report import days_before_claim, describe_derivation, time_phrases
from .results import ClaimResult, Match, Verdict

#: JPEG quality of embedded evidence images (a PNG of a photo is several times larger).
EMBED_QUALITY = 85

#: The report's style sheet (the local web page uses it too).
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #141414; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; word-break: break-all; }
section { page-break-before: always; break-before: page; } section:first-of-type { break-before: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; } td, th { border: 1px solid #bbb; padding: 0.3em 0.5em;
  text-align: left; vertical-align: top; font-size: 0.9em; }
.verdict { font-weight: bold; padding: 0.1em 0.5em; border-radius: 0.3em; }
.match { background: #c62828; color: white; } .possible { background: #f9a825; } .none { background: #e0e0e0; }
.after { color: #c62828; font-weight: bold; } img { max-width: 100%; border: 1px solid #ccc; }
.error { color: #c62828; }
"""


def html_report(results: Sequence[ClaimResult], index_location: str, now: dt.datetime | None = None,
                drawn_from: Sequence[ClaimResult] | None = None) -> str:
    """The report of ``results`` (in order), evidence drawn for every claim that matched.

    ``drawn_from``, when given, holds the same results naming the claim files evidence
    is drawn from (a claim read from standard input is shown as ``-`` but drawn from
    the file it was saved to).
    """
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    counts = {verdict: sum(result.verdict is verdict and result.error is None for result in results)
              for verdict in Verdict}
    errors = sum(result.error is not None for result in results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>provcheck report</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>provcheck report</h1>",
        f"<p>provcheck {escape(__version__)}, index <code>{escape(index_location)}</code>, {escape(stamp)}. "
        f"{len(results)} claims: {counts[Verdict.MATCH]} match, {counts[Verdict.POSSIBLE]} possible, "
        f"{counts[Verdict.NONE]} none, {errors} unreadable.</p>",
    ]
    parts.extend(_claim_section(result, drawn) for result, drawn in zip(results, drawn_from or results, strict=True))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _claim_section(result: ClaimResult, drawn_from: ClaimResult) -> str:
    drawn = draw(drawn_from)
    return claim_section(result, None if drawn is None else drawn[0].image)


def claim_section(result: ClaimResult, evidence: Image.Image | None) -> str:
    """One claim's part of a page: its verdict, its sources as a table, and its evidence image (when drawn)."""
    verdict = result.verdict.value
    lines = ["<section>", f"<h2>{escape(result.query)}</h2>",
             f'<p><span class="verdict {verdict}">{verdict.upper()}</span>']
    if result.claimed_date is not None:
        lines.append(f" claim dated {escape(result.claimed_date.date)} ({escape(result.claimed_date.origin)})")
    lines.append("</p>")
    if result.error is not None:
        lines.append(f'<p class="error">{escape(result.error)}</p>')
    elif not result.matches:
        lines.append("<p>No indexed source matches.</p>")
    else:
        lines.append("<table><tr><th>#</th><th>source</th><th>published</th><th>where</th><th>verdict</th>"
                     "<th>evidence</th><th>derivation</th></tr>")
        lines.extend(_match_row(rank, match, result) for rank, match in enumerate(result.matches, start=1))
        lines.append("</table>")
        if evidence is not None:
            lines.append(f'<img class="evidence" alt="evidence: the claim beside its source frame" '
                         f'src="{_data_uri(evidence)}">')
        else:
            lines.append("<p>No evidence image: the claim (a URL) or the source file cannot be read again.</p>")
    lines.append("</section>")
    return "\n".join(lines)


def _match_row(rank: int, match: Match, result: ClaimResult) -> str:
    source = match.source
    title = escape(source.title)
    if source.url and source.url.startswith(("http://", "https://")):
        title = f'<a href="{escape(source.url, quote=True)}">{title}</a>'
    published = escape(source.published or "undated (cannot be ordered)")
    days = days_before_claim(match, result.claimed_date)
    if days is not None:
        published += (f'<br><span class="after">{-days:g} days after the claim: unlikely origin</span>' if days < 0
                      else f"<br>{days:g} days before the claim")
    if match.earliest:
        published += "<br>earliest known source"
    phrases = time_phrases(match)
    where = "still image"
    if phrases is not None:
        at, window = phrases
        where = at + (f"<br>equally good {window}" if window else "")
    evidence = match.evidence
    facts = [f"{evidence.inliers} inliers"] if evidence.inliers else []
    if evidence.pixel_agreement is not None:
        facts.append(f"{evidence.pixel_agreement:.0%} of the picture reproduced")
    facts.extend(f"{name} distance {bits}" for name, bits in sorted(match.distance.items()))
    return (f"<tr><td>{rank}</td><td>{title}<br>{escape(source.kind)} #{source.id}</td><td>{published}</td>"
            f"<td>{where}</td><td>{match.verdict.value}, confidence {match.confidence:.2f}</td>"
            f"<td>{'<br>'.join(escape(fact) for fact in facts)}</td>"
            f"<td>{escape(describe_derivation(match.derivation))}</td></tr>")


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=EMBED_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
