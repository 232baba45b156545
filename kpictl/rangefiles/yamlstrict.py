"""Strict YAML reading: the YAML 1.2 core schema, no duplicate keys, no alias bombs.

PyYAML only *composes* the node graph here (libyaml when it is installed, the pure
Python parser otherwise). Tags are never resolved by PyYAML's YAML 1.1 rules: every
untagged node gets a private marker tag, and scalars are resolved below by the core
schema. So ``yes`` stays the string ``'yes'``, ``1e6`` is a number, and the C and pure
parsers give the same values.

A syntax error found by libyaml is re-derived with the pure parser, so the message
and line do not depend on which parser is installed (and the pure one names the
offending character).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1_048_576
"""Files larger than this (1 MiB) are refused before parsing."""

MAX_ALIAS_NODES = 10_000
"""Nodes visited again through aliases, per document; real range files use a few dozen."""

MAX_DEPTH = 64
"""Nesting depth of mappings and lists; range files need four."""

FORCE_PURE = False
"""Use the pure-Python parser even when libyaml is available (tests run both)."""

HAVE_LIBYAML: bool = bool(getattr(yaml, "__with_libyaml__", False))

KeyPath = tuple[Any, ...]

_IMPLICIT = "\x00implicit"  # NUL cannot occur in a tag, so no document can spell it
_YAML_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_YAML_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ = _YAML_TAG + "map", _YAML_TAG + "seq"

_WORDS: dict[str, Any] = {
    "": None,
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    ".inf": math.inf,
    ".Inf": math.inf,
    ".INF": math.inf,
    "+.inf": math.inf,
    "+.Inf": math.inf,
    "+.INF": math.inf,
    "-.inf": -math.inf,
    "-.Inf": -math.inf,
    "-.INF": -math.inf,
    ".nan": math.nan,
    ".NaN": math.nan,
    ".NAN": math.nan,
}
_INT_RE = re.compile(r"[-+]?[0-9]+")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_OCT_RE = re.compile(r"0o[0-7]+")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER_START = frozenset("0123456789+-.")


class StrictYamlError(Exception):
    """The document cannot be read at all; ``line`` is 1-based where known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path`` in ``lines``, else of its nearest ancestor that has one."""
    while path not in lines:
        if not path:
            return None
        path = path[:-1]
    return lines[path]


@dataclass(frozen=True, slots=True)
class YamlIssue:
    """A problem that does not stop reading (a duplicate key): the first value is kept."""

    path: KeyPath
    line: int | None
    message: str


@dataclass(slots=True)
class Document:
    """A top-level mapping, the line of every key in it, and non-fatal issues."""

    data: dict[Any, Any]
    lines: dict[KeyPath, int]  # key path -> 1-based line of the key (() -> the document)
    issues: list[YamlIssue] = field(default_factory=list)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest ancestor that has one."""
        return line_of(self.lines, path)


def resolve_plain(text: str) -> Any:
    """A plain (unquoted) scalar by the YAML 1.2 core schema: null, bool, int, float, str."""
    if text in _WORDS:
        return _WORDS[text]
    if text[0] not in _NUMBER_START:
        return text
    if _INT_RE.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() accepts: a number all the same
            return float(text)
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    if _OCT_RE.fullmatch(text):
        return int(text[2:], 8)
    if _HEX_RE.fullmatch(text):
        return int(text[2:], 16)
    return text


def _resolve(self: Any, kind: Any, value: Any, implicit: Any) -> str:
    return _IMPLICIT


class _PureLoader(yaml.SafeLoader):
    resolve = _resolve  # type: ignore[assignment]


if HAVE_LIBYAML:

    class _CLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        resolve = _resolve


