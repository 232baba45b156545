"""The kpictl command line. ``main`` answers ``--version`` before importing Typer."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not imported: `kpictl --version` needs none of it
if TYPE_CHECKING:
    from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived. A KeyboardInterrupt, so that whatever rolls back on Ctrl-C
    rolls back on SIGTERM too; the CLI's edge reports it with exit 143."""


SIGNALS_RECEIVED: list[int] = []
"""SIGINT and SIGTERM as they arrive: a driver may turn the exception raised in its
callback into an error of its own (psycopg2's COPY does), and the CLI's edge still
reports the run as interrupted."""


def _on_signal(signum: int, _frame: Any) -> None:
    import signal

    SIGNALS_RECEIVED.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _not_utf8(args: list[str]) -> str | None:
    """What is wrong with the first argument that is not valid UTF-8 (Python hands such
    bytes over as lone surrogates), or None."""
    for n, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raw = repr(arg.encode("utf-8", "surrogateescape"))
            if len(raw) > 200:
                raw = f"{raw[:200]}... ({len(raw):,} characters)"
            return f"argument {n} is not valid UTF-8: {raw}"
    return None


def main() -> None:
    """The console script: runs the Typer app (whose root callback translates every
    error, see ``kpictl.cli.app.errors_translated``), handles SIGTERM like Ctrl-C, and
    ends quietly when the reader of standard output has gone away."""
    if sys.argv[1:] == ["--version"]:
        from kpictl import __version__

        sys.stdout.write(f"kpictl {__version__}\n")
        return
    bad = _not_utf8(sys.argv[1:])
    if bad is not None:
        sys.stderr.write(f"error: {bad}\nhint: kpictl takes its arguments in UTF-8\n")
        sys.exit(2)
    import signal

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
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
