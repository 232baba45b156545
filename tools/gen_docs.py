"""The command reference, docs/commands.md, generated from the ``--help`` texts: one page,
a section per command (``## kpictl seed``, anchor ``#kpictl-seed``).

    python tools/gen_docs.py            # rewrite docs/commands.md (make docs)
    python tools/gen_docs.py --check    # exit 1 when it is out of date (CI, tests)

The help texts are laid out at a fixed width, so the page does not depend on the
terminal that generated it. A developer tool: it is not part of the kpictl package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIDTH = 88
DEFAULT_PATH = Path("docs") / "commands.md"
REGENERATE = "python tools/gen_docs.py"


@dataclass(frozen=True, slots=True)
class CommandDoc:
    """One command of the tree: its full name (``kpictl customers add``) and help."""

    name: str
    command: Any  # the Click-style command Typer builds (Typer vendors its own Click)
    help: str
    short_help: str
    is_group: bool

    @property
    def anchor(self) -> str:
        return self.name.replace(" ", "-")


def root_command() -> Any:
    """The click command behind the Typer app, every command registered."""
    import typer

    from kpictl.cli.app import app

    return typer.main.get_command(app)


def walk(command: Any = None, ctx: Any = None) -> Iterator[CommandDoc]:
    """Every command and group, depth first, in the order of ``kpictl --help``."""
    if command is None:
        command = root_command()
    if ctx is None:
        ctx = command.context_class(
            command, info_name="kpictl", terminal_width=WIDTH, max_content_width=WIDTH
        )
    is_group = hasattr(command, "list_commands")
    yield CommandDoc(
        name=ctx.command_path,
        command=command,
        help=command.get_help(ctx),
        short_help=command.get_short_help_str(limit=WIDTH),
        is_group=is_group,
    )
    if is_group:
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from walk(sub, sub.context_class(sub, info_name=name, parent=ctx))


def reference() -> str:
    """The whole of docs/commands.md."""
    docs = list(walk())
    lines = [
        "# kpictl command reference",
        "",
        f"<!-- Generated from the --help texts by `{REGENERATE}`; do not edit. -->",
        "",
        "Every command, as `kpictl COMMAND --help` prints it. Global options (`--db`,",
        "`--ranges`, `--no-color`, `--version`) go before the command.",
        "",
    ]
    for doc in docs[1:]:
        lines.append(f"- [`{doc.name}`](#{doc.anchor}): {doc.short_help}")
    for doc in docs:
        lines += ["", f"## {doc.name}", "", "```text", doc.help.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument(
        "path", nargs="?", type=Path, default=DEFAULT_PATH, help="[default: %(default)s]"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when the page is stale"
    )
    args = parser.parse_args(argv)
    wanted = reference()
    path: Path = args.path
    stale = not path.is_file() or path.read_text(encoding="utf-8") != wanted
    if args.check:
        if stale:
            sys.stderr.write(f"error: out of date: {path}\nhint: run {REGENERATE}\n")
            return 1
        sys.stderr.write(f"{path} is up to date\n")
        return 0
    if stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted, encoding="utf-8")
        sys.stderr.write(f"wrote {path}\n")
    else:
        sys.stderr.write(f"{path} is up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
