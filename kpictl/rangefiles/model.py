"""Domain models of range files: plain dataclasses, no database, no YAML.

These are what the strict loader produces and what planning, seeding, export and
scoring consume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

API_VERSION = "kpictl/v1"
SUPPORTED_API_VERSIONS = (API_VERSION,)

BAND_NAMES: tuple[str, ...] = ("critical", "risk", "healthy")
BOUND_COLUMNS: tuple[str, ...] = (
    "critical_min",
    "critical_max",
    "risk_min",
    "risk_max",
    "healthy_min",
    "healthy_max",
)
RANGE_COLUMNS: tuple[str, ...] = (*BOUND_COLUMNS, "weight", "playbook")

Better = Literal["higher", "lower", "none"]
FileKind = Literal["catalog", "defaults", "customer"]
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Band:
    """A half-open interval [min, max); a missing bound is unbounded."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value < self.max)


@dataclass(frozen=True, slots=True)
class KpiRange:
    """The reference ranges of one KPI in one scope."""

    kpi_name: str
    critical: Band | None = None
    risk: Band | None = None
    healthy: Band | None = None
    weight: float = 1.0
    playbook: str | None = None

    def band(self, name: str) -> Band | None:
        return getattr(self, name)  # type: ignore[no-any-return]

    def row(self) -> dict[str, Any]:
        """The columns of kpi_reference_ranges (without ids), bounds as floats."""
        # written out: a seed of 10,000 files asks for 100,000 rows
        c, r, h = self.critical, self.risk, self.healthy
        return {
            "critical_min": None if c is None or c.min is None else float(c.min) + 0.0,
            "critical_max": None if c is None or c.max is None else float(c.max) + 0.0,
            "risk_min": None if r is None or r.min is None else float(r.min) + 0.0,
            "risk_max": None if r is None or r.max is None else float(r.max) + 0.0,
            "healthy_min": None if h is None or h.min is None else float(h.min) + 0.0,
            "healthy_max": None if h is None or h.max is None else float(h.max) + 0.0,
            "weight": float(self.weight) + 0.0,  # + 0.0: -0.0 is 0 (one zero)
            "playbook": self.playbook,
        }

    @classmethod
    def from_row(cls, kpi_name: str, row: Any) -> KpiRange:
        """Build from a mapping (or row) with the columns of kpi_reference_ranges."""
        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
        bands: dict[str, Band | None] = {}
        for name in BAND_NAMES:
            lo, hi = get(f"{name}_min"), get(f"{name}_max")
            bands[name] = None if lo is None and hi is None else Band(_num(lo), _num(hi))
        weight = get("weight")
        return cls(
            kpi_name=kpi_name,
            weight=1.0 if weight is None else float(weight),
            playbook=get("playbook"),
            **bands,
        )


def _num(value: Any) -> float | None:
    # + 0.0 turns -0.0 into 0.0: databases do not keep the sign of zero
    return None if value is None else float(value) + 0.0


@dataclass(frozen=True, slots=True)
class KpiDef:
    """One KPI of the catalog."""

    name: str
    unit: str
    better: Better
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """The KPI catalog (kpis.yaml)."""

    path: Path
    kpis: dict[str, KpiDef]
    sha256: str = ""  # of the file's bytes

    def __contains__(self, name: object) -> bool:
        return name in self.kpis


@dataclass(frozen=True, slots=True)
class Scoring:
    """A file's scoring section (SPEC section 4)."""

    model: Literal["ranges", "regression"]
    points: dict[str, float] | None = None  # ranges: healthy/risk/critical
    intercept: float | None = None  # regression
    coefficients: dict[str, float] = field(default_factory=dict)  # regression
    clamp: tuple[float, float] | None = None  # regression; None means the default 0..100
    min_coverage: float | None = None  # 0-1: under it a score is insufficient_data

    def to_dict(self) -> dict[str, Any]:
        """The section as it is written in a file (and stored in the revision log)."""
        out: dict[str, Any] = {"model": self.model}
        if self.model == "ranges":
            if self.points is not None:
                out["points"] = {k: v + 0.0 for k, v in self.points.items()}
        else:
            out["intercept"] = None if self.intercept is None else self.intercept + 0.0
            out["coefficients"] = {k: v + 0.0 for k, v in self.coefficients.items()}
            if self.clamp is not None:
                out["clamp"] = {"min": self.clamp[0] + 0.0, "max": self.clamp[1] + 0.0}
        if self.min_coverage is not None:
            out["min_coverage"] = self.min_coverage + 0.0
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scoring:
        clamp = data.get("clamp")
        return cls(
            model=data["model"],
            points={k: float(v) for k, v in data["points"].items()} if data.get("points") else None,
            intercept=None if data.get("intercept") is None else float(data["intercept"]),
            coefficients={k: float(v) for k, v in (data.get("coefficients") or {}).items()},
            clamp=(float(clamp["min"]), float(clamp["max"])) if clamp else None,
            min_coverage=(
                None if data.get("min_coverage") is None else float(data["min_coverage"])
            ),
        )


