"""Error tree and exit codes shared by the library and the CLI.

Library code raises :class:`ProvcheckError` subclasses whose messages name the
file and the problem in one line; only ``cli.py`` turns them into exit codes.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes; a public contract documented in the README."""

    OK = 0
    INPUT_ERROR = 1
    USAGE = 2
    INDEX_ERROR = 3
    FAIL_ON = 4
    INTERRUPTED = 130


class ProvcheckError(Exception):
    """Base class of every error provcheck raises on purpose."""

    exit_code: ExitCode = ExitCode.INPUT_ERROR


class MediaError(ProvcheckError):
    """An input file (image or video) cannot be read or is refused."""

    exit_code = ExitCode.INPUT_ERROR


class IndexStoreError(ProvcheckError):
    """The index is missing, locked or damaged."""

    exit_code = ExitCode.INDEX_ERROR


class IndexMismatchError(IndexStoreError):
    """The index was built by an incompatible schema or hasher version."""


class DuplicateSourceError(ProvcheckError):
    """The file is already indexed (same sha256) and replace was not asked for."""

    exit_code = ExitCode.INPUT_ERROR

    def __init__(self, message: str, source_id: int) -> None:
        super().__init__(message)
        self.source_id = source_id

    def __reduce__(self) -> tuple[type[DuplicateSourceError], tuple[str, int]]:
        # raised in a Dask worker that writes the index, it is pickled back to the caller with its source id
        return type(self), (str(self), self.source_id)


class ManifestError(ProvcheckError):
    """A source manifest (``index add --manifest``) cannot be read or has a bad row; nothing was added."""

    exit_code = ExitCode.USAGE


class SourceNotFoundError(ProvcheckError):
    """No source with the given id is in the index."""

    exit_code = ExitCode.INPUT_ERROR


class ClusterError(ProvcheckError):
    """The Dask cluster asked for (``index add --dask``) cannot be used.

    Dask is not installed, no scheduler answers, a worker runs another provcheck, or the
    scheduler was lost mid-job. A usage error, like a bad option value: nothing is wrong
    with the files. It stops a batch (the sources written before it stay in the index,
    each whole).
    """

    exit_code = ExitCode.USAGE
