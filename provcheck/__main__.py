"""Run the command line: ``python -m provcheck``."""

from .cli import main

main()
