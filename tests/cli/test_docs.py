"""Every registered command has help, a section in docs/commands.md and a mention in the
README; docs/commands.md is what the generator makes of the current --help texts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kpictl.cli import docs

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "commands.md"
README = REPO / "README.md"

COMMANDS = list(docs.walk())
NAMES = [doc.name for doc in COMMANDS]


def test_the_tree_holds_every_command_of_the_spec() -> None:
    top = {name.split()[1] for name in NAMES if name.count(" ") >= 1}
    assert top >= {"init", "validate", "seed", "list", "customers", "schema"}


@pytest.mark.parametrize("doc", COMMANDS, ids=NAMES)
def test_every_command_has_help(doc: docs.CommandDoc) -> None:
    assert doc.short_help.strip(), f"{doc.name} has no help"
    assert doc.help.startswith(f"Usage: {doc.name} ")
    if not doc.is_group:
        assert "\n  Example:\n\n      kpictl " in doc.help, f"{doc.name}: no Example: block"


@pytest.mark.parametrize("name", NAMES)
def test_every_command_is_in_the_reference(name: str) -> None:
    assert f"\n## {name}\n" in REFERENCE.read_text(encoding="utf-8")


def test_the_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == docs.reference(), (
        "docs/commands.md is out of date: run `python -m kpictl.cli.docs`"
    )


@pytest.mark.parametrize("name", NAMES[1:])
def test_every_command_is_in_the_readme(name: str) -> None:
    # `kpictl customers list | add SLUG --name N | remove SLUG --yes` names three
    words = name.split()
    group = " ".join(words[:2])
    pattern = re.escape(group) + r"\b" + (rf"[^\n]*\b{re.escape(words[2])}\b" if words[2:] else "")
    assert re.search(pattern, README.read_text(encoding="utf-8")), f"{name} is not in README.md"


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = docs.reference()
    monkeypatch.setenv("COLUMNS", "250")
    assert docs.reference() == narrow


def test_every_command_has_its_own_page_and_it_is_up_to_date() -> None:
    pages = docs.pages()
    for doc in COMMANDS:
        page = REFERENCE.parent / "commands" / f"{doc.anchor}.md"
        assert page.read_text(encoding="utf-8") == pages[f"commands/{doc.anchor}.md"], (
            f"{page} is out of date: run `python -m kpictl.cli.docs`"
        )
        assert doc.help.rstrip() in page.read_text(encoding="utf-8")


def test_generate_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "docs" / "commands.md"
    assert docs.main([str(page), "--check"]) == 1
    assert f"error: out of date: {page}" in capsys.readouterr().err
    assert docs.main([str(page)]) == 0
    assert page.read_text() == docs.reference()
    assert (page.parent / "commands" / "kpictl-seed.md").is_file()
    assert docs.main([str(page), "--check"]) == 0
    stray = page.parent / "commands" / "kpictl-gone.md"
    stray.write_text("a command that no longer exists\n")
    assert docs.main([str(page), "--check"]) == 1
    assert docs.main([str(page)]) == 0
    assert not stray.exists()
    assert "are up to date" in capsys.readouterr().err


def test_root_help_offers_shell_completion() -> None:
    from kpictl.cli.app import app

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"}, catch_exceptions=False)
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout
