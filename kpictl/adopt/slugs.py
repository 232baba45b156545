"""How each adopted customer gets its slug: from its name, a column, or a CSV mapping.

Pure, apart from reading the CSV file. A slug is never guessed: a name that gives no
valid slug, two customers that would share one, or a customer the mapping leaves out
is a fault naming the customer ids, and adoption refuses until it is resolved.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kpictl.adopt.inspect import LegacyCustomer
from kpictl.errors import InvalidInput, UsageError
from kpictl.rangefiles.rules import SLUG_RE, SLUG_RULE

_SEPARATORS = re.compile(r"[^a-z0-9]+")
MAX_MAPPING_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SlugSource:
    """``--slug-from``: name, column:COL or file:CSV."""

    kind: str  # "name", "column" or "file"
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> SlugSource:
        if text == "name":
            return cls("name")
        kind, sep, value = text.partition(":")
        if sep and kind in ("column", "file") and value:
            return cls(kind, value)
        raise UsageError(
            f"invalid --slug-from {text!r}: expected name, column:COL or file:CSV",
            hint="kpictl adopt --slug-from file:slugs.csv (header customer_id,slug)",
        )

    def __str__(self) -> str:
        return self.kind if self.kind == "name" else f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class SlugFault:
    """Customers that get no valid, unique slug."""

    message: str
    customer_ids: tuple[int, ...]


def slug_from_name(name: str | None) -> str:
    """Lowercase, accents dropped, every run of other characters one '-', '-' trimmed."""
    if not name:
        return ""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _SEPARATORS.sub("-", ascii_name.lower()).strip("-")


def read_mapping(path: Path) -> dict[int, str]:
    """A CSV file with the header ``customer_id,slug``: customer id → slug."""
    try:
        data = path.read_bytes()[: MAX_MAPPING_BYTES + 1]
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_MAPPING_BYTES:
        raise InvalidInput(f"{path}: larger than {MAX_MAPPING_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["customer_id", "slug"]:
        raise InvalidInput(
            f"{path}:1: the header must be customer_id,slug", hint="e.g. 6,data-center"
        )
    out: dict[int, str] = {}
    for line, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != 2:
            raise InvalidInput(f"{path}:{line}: expected 2 columns, got {len(record)}")
        raw_id, slug = record[0].strip(), record[1].strip()
        try:
            customer_id = int(raw_id)
        except ValueError:
            raise InvalidInput(f"{path}:{line}: customer_id {raw_id!r} is not an integer") from None
        if customer_id in out:
            raise InvalidInput(f"{path}:{line}: customer_id {customer_id} appears twice")
        out[customer_id] = slug
    return out


def assign_slugs(
    customers: Sequence[LegacyCustomer],
    source: SlugSource,
    mapping: dict[int, str] | None = None,
) -> tuple[dict[int, str], list[SlugFault]]:
    """Each customer's slug, and the customers that get none (pure)."""
    proposed: dict[int, str] = {}
    faults: list[SlugFault] = []
    missing: list[int] = []
    for c in customers:
        if source.kind == "name":
            slug = slug_from_name(c.name)
        elif source.kind == "column":
            slug = "" if c.slug_value is None else str(c.slug_value)
        else:
            assert mapping is not None
            if c.customer_id not in mapping:
                missing.append(c.customer_id)
                continue
            slug = mapping[c.customer_id]
        proposed[c.customer_id] = slug
    if missing:
        faults.append(
            SlugFault(f"no slug in {source.value} for customer ids {_ids(missing)}", tuple(missing))
        )
    if mapping is not None:
        known = {c.customer_id for c in customers}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise InvalidInput(f"{source.value}: customer ids not in the database: {_ids(unknown)}")
    empty = [cid for cid, slug in proposed.items() if not slug]
    if empty:
        what = "names give" if source.kind == "name" else f"{source} gives"
        faults.append(
            SlugFault(f"{what} an empty slug for customer ids {_ids(empty)}", tuple(empty))
        )
    invalid = [cid for cid, slug in proposed.items() if slug and not SLUG_RE.fullmatch(slug)]
    for cid in invalid:
        faults.append(
            SlugFault(
                f"slug {proposed[cid]!r} of customer id {cid} is not valid: {SLUG_RULE}", (cid,)
            )
        )
    by_slug: dict[str, list[int]] = defaultdict(list)
    for cid, slug in proposed.items():
        if slug:
            by_slug[slug].append(cid)
    for slug, ids in sorted(by_slug.items()):
        if len(ids) > 1:
            faults.append(
                SlugFault(f"slug {slug!r} would be shared by customer ids {_ids(ids)}", tuple(ids))
            )
    bad = {cid for f in faults for cid in f.customer_ids}
    return {cid: s for cid, s in proposed.items() if cid not in bad}, faults


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in sorted(ids))
