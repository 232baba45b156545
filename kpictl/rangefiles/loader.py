"""Range files: the entry points of loading and validating them (a module kept for the
names other code imports from it; the work is in discovery, reading, checks, wording and
parallel)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from kpictl.errors import RangeFileMissing
from kpictl.rangefiles.checks import load_catalog, load_range_file
from kpictl.rangefiles.discovery import (
    collect_files,
    confined,
    dir_problem,
    discover,
    identity,
    range_file_paths,
)
from kpictl.rangefiles.model import Problem, RangeSet
from kpictl.rangefiles.parallel import PARALLEL_MIN_FILES, load_chunks, load_many
from kpictl.rangefiles.reading import NotRegularFile, read_bytes
from kpictl.rangefiles.rules import (
    CATALOG_FILE,
    CUSTOMERS_DIR,
    DEFAULTS_FILE,
    PLAYBOOK_RE,
    SCORE_KPI,
    SLUG_RE,
)
from kpictl.rangefiles.wording import describe

__all__ = [
    "CATALOG_FILE",
    "CUSTOMERS_DIR",
    "DEFAULTS_FILE",
    "PARALLEL_MIN_FILES",
    "PLAYBOOK_RE",
    "SCORE_KPI",
    "SLUG_RE",
    "NotRegularFile",
    "describe",
    "load_catalog",
    "load_chunks",
    "load_into",
    "load_many",
    "load_range_file",
    "range_file_paths",
    "read_bytes",
    "validate_paths",
]


def load_into(rangeset: RangeSet, files: Sequence[tuple[str | None, Path]]) -> None:
    """Load (scope, path) files against the set's catalog, adding files and problems."""
    rangeset.add(files, load_many([path for _, path in files], rangeset.catalog))


def validate_paths(paths: Sequence[Path], ranges_dir: Path) -> list[Problem]:
    """Check files and directories (walked for *.yaml and *.yml) without a database.

    A file named kpis.yaml is checked as a catalog; every other file is checked
    against the catalog of ``ranges_dir``, whose own problems are reported too.
    No paths: the whole ranges dir.
    """
    if not paths:
        if (what := dir_problem(ranges_dir)) is not None:
            raise RangeFileMissing(
                f"{ranges_dir}: {what}",
                hint="set --ranges or KPICTL_RANGES_DIR, or name the files to check",
            )
        paths = [ranges_dir]
    for path in paths:
        if not os.path.lexists(path):
            raise RangeFileMissing(f"{path}: no such file or directory")
    layout: list[Problem] = []
    if len(paths) == 1 and paths[0] is ranges_dir:
        # the whole ranges dir: what seed --all and diff --all read, and nothing else
        tree = discover(ranges_dir)
        layout = tree.problems
        files = [p for p in (tree.catalog, tree.defaults) if p is not None]
        files += [path for _slug, path in tree.customers]
    else:
        files, layout = collect_files(paths, ranges_dir)
        for path in paths:  # a ranges dir named: its layout is checked too
            if path.is_dir() and identity(path) == identity(ranges_dir):
                known = {p.path for p in layout}
                layout += [p for p in discover(ranges_dir).errors if p.path not in known]

    catalog_path = ranges_dir / CATALOG_FILE
    if not os.path.exists(catalog_path):
        # `kpictl validate some/where/ranges` from elsewhere: that directory's catalog
        given = [p / CATALOG_FILE for p in paths if p.is_dir() and (p / CATALOG_FILE).is_file()]
        if len(given) == 1:
            catalog_path = given[0]
    refused = confined(catalog_path, catalog_path.parent) if catalog_path.exists() else None
    if refused is not None:
        catalog, catalog_problems = None, [refused]
    else:
        catalog, catalog_problems = load_catalog(catalog_path)
    catalog_key = identity(catalog_path)
    problems: list[Problem] = []
    catalog_reported = False
    range_paths = []
    for path in files:
        if path.name == CATALOG_FILE:
            if catalog_key is not None and identity(path) == catalog_key:
                catalog_reported = True
            problems += load_catalog(path, display=str(path))[1]
        else:
            range_paths.append(path)
    for _rangefile, found in load_many(range_paths, catalog, display=True, problems_only=True):
        problems += found
    if range_paths and not catalog_reported:
        problems[:0] = catalog_problems
    out: list[Problem] = []
    for problem in layout + problems:  # a refused catalog is in both
        if problem not in out:
            out.append(problem)
    return out
