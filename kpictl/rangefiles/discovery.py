"""Finding range files: the one discovery of a ranges directory (which ``seed --all``,
``diff --all`` and ``validate`` all use, so they reach one verdict on any tree), the
selected scopes, and the files under paths given to ``validate``.

Files a pull request controls are not trusted: a symbolic link whose target leaves
the ranges directory is refused (never followed, never read), and so is anything that
is neither a plain file nor a directory (a FIFO, a device, a socket). A symbolic link
whose target stays inside the ranges directory is followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kpictl.errors import RangeFileMissing
from kpictl.rangefiles.model import Problem
from kpictl.rangefiles.rules import (
    CATALOG_FILE,
    CUSTOMERS_DIR,
    DEFAULTS_FILE,
    SLUG_RE,
    SLUG_RULE,
)

LAYOUT = "a ranges directory holds kpis.yaml, defaults.yaml and customers/<slug>.yaml"


def outside(path: Path | str, root: Path | str) -> str | None:
    """Where ``path`` really leads when that is outside ``root`` (a symbolic link, or a
    directory on its way, that leaves it); else None."""
    real = os.path.realpath(path)
    top = os.path.realpath(root)
    if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
        return None
    return real


def _escape(path: Path | str, target: str) -> Problem:
    try:  # what the target is (a stat, never a read), for the message
        mode = os.stat(target).st_mode
        kind = "" if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else ", not a regular file"
    except OSError:
        kind = ", no such file"
    return Problem(
        str(path),
        None,
        "",
        f"a symbolic link leaving the ranges directory (to {target!r}{kind}): refused, not read",
    )


def _special(path: Path | str) -> Problem:
    return Problem(
        str(path), None, "", "not a regular file (a FIFO, device or socket): refused, not read"
    )


def confined(path: Path, root: Path) -> Problem | None:
    """An error when ``path`` is a symbolic link (or lies under one) that leaves
    ``root``, or is a FIFO, device or socket; None when it may be read."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None  # missing: reported by whoever reads it
    if stat.S_ISLNK(mode) or path.parent != root:
        target = outside(path, root)
        if target is not None:
            return _escape(path, target)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return _special(path)
    return None


