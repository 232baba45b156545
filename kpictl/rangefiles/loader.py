"""Range files: read strictly, check every rule of SPEC section 1, build the models.

Nothing here touches a database or prints. Every check collects its Problems and
carries on, so one run reports everything that is wrong with a file (and with every
file of a directory); a file is built into a model only when it has no error.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
import os
import re
import stat
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpictl.errors import RangeFileMissing
from kpictl.rangefiles.model import (
    API_VERSION,
    BAND_NAMES,
    SUPPORTED_API_VERSIONS,
    Band,
    Catalog,
    KpiDef,
    KpiRange,
    Problem,
    RangeFile,
    RangeSet,
    Scoring,
    content_json,
    content_sha256,
)
from kpictl.rangefiles.rules import (
    BAND_KEYS,
    BETTER,
    CATALOG_FILE,
    CATALOG_KEYS,
    CATALOG_REQUIRED,
    CLAMP_KEYS,
    CLAMP_REQUIRED,
    CUSTOMER_KEYS,
    CUSTOMER_REQUIRED,
    CUSTOMERS_DIR,
    DEFAULTS_FILE,
    DEFAULTS_KEYS,
    DEFAULTS_REFUSED,
    DEFAULTS_REQUIRED,
    KPI_DEF_KEYS,
    KPI_DEF_REQUIRED,
    KPI_NAME_RE,
    KPI_NAME_RULE,
    KPI_RANGE_KEYS,
    MAX_VERSION,
    MODELS,
    PLAYBOOK_RE,
    PLAYBOOK_RULE,
    POINTS_KEYS,
    POINTS_REQUIRED,
    RANGES_SCORING_KEYS,
    REGRESSION_KEYS,
    REGRESSION_REQUIRED,
    SCORE_KPI,
    SLUG_RE,
    SLUG_RULE,
    control_character,
)
from kpictl.rangefiles.yamlstrict import MAX_BYTES, KeyPath, StrictYamlError, read_yaml

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

_API_VERSION_RE = re.compile(r"kpictl/v([0-9]+)")


# -- public API ----------------------------------------------------------------------


def load_catalog(path: Path, *, display: str | None = None) -> tuple[Catalog | None, list[Problem]]:
    """Read and check a KPI catalog; the Catalog is None when the file has an error."""
    check, data = _open(path, display, None)
    if data is None or not check.api_version(data):
        return None, check.finish()
    kpis = check.catalog(data)
    problems = check.finish()
    if kpis is None or _has_error(problems):
        return None, problems
    return Catalog(path=path, kpis=kpis, sha256=hashlib.sha256(check.data).hexdigest()), problems


def load_range_file(
    path: Path,
    catalog: Catalog | None,
    *,
    display: str | None = None,
    data: bytes | None = None,
) -> tuple[RangeFile | None, list[Problem]]:
    """Read and check defaults.yaml (by its name) or a customer file (any other name).

    Returns (None, problems) when the file has an error, else (RangeFile, warnings).
    Without a catalog the file is checked for structure only: whether its KPIs exist
    and whether their bands agree with ``better`` cannot be known.
    """
    check, content = _open(path, display, data)
    if content is None or not check.api_version(content):
        return None, check.finish()
    built = check.range_file(content, path, catalog)
    problems = check.finish()
    if built is None or _has_error(problems):
        return None, problems
    return built, problems


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


def load_ranges(
    ranges_dir: Path,
    *,
    defaults: bool = True,
    customers: Iterable[str] | None = None,
    require: bool = False,
) -> RangeSet:
    """Load the catalog, the defaults file and customer files (None: all) of a ranges dir.

    Every problem of every file is collected; files with an error are left out of the
    set. With ``require``, a requested defaults or customer file that does not exist
    raises RangeFileMissing before anything is read.
    """
    wanted, extra = range_file_paths(
        ranges_dir, defaults=defaults, customers=customers, require=require
    )
    catalog, problems = load_catalog(ranges_dir / CATALOG_FILE)
    rangeset = RangeSet(catalog=catalog, problems=problems)
    load_into(rangeset, wanted)
    rangeset.problems += extra
    return rangeset


def load_into(rangeset: RangeSet, files: Sequence[tuple[str | None, Path]]) -> None:
    """Load (scope, path) files against the set's catalog, adding files and problems."""
    loaded = load_many([path for _, path in files], rangeset.catalog)
    for (scope, _path), (rangefile, found) in zip(files, loaded, strict=True):
        rangeset.problems += found
        if rangefile is None:
            continue
        if scope is None:
            rangeset.defaults = rangefile
        else:
            rangeset.customers[scope] = rangefile


