"""Finding range files: the selected scopes of a ranges dir, and the files under paths."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from kpictl.errors import RangeFileMissing
from kpictl.rangefiles.model import Problem
from kpictl.rangefiles.rules import CUSTOMERS_DIR, DEFAULTS_FILE, SLUG_RE, SLUG_RULE


def range_file_paths(
    ranges_dir: Path,
    *,
    defaults: bool = True,
    customers: Iterable[str] | None = None,
    require: bool = False,
) -> tuple[list[tuple[str | None, Path]], list[Problem]]:
    """The selected range files as (scope, path), without reading them: scope None is
    defaults.yaml, else the customer's slug; ``customers`` None means every customer file.

    With ``require``, a requested file that does not exist raises RangeFileMissing;
    otherwise missing files are left out. Also returns warnings about ignored files.
    """
    if not ranges_dir.is_dir():
        what = "not a directory" if ranges_dir.exists() else "no such directory"
        raise RangeFileMissing(
            f"{ranges_dir}: {what}", hint="set --ranges or KPICTL_RANGES_DIR to the ranges dir"
        )
    customers_dir = ranges_dir / CUSTOMERS_DIR
    defaults_path = ranges_dir / DEFAULTS_FILE
    extra: list[Problem] = []
    if customers is None:
        slugs, extra = _customer_slugs(customers_dir)
    else:
        slugs = list(dict.fromkeys(customers))
        bad = [slug for slug in slugs if not SLUG_RE.fullmatch(slug)]
        if bad and require:
            raise RangeFileMissing(
                f"{bad[0]!r} is not a valid customer slug ({SLUG_RULE}): it names no file"
            )
        # A slug that is not one names no file here (think "../defaults").
        slugs = [slug for slug in slugs if slug not in bad]
    wanted: list[tuple[str | None, Path]] = [(None, defaults_path)] if defaults else []
    wanted += [(slug, customers_dir / f"{slug}.yaml") for slug in slugs]
    if require:
        for _scope, path in wanted:
            if not os.path.lexists(path):
                raise RangeFileMissing(f"{path}: no such file")
    if customers is None:  # listed from the directory: they exist
        return wanted if not defaults or defaults_path.is_file() else wanted[1:], extra
    return [(scope, path) for scope, path in wanted if os.path.lexists(path)], extra


def _customer_slugs(customers_dir: Path) -> tuple[list[str], list[Problem]]:
    if not customers_dir.is_dir():
        return [], []
    slugs, problems = [], []
    # scandir and names, not Path objects: a ranges dir can hold 10,000 customer files
    with os.scandir(customers_dir) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        stem, suffix = os.path.splitext(entry.name)
        if suffix == ".yaml":
            # listed whatever it is: a <slug>.yaml that is not a regular file is reported
            # when it is read
            slugs.append(stem)
        elif suffix == ".yml" and entry.is_file():
            problems.append(
                Problem(
                    str(customers_dir / entry.name),
                    None,
                    "",
                    f"ignored: customer files are named <slug>.yaml (rename to {stem}.yaml)",
                    "warning",
                )
            )
    return slugs, problems


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given, directories walked in sorted order; each file once."""
    out: list[Path] = []
    seen: set[object] = set()
    for path in paths:
        found = [path] if not path.is_dir() else _walk(path)
        for file in found:
            key = identity(file) or file
            if key not in seen:
                seen.add(key)
                out.append(file)
    return out


def _walk(directory: Path) -> list[Path]:
    out = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(root)
        out += [
            base / name
            for name in sorted(names)
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
        ]
    return out


def identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
