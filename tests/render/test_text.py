"""The pure parts of the renderer: visible text, wrapping between words, table layout."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kpictl.render.table import Column, Table
from kpictl.render.text import cell_len, visible, wrap_words

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_visible_text_has_no_control_character(text: str) -> None:
    assert not CONTROL.search(visible(text))


def test_visible_names_each_control_character() -> None:
    assert visible("a\x1b[2Jb\r\n\t\x07\x9b\u202e") == "a\\x1b[2Jb\\r\\n\\t\\x07\\x9b\\u202e"
    assert visible("Zoë [/red] 数据") == "Zoë [/red] 数据"


words = st.lists(st.text("abc-.0123456789", min_size=1, max_size=15), min_size=1, max_size=12)


@given(words, st.integers(1, 40))
def test_wrapping_never_cuts_a_word(parts: list[str], width: int) -> None:
    text = " ".join(parts)
    lines = list(wrap_words(text, width, indent="  "))
    assert [w for line in lines for w in line.split()] == parts
    for line in lines:
        assert cell_len(line) <= width or len(line.split()) == 1


cells = st.text("abcdefghij-0123456789 ", min_size=0, max_size=25)


@settings(max_examples=200)
@given(
    st.lists(st.booleans(), min_size=1, max_size=6),
    st.data(),
    st.sampled_from([None, 20, 40, 60, 80, 120]),
)
def test_a_table_never_cuts_or_drops_a_key_cell(prose: list[bool], data, limit) -> None:
    columns = [Column(f"col{i}", prose=p) for i, p in enumerate(prose)]
    rows = data.draw(st.lists(st.lists(cells, min_size=len(prose), max_size=len(prose))))
    table = Table(columns, title="t")
    for row in rows:
        table.add_row(*row)
    out = "\n".join(table.lines(limit, colour=False))
    lines = out.splitlines()
    tokens = {t for line in lines for t in line.split()}
    for row in rows:
        for cell in row:  # every word of every cell is on the screen, whole
            assert set(cell.split()) <= tokens, (cell, out)
    for line in lines:
        assert line == line.rstrip()
        # wider than the limit only for a word that no line could hold (after its label)
        assert limit is None or cell_len(line) <= limit or len(line.split()) <= 2, out


@given(st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=5))
def test_key_cells_stay_on_one_line_when_the_keys_fit(rows: list[list[str]]) -> None:
    columns = [Column("a"), Column("b"), Column("what it proves", prose=True)]
    table = Table(columns)
    for row in rows:
        table.add_row(*row)
    keys = max(len(r[0].strip()) for r in rows) + max(len(r[1].strip()) for r in rows)
    limit = max(keys + 20, 30)
    out = "\n".join(table.lines(limit, colour=False))
    for row in rows:
        for cell in row[:2]:
            assert cell.strip() in out
