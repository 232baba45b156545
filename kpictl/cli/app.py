"""The Typer application: global options, command registration, and the one place
where kpictl errors become an ``error:`` line and an exit code."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from kpictl import __version__
from kpictl.cli.context import AppContext
from kpictl.errors import EXIT_PROBLEM, KpictlError, RangeFilesInvalid
from kpictl.render import Renderer
from kpictl.settings import DEFAULT_DATABASE_URL, DEFAULT_RANGES_DIR, Settings, mask_url


class KpictlGroup(TyperGroup):
    """Runs a command and turns kpictl errors into one ``error:`` line and the exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KpictlError as exc:
            if os.environ.get("KPICTL_DEBUG"):
                raise
            renderer = _renderer(ctx)
            if isinstance(exc, RangeFilesInvalid):
                renderer.problems(exc.problems)
            renderer.error(_mask(ctx, exc.message), exc.hint)
            raise click.exceptions.Exit(exc.exit_code) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # stdout was closed (`kpictl ... | head`): stop quietly; writes were not committed
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
            _renderer(ctx).error("standard output was closed; the command stopped")
            raise click.exceptions.Exit(EXIT_PROBLEM) from None
        except KeyboardInterrupt:
            _renderer(ctx).error("interrupted; the database is as it was")
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            # Not an expected error: say so in one line, without a traceback.
            if os.environ.get("KPICTL_DEBUG"):
                raise
            _renderer(ctx).error(
                f"unexpected {type(exc).__name__}: {_mask(ctx, str(exc))}",
                "run again with KPICTL_DEBUG=1 for the traceback, and report it",
            )
            raise click.exceptions.Exit(EXIT_PROBLEM) from None


def _renderer(ctx: click.Context) -> Renderer:
    obj = ctx.find_object(AppContext)
    return obj.renderer if obj else Renderer()


MAX_MESSAGE = 2000
"""Characters of an error message shown: one that echoes a huge input is cut short."""


def _mask(ctx: click.Context, text: str) -> str:
    obj = ctx.find_object(AppContext)
    text = obj.settings.mask(text) if obj else mask_url(text)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}... (cut short: {len(text):,} characters in all)"
    return text


app = typer.Typer(
    cls=KpictlGroup,
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


def main() -> None:
    """Run the application (the console script is kpictl.cli.main)."""
    app()
