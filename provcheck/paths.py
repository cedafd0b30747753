"""Where the index lives by default: ``$PROVCHECK_INDEX``, else the user data directory.

A module of its own, importing nothing heavy, so that the CLI can name the default
index in its help text without loading the matcher (``--help`` and ``--version`` stay fast).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: The environment variable naming the index file.
INDEX_ENV_VAR = "PROVCHECK_INDEX"
#: The index file's name inside the user data directory.
INDEX_FILENAME = "index.sqlite"


def default_index_path() -> Path:
    """Where the index lives when none is given: ``$PROVCHECK_INDEX``, else the user data dir."""
    from_env = os.environ.get(INDEX_ENV_VAR)
    if from_env:
        return Path(from_env)
    return Path(platformdirs.user_data_dir("provcheck", appauthor=False)) / INDEX_FILENAME