def read_yaml(data: bytes, *, pure: bool | None = None) -> Document:
    """Read a document that must be a mapping; raise StrictYamlError if it cannot be."""
    if len(data) > MAX_BYTES:
        raise StrictYamlError(f"file is larger than 1 MiB (the limit is {MAX_BYTES:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StrictYamlError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})", line
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    use_pure = FORCE_PURE if pure is None else pure
    node = _compose(text, pure=use_pure or not HAVE_LIBYAML)
    if node is None or (isinstance(node, ScalarNode) and node.value == "" and not node.style):
        raise StrictYamlError("file is empty: expected a mapping with apiVersion")
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        raise StrictYamlError(f"must be a mapping at the top level, got {kind}", _line(node))
    builder = _Builder()
    built = builder.build(node, (), 0, False)
    builder.lines[()] = _line(node)
    return Document(built, builder.lines, builder.issues)


def _compose(text: str, *, pure: bool) -> Node | None:
    loader_class: Any = _PureLoader if pure else _CLoader
    loader = None
    try:
        loader = loader_class(text)  # the pure reader checks the characters right here
        return loader.get_single_node()  # type: ignore[no-any-return]
    except (yaml.YAMLError, RecursionError) as exc:
        if not pure and not _too_deep(exc):
            # Same message and line whichever parser is installed: ask the pure one.
            try:
                _compose(text, pure=True)
            except StrictYamlError as pure_exc:
                raise pure_exc from None
        raise _syntax_error(exc, text) from None
    finally:
        if loader is not None:
            loader.dispose()


def _too_deep(exc: BaseException) -> bool:
    """The pure composer ran out of stack, or libyaml hit its own nesting limit."""
    return isinstance(exc, RecursionError) or (
        isinstance(exc, yaml.MarkedYAMLError)
        and "exceeded maximum nesting depth" in str(exc.problem)
    )


def _syntax_error(exc: BaseException, text: str) -> StrictYamlError:
    if _too_deep(exc):
        return StrictYamlError(f"invalid YAML: nested too deeply (more than {MAX_DEPTH} levels)")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        char = exc.character
        code = f"#x{ord(char):04x}" if isinstance(char, str) else f"#x{char:04x}"
        return StrictYamlError(f"invalid YAML: character {code} is not allowed", line)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        ctx = exc.context_mark
        if exc.problem and exc.context and ctx is not None and ctx.line + 1 != line:
            message += f" ({exc.context} on line {ctx.line + 1})"
        elif exc.problem and exc.context:
            message += f" ({exc.context})"
        return StrictYamlError(message, line)
    return StrictYamlError(f"invalid YAML: {exc}")


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


class _Builder:
    """Turns composed nodes into Python values, counting what aliases expand to."""

    __slots__ = ("active", "alias_path", "expanded", "issues", "lines", "seen")

    def __init__(self) -> None:
        self.lines: dict[KeyPath, int] = {}
        self.issues: list[YamlIssue] = []
        self.expanded = 0
        self.seen: set[int] = set()  # nodes built once already: meeting one again is an alias
        self.active: set[int] = set()  # nodes on the current path: meeting one is recursion
        self.alias_path: KeyPath = ()  # where the alias being expanded is used

    def build(self, node: Node, path: KeyPath, depth: int, via_alias: bool) -> Any:
        if isinstance(node, ScalarNode):
            # An alias of a lone scalar costs the document as many bytes as it expands to:
            # only collections can blow up, so only they are tracked in ``seen``.
            if via_alias:
                self.count(node)
            return _scalar(node)
        nid = id(node)
        if nid in self.seen:
            if nid in self.active:
                raise StrictYamlError("a recursive alias refers to its own anchor", _line(node))
            if not via_alias:
                self.alias_path = path
            via_alias = True
        else:
            self.seen.add(nid)
        if via_alias:
            self.count(node)
        if depth >= MAX_DEPTH:
            # No line: the pure parser, running out of stack deeper down, can't tell one.
            raise StrictYamlError(f"invalid YAML: nested too deeply (more than {MAX_DEPTH} levels)")
        self.active.add(nid)
        try:
            if isinstance(node, MappingNode):
                if node.tag != _IMPLICIT and node.tag != _MAP:
                    raise _bad_tag(node)
                return self._mapping(node, path, depth + 1, via_alias)
            if node.tag != _IMPLICIT and node.tag != _SEQ:
                raise _bad_tag(node)
            out = []
            lines = self.lines
            for index, item in enumerate(node.value):
                item_path = (*path, index)
                # An alias's node carries the anchor's position: use the list's line.
                seen = id(item) in self.seen
                lines[item_path] = lines.get(path, 0) if seen else item.start_mark.line + 1
                out.append(self.build(item, item_path, depth + 1, via_alias))
            return out
        finally:
            self.active.discard(nid)

    def count(self, node: Node) -> None:
        self.expanded += 1
        if self.expanded > MAX_ALIAS_NODES:
            path = self.alias_path
            while path and path not in self.lines:
                path = path[:-1]
            raise StrictYamlError(
                f"alias expansion too large (more than {MAX_ALIAS_NODES:,} nodes)",
                self.lines.get(path) or _line(node),
            )

    def _mapping(self, node: MappingNode, path: KeyPath, depth: int, via_alias: bool) -> dict:
        out: dict[Any, Any] = {}
        lines = self.lines
        build = self.build
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise StrictYamlError("a mapping key must be a plain value", _line(key_node))
            if key_node.tag == _IMPLICIT and not key_node.style:
                key = resolve_plain(key_node.value)
            else:
                key = _scalar(key_node)
            key_path = (*path, key)
            line = key_node.start_mark.line + 1
            if key in out:
                first = lines.get(key_path)
                self.issues.append(
                    YamlIssue(
                        key_path,
                        line,
                        f"duplicate key {key!r} (first on line {first}, again on line {line})",
                    )
                )
                continue
            lines[key_path] = line
            if isinstance(value_node, ScalarNode) and not via_alias:
                out[key] = _scalar(value_node)
            else:
                out[key] = build(value_node, key_path, depth, via_alias)
        return out


def _scalar(node: ScalarNode) -> Any:
    tag = node.tag
    text = node.value
    if tag == _IMPLICIT:
        return text if node.style else resolve_plain(text)
    if tag == _STR:
        return text
    if tag in (_INT, _FLOAT, _BOOL, _NULL):
        value = resolve_plain(text)
        if tag == _FLOAT and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        wanted = {_INT: int, _FLOAT: float, _BOOL: bool, _NULL: type(None)}[tag]
        if isinstance(value, wanted) and (tag == _BOOL or not isinstance(value, bool)):
            return value
        raise StrictYamlError(f"{text!r} is not a valid {_short_tag(tag)}", _line(node))
    raise _bad_tag(node)


def _bad_tag(node: Node) -> StrictYamlError:
    return StrictYamlError(f"tag {_short_tag(node.tag)} is not allowed", _line(node))
