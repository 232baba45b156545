"""Text for a terminal: data made visible and harmless, measured, and wrapped.

Everything kpictl prints that comes from data (names, keys, file names, messages that
quote them) passes through ``visible``: control characters (ESC, CR, BEL, DEL, C1) and
the invisible bidirectional controls are shown as escapes (``\\x1b``, ``\\r``,
``\\u202e``) rather than acting on the terminal. No output is Rich markup, so a name
like ``[/red]`` or ``[link=…]`` is printed as those characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# C0 (but not the space), DEL, C1, and the bidi/invisible format characters that can
# reorder or hide text on a terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# The styles kpictl uses, as the plain ANSI codes that draw them.
ANSI = {
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "red": "\x1b[31m",
    "magenta": "\x1b[35m",
    "cyan": "\x1b[36m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control and invisible format character shown as an escape."""
    if text.isprintable() and text.isascii():
        return text
    return _UNSAFE.sub(_escape, text)


def cell_len(text: str) -> int:
    """How many terminal columns ``text`` takes (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return width


def wrap_words(text: str, width: int, *, indent: str = "") -> Iterator[str]:
    """``text`` in lines of at most ``width`` columns, broken only between words; the
    lines after the first start with ``indent``. A word longer than a line stays whole
    on a line of its own (a number or a name is never cut)."""
    if width <= 0 or cell_len(text) <= width:
        yield text
        return
    lead = leading(text)
    words = text[len(lead) :].split(" ")
    line = lead + words[0]
    for word in words[1:]:
        candidate = f"{line} {word}"
        if cell_len(candidate) > width:
            yield line
            line = indent + word
        else:
            line = candidate
    yield line


def leading(text: str) -> str:
    """The spaces a line starts with (plan lines are indented by their level)."""
    return text[: len(text) - len(text.lstrip(" "))]
