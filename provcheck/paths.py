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


def user_data_folder() -> Path:
    """provcheck's folder in the user data directory (the default index, downloads of a database index)."""
    return Path(platformdirs.user_data_dir("provcheck", appauthor=False))


def default_index_location() -> str:
    """Where the index lives when none is given: ``$PROVCHECK_INDEX`` (a file path or a ``postgresql://`` URL,
    kept as written), else the file in the user data dir."""
    from_env = os.environ.get(INDEX_ENV_VAR)
    if from_env:
        return from_env
    return str(user_data_folder() / INDEX_FILENAME)


def default_index_path() -> Path:
    """The default index as a file path (:func:`default_index_location` names a database URL as it is)."""
    return Path(default_index_location())
