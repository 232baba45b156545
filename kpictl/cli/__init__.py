"""The kpictl command line. ``main`` answers ``--version`` before importing Typer."""

from __future__ import annotations

import sys
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived. A KeyboardInterrupt, so that whatever rolls back on Ctrl-C
    rolls back on SIGTERM too; the CLI's edge reports it with exit 143."""


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise Terminated()


def main() -> None:
    """The console script: runs the Typer app (whose root callback translates every
    error, see ``kpictl.cli.app.errors_translated``), handles SIGTERM like Ctrl-C, and
    ends quietly when the reader of standard output has gone away."""
    if sys.argv[1:] == ["--version"]:
        from kpictl import __version__

        sys.stdout.write(f"kpictl {__version__}\n")
        return
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    from kpictl.cli.app import app, silence_stdout

    code: Any = 0
    try:
        app(prog_name="kpictl")
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # `kpictl list | head`: the reader had what it wanted
        silence_stdout()
    sys.exit(code)
