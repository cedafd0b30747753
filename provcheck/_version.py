"""The package version, in a module of its own so any layer can import it.

``provcheck/__init__.py`` re-exports it and ``pyproject.toml`` reads it from here
(``[tool.setuptools.dynamic]``); lower modules (``fetch.py``'s User-Agent, the CLI's
``--version``) import it from here, never from the package's ``__init__``.
"""

from __future__ import annotations

__version__ = "0.2.0"