@dataclass(frozen=True, slots=True)
class RangeFile:
    """A valid defaults.yaml or customers/<slug>.yaml."""

    path: Path
    kind: Literal["defaults", "customer"]
    version: int
    ranges: dict[str, KpiRange]
    customer: str | None = None  # the slug; None for defaults
    name: str | None = None  # display name; defaults to the slug
    scoring: Scoring | None = None
    sha256: str = ""  # of the file's bytes
    _content_sha256: str = field(default="", init=False, repr=False, compare=False)
    _content_json: str = field(default="", init=False, repr=False, compare=False)

    @property
    def scope(self) -> str | None:
        """The scope a file applies to: a customer slug, or None for the defaults."""
        return self.customer

    @property
    def display_name(self) -> str | None:
        return self.name or self.customer

    def content(self) -> dict[str, Any]:
        """The normalised content: what counts as a change (comments and layout don't)."""
        return normalised_content(
            self.customer,
            self.display_name,
            self.scoring.to_dict() if self.scoring else None,
            self.ranges.values(),
        )

    @property
    def content_sha256(self) -> str:
        # memoised: plans ask for it several times per file, and a seed has thousands
        if not self._content_sha256:
            object.__setattr__(self, "_content_sha256", content_sha256(self.content()))
        return self._content_sha256

    @property
    def content_json(self) -> str:
        """The normalised content as compact JSON: the revision log's ``content``."""
        if not self._content_json:
            object.__setattr__(self, "_content_json", content_json(self.content()))
        return self._content_json

    def memoise(self, content_sha256: str, content_json: str) -> None:
        """Take the content's sha256 and JSON as computed elsewhere (by the worker process
        that parsed the file), rather than compute them again."""
        object.__setattr__(self, "_content_sha256", content_sha256)
        object.__setattr__(self, "_content_json", content_json)


def normalised_content(
    customer: str | None,
    name: str | None,
    scoring: dict[str, Any] | None,
    ranges: Iterable[KpiRange],
) -> dict[str, Any]:
    """The content of a scope as a range file or the database holds it, normalised the
    same way from both, so that their sha256 tells whether they agree."""
    return {
        "apiVersion": API_VERSION,
        "customer": customer,
        "name": name,
        "scoring": scoring,
        "ranges": {r.kpi_name: r.row() for r in sorted(ranges, key=lambda r: r.kpi_name)},
    }


def content_json(content: dict[str, Any]) -> str:
    """Content as the revision log stores it: compact JSON, keys in their order."""
    return json.dumps(content, separators=(",", ":"), allow_nan=False)


def content_sha256(content: dict[str, Any]) -> str:
    """The sha256 of normalised content. Non-finite numbers are hashed as the tokens
    ``NaN``/``Infinity``: no range file holds one (files refuse them), so stored rows
    edited by hand to one hash differently from every file, and seed can repair them."""
    data = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding, located in a file."""

    path: str
    line: int | None
    where: str  # dotted field path, e.g. ranges.error_rate_pct.risk.max ("" for the file)
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        loc = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{loc} {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"


@dataclass(slots=True)
class RangeSet:
    """Everything loaded from a ranges directory (or a selection of it)."""

    catalog: Catalog | None
    defaults: RangeFile | None = None
    customers: dict[str, RangeFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        selected: Sequence[tuple[str | None, Any]],
        loaded: Sequence[tuple[RangeFile | None, list[Problem]]],
    ) -> None:
        """Fold loaded files into the set: ``selected`` are their (scope, path), scope
        None for the defaults; ``loaded`` the loader's (file or None, problems), in order."""
        for (scope, _path), (rangefile, found) in zip(selected, loaded, strict=True):
            self.problems += found
            if rangefile is None:
                continue
            if scope is None:
                self.defaults = rangefile
            else:
                self.customers[scope] = rangefile

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def files(self) -> list[RangeFile]:
        """The defaults file first, then customers by slug."""
        out = [self.defaults] if self.defaults else []
        return out + [self.customers[s] for s in sorted(self.customers)]
