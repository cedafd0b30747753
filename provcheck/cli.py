"""The ``provcheck`` command line: parse, call :mod:`provcheck.api`, render, exit.

Only this module prints, draws progress bars or exits. stdout carries results only
(text or ``--json``); progress, warnings and errors go to stderr.

The API, the report and the fetcher (and with them NumPy, OpenCV, PyAV, faiss and
Pillow) are imported inside the commands that use them, so ``--help`` and ``--version``
start without loading them; ``tests/test_cli.py`` checks it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from ._version import __version__
from .cli_options import (
    CONTEXT_SETTINGS,
    allow_private_option,
    fail_on_met,
    index_option,
    listed_claims,
    output_options,
    traceback_option,
)
from .errors import ExitCode, ProvcheckError
from .paths import default_index_location

# Before NumPy is first imported (by a command): one BLAS thread. provcheck's matrix
# products are small (a claim's descriptors against one frame's), and OpenBLAS's pool
# spins after each: 16 claims took 17.2 s and 30.6 CPU s with it, 13.9 s and 23.1 CPU s
# without (bench README, "One BLAS thread"). Worker processes inherit it. A user's
# setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from .api import AddProgress, Index
    from .manifest import ManifestEntry
    from .report import AddOutcome
    from .results import ClaimResult

#: Carriage return and ANSI erase-line: a message written over a progress bar (only drawn on a terminal).
_CLEAR_LINE = "\r\033[K"
#: Steps of the indexing bar per file: it moves within a file as its video is read.
_BAR_STEPS_PER_FILE = 1000


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


class ProvcheckGroup(click.Group):
    """The top-level group: the one place where errors become exit codes."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        extra.pop("standalone_mode", None)
        argv = list(sys.argv[1:] if args is None else args)
        show_traceback = "--traceback" in argv
        try:
            code = super().main(args=argv, prog_name=prog_name or "provcheck", standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("provcheck: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except KeyboardInterrupt:
            click.echo("provcheck: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except click.ClickException as exc:
            exc.show()
            _exit_with_error(exc.format_message(), exc.exit_code, argv)
        except ProvcheckError as exc:
            if show_traceback:
                raise
            click.echo(f"provcheck: error: {_one_line(str(exc))}", err=True)
            _exit_with_error(str(exc), exc.exit_code, argv)
        except BrokenPipeError:
            sys.exit(ExitCode.OK)
        except Exception as exc:  # a bug: still one line unless asked for the trace
            if show_traceback:
                raise
            message = (f"internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                       "(run again with --traceback and report it)")
            click.echo(f"provcheck: {message}", err=True)
            _exit_with_error(message, ExitCode.INPUT_ERROR, argv)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)


def _exit_with_error(message: str, code: int, argv: Sequence[str]) -> NoReturn:
    """Exit with ``code``; under --json or --json-lines, first print the error as one JSON object on stdout.

    A CI step piping the output to ``jq`` then always has an object to read, never nothing.
    """
    if "--json" in argv or "--json-lines" in argv:
        from .report import error_json

        click.echo(error_json(_one_line(message), int(code)))
    sys.exit(code)


def _index(path: str | None) -> Index:
    from .api import Index

    return Index(path if path is not None else default_index_location())


@click.group(cls=ProvcheckGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="provcheck")
@traceback_option
def cli() -> None:
    """Find the original video frame or photo a claimed image was derived from.

    Index known footage and photos once, then check claimed photos against them,
    offline. Exit codes: 0 finished, 1 some input unreadable, 2 usage error,
    3 index missing/damaged/locked, 4 a --fail-on condition met, 130 interrupted.

    \b
    Examples:
      provcheck index add strike.mp4 --title "Strike video" --url https://example.org/v/1 --published 2016-06-30
      provcheck index add --manifest sources.csv
      provcheck match claimed.jpg
      provcheck match uploads/*.jpg --json --fail-on match
      provcheck match claimed.jpg --claimed-date 2017-11-14 --evidence evidence/ --report report.html
      provcheck serve
      provcheck demo
    """


@cli.group(context_settings=CONTEXT_SETTINGS)
def index() -> None:
    """Build and inspect the index of known sources.

    \b
    Examples:
      provcheck index add fallujah_strike.mp4 --title "Strike" --published 2016-06-30
      provcheck index add archive/ --index archive.sqlite
      provcheck index add --manifest sources.csv
      provcheck index edit 3 --published 2016-06-29
      provcheck index list --json
    """


@index.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("paths", nargs=-1)
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="A CSV or JSON file listing sources, each with its own path, title, url, published and notes.")
@click.option("--title", help="Title of the source (default: the file name).")
@click.option("--url", help="Where the source was published.")
@click.option("--published", help="Publication date, YYYY-MM-DD, or an ISO date-time with zone (2016-06-30T14:05Z).")
@click.option("--notes", help="Free-text notes stored with the source.")
@click.option("--fps", type=click.FloatRange(min=0.01, max=120.0), default=2.0, show_default=True,
              help="Video sampling rate, frames per second (scene cuts are always added).")
@click.option("--replace", is_flag=True, help="Re-index files that are already in the index.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes reading files, one file each, or time segments of a long video when "
              "there are fewer files than workers (default: the number of cores; 1 reads everything in this process).")
@click.option("--dask", "dask_address", metavar="local|ADDRESS",
              help="Read the files on a Dask cluster instead: 'local' starts one on this machine (--jobs worker "
              "processes), or the address of a running scheduler (tcp://host:8786), whose workers must see the "
              "files at the same paths. Into a SQLite index this process writes what they read; into a PostgreSQL "
              "index the workers write it themselves. Needs: pip install 'provcheck[dask]'.")
@allow_private_option
@index_option
@output_options
@traceback_option
def index_add(
    paths: tuple[str, ...],
    manifest: Path | None,
    title: str | None,
    url: str | None,
    published: str | None,
    notes: str | None,
    fps: float,
    replace: bool,
    jobs: int | None,
    dask_address: str | None,
    allow_private: bool,
    index_path: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Add videos and still images (or every media file in a folder, or a URL) to the index.

    --title, --url, --published and --notes are stored with every file given; to give
    each file its own, list them in a manifest (--manifest: CSV with a header row, or
    JSON; columns path, title, url, published, notes; paths relative to the manifest).
    Each file is added in one transaction: all of it or nothing. A file already in
    the index (same SHA-256) is skipped unless --replace. An http(s) URL is
    downloaded into a "downloads" folder beside the index; addresses on private,
    loopback or link-local networks are refused unless --allow-private. Several
    files are read in parallel (--jobs, or on a Dask cluster with --dask) and
    written in the order given.

    \b
    Examples:
      provcheck index add fallujah_strike.mp4 --title "Iraqi Airstrikes Hit ISIS Convoy" \\
          --url https://example.org/watch?v=abc --published 2016-06-30
      provcheck index add footage/ --index newsroom.sqlite --fps 4
      provcheck index add footage/ --jobs 2
      provcheck index add https://example.org/media/strike.mp4 --published 2016-06-30
      provcheck index add --manifest sources.csv --jobs 2
      provcheck index add footage/ --dask local --jobs 4
      provcheck index add /shared/footage/ --dask tcp://scheduler:8786
    """
    from . import report
    from .api import parse_published
    from .fetch import FetchPolicy
    from .manifest import read_manifest
    from .results import FailedFile

    shared = {"--title": title, "--url": url, "--published": published, "--notes": notes}
    if manifest is not None:
        if paths:
            raise click.UsageError("Give files or --manifest, not both.")
        given = [name for name, value in shared.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} cannot be combined with --manifest (each row has its own).")
    elif not paths:
        raise click.UsageError("Give media files, folders or URLs to add, or --manifest.")
    try:
        parse_published(published)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--published") from exc
    files: Sequence[str | ManifestEntry] = read_manifest(manifest) if manifest is not None else _media_files(paths, quiet)
    many = len(files) > 1
    if many and not quiet:
        for name in ("--title", "--url", "--published"):
            if shared[name] is not None:
                click.echo(f"provcheck: warning: the same {name} is stored with all {len(files)} files; "
                           "give each its own with --manifest, or change one with `provcheck index edit`", err=True)
    with _index(index_path) as store:
        outcomes = _add_files(
            store, files, as_json, quiet, jobs=jobs, title=title, url=url, published=published, notes=notes,
            fps=fps, replace=replace, fetch_policy=FetchPolicy(allow_private=allow_private), dask=dask_address,
        )
    if as_json:
        click.echo(report.add_json(outcomes, store.location))
    if many and not quiet:
        click.echo(f"provcheck: {report.add_summary(outcomes)}", err=True)
    if any(isinstance(outcome, FailedFile) for outcome in outcomes):
        sys.exit(ExitCode.INPUT_ERROR)


def _media_files(paths: Sequence[str], quiet: bool) -> list[str]:
    """Each path or URL as given, a folder replaced by the media files in it and its subfolders, sorted."""
    from .api import iter_media_files
    from .fetch import is_url

    files: list[str] = []
    for text in paths:
        path = Path(text)
        if not is_url(text) and path.is_dir():
            found = list(iter_media_files(path))
            if not found and not quiet:
                click.echo(f"provcheck: warning: {path}: no media files in folder", err=True)
            files.extend(str(item) for item in found)
        else:
            files.append(text)
    return files


def _say_added(outcome: AddOutcome, as_json: bool, quiet: bool, over_bar: bool = False) -> None:
    """Print what adding one file came to: its line on stdout, or why it was skipped or failed on stderr."""
    from . import report
    from .results import FailedFile, SkippedFile

    if over_bar:  # clear the drawn bar's line first (on stderr: stdout carries results only)
        click.echo(_CLEAR_LINE, err=True, nl=False)
    if isinstance(outcome, SkippedFile):
        if not quiet:
            click.echo(f"provcheck: {outcome.message}", err=True)
    elif isinstance(outcome, FailedFile):
        click.echo(f"provcheck: error: {outcome.error}", err=True)
    elif not as_json:
        click.echo(report.added_text(outcome))


def _add_progress_text(state: AddProgress, elapsed_s: float) -> str:
    """What the indexing bar shows beside itself: files and frames done, and the speed."""
    shown = f"{state.files_done}/{state.files_total} files, {state.frames} frames"
    if state.video_s > 0 and elapsed_s > 0:
        shown += f", {state.video_s / elapsed_s:.1f}x realtime"
    return shown


def _add_files(
    store: Index, files: Sequence[str | ManifestEntry], as_json: bool, quiet: bool, **options: Any
) -> list[AddOutcome]:
    """Add files through ``Index.iter_add``, printing each outcome in order, under one progress bar.

    The bar (on stderr, only on a terminal and without --quiet) covers the whole job:
    it moves by the seconds of video read within each file, and shows the files and
    frames done, the speed as a multiple of real time, and click's ETA. The upkeep that
    may follow the last file (training the shortlist takes minutes on a large index) is
    said in a line on stderr, terminal or not, unless --quiet.
    """

    outcomes: list[AddOutcome] = []
    bar = not quiet and _stderr_is_terminal()
    with ExitStack() as stack:
        drawn: ProgressBar[str | None] | None = None
        if bar:
            drawn = stack.enter_context(click.progressbar(
                length=len(files) * _BAR_STEPS_PER_FILE, label="indexing", file=sys.stderr, show_eta=True,
                item_show_func=lambda shown: shown,
            ))
        started = time.monotonic()

        def update(state: AddProgress) -> None:
            if state.upkeep is not None:
                click.echo(f"{_CLEAR_LINE if bar else ''}provcheck: {state.upkeep}", err=True)
            if drawn is not None:
                shown = _add_progress_text(state, time.monotonic() - started)
                drawn.update(max(0, int(state.files_read * _BAR_STEPS_PER_FILE) - drawn.pos), shown)

        for outcome in store.iter_add(files, progress=None if quiet else update, **options):
            _say_added(outcome, as_json, quiet, over_bar=bar)
            outcomes.append(outcome)
    return outcomes


@index.command("list", context_settings=CONTEXT_SETTINGS)
@index_option
@output_options
@traceback_option
def index_list(index_path: str | None, as_json: bool, quiet: bool) -> None:
    """List the indexed sources.

    \b
    Examples:
      provcheck index list
      provcheck index list --json --index newsroom.sqlite
    """
    from . import report

    with _index(index_path) as store:
        sources = store.sources()
        click.echo(report.sources_json(sources, store.location) if as_json else report.sources_text(sources))


@index.command("info", context_settings=CONTEXT_SETTINGS)
@index_option
@output_options
@traceback_option
def index_info(index_path: str | None, as_json: bool, quiet: bool) -> None:
    """Show where the index is, its schema, hashers and counts.

    \b
    Examples:
      provcheck index info
      provcheck index info --json
    """
    from . import report

    with _index(index_path) as store:
        stats = store.info()
        click.echo(report.stats_json(stats) if as_json else report.stats_text(stats))


@index.command("check", context_settings=CONTEXT_SETTINGS)
@index_option
@output_options
@traceback_option
def index_check(index_path: str | None, as_json: bool, quiet: bool) -> None:
    """Verify the index: SQLite integrity, schema, row counts, every fingerprint owned by a source.

    Exits 0 when the index is sound and 3 when a problem is found.

    \b
    Examples:
      provcheck index check
      provcheck index check --index newsroom.sqlite --json
    """
    from . import report

    with _index(index_path) as store:
        checked = store.verify_integrity()
    click.echo(report.integrity_json(checked) if as_json else report.integrity_text(checked))
    if not checked.ok:
        sys.exit(ExitCode.INDEX_ERROR)


@index.command("train", context_settings=CONTEXT_SETTINGS)
@index_option
@output_options
@traceback_option
def index_train(index_path: str | None, as_json: bool, quiet: bool) -> None:
    """Train the crop-proof shortlist's visual words on the index as it is, and re-quantise every frame.

    `index add` trains by itself once an index holds a few frames and again as it
    grows; run this for an index made by an older provcheck, or after a large
    removal. One transaction: interrupted, the index keeps its previous shortlist.

    \b
    Examples:
      provcheck index train
      provcheck index train --index newsroom.sqlite --json
    """
    from . import report

    with _index(index_path) as store:
        vocabulary = store.train_shortlist()
        location = store.location
    words, trained = vocabulary.size, vocabulary.training_descriptors
    click.echo(report.trained_json(words, trained, location) if as_json else report.trained_text(words, trained))


@index.command("compact", context_settings=CONTEXT_SETTINGS)
@index_option
@output_options
@traceback_option
def index_compact(index_path: str | None, as_json: bool, quiet: bool) -> None:
    """Store every descriptor as 16 bytes of codes instead of 128, then rewrite the file smaller.

    For a large archive: the index shrinks ~3x (descriptors are most of it), and every
    frame added later is stored compactly too. Verification reads decoded descriptors:
    on the benches every verdict and source stayed the same, with ~7 % fewer inliers on
    the true frame (README, "Compact descriptors"). Cannot be undone but by re-adding
    the sources. Frames are encoded 500 a transaction: interrupted, the index is sound
    and running the command again goes on. The rewrite afterwards (VACUUM) needs free
    disk space as large as the index.

    \b
    Examples:
      provcheck index compact
      provcheck index compact --index archive.sqlite --json
    """
    from . import report

    with _index(index_path) as store, ExitStack() as stack:
        if not quiet:  # minutes on a large index: say what the wait is
            click.echo("provcheck: compacting the descriptors (then the file is rewritten)", err=True)
        update: Callable[[int, int], None] | None = None
        if not quiet and _stderr_is_terminal():
            drawn: ProgressBar[int] | None = None

            def update(done: int, total: int) -> None:
                nonlocal drawn
                if drawn is None:
                    drawn = stack.enter_context(click.progressbar(length=total, label="compacting", file=sys.stderr))
                drawn.update(done - drawn.pos)

        frames, before, after = store.compact(update)
        location = store.location
    click.echo(report.compacted_json(frames, before, after, location) if as_json
               else report.compacted_text(frames, before, after))


@index.command("migrate", context_settings=CONTEXT_SETTINGS)
@click.option("--to", "destination", required=True, metavar="URL",
              help="The PostgreSQL index to fill: postgresql://user@host/db (empty; created if missing).")
@index_option
@output_options
@traceback_option
def index_migrate(destination: str, index_path: str | None, as_json: bool, quiet: bool) -> None:
    """Copy a SQLite index into PostgreSQL as it is stored (nothing is indexed again).

    Ids, compact descriptors and the shortlist (its word file becomes the database's word
    lists) are kept, so the database answers every claim as the file did. One transaction:
    interrupted, the database is left as it was. The SQLite file is only read.

    \b
    Examples:
      provcheck index migrate --index newsroom.sqlite --to postgresql://provcheck@db.example.org/archive
      provcheck index migrate --to postgresql://provcheck@localhost/archive --json
    """
    from . import report
    from .store.locations import is_database_url, shown_location

    source = index_path if index_path is not None else default_index_location()
    if is_database_url(source):
        raise click.UsageError("--index must name the SQLite file to migrate from")
    if not is_database_url(destination):
        raise click.UsageError("--to must be a postgresql:// URL")
    from .store.migrate import sqlite_to_postgresql

    def say(table: str, rows: int) -> None:
        if not quiet and not as_json:
            click.echo(f"provcheck: copied {rows:,} rows of {table}", err=True)

    migrated = sqlite_to_postgresql(Path(source), destination, progress=say)
    location = shown_location(destination)
    click.echo(report.migrated_json(migrated, source, location) if as_json
               else report.migrated_text(migrated, source, location))


@index.command("remove", context_settings=CONTEXT_SETTINGS)
@click.argument("source_id", type=int)
@index_option
@output_options
@traceback_option
def index_remove(source_id: int, index_path: str | None, as_json: bool, quiet: bool) -> None:
    """Remove a source and all its frames from the index.

    \b
    Examples:
      provcheck index remove 3
      provcheck index remove 3 --index newsroom.sqlite --json
    """
    from . import report

    with _index(index_path) as store:
        record = store.remove(source_id)
        click.echo(report.removed_json(record, store.location) if as_json else report.removed_text(record))


@index.command("edit", context_settings=CONTEXT_SETTINGS)
@click.argument("source_id", type=int)
@click.option("--title", help="New title.")
@click.option("--url", help="New URL (an empty string clears it).")
@click.option("--published", help="New publication date, YYYY-MM-DD or ISO date-time with zone (empty clears it).")
@click.option("--notes", help="New notes (an empty string clears them).")
@index_option
@output_options
@traceback_option
def index_edit(
    source_id: int, title: str | None, url: str | None, published: str | None, notes: str | None,
    index_path: str | None, as_json: bool, quiet: bool,
) -> None:
    """Change a source's title, URL, publication date or notes, without indexing it again.

    \b
    Examples:
      provcheck index edit 3 --published 2016-06-29 --url https://example.org/watch?v=abc
      provcheck index edit 3 --notes "" --json
    """
    from . import report

    if title is None and url is None and published is None and notes is None:
        raise click.UsageError("Nothing to change: give --title, --url, --published or --notes.")
    with _index(index_path) as store:
        try:
            record = store.edit(source_id, title=title, url=url, published=published, notes=notes)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        click.echo(report.edited_json(record, store.location) if as_json else report.sources_text([record]))


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _gathered_claims(images: tuple[str, ...], from_file: IO[str] | None, quiet: bool) -> list[str]:
    """The claims of the command line, then of --from-file, folders expanded to their media files."""
    if not images and from_file is None:
        raise click.UsageError("Give at least one claim (a file, a folder or a URL), or --from-file.",
                               click.get_current_context())
    claims = _media_files([*images, *(listed_claims(from_file) if from_file is not None else [])], quiet)
    if not claims and not quiet:
        click.echo("provcheck: warning: no claims to check", err=True)
    return claims


def _warn_if_frames_lack_features(store: Index, claims: int, jobs: int, quiet: bool) -> None:
    """Say on stderr when part of the index was made by provcheck 0.1 (no local features: crops are not found).

    The counts come from the matcher when the claims are matched in this process (it is
    loaded for them anyway), else from one count query; never from the full statistics.
    """
    coverage = store.feature_coverage(load_matcher=claims > 0 and store.matches_in_process(claims, jobs))
    if coverage.frames_without_features > 0 and not quiet:
        click.echo(
            f"provcheck: warning: {coverage.frames_without_features} of {coverage.frames} indexed frames "
            "have no local features (indexed by provcheck 0.1); crops of them will not be found until their "
            "sources are re-added with --replace",
            err=True,
        )


@cli.command("match", context_settings=CONTEXT_SETTINGS)
@click.argument("images", nargs=-1, metavar="[CLAIM]...")
@click.option("--from-file", "from_file", type=click.File("r", encoding="utf-8"), default=None, metavar="FILE",
              help="Also check the claims listed in FILE, one a line ('-': stdin); blank lines and lines "
              "starting with # are skipped.")
@click.option("--top", type=click.IntRange(min=1, max=100), default=5, show_default=True,
              help="Report at most this many sources per claim.")
@click.option("--fail-on", type=click.Choice(["match", "possible", "none"]), default=None,
              help="Exit 4 if any claim is a match / at least possible / has no match.")
@click.option("--json-lines", is_flag=True,
              help="Print each claim's result as one JSON object on one line as soon as it is known "
              "(a stable contract; not with --json).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes matching claims side by side, each opening the index once (default: the "
              "number of cores; 1 matches everything in this process). Results keep the claims' order.")
@click.option("--evidence", "evidence_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write an evidence image per claim that matched (the claim beside its source frame, the reused "
              "region outlined) and the source frame, into this folder.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write one self-contained HTML report of all claims (evidence images embedded) to this file.")
@click.option("--claimed-date", metavar="DATE",
              help="When the claim was made (YYYY-MM-DD or ISO date-time with zone): each source is reported "
              "with the days it was published before it (default: the claim file's EXIF/XMP capture date).")
@allow_private_option
@index_option
@output_options
@traceback_option
def match_command(
    images: tuple[str, ...],
    from_file: IO[str] | None,
    top: int,
    fail_on: str | None,
    json_lines: bool,
    jobs: int | None,
    evidence_dir: Path | None,
    report_file: Path | None,
    claimed_date: str | None,
    allow_private: bool,
    index_path: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check claimed photos (files, folders or http(s) URLs) against the index and report their likely sources.

    Every claim is reported, best source first: title, URL, publication date, time
    in the video, confidence and how the claim was derived. With the claim's date
    (--claimed-date, or else its EXIF/XMP capture date, said so) each source also
    gets the days it was published before the claim; one published after it is
    flagged as an unlikely origin. A folder stands for every
    media file in it and its subfolders, sorted. Claims on the command line come
    first, then those listed by --from-file. Unreadable claims are reported with
    their error and make the exit code 1; a met --fail-on makes it 4.

    \b
    Examples:
      provcheck match claimed.jpg
      provcheck match uploads/*.jpg --top 3 --json
      provcheck match upload.jpg --fail-on match --index newsroom.sqlite
      provcheck match https://example.org/post/photo.jpg --json
      provcheck match inbox/ --from-file more-claims.txt --json
      find inbox -name '*.jpg' | provcheck match --from-file - --json-lines > results.jsonl
      provcheck match uploads/ --jobs 1 --json
      provcheck match ministry_photo.jpg --claimed-date 2017-11-14
      provcheck match uploads/ --evidence evidence/ --report report.html
    """
    from . import report
    from .dates import given_claim_date
    from .fetch import FetchPolicy

    if as_json and json_lines:
        raise click.UsageError("--json and --json-lines cannot be used together.", click.get_current_context())
    try:
        dated = None if claimed_date is None else given_claim_date(claimed_date)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--claimed-date") from exc
    if images.count(STDIN_CLAIM) > 1 or (STDIN_CLAIM in images and from_file is not None and from_file.name == "<stdin>"):
        raise click.UsageError("Standard input can be read once: as one claim ('-') or as --from-file -.")
    _check_destinations(evidence_dir, report_file)  # before matching: a typo must not cost the whole run
    claims = _gathered_claims(images, from_file, quiet)
    policy = FetchPolicy(allow_private=allow_private)
    results: list[ClaimResult] = []
    matched_results: list[ClaimResult] = []  # as matched: naming the files evidence is drawn from
    with _index(index_path) as store, ExitStack() as stack:
        stdin_file = _stdin_claim(stack) if STDIN_CLAIM in claims else None
        claims = [str(stdin_file) if claim == STDIN_CLAIM and stdin_file else claim for claim in claims]
        location = store.location
        workers = (os.cpu_count() or 1) if jobs is None else jobs
        _warn_if_frames_lack_features(store, len(claims), workers, quiet)
        bar = len(claims) > 1 and not quiet and _stderr_is_terminal()
        drawn: ProgressBar[str | None] | None = None
        if bar:
            drawn = stack.enter_context(click.progressbar(
                length=len(claims), label="matching", file=sys.stderr,
                item_show_func=lambda claim: claim and Path(claim).name,
            ))
        for matched in store.check_many(claims, top, policy, jobs=workers, claimed_date=dated):
            if evidence_dir is not None:  # drawn from the claim file itself, stdin's included
                _write_evidence(matched, evidence_dir, len(results) + 1, quiet)
            result = _as_given(matched, stdin_file)
            if drawn is not None:
                drawn.update(1, result.query)
            if result.error is not None:
                # over a drawn bar, clear its line first so the message stands on its own
                click.echo(f"{_CLEAR_LINE if bar else ''}provcheck: error: {_one_line(result.error)}", err=True)
            if json_lines:
                click.echo(report.claim_line(result, location))  # click.echo flushes: the line survives a crash
            results.append(result)
            matched_results.append(matched)
        if report_file is not None:
            _write_report(results, location, report_file, matched_results)
    if as_json:
        click.echo(report.results_json(results, location))
    elif not json_lines and results:
        click.echo(report.results_text(results))
    if fail_on_met(results, fail_on):
        sys.exit(ExitCode.FAIL_ON)
    if any(result.error is not None for result in results):
        sys.exit(ExitCode.INPUT_ERROR)


#: A claim given as ``-``: the picture is read from standard input.
STDIN_CLAIM = "-"


def _stdin_claim(stack: ExitStack) -> Path:
    """Standard input's bytes in a temporary file (removed with ``stack``), to be matched as a claim file."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="provcheck-stdin-")))
    path = folder / "stdin"
    with path.open("wb") as handle:
        while chunk := sys.stdin.buffer.read(1 << 20):
            handle.write(chunk)
    return path


def _as_given(result: ClaimResult, stdin_file: Path | None) -> ClaimResult:
    """The result named as the user named the claim: '-' for the picture read from standard input."""
    if stdin_file is None or result.query != str(stdin_file):
        return result
    return result.named(STDIN_CLAIM, said="standard input")


def _write_evidence(result: ClaimResult, folder: Path, number: int, quiet: bool) -> None:
    """A claim's evidence files; why there are none is said on stderr (a verdict of none needs no saying)."""
    from .evidence import evidence_match, write_evidence

    try:
        written = write_evidence(result, folder, number)
    except OSError as exc:
        raise ProvcheckError(f"{folder}: cannot write evidence ({exc.strerror or exc})") from exc
    if written is None and evidence_match(result) is not None and not quiet:
        click.echo(f"provcheck: warning: {result.query}: no evidence image (the claim or its source file cannot be "
                   "read again)", err=True)


def _check_destinations(evidence_dir: Path | None, report_file: Path | None) -> None:
    """Refuse (exit 2) an evidence folder or a report file that cannot be written, before any claim is matched."""
    if evidence_dir is not None:
        try:
            evidence_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"{evidence_dir}: {exc.strerror or exc}", param_hint="--evidence") from exc
    if report_file is not None:
        folder = report_file.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise click.BadParameter(f"{folder}: no such folder, or not writable", param_hint="--report")


def _write_report(results: Sequence[ClaimResult], location: str, path: Path,
                  drawn_from: Sequence[ClaimResult]) -> None:
    from .html_report import html_report

    try:
        path.write_text(html_report(results, location, drawn_from=drawn_from), encoding="utf-8")
    except OSError as exc:
        raise ProvcheckError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc


@cli.command("serve", context_settings=CONTEXT_SETTINGS)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback: only this machine; anything else is warned about).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, printed at start).")
@allow_private_option
@index_option
@traceback_option
def serve(host: str, port: int, allow_private: bool, index_path: str | None) -> None:
    """Serve a local web page: drop a photo, see its verdict, evidence image and sources with dates.

    POST /api/match (a multipart upload in the field 'claim', or a form field 'url')
    returns the result object of `match --json` for that claim. Uploads are capped at
    50 MB and removed once answered. Stop with Ctrl-C.

    \b
    Examples:
      provcheck serve
      provcheck serve --index newsroom.sqlite --port 8080
      curl -F claim=@claimed.jpg http://127.0.0.1:8000/api/match
    """
    import ipaddress

    try:
        from werkzeug.serving import make_server

        from .serve import create_app
    except ImportError as exc:
        raise ProvcheckError(f"provcheck serve needs Flask ({exc.name} is missing): pip install 'provcheck[serve]'") \
            from exc
    from .fetch import FetchPolicy

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    # on loopback, only loopback Host headers are answered: a web page elsewhere cannot reach it by DNS rebinding
    trusted = ["127.0.0.1", "localhost", "::1", "[::1]", host] if loopback else None
    app = create_app(index_path if index_path is not None else default_index_location(),
                     FetchPolicy(allow_private=allow_private), trusted)
    if not loopback:
        click.echo(f"provcheck: warning: listening on {host}: anyone who can reach this machine can upload photos "
                   "and read the index's sources", err=True)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise ProvcheckError(f"{host}:{port}: cannot listen ({exc.strerror or exc})") from exc
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"provcheck: serving http://{shown}:{server.server_port}/ (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


