"""Machine formats on stdout: JSON, YAML and CSV, and whole documents as they are."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kpictl.render.numbers import fmt_num, json_value

if TYPE_CHECKING:
    from kpictl.render.console import OutputFormat


def write_structured(data: Any, output: OutputFormat) -> None:
    """JSON, YAML or CSV on stdout (CSV wants a list of flat records)."""
    if output == "json":
        sys.stdout.write(json.dumps(json_value(data), indent=2, ensure_ascii=False) + "\n")
    elif output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(json_value(data), sort_keys=False, allow_unicode=True))
    elif output == "csv":
        rows = data if isinstance(data, list) else [data]
        fieldnames: list[str] = []
        for row in rows:
            fieldnames.extend(k for k in row if k not in fieldnames)
        writer = csv.DictWriter(sys.stdout, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
    else:  # pragma: no cover - table is rendered by the caller
        raise ValueError(output)
    sys.stdout.flush()


def csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(json_value(value))
    return fmt_num(value) if isinstance(value, float) else value


def write_csv_records(rows: Iterable[dict[str, Any]], fieldnames: Sequence[str]) -> None:
    """CSV with a fixed header, also when there are no rows."""
    writer = csv.DictWriter(sys.stdout, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(row.get(k)) for k in fieldnames})
    sys.stdout.flush()


def write_document(text: str) -> None:
    """A whole document (an exported range file) on stdout, as it is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def write_json_records(records: Iterable[dict[str, Any]]) -> None:
    """A JSON list on stdout, exactly as ``write_structured`` writes it (indent 2, whole
    numbers as integers), one record at a time: 100,000 records are never one string."""
    write = sys.stdout.write
    first = True
    for record in records:
        write("[\n" if first else ",\n")
        first = False
        write(_json_record(record))
    write("[]\n" if first else "\n]\n")
    sys.stdout.flush()


_encode_json_str = json.encoder.encode_basestring  # json.dumps' with ensure_ascii=False


def _json_record(record: dict[str, Any]) -> str:
    """A flat record as an item of an indented JSON list (json.dumps(indent=2))."""
    parts = []
    for key, value in record.items():
        kind = type(value)
        if value is None:
            text = "null"
        elif kind is str:
            text = _encode_json_str(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is float and math.isfinite(value):
            whole = value.is_integer() and abs(value) < 1e15
            text = int.__repr__(int(value)) if whole else float.__repr__(value)
        else:  # anything else (NaN, a nested value): as json.dumps writes it
            block = json.dumps(json_value(record), indent=2, ensure_ascii=False)
            return "  " + block.replace("\n", "\n  ")
        parts.append(f"    {_encode_json_str(key)}: {text}")
    if not parts:
        return "  {}"
    return "  {\n" + ",\n".join(parts) + "\n  }"
