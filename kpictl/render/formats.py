"""Machine formats on stdout: JSON and YAML (CSV: ``render.csvout``), and whole documents
as they are."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kpictl.numbers import json_value

if TYPE_CHECKING:
    from kpictl.render.console import OutputFormat


def json_text(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text (whole numbers as integers). NaN and infinity have no JSON
    form (``NaN`` and ``Infinity`` tokens are refused by every strict parser): they are
    refused here, so kpictl's JSON output is always valid JSON."""
    try:
        return json.dumps(json_value(value), indent=indent, ensure_ascii=False, allow_nan=False)
    except ValueError:
        from kpictl.errors import InvalidInput

        raise InvalidInput(
            "cannot write JSON: a number in the output is NaN or infinite, which JSON cannot hold",
            hint="the database holds a number that is not finite (edited by hand?): "
            "'kpictl diff' shows the drift, '-o table' shows the values",
        ) from None


def write_structured(data: Any, output: OutputFormat) -> None:
    """JSON or YAML on stdout."""
    if output == "json":
        sys.stdout.write(json_text(data, indent=2) + "\n")
    elif output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(json_value(data), sort_keys=False, allow_unicode=True))
    else:  # pragma: no cover - tables are drawn, CSV is written by render.csvout
        raise ValueError(output)
    sys.stdout.flush()


def _key_prefix(key: str) -> str:
    prefix = f"    {_encode_json_str(key)}: "
    if len(_KEY_PREFIXES) < 64:  # the field names of a record type: a handful
        _KEY_PREFIXES[key] = prefix
    return prefix


def write_document(text: str) -> None:
    """A whole document (an exported range file) on stdout, as it is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def write_json_records(records: Iterable[dict[str, Any]]) -> None:
    """A JSON list on stdout, exactly as ``write_structured`` writes it (indent 2, whole
    numbers as integers), one record at a time: 100,000 records are never one string."""
    with chunked_stdout() as write:
        first = True
        for record in records:
            write("[\n" if first else ",\n")
            first = False
            write(_json_record(record))
        write("[]\n" if first else "\n]\n")
    sys.stdout.flush()


CHUNK_CHARS = 1 << 16


@contextmanager
def chunked_stdout() -> Iterator[Callable[[str], None]]:
    """A write function for output made of many small pieces (a line a customer): they
    reach stdout some 64 KiB at a time, not a system call each, which they would be
    with PYTHONUNBUFFERED set (as CI runners and containers often have it). What is
    held is written when the block ends normally; after an error, it is dropped."""
    parts: list[str] = []
    held = 0

    def write(text: str) -> None:
        nonlocal held
        parts.append(text)
        held += len(text)
        if held >= CHUNK_CHARS:
            sys.stdout.write("".join(parts))
            parts.clear()
            held = 0

    yield write
    if parts:
        sys.stdout.write("".join(parts))


_encode_json_str = json.encoder.encode_basestring  # json.dumps' with ensure_ascii=False


_KEY_PREFIXES: dict[str, str] = {}  # '    "key": ' of each key seen, encoded once


def _json_record(record: dict[str, Any]) -> str:
    """A flat record as an item of an indented JSON list (json.dumps(indent=2))."""
    parts: list[str] = []
    append = parts.append
    for key, value in record.items():
        prefix = _KEY_PREFIXES.get(key) or _key_prefix(key)
        kind = type(value)
        if value is None:
            append(prefix + "null")
        elif kind is str:
            append(prefix + _encode_json_str(value))
        elif kind is float and value - value == 0.0:  # finite (NaN is refused)
            if value.is_integer() and -1e15 < value < 1e15:
                append(prefix + int.__repr__(int(value)))
            else:
                append(prefix + float.__repr__(value))
        elif kind is int:
            append(prefix + int.__repr__(value))
        else:  # anything else (a nested value, NaN, a bool): as json_text writes it
            block = json_text(record, indent=2)
            return "  " + block.replace("\n", "\n  ")
    if not parts:
        return "  {}"
    return "  {\n" + ",\n".join(parts) + "\n  }"
