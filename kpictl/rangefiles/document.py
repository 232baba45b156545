"""Reading a YAML document with located problems: the generic part of every check.

``checks._Check`` (the rules of SPEC section 1) builds on :class:`DocumentCheck`: each
problem names the file, the line its key path was found on, and the key path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from kpictl.rangefiles.model import Problem
from kpictl.rangefiles.rules import name_problem
from kpictl.rangefiles.wording import close_match, describe, key_text
from kpictl.rangefiles.yamlstrict import KeyPath, line_of

_C = TypeVar("_C", bound="DocumentCheck")


class DocumentCheck:
    """The problems of one YAML document, located by its key paths, and the checks of
    generic shapes (a mapping, its keys, a finite number, a string, a display name)
    that the range-file rules are written with."""

    __slots__ = ("data", "display", "lines", "problems")

    def __init__(self, display: str, lines: dict[KeyPath, int], data: bytes) -> None:
        self.display = display
        self.lines = lines
        self.data = data
        self.problems: list[Problem] = []

    @classmethod
    def failed(cls: type[_C], display: str, message: str, line: int | None = None) -> _C:
        check = cls(display, {}, b"")
        check.problems.append(Problem(display, line, "", message))
        return check

    def finish(self) -> list[Problem]:
        """The problems in the order of their lines (file-wide ones first)."""
        return sorted(self.problems, key=lambda p: p.line or 0)

    def line(self, path: KeyPath) -> int | None:
        return line_of(self.lines, path)

    def error(self, path: KeyPath, message: str, *, line: int | None = None) -> None:
        self.problems.append(
            Problem(self.display, line or self.line(path), key_text(path), message, "error")
        )

    def warning(self, path: KeyPath, message: str) -> None:
        self.problems.append(
            Problem(self.display, self.line(path), key_text(path), message, "warning")
        )

    # -- generic shapes --

    def mapping(self, value: Any, path: KeyPath, what: str = "a mapping") -> dict | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"must be {what}, got {describe(value)}")
        return None

    def keys(
        self,
        mapping: dict,
        path: KeyPath,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        *,
        refused: dict[str, str] | None = None,
    ) -> None:
        """Unknown keys (typo protection) and missing required ones."""
        for key in mapping:
            if key in allowed:
                continue
            if refused and key in refused:
                self.error((*path, key), refused[key])
                continue
            hint = close_match(key, allowed)
            self.error(
                (*path, key),
                f"unknown key; did you mean {hint!r}?"
                if hint
                else f"unknown key (allowed: {', '.join(allowed)})",
            )
        for key in required:
            if key not in mapping:
                self.error((*path, key), "required key is missing")

    def number(self, value: Any, path: KeyPath) -> float | None:
        """A finite number (not a boolean, not a string), as a float."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, f"must be a number, got {describe(value)}")
            return None
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            self.error(path, f"must be a finite number, got {describe(value)}")
            return None
        # -0.0 is 0: one zero, so that a file, its stored rows (SQLite drops the sign,
        # PostgreSQL keeps it) and their export hash and compare alike
        return as_float + 0.0

    def string(self, value: Any, path: KeyPath) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.error(path, f"must be a non-empty string, got {describe(value)}")
        return None

    def display_name(self, value: Any, path: KeyPath) -> str | None:
        name = self.string(value, path)
        if name is not None and (bad := name_problem(name)):
            self.error(path, bad)
            return None
        return name
