"""Values and times as users write them (CSV cells, ``--set``, ``--at``), read strictly;
and the KPI names a value may be given for."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from kpictl.db.schema import kpi_reference_ranges
from kpictl.errors import UnknownKpi
from kpictl.rangefiles.rangedir import RangeDir
from kpictl.times import as_utc

# ASCII digits only: \d and float() also take Arabic-Indic and other Unicode digits
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut short: a bad cell may be megabytes long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def parse_number(text: str) -> float:
    """A finite decimal number (``12``, ``-0.5``, ``1e6``); ValueError otherwise."""
    stripped = text.strip()
    if not _NUMBER_RE.fullmatch(stripped):
        raise ValueError(f"{shown(text)} is not a number")
    value = float(stripped)
    if not math.isfinite(value):
        raise ValueError(f"{shown(text)} is not a finite number")
    return value


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 time in UTC; without a zone it is UTC. ValueError when it is not one."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("a time is required (ISO 8601, e.g. 2026-11-27T06:00:00Z)")
    try:
        # fromisoformat stops at a NUL character and ignores what follows: refuse it
        if not (stripped.isascii() and stripped.isprintable()):
            raise ValueError
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{shown(text)} is not an ISO 8601 time (e.g. 2026-11-27T06:00:00Z)"
        ) from None
    try:
        return as_utc(parsed)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC time there is
        raise ValueError(f"{shown(text)} is out of range in UTC") from None


def known_kpis(ranges: RangeDir, conn: Connection) -> set[str]:
    """The KPI names values may use: the catalog, else the KPIs of the stored ranges."""
    known = ranges.known_kpis()
    if known is not None:
        return known
    R = kpi_reference_ranges
    return set(conn.execute(select(R.c.kpi_name).distinct()).scalars())


def check_kpis(names: Iterable[str], known: Collection[str], *, where: str) -> None:
    """Refuse KPI names outside ``known`` (UnknownKpi, exit 2), naming the option."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UnknownKpi(
            f"{where}: unknown KPI {', '.join(repr(k) for k in unknown)}",
            hint="the KPIs are those of the catalog (kpis.yaml); 'kpictl list' shows the ranges",
        )
