"""Every registered command has help, a section in docs/commands.md and a mention in the
README; docs/commands.md is what the generator (tools/gen_docs.py, a developer tool outside
the package) makes of the current --help texts, and the only copy of them under docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools import gen_docs as docs

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
        "docs/commands.md is out of date: run `python tools/gen_docs.py`"
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


def test_every_help_text_is_committed_once_under_docs() -> None:
    """One form of the reference: the page, a section per command; no second copy."""
    reference = REFERENCE.read_text(encoding="utf-8")
    assert not (REFERENCE.parent / "commands").exists()
    others = [p for p in REFERENCE.parent.rglob("*") if p.is_file() and p != REFERENCE]
    for doc in COMMANDS:
        body = doc.help.rstrip()
        assert reference.count(body) == 1, doc.name
        assert reference.count(f"\n## {doc.name}\n") == 1, doc.name
        for other in others:
            assert body not in other.read_text(encoding="utf-8"), f"{doc.name} also in {other}"


def test_the_index_links_to_sections_of_the_page() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    links = re.findall(r"^- \[`([^`]+)`\]\(([^)]*)\): ", reference, flags=re.M)
    assert [name for name, _ in links] == NAMES[1:]
    for name, target in links:
        # GitHub's anchor of the heading `## kpictl customers add`
        assert target == "#" + name.replace(" ", "-"), (name, target)
        assert f"\n## {name}\n" in reference


def test_generate_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "docs" / "commands.md"
    assert docs.main([str(page), "--check"]) == 1
    assert f"error: out of date: {page}" in capsys.readouterr().err
    assert docs.main([str(page)]) == 0
    assert page.read_text() == docs.reference()
    assert not (page.parent / "commands").exists()
    assert docs.main([str(page), "--check"]) == 0
    assert "is up to date" in capsys.readouterr().err
    page.write_text(page.read_text().replace("kpictl seed", "kpictl sow", 1))
    assert docs.main([str(page), "--check"]) == 1
    assert docs.main([str(page)]) == 0
    assert page.read_text() == docs.reference()


def test_root_help_offers_shell_completion() -> None:
    from kpictl.cli.app import app

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"}, catch_exceptions=False)
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout
