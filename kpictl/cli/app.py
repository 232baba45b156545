"""The Typer application: global options, command registration, and the one place
where kpictl errors become an ``error:`` line and an exit code (:func:`errors_translated`).

Only Typer's public surface is used: commands are plain functions that raise kpictl's
typed errors or ``typer.Exit``; the root callback enters :func:`errors_translated` with
``ctx.with_resource``, so every command runs inside it, whether started by the console
script or by a test's ``CliRunner().invoke(app, ...)``.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from kpictl import __version__
from kpictl.cli import SIGNALS_RECEIVED, Terminated
from kpictl.cli import main as main  # the console script (kpictl.cli.main)
from kpictl.cli.context import AppContext, RunState
from kpictl.errors import EXIT_PROBLEM, EXIT_USAGE, KpictlError, RangeFilesInvalid
from kpictl.render import Renderer
from kpictl.settings import DEFAULT_DATABASE_URL, DEFAULT_RANGES_DIR, Settings, mask_url

MAX_MESSAGE = 2000
"""Characters of an error message shown: one that echoes a huge input is cut short."""

_TYPER_ERRORS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *(c for c in typer.BadParameter.__mro__ if issubclass(c, Exception) and c is not Exception),
)
"""Typer's exits and typer.BadParameter with its bases up to Exception (usage errors,
Typer's own exception class): Typer reports these itself."""

GLOBAL_OPTIONS = {"--db": " URL", "--ranges": " DIR", "--no-color": "", "--version": ""}
"""The root's options, which go before the command (``kpictl --db URL list``)."""

EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as shells report it
EXIT_TERMINATED = 143  # SIGTERM: 128 + 15


@contextmanager
def errors_translated(ctx: typer.Context) -> Iterator[None]:
    """Run a command; turn what it raises into one ``error:`` line and the exit code.

    kpictl's typed errors carry their exit code; a closed standard output ends a read
    command quietly; Ctrl-C and SIGTERM stop with 130 and 143 and a message that fits
    the command; anything else is a bug, shown as one "unexpected" line (with
    KPICTL_DEBUG=1 the traceback instead). Typer's own exits pass through.
    """
    try:
        yield
    except _TYPER_ERRORS as exc:
        option = getattr(exc, "option_name", None)  # Typer's "No such option"
        if option in GLOBAL_OPTIONS and ctx.invoked_subcommand:
            _renderer(ctx).error(
                f"{option} is a global option: it goes before the command",
                f"kpictl {option}{GLOBAL_OPTIONS[option]} {ctx.invoked_subcommand} ...",
            )
            raise typer.Exit(EXIT_USAGE) from None
        if isinstance(exc, typer.BadParameter):  # a value Typer could not convert
            where = getattr(getattr(exc, "ctx", None), "command_path", None) or "kpictl"
            _renderer(ctx).error(_mask(ctx, exc.format_message()), f"{where} --help")
            raise typer.Exit(EXIT_USAGE) from None
        raise
    except KpictlError as exc:
        if SIGNALS_RECEIVED:  # a driver's error made of the KeyboardInterrupt (COPY)
            raise _interrupted(ctx, SIGNALS_RECEIVED[0] == signal.SIGTERM) from None
        if os.environ.get("KPICTL_DEBUG"):
            raise
        renderer = _renderer(ctx)
        if isinstance(exc, RangeFilesInvalid):
            renderer.problems(exc.problems)
        renderer.error(_mask(ctx, exc.message), exc.hint)
        raise typer.Exit(exc.exit_code) from None
    except BrokenPipeError:
        raise typer.Exit(_closed_output(ctx)) from None
    except UnicodeEncodeError as exc:
        if "surrogates" not in exc.reason:  # not an argument's undecodable bytes: a bug
            raise _unexpected(ctx, exc) from None
        _renderer(ctx).error(
            "an argument is not valid UTF-8", "kpictl takes its arguments in UTF-8"
        )
        raise typer.Exit(EXIT_USAGE) from None
    except SystemExit as exc:
        # Rich's Console meets a closed pipe with SystemExit(1) (Console.on_broken_pipe)
        if isinstance(exc.__context__, BrokenPipeError):
            raise typer.Exit(_closed_output(ctx)) from None
        raise
    except KeyboardInterrupt as exc:
        raise _interrupted(ctx, isinstance(exc, Terminated)) from None
    except Exception as exc:
        if SIGNALS_RECEIVED:
            raise _interrupted(ctx, SIGNALS_RECEIVED[0] == signal.SIGTERM) from None
        raise _unexpected(ctx, exc) from None


def _interrupted(ctx: typer.Context, terminated: bool) -> typer.Exit:
    """Ctrl-C (130) or SIGTERM (143), with a message that fits the command."""
    message, hint = _run_state(ctx).interrupted("terminated" if terminated else "interrupted")
    _renderer(ctx).error(message, hint)
    return typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def _unexpected(ctx: typer.Context, exc: Exception) -> BaseException:
    """A bug: one "unexpected" line without a traceback (KPICTL_DEBUG=1: the exception)."""
    if os.environ.get("KPICTL_DEBUG"):
        return exc
    _renderer(ctx).error(
        f"unexpected {type(exc).__name__}: {_mask(ctx, str(exc))}",
        "run again with KPICTL_DEBUG=1 for the traceback, and report it",
    )
    return typer.Exit(EXIT_PROBLEM)


def _closed_output(ctx: typer.Context) -> int:
    """Standard output was closed (``kpictl list | head``): quietly 0 for a command
    that writes nothing, as other Unix tools do; a write command says so and exits 1 (a
    transaction not yet committed was rolled back)."""
    silence_stdout()
    state = _run_state(ctx)
    if not state.writes:
        return 0
    _, hint = state.interrupted("stopped")
    _renderer(ctx).error(f"standard output was closed before {state.command} finished", hint)
    return EXIT_PROBLEM


def silence_stdout() -> None:
    """Point standard output at /dev/null, so that the flush at exit raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a test's captured stream)
        pass
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until the process ends


def _run_state(ctx: typer.Context) -> RunState:
    obj = ctx.find_object(AppContext)
    return obj.run if obj else RunState()


def _renderer(ctx: typer.Context) -> Renderer:
    obj = ctx.find_object(AppContext)
    return obj.renderer if obj else Renderer(no_color=bool(ctx.params.get("no_color")))


def _mask(ctx: typer.Context, text: str) -> str:
    obj = ctx.find_object(AppContext)
    text = obj.settings.mask(text) if obj else mask_url(text)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}... (cut short: {len(text):,} characters in all)"
    return text


app = typer.Typer(
    name="kpictl",
    help="Customer-health KPI reference ranges as code: validate, seed, diff, verify, score.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"kpictl {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            envvar="KPICTL_DATABASE_URL",
            help=f"SQLAlchemy database URL [default: {DEFAULT_DATABASE_URL}].",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    ranges: Annotated[
        str | None,
        typer.Option(
            "--ranges",
            metavar="DIR",
            envvar="KPICTL_RANGES_DIR",
            help=f"Directory of range files [default: {DEFAULT_RANGES_DIR}].",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain output.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Customer-health KPI reference ranges as code.

    Example:

        kpictl validate && kpictl seed --all && kpictl list --customer data-center
    """
    ctx.with_resource(errors_translated(ctx))  # first: an error in the options is translated
    ctx.obj = AppContext(Settings.resolve(db, ranges), Renderer(no_color=no_color))


def _register() -> None:
    from kpictl.cli import adopt as adoptcommands
    from kpictl.cli import customers, dbcommands, validate
    from kpictl.cli import diff as diffcommands
    from kpictl.cli import isolation as isolationcommands
    from kpictl.cli import observations as observationcommands
    from kpictl.cli import schema as schemacommands
    from kpictl.cli import score as scorecommands
    from kpictl.cli import serve as servecommands
    from kpictl.cli import tokens as tokencommands

    app.command("validate")(validate.validate)
    app.command("init")(dbcommands.init)
    app.command("seed")(dbcommands.seed)
    app.command("list")(dbcommands.list_)
    app.add_typer(customers.app, name="customers")
    app.command("diff")(diffcommands.diff)
    app.command("export")(diffcommands.export)
    app.command("history")(diffcommands.history)
    app.command("score")(scorecommands.score)
    app.add_typer(observationcommands.app, name="observations")
    app.command("verify-isolation")(isolationcommands.verify_isolation)
    app.command("schema")(schemacommands.schema)
    app.command("serve")(servecommands.serve)
    app.add_typer(tokencommands.app, name="tokens")
    app.command("adopt")(adoptcommands.adopt)


_register()
