"""The options every ``provcheck`` command shares, and the pure helpers of the match command.

Nothing here prints or exits (that is :mod:`provcheck.cli`'s job); it is kept apart so
the command module stays a readable list of commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from .paths import default_index_location

if TYPE_CHECKING:
    from .results import ClaimResult

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def index_option(func: F) -> F:
    """``--index PATH|URL``, defaulting to $PROVCHECK_INDEX, then the user data dir.

    A string, not a click path: a ``postgresql://`` URL must reach the store as typed.
    """
    return click.option(
        "--index",
        "index_path",
        metavar="FILE|URL",
        envvar="PROVCHECK_INDEX",
        default=None,
        help="Index: a SQLite file, or a postgresql://user@host/db URL. Default: $PROVCHECK_INDEX, else the"
        " user data dir "
        f"({default_index_location() if not os.environ.get('PROVCHECK_INDEX') else '$PROVCHECK_INDEX'}).",
    )(func)


def output_options(func: F) -> F:
    """The output flags every command shares: ``--json`` and ``--quiet``."""
    func = click.option("--json", "as_json", is_flag=True, help="Print one JSON object (a stable contract) on stdout.")(
        func
    )
    func = click.option("-q", "--quiet", is_flag=True, help="No progress bars or summaries on stderr.")(func)
    return func


def allow_private_option(func: F) -> F:
    """``--allow-private``: fetch URLs on private, loopback or link-local addresses (intranet use)."""
    return click.option(
        "--allow-private", is_flag=True,
        help="Also fetch URLs on private, loopback, link-local or multicast addresses (intranet sources).",
    )(func)


def traceback_option(func: F) -> F:
    """``--traceback``: let errors raise with their trace (read in ProvcheckGroup.main)."""
    return click.option("--traceback", is_flag=True, hidden=True, expose_value=False)(func)


def fail_on_met(results: Sequence[ClaimResult], condition: str | None) -> bool:
    from .results import Verdict

    if condition is None:
        return False
    verdicts = {result.verdict for result in results if result.error is None}
    if condition == "match":
        return Verdict.MATCH in verdicts
    if condition == "possible":
        return bool(verdicts & {Verdict.MATCH, Verdict.POSSIBLE})
    return Verdict.NONE in verdicts


def listed_claims(stream: IO[str]) -> list[str]:
    """The claims in a ``--from-file`` list: one a line, surrounding blanks dropped, blank and ``#`` lines skipped."""
    try:
        lines = [line.strip() for line in stream]
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{stream.name}: not UTF-8 text ({exc.reason})", param_hint="--from-file") from exc
    return [line for line in lines if line and not line.startswith("#")]