# Below this many files a process pool costs more than it saves.
PARALLEL_MIN_FILES = 200


def load_many(
    paths: Sequence[Path],
    catalog: Catalog | None,
    *,
    display: bool = False,
    problems_only: bool = False,
) -> list[tuple[RangeFile | None, list[Problem]]]:
    """load_range_file for many files, in order; spread over the cores when it pays.

    Range files are independent of each other, so a large directory is parsed and
    checked by one worker process per core (``display``: name files as given;
    ``problems_only``: the caller wants no RangeFile, so none is shipped back).
    """
    workers = _worker_count(len(paths))
    if workers <= 1:
        return [load_range_file(p, catalog, display=str(p) if display else None) for p in paths]
    size = max(1, -(-len(paths) // (workers * 8)))
    parts = [list(paths[i : i + size]) for i in range(0, len(paths), size)]
    with _worker_pool(workers, catalog, display, problems_only) as pool:
        results = [result for part in pool.map(_load_chunk, parts) for result in part]
    return _unpacked(paths, results)


def load_chunks(
    chunks: Sequence[Sequence[Path]], catalog: Catalog | None
) -> Generator[list[tuple[RangeFile | None, list[Problem]]], None, None]:
    """load_many for each chunk of files in turn, one list of results per chunk.

    With worker processes, the next chunk is parsed while the caller works on this one
    (a seed plans and writes a chunk while the next is read), and only those two chunks
    are held: memory does not grow with the number of chunks.
    """
    workers = _worker_count(sum(len(chunk) for chunk in chunks))
    if workers <= 1:
        for chunk in chunks:
            yield [load_range_file(path, catalog) for path in chunk]
        return
    with _worker_pool(workers, catalog, False, False) as pool:
        pending: deque[list[Future[list[_Packed]]]] = deque()
        for i in range(len(chunks)):
            while len(pending) < 2 and i + len(pending) < len(chunks):
                chunk = chunks[i + len(pending)]
                size = max(1, -(-len(chunk) // (workers * 4)))
                pending.append(
                    [
                        pool.submit(_load_chunk, chunk[j : j + size])
                        for j in range(0, len(chunk), size)
                    ]
                )
            results = [result for future in pending.popleft() for result in future.result()]
            yield _unpacked(chunks[i], results)


@contextmanager
def _worker_pool(
    workers: int, catalog: Catalog | None, display: bool, problems_only: bool
) -> Iterator[ProcessPoolExecutor]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the loaded modules, so they start in milliseconds
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_set_worker_catalog,
        initargs=(catalog, display, problems_only),
    )
    try:
        yield pool
    finally:
        # a caller that stops early (a bad file, an interrupt) leaves queued work undone
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_count(files: int) -> int:
    if files < PARALLEL_MIN_FILES or os.environ.get("KPICTL_SERIAL"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, 8)


_WORKER: dict[str, Any] = {}


def _set_worker_catalog(catalog: Catalog | None, display: bool, problems_only: bool) -> None:
    _WORKER.update(catalog=catalog, display=display, problems_only=problems_only)


_Packed = tuple[tuple[Any, ...] | None, list[Problem]]


def _load_chunk(paths: Sequence[Path]) -> list[_Packed]:
    catalog, display = _WORKER["catalog"], _WORKER["display"]
    out = []
    for path in paths:
        rangefile, problems = load_range_file(path, catalog, display=str(path) if display else None)
        keep = rangefile is not None and not _WORKER["problems_only"]
        out.append((_pack(rangefile) if keep else None, problems))  # type: ignore[arg-type]
    return out


# Results cross the process boundary as plain tuples: pickling thousands of slotted
# dataclasses costs about half as much as parsing the files did.


def _pack(rf: RangeFile) -> tuple[Any, ...]:
    ranges = tuple(
        (k, *(_band_tuple(r.band(b)) for b in BAND_NAMES), r.weight, r.playbook)
        for k, r in rf.ranges.items()
    )
    scoring = rf.scoring.to_dict() if rf.scoring else None
    # the content's sha256 and JSON are computed here, in parallel, not by the receiver
    content = rf.content()
    return (
        rf.kind,
        rf.version,
        ranges,
        rf.customer,
        rf.name,
        scoring,
        rf.sha256,
        content_sha256(content),
        content_json(content),
    )


def _band_tuple(band: Band | None) -> tuple[float | None, float | None] | None:
    return None if band is None else (band.min, band.max)


def _unpacked(
    paths: Sequence[Path], results: Sequence[_Packed]
) -> list[tuple[RangeFile | None, list[Problem]]]:
    """The workers' results for ``paths`` (in order) as load_range_file returns them."""
    return [
        (None if packed is None else _unpack(packed, path), problems)
        for path, (packed, problems) in zip(paths, results, strict=True)
    ]


def _unpack(packed: tuple[Any, ...], path: Path) -> RangeFile:
    kind, version, ranges, customer, name, scoring, sha, content_sha, content = packed
    rangefile = RangeFile(
        path=path,
        kind=kind,
        version=version,
        ranges={
            k: KpiRange(
                k,
                None if c is None else Band(*c),
                None if r is None else Band(*r),
                None if h is None else Band(*h),
                weight,
                playbook,
            )
            for k, c, r, h, weight, playbook in ranges
        },
        customer=customer,
        name=name,
        scoring=None if scoring is None else Scoring.from_dict(scoring),
        sha256=sha,
    )
    rangefile.memoise(content_sha, content)
    return rangefile


def validate_paths(paths: Sequence[Path], ranges_dir: Path) -> list[Problem]:
    """Check files and directories (walked for *.yaml and *.yml) without a database.

    A file named kpis.yaml is checked as a catalog; every other file is checked
    against the catalog of ``ranges_dir``, whose own problems are reported too.
    No paths: the whole ranges dir.
    """
    if not paths:
        if not ranges_dir.exists():
            raise RangeFileMissing(
                f"{ranges_dir}: no such directory",
                hint="set --ranges or KPICTL_RANGES_DIR, or name the files to check",
            )
        paths = [ranges_dir]
    for path in paths:
        if not path.exists():
            raise RangeFileMissing(f"{path}: no such file or directory")
    files = _collect_files(paths)

    catalog_path = ranges_dir / CATALOG_FILE
    if not catalog_path.exists():
        # `kpictl validate some/where/ranges` from elsewhere: that directory's catalog
        given = [p / CATALOG_FILE for p in paths if p.is_dir() and (p / CATALOG_FILE).is_file()]
        if len(given) == 1:
            catalog_path = given[0]
    catalog, catalog_problems = load_catalog(catalog_path)
    catalog_key = _identity(catalog_path)
    problems: list[Problem] = []
    catalog_reported = False
    range_paths = []
    for path in files:
        if path.name == CATALOG_FILE:
            if catalog_key is not None and _identity(path) == catalog_key:
                catalog_reported = True
            problems += load_catalog(path, display=str(path))[1]
        else:
            range_paths.append(path)
    for _rangefile, found in load_many(range_paths, catalog, display=True, problems_only=True):
        problems += found
    if range_paths and not catalog_reported:
        problems[:0] = catalog_problems
    return problems


# -- files -----------------------------------------------------------------------------


class NotRegularFile(OSError):
    """A range file's path names a FIFO, a device or a socket."""


def read_bytes(path: Path) -> bytes:
    """A range file's bytes: at most MAX_BYTES + 1 of them (more: it is too large).

    Raises OSError, and NotRegularFile for what is neither a file nor a directory (a
    FIFO or device would block or never end: range files are plain files; it is not
    opened). Plain system calls: a seed of 10,000 unchanged files reads them all.
    """
    mode = os.stat(path).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise NotRegularFile(f"{path}: not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO since the stat: must not block
    try:
        data = os.read(fd, MAX_BYTES + 1)
        while data and len(data) <= MAX_BYTES and (more := os.read(fd, MAX_BYTES + 1 - len(data))):
            data += more
    finally:
        os.close(fd)
    return data


def _open(path: Path, display: str | None, data: bytes | None) -> tuple[_Check, dict | None]:
    """Read the bytes (unless given) and the YAML; None when there is nothing to check."""
    shown = str(path) if display is None else display
    if data is None:
        try:
            data = read_bytes(path)
        except NotRegularFile:
            return _Check.failed(shown, "not a regular file"), None
        except FileNotFoundError:
            return _Check.failed(shown, "no such file"), None
        except OSError as exc:
            return _Check.failed(shown, f"cannot read: {exc.strerror or exc}"), None
    try:
        doc = read_yaml(data)
    except StrictYamlError as exc:
        return _Check.failed(shown, exc.message, exc.line), None
    check = _Check(shown, doc.lines, data)
    for issue in doc.issues:
        check.error(issue.path, issue.message, line=issue.line)
    return check, doc.data


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


def _collect_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given, directories walked in sorted order; each file once."""
    out: list[Path] = []
    seen: set[object] = set()
    for path in paths:
        found = [path] if not path.is_dir() else _walk(path)
        for file in found:
            key = _identity(file) or file
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


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _has_error(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


# -- the checks ------------------------------------------------------------------------


class _Check:
    """The problems of one file, located by the key paths of its YAML."""

    __slots__ = ("data", "display", "lines", "problems")

    def __init__(self, display: str, lines: dict[KeyPath, int], data: bytes) -> None:
        self.display = display
        self.lines = lines
        self.data = data
        self.problems: list[Problem] = []

    @classmethod
    def failed(cls, display: str, message: str, line: int | None = None) -> _Check:
        check = cls(display, {}, b"")
        check.problems.append(Problem(display, line, "", message))
        return check

    def finish(self) -> list[Problem]:
        """The problems in the order of their lines (file-wide ones first)."""
        return sorted(self.problems, key=lambda p: p.line or 0)

    def line(self, path: KeyPath) -> int | None:
        lines = self.lines
        while path not in lines:
            if not path:
                return None
            path = path[:-1]
        return lines[path]

    def error(self, path: KeyPath, message: str, *, line: int | None = None) -> None:
        self.problems.append(
            Problem(self.display, line or self.line(path), _where(path), message, "error")
        )

    def warning(self, path: KeyPath, message: str) -> None:
        self.problems.append(
            Problem(self.display, self.line(path), _where(path), message, "warning")
        )

    # -- generic shapes --

    def mapping(self, value: Any, path: KeyPath, what: str = "a mapping") -> dict | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"must be {what}, got {describe(value)}")
        return None

    def keys(
        self,
        mapping: dict,
        path: KeyPath,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        *,
        refused: dict[str, str] | None = None,
    ) -> None:
        """Unknown keys (typo protection) and missing required ones."""
        for key in mapping:
            if key in allowed:
                continue
            if refused and key in refused:
                self.error((*path, key), refused[key])
                continue
            hint = _close(key, allowed)
            self.error(
                (*path, key),
                f"unknown key; did you mean {hint!r}?"
                if hint
                else f"unknown key (allowed: {', '.join(allowed)})",
            )
        for key in required:
            if key not in mapping:
                self.error((*path, key), "required key is missing")

    def number(self, value: Any, path: KeyPath) -> float | None:
        """A finite number (not a boolean, not a string), as a float."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, f"must be a number, got {describe(value)}")
            return None
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            self.error(path, f"must be a finite number, got {describe(value)}")
            return None
        return as_float

    def string(self, value: Any, path: KeyPath) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.error(path, f"must be a non-empty string, got {describe(value)}")
        return None

    def display_name(self, value: Any, path: KeyPath) -> str | None:
        name = self.string(value, path)
        if name is not None and (bad := control_character(name)):
            self.error(path, f"must not contain control characters, got {bad}")
            return None
        return name

    # -- apiVersion --

    def api_version(self, data: dict) -> bool:
        """Check apiVersion first; False when the file is of a format this kpictl can't read."""
        path: KeyPath = ("apiVersion",)
        if "apiVersion" not in data:
            self.error(path, f"required key is missing (expected apiVersion: {API_VERSION})")
            return True
        value = data["apiVersion"]
        if not isinstance(value, str):
            self.error(path, f"must be the string {API_VERSION}, got {describe(value)}")
            return True
        if value in SUPPORTED_API_VERSIONS:
            return True
        readable = ", ".join(SUPPORTED_API_VERSIONS)
        match = _API_VERSION_RE.fullmatch(value)
        if match:
            newer = int(match.group(1)) > max(
                int(v.rsplit("/v", 1)[1]) for v in SUPPORTED_API_VERSIONS
            )
            message = f"apiVersion {value} is not one this kpictl reads ({readable})"
            self.error(path, message + ("; upgrade kpictl" if newer else ""))
            return False
        self.error(path, f"unknown apiVersion {value!r} (expected {API_VERSION})")
        return True

    # -- the catalog --

    def catalog(self, data: dict) -> dict[str, KpiDef] | None:
        self.keys(data, (), CATALOG_KEYS, CATALOG_REQUIRED)
        if "kpis" not in data:
            return None
        kpis = self.mapping(data["kpis"], ("kpis",), "a mapping of KPI names to definitions")
        if kpis is None:
            return None
        out: dict[str, KpiDef] = {}
        for name, spec in kpis.items():
            path: KeyPath = ("kpis", name)
            name_ok = isinstance(name, str) and KPI_NAME_RE.fullmatch(name)
            if not name_ok:
                self.error(path, f"KPI name {name!r} is not valid: {KPI_NAME_RULE}")
            spec = self.mapping(spec, path, "a mapping with unit, better and description")
            if spec is None:
                continue
            self.keys(spec, path, KPI_DEF_KEYS, KPI_DEF_REQUIRED)
            unit = self.string(spec["unit"], (*path, "unit")) if "unit" in spec else None
            better = spec.get("better")
            if "better" in spec and better not in BETTER:
                self.error(
                    (*path, "better"), f"must be higher, lower or none, got {describe(better)}"
                )
                better = None
            description = spec.get("description")
            if "description" in spec:
                description = self.string(description, (*path, "description"))
            if name_ok and unit is not None and better is not None:
                out[name] = KpiDef(name=name, unit=unit, better=better, description=description)
        return out

    # -- defaults and customer files --

    def range_file(self, data: dict, path: Path, catalog: Catalog | None) -> RangeFile | None:
        is_defaults = path.name == DEFAULTS_FILE
        if is_defaults:
            only = "not allowed in defaults.yaml (customer files only)"
            self.keys(
                data,
                (),
                DEFAULTS_KEYS,
                DEFAULTS_REQUIRED,
                refused=dict.fromkeys(DEFAULTS_REFUSED, only),
            )
        else:
            self.keys(data, (), CUSTOMER_KEYS, CUSTOMER_REQUIRED)

        slug = name = None
        if not is_defaults:
            slug = self.customer(data, path.stem)
            if "name" in data:
                name = self.display_name(data["name"], ("name",))
        version = self.version(data)
        scoring = self.scoring(data["scoring"], catalog) if "scoring" in data else None
        ranges: dict[str, KpiRange] | None = None
        if "ranges" in data:
            ranges = self.ranges(data["ranges"], catalog)

        if version is None or ranges is None or (not is_defaults and slug is None):
            return None
        return RangeFile(
            path=path,
            kind="defaults" if is_defaults else "customer",
            version=version,
            ranges=ranges,
            customer=slug,
            name=None if is_defaults else (name or slug),
            scoring=scoring,
            sha256=hashlib.sha256(self.data).hexdigest(),
        )

    def customer(self, data: dict, stem: str) -> str | None:
        if "customer" not in data:
            return None
        path: KeyPath = ("customer",)
        slug = data["customer"]
        if not isinstance(slug, str):
            self.error(path, f"must be the customer's slug (a string), got {describe(slug)}")
            return None
        if not SLUG_RE.fullmatch(slug):
            self.error(path, f"{slug!r} is not a valid slug: {SLUG_RULE}")
            return None
        if slug != stem:
            self.error(
                path,
                f"{slug!r} must equal the file name's stem {stem!r} "
                f"(a customer's file is customers/<slug>.yaml)",
            )
            return None
        return slug

    def version(self, data: dict) -> int | None:
        if "version" not in data:
            return None
        value = data["version"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.error(("version",), f"must be a positive integer, got {describe(value)}")
            return None
        if value > MAX_VERSION:
            self.error(("version",), f"must be at most {MAX_VERSION}, got {value}")
            return None
        return value

    def ranges(self, value: Any, catalog: Catalog | None) -> dict[str, KpiRange] | None:
        ranges = self.mapping(value, ("ranges",), "a mapping of KPI names to bands")
        if ranges is None:
            return None
        out: dict[str, KpiRange] = {}
        for kpi, spec in ranges.items():
            built = self.kpi_range(kpi, spec, catalog)
            if built is not None:
                out[kpi] = built
        return out

    def kpi_name(self, name: Any, path: KeyPath, catalog: Catalog | None) -> KpiDef | None:
        """The catalog's definition; reports a KPI that is not in it (or not a valid name)."""
        if catalog is None:
            if not (isinstance(name, str) and KPI_NAME_RE.fullmatch(name)):
                self.error(path, f"KPI name {name!r} is not valid: {KPI_NAME_RULE}")
            return None
        kpi = catalog.kpis.get(name) if isinstance(name, str) else None
        if kpi is None:
            hint = _close(name, catalog.kpis)
            self.error(
                path,
                f"unknown KPI {name!r}: not in the catalog {catalog.path}"
                + (f"; did you mean {hint!r}?" if hint else ""),
            )
        return kpi

    def kpi_range(self, kpi: Any, value: Any, catalog: Catalog | None) -> KpiRange | None:
        path: KeyPath = ("ranges", kpi)
        errors_before = len(self.problems)
        definition = self.kpi_name(kpi, path, catalog)
        spec = self.mapping(value, path, "a mapping of bands (critical, risk, healthy)")
        if spec is None:
            return None
        self.keys(spec, path, KPI_RANGE_KEYS)

        bands: dict[str, Band] = {}
        present = [name for name in BAND_NAMES if name in spec]
        for name in present:
            band = self.band(spec[name], (*path, name))
            if band is not None:
                bands[name] = band
        if not present:
            self.error(path, "needs at least one band: critical, risk or healthy")
        elif len(bands) == len(present):
            self.band_layout(kpi, bands, definition)

        weight = 1.0
        if "weight" in spec:
            number = self.number(spec["weight"], (*path, "weight"))
            if number is not None and number < 0:
                self.error((*path, "weight"), f"must be >= 0, got {_fmt(number)}")
            weight = number if number is not None else weight

        playbook = spec.get("playbook")
        if "playbook" in spec and not (
            isinstance(playbook, str) and PLAYBOOK_RE.fullmatch(playbook)
        ):
            self.error(
                (*path, "playbook"),
                f"must be a playbook name ({PLAYBOOK_RULE}), got {describe(playbook)}",
            )

        if _has_error(self.problems[errors_before:]):
            return None
        return KpiRange(kpi_name=kpi, weight=weight, playbook=playbook, **bands)

    def band(self, value: Any, path: KeyPath) -> Band | None:
        spec = self.mapping(value, path, "a mapping with min and/or max")
        if spec is None:
            return None
        self.keys(spec, path, BAND_KEYS)
        if "min" not in spec and "max" not in spec:
            self.error(path, "needs min, max or both (a missing bound is unbounded)")
            return None
        low = self.number(spec["min"], (*path, "min")) if "min" in spec else None
        high = self.number(spec["max"], (*path, "max")) if "max" in spec else None
        if ("min" in spec and low is None) or ("max" in spec and high is None):
            return None
        if low is not None and high is not None and low >= high:
            self.error(path, f"min {_fmt(low)} must be less than max {_fmt(high)}")
            return None
        return Band(low, high)

    def band_layout(self, kpi: str, bands: dict[str, Band], definition: KpiDef | None) -> None:
        """Overlaps and contradictions of ``better`` are errors; gaps are warnings."""
        path: KeyPath = ("ranges", kpi)
        names = [n for n in BAND_NAMES if n in bands]
        overlapping = False
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                a, b = bands[first], bands[second]
                if _low(a) < _high(b) and _low(b) < _high(a):
                    overlapping = True
                    self.error(
                        path,
                        f"bands {first} {_interval(a)} and {second} {_interval(b)} overlap",
                        line=self.line((*path, second)),
                    )
        if overlapping:
            return
        if definition is not None and definition.better != "none":
            self.band_order(path, bands, definition.better)
        ordered = sorted(names, key=lambda n: _low(bands[n]))
        for below, above in itertools.pairwise(ordered):
            end, start = _high(bands[below]), _low(bands[above])
            if end < start:
                self.warning(
                    path,
                    f"gap between {below} {_interval(bands[below])} and "
                    f"{above} {_interval(bands[above])}: a value from {_fmt(end)} up to "
                    f"{_fmt(start)} is in no band (status unknown)",
                )

    def band_order(self, path: KeyPath, bands: dict[str, Band], better: str) -> None:
        # Worst to best: with better "higher" each band must lie below the next one.
        pairs = (("critical", "healthy"), ("critical", "risk"), ("risk", "healthy"))
        for worse, best in pairs:
            if worse not in bands or best not in bands:
                continue
            low, high = (worse, best) if better == "higher" else (best, worse)
            if _high(bands[low]) > _low(bands[high]):
                side = "above" if better == "higher" else "below"
                self.error(
                    path,
                    f"contradicts better: {better} ({best} must lie {side} {worse}); "
                    f"here {worse} is {_interval(bands[worse])} and "
                    f"{best} is {_interval(bands[best])}",
                )
                return

    # -- scoring --

    def scoring(self, value: Any, catalog: Catalog | None) -> Scoring | None:
        path: KeyPath = ("scoring",)
        spec = self.mapping(value, path, "a mapping with model and its parameters")
        if spec is None:
            return None
        if "model" not in spec:
            self.error((*path, "model"), "required key is missing (ranges or regression)")
            return None
        model = spec["model"]
        if model not in MODELS:
            self.error(
                (*path, "model"), f"unknown model {describe(model)} (expected ranges or regression)"
            )
            return None
        errors_before = len(self.problems)
        if model == "ranges":
            self.keys(spec, path, RANGES_SCORING_KEYS)
            points = None
            if "points" in spec:
                points = self.points(spec["points"], (*path, "points"))
            least = self.min_coverage(spec, path)
            if len(self.problems) > errors_before:
                return None
            return Scoring(model="ranges", points=points, min_coverage=least)

        self.keys(spec, path, REGRESSION_KEYS, REGRESSION_REQUIRED)
        intercept = None
        if "intercept" in spec:
            intercept = self.number(spec["intercept"], (*path, "intercept"))
        coefficients = {}
        if "coefficients" in spec:
            coefficients = self.coefficients(spec["coefficients"], (*path, "coefficients"), catalog)
        clamp = self.clamp(spec["clamp"], (*path, "clamp")) if "clamp" in spec else None
        least = self.min_coverage(spec, path)
        if len(self.problems) > errors_before:
            return None
        return Scoring(
            model="regression",
            intercept=intercept,
            coefficients=coefficients,
            clamp=clamp,
            min_coverage=least,
        )

    def min_coverage(self, spec: dict[str, Any], path: KeyPath) -> float | None:
        """``scoring.min_coverage``: a share of the model's weight, 0 to 1."""
        if "min_coverage" not in spec:
            return None
        number = self.number(spec["min_coverage"], (*path, "min_coverage"))
        if number is not None and not 0.0 <= number <= 1.0:
            self.error((*path, "min_coverage"), f"must be between 0 and 1, got {_fmt(number)}")
            return None
        return number

    def points(self, value: Any, path: KeyPath) -> dict[str, float] | None:
        spec = self.mapping(value, path, "a mapping with healthy, risk and critical")
        if spec is None:
            return None
        self.keys(spec, path, POINTS_KEYS, POINTS_REQUIRED)
        out = {}
        for name in POINTS_KEYS:
            if name in spec:
                number = self.number(spec[name], (*path, name))
                if number is not None:
                    out[name] = number
        return out

    def coefficients(self, value: Any, path: KeyPath, catalog: Catalog | None) -> dict[str, float]:
        spec = self.mapping(value, path, "a mapping of KPI names to numbers")
        if spec is None:
            return {}
        if not spec:
            self.error(path, "must name at least one KPI")
        out = {}
        for kpi, coefficient in spec.items():
            if kpi == SCORE_KPI:
                # the score is computed, never an input (SPEC section 4): such a model
                # could never be evaluated
                self.error((*path, kpi), "health_score is the model's output, not an input")
                continue
            self.kpi_name(kpi, (*path, kpi), catalog)
            number = self.number(coefficient, (*path, kpi))
            if number is not None and isinstance(kpi, str):
                out[kpi] = number
        return out

    def clamp(self, value: Any, path: KeyPath) -> tuple[float, float] | None:
        spec = self.mapping(value, path, "a mapping with min and max")
        if spec is None:
            return None
        self.keys(spec, path, CLAMP_KEYS, CLAMP_REQUIRED)
        low = self.number(spec["min"], (*path, "min")) if "min" in spec else None
        high = self.number(spec["max"], (*path, "max")) if "max" in spec else None
        if low is None or high is None:
            return None
        if low >= high:
            self.error(path, f"min {_fmt(low)} must be less than max {_fmt(high)}")
            return None
        return low, high


# -- wording -----------------------------------------------------------------------------


def describe(value: Any) -> str:
    """A value as a message shows it: its YAML kind, then the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else "(a very large integer)"
        return f"integer {text}"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return f"number {_fmt(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _fmt(number: float) -> str:
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _low(band: Band) -> float:
    return -math.inf if band.min is None else band.min


def _high(band: Band) -> float:
    return math.inf if band.max is None else band.max


def _interval(band: Band) -> str:
    low = "-inf" if band.min is None else _fmt(band.min)
    high = "inf" if band.max is None else _fmt(band.max)
    return f"[{low}, {high})"


def _where(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)


def _close(word: Any, candidates: Iterable[str]) -> str | None:
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return found[0] if found else None
