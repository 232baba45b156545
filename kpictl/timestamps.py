"""The one format of a time in kpictl's output: ISO 8601 in UTC, to the second, with a
Z (``2026-11-30T19:12:50Z``), in tables, messages, JSON, YAML and CSV alike."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(value: datetime) -> str:
    """``value`` as 2026-11-27T06:00:00Z; a naive time (SQLite gives those back) is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)
