"""The ranges directory: where its files are, its catalog (read once), which files a
command selects, and the one pipeline that loads them.

Every command that reads range files goes through a :class:`RangeDir`: ``seed`` and
``diff`` load their selection with :meth:`RangeDir.load_chunks` /
:meth:`RangeDir.load`, which are the same pipeline (a chunk at a time, on worker
processes when there are many files); ``validate`` checks paths with
:meth:`RangeDir.validate`; ``list``, ``export`` and ``score`` take the catalog and the
defaults file's ranges from here. Nothing here touches a database or prints.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import closing
from pathlib import Path

from kpictl.errors import RangeFilesInvalid, UnknownKpi, UsageError
from kpictl.rangefiles.discovery import confined
from kpictl.rangefiles.loader import (
    load_catalog,
    load_chunks,
    load_range_file,
    range_file_paths,
    validate_paths,
)
from kpictl.rangefiles.model import Catalog, KpiRange, Problem, RangeFile, RangeSet
from kpictl.rangefiles.rules import CATALOG_FILE, CUSTOMERS_DIR, DEFAULTS_FILE, SLUG_RE

Selected = list[tuple[str | None, Path]]
"""Range files as (scope, path), not read yet; scope None is the defaults file."""


class RangeDir:
    """A ranges directory (``--ranges``) with its catalog, read at most once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._catalog: tuple[Catalog | None, list[Problem]] | None = None

    def __repr__(self) -> str:
        return f"RangeDir({str(self.path)!r})"

    # -- where things are -------------------------------------------------------------

    @property
    def catalog_path(self) -> Path:
        return self.path / CATALOG_FILE

    @property
    def defaults_path(self) -> Path:
        return self.path / DEFAULTS_FILE

    @property
    def customers_dir(self) -> Path:
        return self.path / CUSTOMERS_DIR

    def customer_path(self, slug: str) -> Path:
        return self.customers_dir / f"{slug}.yaml"

    # -- the catalog ----------------------------------------------------------------

    def catalog(self) -> tuple[Catalog | None, list[Problem]]:
        """The catalog and its problems (the Catalog is None when it has an error)."""
        if self._catalog is None:
            refused = confined(self.catalog_path, self.path)
            self._catalog = (
                (None, [refused])
                if refused is not None
                else load_catalog(self.catalog_path, display=str(self.catalog_path))
            )
        return self._catalog

    def require_catalog(self) -> tuple[Catalog, list[Problem]]:
        """The catalog and its warnings; RangeFilesInvalid when it is unreadable."""
        catalog, problems = self.catalog()
        if catalog is None:
            raise RangeFilesInvalid([p for p in problems if p.severity == "error"])
        return catalog, problems

    def catalog_if_present(self) -> Catalog | None:
        """The catalog when there is a readable one, else None (no error)."""
        if not self.catalog_path.is_file():
            return None
        return self.catalog()[0]

    def known_kpis(self) -> set[str] | None:
        """The catalog's KPI names; None without a catalog file; raises when it is invalid."""
        if not self.catalog_path.exists():
            return None
        return set(self.require_catalog()[0].kpis)

    def checked_kpi(self, kpi: str | None) -> str | None:
        """Refuse a KPI name the catalog does not know (when there is a readable catalog)."""
        if kpi is None or not self.catalog_path.exists():
            return kpi
        catalog = self.catalog()[0]
        if catalog is not None and kpi not in catalog:
            raise UnknownKpi(f"unknown KPI {kpi!r}", hint=f"the catalog is {self.catalog_path}")
        return kpi

    # -- selection ------------------------------------------------------------------

    def select(
        self, *, customers: Sequence[str] = (), defaults: bool = False, all: bool = False
    ) -> tuple[Selected, list[Problem]]:
        """The selected range files as (scope, path), not read yet, and warnings about
        ignored files. A named file that does not exist is an error, and so is a file
        refused (RangeFilesInvalid: a symbolic link leaving the directory, a FIFO, a
        directory where a file belongs, see :func:`discovery.discover`)."""
        check_selection(customers, defaults, all)
        if all:
            selected, problems = range_file_paths(self.path, defaults=True, customers=None)
        else:
            selected, problems = range_file_paths(
                self.path, defaults=defaults, customers=list(customers), require=True
            )
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise RangeFilesInvalid(errors)
        return selected, problems

    # -- the loading pipeline -------------------------------------------------------

    def load_chunks(
        self, chunks: Sequence[Sequence[Path]]
    ) -> Generator[list[tuple[RangeFile | None, list[Problem]]], None, None]:
        """Parse and check files against the catalog, a chunk at a time (the next chunk
        is parsed on worker processes while the caller works on this one)."""
        catalog, _ = self.require_catalog()
        return load_chunks(chunks, catalog, pieces=4)

    def load(self, selected: Selected) -> RangeSet:
        """Load (scope, path) files through :meth:`load_chunks` as one chunk; raise
        RangeFilesInvalid when the catalog or any file has an error."""
        catalog, problems = self.catalog()
        rangeset = RangeSet(catalog=catalog, problems=list(problems))
        if catalog is not None:
            with closing(self.load_chunks([[path for _, path in selected]])) as chunks:
                rangeset.add(selected, next(chunks, []))
        if rangeset.errors:
            raise RangeFilesInvalid(rangeset.errors)
        return rangeset

    def load_selection(
        self, *, customers: Sequence[str] = (), defaults: bool = False, all: bool = False
    ) -> tuple[list[RangeFile], list[Problem]]:
        """Load and validate the selected range files; raise if any is invalid."""
        selected, extra = self.select(customers=customers, defaults=defaults, all=all)
        rangeset = self.load(selected)
        rangeset.problems += extra
        return rangeset.files(), rangeset.warnings

    def file_defaults(self) -> dict[str, KpiRange]:
        """The defaults file's ranges (the ``file`` source), or nothing without a file."""
        path = self.defaults_path
        if not path.exists():
            return {}
        refused = confined(path, self.path)
        if refused is not None:
            raise RangeFilesInvalid([refused])
        catalog, problems = self.catalog()
        rangefile, file_problems = load_range_file(path, catalog, display=str(path))
        errors = [p for p in problems + file_problems if p.severity == "error"]
        if errors or rangefile is None:
            raise RangeFilesInvalid(errors)
        return rangefile.ranges

    def validate(self, paths: Sequence[Path]) -> list[Problem]:
        """Check files and directories (default: this whole directory) without a database."""
        return validate_paths(paths, self.path)


def check_selection(customers: Sequence[str], defaults: bool, all: bool) -> None:
    """Refuse an empty selection and slugs that cannot name a customer file."""
    if not (customers or defaults or all):
        raise UsageError("select what to apply: --customer SLUG, --defaults or --all")
    for slug in customers:
        if not SLUG_RE.fullmatch(slug):
            raise UsageError(f"invalid customer slug {slug!r}")
