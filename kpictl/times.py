"""Times: as kpictl stores and compares them (aware, in UTC), and the one format of a
time in its output: ISO 8601 in UTC, to the second, with a Z (``2026-11-30T19:12:50Z``),
in tables, messages, JSON, YAML and CSV alike."""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already (SQLite gives those
    back without a zone; kpictl writes UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime) -> str:
    """``value`` as 2026-11-27T06:00:00Z; a naive time (SQLite gives those back) is UTC."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)