@dataclass(slots=True)
class Discovery:
    """What a ranges directory holds, as every command sees it."""

    catalog: Path | None = None
    defaults: Path | None = None
    customers: list[tuple[str, Path]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def discover(ranges_dir: Path) -> Discovery:
    """The ranges directory's catalog, defaults file and customer files, and what is
    wrong with its layout: a ``customers`` that is not a directory, a directory named
    like a range file, a directory inside ``customers/``, a symbolic link leaving the
    ranges directory, a FIFO, device or socket (errors: nothing reads them); a
    ``*.yml`` customer file (a warning: it is ignored)."""
    _require_dir(ranges_dir)
    found = Discovery()
    for name in (CATALOG_FILE, DEFAULTS_FILE):
        path = ranges_dir / name
        if not os.path.lexists(path):
            continue
        problem = confined(path, ranges_dir) or _not_a_file(path)
        if problem is not None:
            found.problems.append(problem)
        elif name == CATALOG_FILE:
            found.catalog = path
        else:
            found.defaults = path
    customers_dir = ranges_dir / CUSTOMERS_DIR
    if os.path.lexists(customers_dir):
        problem = confined(customers_dir, ranges_dir)
        if problem is None and not customers_dir.is_dir():
            problem = Problem(str(customers_dir), None, "", f"not a directory ({LAYOUT})")
        if problem is not None:
            found.problems.append(problem)
        else:
            _scan_customers(customers_dir, ranges_dir, found)
    return found


def _require_dir(ranges_dir: Path) -> None:
    what = dir_problem(ranges_dir)
    if what is not None:
        raise RangeFileMissing(
            f"{ranges_dir}: {what}", hint="set --ranges or KPICTL_RANGES_DIR to the ranges dir"
        )


def dir_problem(path: Path) -> str | None:
    """Why ``path`` is no directory ("no such directory", "not a directory", "File name
    too long", ...), or None. Never raises: Path.is_dir() raises for some errors."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such directory"
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None if stat.S_ISDIR(mode) else "not a directory"


def _not_a_file(path: Path) -> Problem | None:
    if path.is_dir():
        return Problem(str(path), None, "", f"a directory, not a range file ({LAYOUT})")
    return None


def _scan_customers(customers_dir: Path, ranges_dir: Path, found: Discovery) -> None:
    # scandir and names, not Path objects: a ranges dir can hold 10,000 customer files
    with os.scandir(customers_dir) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        path = customers_dir / name
        stem, suffix = os.path.splitext(name)
        if entry.is_symlink():
            target = outside(path, ranges_dir)
            if target is not None:
                found.problems.append(_escape(path, target))
                continue
        if entry.is_dir():
            message = (
                f"a directory, not a customer file ({LAYOUT})"
                if suffix in (".yaml", ".yml")
                else f"a directory inside customers/: not read ({LAYOUT})"
            )
            found.problems.append(Problem(str(path), None, "", message))
        elif suffix == ".yaml":
            if not entry.is_file() and os.path.exists(path):  # a dangling link: "no such file"
                found.problems.append(_special(path))
            else:
                found.customers.append((stem, path))
        elif suffix == ".yml" and entry.is_file():
            found.problems.append(
                Problem(
                    str(path),
                    None,
                    "",
                    f"ignored: customer files are named <slug>.yaml (rename to {stem}.yaml)",
                    "warning",
                )
            )


def range_file_paths(
    ranges_dir: Path,
    *,
    defaults: bool = True,
    customers: Iterable[str] | None = None,
    require: bool = False,
) -> tuple[list[tuple[str | None, Path]], list[Problem]]:
    """The selected range files as (scope, path), without reading them: scope None is
    defaults.yaml, else the customer's slug; ``customers`` None means every customer
    file (as :func:`discover` finds them).

    With ``require``, a requested file that does not exist raises RangeFileMissing;
    otherwise missing files are left out. Also returns the problems found on the way
    (errors: files refused; warnings: files ignored).
    """
    if customers is None:
        found = discover(ranges_dir)
        wanted: list[tuple[str | None, Path]] = []
        if defaults and found.defaults is not None:
            wanted.append((None, found.defaults))
        wanted += found.customers
        return wanted, found.problems
    _require_dir(ranges_dir)
    slugs = list(dict.fromkeys(customers))
    bad = [slug for slug in slugs if not SLUG_RE.fullmatch(slug)]
    if bad and require:
        raise RangeFileMissing(
            f"{bad[0]!r} is not a valid customer slug ({SLUG_RULE}): it names no file"
        )
    # A slug that is not one names no file here (think "../defaults").
    slugs = [slug for slug in slugs if slug not in bad]
    customers_dir = ranges_dir / CUSTOMERS_DIR
    wanted = [(None, ranges_dir / DEFAULTS_FILE)] if defaults else []
    wanted += [(slug, customers_dir / f"{slug}.yaml") for slug in slugs]
    if require:
        for _scope, path in wanted:
            if not os.path.lexists(path):
                raise RangeFileMissing(f"{path}: no such file")
    out: list[tuple[str | None, Path]] = []
    problems: list[Problem] = []
    for scope, path in wanted:
        if not os.path.lexists(path):
            continue
        problem = confined(path, ranges_dir)
        if problem is not None:
            problems.append(problem)
        else:
            out.append((scope, path))
    return out, problems


def collect_files(
    paths: Sequence[Path], ranges_dir: Path | None = None
) -> tuple[list[Path], list[Problem]]:
    """Files as given, directories walked in sorted order; each file once. A symbolic
    link leaving the directory walked (for a file given: the ranges directory when it
    lies in it, else its own directory) is refused, and so are FIFOs, devices and
    sockets."""
    out: list[Path] = []
    problems: list[Problem] = []
    seen: set[object] = set()
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            found, refused = _walk(path)
            problems += refused
        else:
            root = path.parent
            if ranges_dir is not None and outside(path.parent, ranges_dir) is None:
                root = ranges_dir
            refusal = confined(path, root)
            if refusal is not None:
                problems.append(refusal)
                continue
            found = [path]
        for file in found:
            key = identity(file) or file
            if key not in seen:
                seen.add(key)
                out.append(file)
    return out, problems


def _walk(directory: Path) -> tuple[list[Path], list[Problem]]:
    out: list[Path] = []
    problems: list[Problem] = []
    pending = [directory]
    while pending:
        base = pending.pop()
        with os.scandir(base) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = base / entry.name
            is_yaml = entry.name.endswith((".yaml", ".yml"))
            if entry.is_symlink() and (is_yaml or entry.is_dir()):
                target = outside(path, directory)
                if target is not None:
                    problems.append(_escape(path, target))
                    continue
            if entry.is_dir():
                if not entry.is_symlink():
                    subdirs.append(path)
            elif is_yaml:
                if entry.is_file() or not os.path.exists(path):
                    out.append(path)  # a dangling link: its reader says "no such file"
                else:
                    problems.append(_special(path))
        pending += reversed(subdirs)
    return out, problems


def identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino
