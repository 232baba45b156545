"""The kpictl command line. ``main`` answers ``--version`` before importing Typer."""

from __future__ import annotations

import sys


def main() -> None:
    """The console script."""
    if sys.argv[1:] == ["--version"]:
        from kpictl import __version__

        sys.stdout.write(f"kpictl {__version__}\n")
        return
    from kpictl.cli.app import app

    app()