@cli.command("demo", context_settings=CONTEXT_SETTINGS)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the generated corpus and index in this folder (default: a temporary folder).")
@click.option("--seed", type=int, default=2017, show_default=True, help="Seed of the generated corpus.")
@click.option("--small", is_flag=True, help="A smaller, faster corpus (what the tests use).")
@output_options
@traceback_option
def demo(out_dir: Path | None, seed: int, small: bool, as_json: bool, quiet: bool) -> None:
    """Replay the 2017 case on a generated corpus: index the footage, match the claimed photos.

    The corpus (gunship-simulator and strike videos, stills, claimed photos derived
    from them and unrelated ones) is synthesised from the seed, so the demo runs
    offline. The report is followed by a table of expected and found sources.

    \b
    Examples:
      provcheck demo
      provcheck demo --out demo-out --json
    """
    from .demo import run_demo

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        _run_demo(run_demo, out_dir, seed, small, as_json, quiet)
        return
    with tempfile.TemporaryDirectory(prefix="provcheck-demo-") as tmp:
        _run_demo(run_demo, Path(tmp), seed, small, as_json, quiet)
    if not quiet:
        click.echo("provcheck demo: that folder is removed now; --out DIR keeps the corpus, index, evidence images "
                   "and report", err=True)


def _run_demo(run_demo: Callable[..., Any], folder: Path, seed: int, small: bool, as_json: bool, quiet: bool) -> None:
    from . import report

    def say(message: str) -> None:
        if not quiet:
            click.echo(f"provcheck demo: {message}", err=True)

    outcome = run_demo(folder, seed=seed, small=small, log=say)
    if as_json:
        click.echo(report.results_json(outcome.results, outcome.index_location))
    else:
        click.echo(report.results_text(outcome.results))
        click.echo("")
        click.echo(outcome.summary_table)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="provcheck")

