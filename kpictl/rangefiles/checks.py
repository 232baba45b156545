"""Checking one range file against every rule of SPEC section 1, and building its model.

Nothing here touches a database or prints. Every check collects its Problems and
carries on, so one run reports everything that is wrong with a file; a file is built
into a model only when it has no error.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path
from typing import Any

from kpictl.rangefiles.document import DocumentCheck
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
    Scoring,
)
from kpictl.rangefiles.reading import NotRegularFile, read_bytes
from kpictl.rangefiles.rules import (
    BAND_KEYS,
    BETTER,
    CATALOG_KEYS,
    CATALOG_REQUIRED,
    CLAMP_KEYS,
    CLAMP_REQUIRED,
    CUSTOMER_KEYS,
    CUSTOMER_REQUIRED,
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
)
from kpictl.rangefiles.wording import (
    band_high,
    band_low,
    band_text,
    close_match,
    describe,
    fmt,
)
from kpictl.rangefiles.yamlstrict import KeyPath, StrictYamlError, read_yaml

_API_VERSION_RE = re.compile(r"kpictl/v([0-9]+)")
_RANGE_FILE_KEYS = frozenset(CATALOG_KEYS + CUSTOMER_KEYS + DEFAULTS_KEYS)


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


def _has_error(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


class _Check(DocumentCheck):
    """The rules of one range file, on top of the generic checks."""

    __slots__ = ()

    # -- apiVersion --

    def api_version(self, data: dict) -> bool:
        """Check apiVersion first; False when the file is of a format this kpictl can't read."""
        path: KeyPath = ("apiVersion",)
        if "apiVersion" not in data and not any(
            isinstance(key, str) and key in _RANGE_FILE_KEYS for key in data
        ):
            # not a range file at all (a file a symlink or a path led to): nothing of its
            # content is echoed, its keys might be anyone's secrets
            self.error((), f"not a kpictl file: no apiVersion: {API_VERSION} and none of its keys")
            return False
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
            # compared as digit strings: "kpictl/v" and 5,000 digits is no int() (ValueError)
            digits = match.group(1).lstrip("0") or "0"
            newest = max(int(v.rsplit("/v", 1)[1]) for v in SUPPORTED_API_VERSIONS)
            newer = len(digits) > len(str(newest)) or (
                len(digits) == len(str(newest)) and digits > str(newest)
            )
            if len(value) > 40:
                value = value[:37] + "..."
            message = f"apiVersion {value} is not one this kpictl reads ({readable})"
            self.error(path, message + ("; upgrade kpictl" if newer else ""))
            return False
        shown = value if len(value) <= 40 else value[:37] + "..."
        self.error(path, f"unknown apiVersion {shown!r} (expected {API_VERSION})")
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
            self.error(("version",), f"must be at most {MAX_VERSION}, got {describe(value)}")
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
            hint = close_match(name, catalog.kpis)
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
                self.error((*path, "weight"), f"must be >= 0, got {fmt(number)}")
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
            self.error(path, f"min {fmt(low)} must be less than max {fmt(high)}")
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
                if band_low(a) < band_high(b) and band_low(b) < band_high(a):
                    overlapping = True
                    self.error(
                        path,
                        f"bands {first} {band_text(a)} and {second} {band_text(b)} overlap",
                        line=self.line((*path, second)),
                    )
        if overlapping:
            return
        if definition is not None and definition.better != "none":
            self.band_order(path, bands, definition.better)
        ordered = sorted(names, key=lambda n: band_low(bands[n]))
        for below, above in itertools.pairwise(ordered):
            end, start = band_high(bands[below]), band_low(bands[above])
            if end < start:
                self.warning(
                    path,
                    f"gap between {below} {band_text(bands[below])} and "
                    f"{above} {band_text(bands[above])}: a value from {fmt(end)} up to "
                    f"{fmt(start)} is in no band (status unknown)",
                )

    def band_order(self, path: KeyPath, bands: dict[str, Band], better: str) -> None:
        # Worst to best: with better "higher" each band must lie below the next one.
        pairs = (("critical", "healthy"), ("critical", "risk"), ("risk", "healthy"))
        for worse, best in pairs:
            if worse not in bands or best not in bands:
                continue
            low, high = (worse, best) if better == "higher" else (best, worse)
            if band_high(bands[low]) > band_low(bands[high]):
                side = "above" if better == "higher" else "below"
                self.error(
                    path,
                    f"contradicts better: {better} ({best} must lie {side} {worse}); "
                    f"here {worse} is {band_text(bands[worse])} and "
                    f"{best} is {band_text(bands[best])}",
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
            self.error((*path, "min_coverage"), f"must be between 0 and 1, got {fmt(number)}")
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
            self.error(path, f"min {fmt(low)} must be less than max {fmt(high)}")
            return None
        return low, high
