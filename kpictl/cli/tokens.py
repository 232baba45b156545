"""kpictl tokens: API tokens of kpictl serve (issue, list, revoke)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kpictl.cli.completion import complete_customer
from kpictl.cli.context import Output, app_context
from kpictl.errors import ConfirmationRequired, InvalidInput
from kpictl.render import OutputFormat

app = typer.Typer(help="API tokens of kpictl serve.", no_args_is_help=True)


@app.command("issue")
def issue(
    ctx: typer.Context,
    customer: Annotated[
        str,
        typer.Option(
            "--customer",
            "-c",
            help="The customer the token reads as.",
            autocompletion=complete_customer,
        ),
    ],
    expires: Annotated[
        str,
        typer.Option("--expires", help="Lifetime: 90d, 12h, 30m, 2w, or 'never'."),
    ] = "90d",
    label: Annotated[
        str | None,
        typer.Option("--label", help="What the token is for.", show_default=False),
    ] = None,
) -> None:
    """Issue a token for a customer; it is printed once, on stdout, and stored hashed.

    Example:

        kpictl tokens issue --customer data-center --expires 30d --label dashboard
    """
    from kpictl import tokens

    ui = app_context(ctx)
    try:
        lifetime = tokens.parse_duration(expires)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    issued = tokens.issue(ui.settings, customer, expires_in=lifetime, label=label)
    info = issued.info.as_dict()
    until = f"expires {info['expires_at']}" if info["expires_at"] else "never expires"
    ui.renderer.info(
        f"issued token {info['token_id']} for {info['customer']} ({until}); "
        "it is shown only now: store it"
    )
    sys.stdout.write(issued.token + "\n")


@app.command("list")
def list_(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            help="Only this customer's tokens.",
            show_default=False,
            autocompletion=complete_customer,
        ),
    ] = None,
    output: Output = OutputFormat.table,
) -> None:
    """List tokens: id, customer, label, state and times (never the token itself).

    Example:

        kpictl tokens list --customer data-center -o json
    """
    from kpictl import tokens

    ui = app_context(ctx)
    rows = [t.as_dict() for t in tokens.list_tokens(ui.settings, customer=customer)]
    if output == OutputFormat.table and not rows:
        ui.renderer.info("no tokens")
        return
    ui.renderer.records(rows, output, csv="tokens list")  # columns: the header of docs/csv.md


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id (tokens list).", min=1)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Revoke a token at once: a running kpictl serve refuses it from its next request.

    Example:

        kpictl tokens revoke 3 --yes
    """
    from kpictl import tokens

    ui = app_context(ctx)
    if not yes:
        if not sys.stdin.isatty():
            raise ConfirmationRequired(
                f"refusing to revoke token {token_id} without --yes", hint="add --yes"
            )
        typer.confirm(f"Revoke token {token_id}?", abort=True)
    info, changed = tokens.revoke(ui.settings, token_id)
    if changed:
        ui.renderer.info(f"revoked token {info.token_id} of {info.customer}")
    else:
        ui.renderer.info(f"token {info.token_id} of {info.customer} was already revoked")
