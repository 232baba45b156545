"""Validation of range files: one case per rule of SPEC section 1, on real files.

Each bad case asserts the one error it causes: its path (as the caller gave it), line,
field path and message. The same cases run again on the pure-Python parser, which
must give identical results.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from kpictl.errors import RangeFileMissing
from kpictl.rangefiles import (
    Band,
    Catalog,
    KpiRange,
    Problem,
    Scoring,
    load_catalog,
    load_range_file,
    validate_paths,
    yamlstrict,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "ranges"

HEAD = "apiVersion: kpictl/v1\ncustomer: acme\nversion: 1\n"  # lines 1-3 of a customer file
DEFAULTS_HEAD = "apiVersion: kpictl/v1\nversion: 1\n"  # lines 1-2 of defaults.yaml
CATALOG_HEAD = "apiVersion: kpictl/v1\nkpis:\n"  # lines 1-2 of kpis.yaml
GOOD_RANGES = """\
ranges:
  error_rate_pct:
    critical: {min: 5}
    risk: {min: 1, max: 5}
    healthy: {max: 1}
"""


def customer(body: str) -> str:
    """A customer file for acme: three header lines, then ``body`` from line 4."""
    return HEAD + textwrap.dedent(body)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with ranges/kpis.yaml (the shipped catalog), as the cwd."""
    (tmp_path / "ranges" / "customers").mkdir(parents=True)
    shutil.copy(SHIPPED / "kpis.yaml", tmp_path / "ranges" / "kpis.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, content: str | bytes) -> Path:
    """Write ranges/<name> (relative to the cwd) and return that relative path."""
    path = Path("ranges") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def check(name: str, content: str | bytes) -> list[Problem]:
    """Write and check one file: a catalog as such, other files against ranges/kpis.yaml."""
    path = write(name, content)
    if path.name == "kpis.yaml":
        return load_catalog(path)[1]
    catalog, problems = load_catalog(Path("ranges/kpis.yaml"))
    assert not problems
    return load_range_file(path, catalog)[1]


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


# -- one bad input per rule ------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    file: str  # under ranges/
    content: str | bytes
    line: int | None
    where: str
    message: str  # a fragment of the message


LAUGHS = "\n".join(
    ["apiVersion: kpictl/v1", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
)

BAD = [
    # -- the file as a whole
    Bad("invalid-yaml", "customers/acme.yaml", HEAD + "ranges: {a: b: c}\n", 4, "", "invalid YAML"),
    Bad("not-a-mapping", "customers/acme.yaml", "- apiVersion\n", 1, "", "must be a mapping"),
    Bad("empty", "customers/acme.yaml", "", None, "", "file is empty"),
    Bad(
        "too-large",
        "customers/acme.yaml",
        HEAD + "# " + "x" * 1_048_576 + "\n",
        None,
        "",
        "larger than 1 MiB",
    ),
    Bad("bad-utf8", "customers/acme.yaml", HEAD.encode() + b"name: \xff\n", 4, "", "UTF-8"),
    Bad("alias-bomb", "customers/acme.yaml", LAUGHS, 5, "", "alias expansion too large"),
    Bad("recursive-alias", "customers/acme.yaml", HEAD + "x: &a [*a]\n", 4, "", "recursive alias"),
    Bad(
        "python-tag",
        "customers/acme.yaml",
        HEAD + "name: !!python/object/apply:os.system [ls]\n",
        4,
        "",
        "tag !!python/object/apply:os.system is not allowed",
    ),
    Bad("local-tag", "customers/acme.yaml", HEAD + "name: !acme x\n", 4, "", "tag !acme"),
    Bad(
        "duplicate-key",
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              error_rate_pct:
                critical: {min: 5}
                risk: {min: 1, max: 5, max: 6}
            """
        ),
        7,
        "ranges.error_rate_pct.risk.max",
        "duplicate key 'max' (first on line 7, again on line 7)",
    ),
    Bad(
        "duplicate-kpi",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "  error_rate_pct:\n    healthy: {max: 2}\n"),
        9,
        "ranges.error_rate_pct",
        "duplicate key 'error_rate_pct' (first on line 5, again on line 9)",
    ),
    # -- apiVersion
    Bad(
        "api-version-missing",
        "customers/acme.yaml",
        "customer: acme\nversion: 1\nranges: {}\n",
        1,
        "apiVersion",
        "required key is missing (expected apiVersion: kpictl/v1)",
    ),
    Bad(
        "api-version-not-a-string",
        "customers/acme.yaml",
        "apiVersion: 1\ncustomer: acme\nversion: 1\nranges: {}\n",
        1,
        "apiVersion",
        "must be the string kpictl/v1, got integer 1",
    ),
    Bad(
        "api-version-newer",
        "customers/acme.yaml",
        # Nothing else is checked in a file of a newer format: "typo" is not reported.
        "apiVersion: kpictl/v2\ncustomer: acme\nversion: 1\ntypo: 1\nranges: {}\n",
        1,
        "apiVersion",
        "apiVersion kpictl/v2 is not one this kpictl reads (kpictl/v1); upgrade kpictl",
    ),
    Bad(
        "api-version-other",
        "customers/acme.yaml",
        "apiVersion: v1\ncustomer: acme\nversion: 1\nranges: {}\n",
        1,
        "apiVersion",
        "unknown apiVersion 'v1' (expected kpictl/v1)",
    ),
    Bad(
        "catalog-api-version-newer",
        "kpis.yaml",
        "apiVersion: kpictl/v3\nkpis: {}\n",
        1,
        "apiVersion",
        "apiVersion kpictl/v3 is not one this kpictl reads (kpictl/v1); upgrade kpictl",
    ),
    # -- the catalog
    Bad("catalog-kpis-missing", "kpis.yaml", "apiVersion: kpictl/v1\n", 1, "kpis", "required"),
    Bad(
        "catalog-kpis-not-a-mapping",
        "kpis.yaml",
        CATALOG_HEAD + "  - daily_invocations\n",
        2,
        "kpis",
        "must be a mapping of KPI names to definitions, got a list",
    ),
    Bad(
        "catalog-unknown-top-key",
        "kpis.yaml",
        CATALOG_HEAD + "  x: {unit: count, better: higher}\nkpi: {}\n",
        4,
        "kpi",
        "unknown key; did you mean 'kpis'?",
    ),
    Bad(
        "catalog-bad-kpi-name",
        "kpis.yaml",
        CATALOG_HEAD + "  Daily-Invocations: {unit: count, better: higher}\n",
        3,
        "kpis.Daily-Invocations",
        "KPI name 'Daily-Invocations' is not valid",
    ),
    Bad(
        "catalog-kpi-name-too-long",
        "kpis.yaml",
        CATALOG_HEAD + "  " + "k" * 64 + ": {unit: count, better: higher}\n",
        3,
        "kpis." + "k" * 64,
        "is not valid",
    ),
    Bad(
        "catalog-unit-missing",
        "kpis.yaml",
        CATALOG_HEAD + "  errors:\n    better: lower\n",
        3,
        "kpis.errors.unit",
        "required key is missing",
    ),
    Bad(
        "catalog-better-missing",
        "kpis.yaml",
        CATALOG_HEAD + "  errors: {unit: count}\n",
        3,
        "kpis.errors.better",
        "required key is missing",
    ),
    Bad(
        "catalog-better-invalid",
        "kpis.yaml",
        CATALOG_HEAD + "  errors:\n    unit: count\n    better: up\n",
        5,
        "kpis.errors.better",
        "must be higher, lower or none, got string 'up'",
    ),
    Bad(
        "catalog-unit-not-a-string",
        "kpis.yaml",
        CATALOG_HEAD + "  errors: {unit: 5, better: lower}\n",
        3,
        "kpis.errors.unit",
        "must be a non-empty string, got integer 5",
    ),
    Bad(
        "catalog-description-not-a-string",
        "kpis.yaml",
        CATALOG_HEAD + "  errors: {unit: count, better: lower, description: [a]}\n",
        3,
        "kpis.errors.description",
        "must be a non-empty string, got a list",
    ),
    Bad(
        "catalog-unknown-kpi-key",
        "kpis.yaml",
        CATALOG_HEAD + "  errors:\n    unit: count\n    better: lower\n    units: x\n",
        6,
        "kpis.errors.units",
        "unknown key; did you mean 'unit'?",
    ),
    Bad(
        "catalog-kpi-not-a-mapping",
        "kpis.yaml",
        CATALOG_HEAD + "  errors: count\n",
        3,
        "kpis.errors",
        "must be a mapping with unit, better and description, got string 'count'",
    ),
    # -- top-level keys of defaults and customer files
    Bad(
        "unknown-top-key",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "owner: me\n"),
        9,
        "owner",
        "unknown key (allowed: apiVersion, customer, name, version, scoring, ranges)",
    ),
    Bad(
        "customer-missing",
        "customers/acme.yaml",
        "apiVersion: kpictl/v1\nversion: 1\nranges: {}\n",
        1,
        "customer",
        "required key is missing",
    ),
    Bad(
        "customer-not-the-stem",
        "customers/acme.yaml",
        "apiVersion: kpictl/v1\ncustomer: acme-corp\nversion: 1\nranges: {}\n",
        2,
        "customer",
        "'acme-corp' must equal the file name's stem 'acme'",
    ),
    Bad(
        "customer-bad-slug",
        "customers/Acme_Corp.yaml",
        "apiVersion: kpictl/v1\ncustomer: Acme_Corp\nversion: 1\nranges: {}\n",
        2,
        "customer",
        "'Acme_Corp' is not a valid slug",
    ),
    Bad(
        "customer-slug-ends-with-dash",
        "customers/acme-.yaml",
        "apiVersion: kpictl/v1\ncustomer: acme-\nversion: 1\nranges: {}\n",
        2,
        "customer",
        "'acme-' is not a valid slug",
    ),
    Bad(
        "customer-not-a-string",
        "customers/1.yaml",
        "apiVersion: kpictl/v1\ncustomer: 1\nversion: 1\nranges: {}\n",
        2,
        "customer",
        "got integer 1",
    ),
    Bad(
        "name-not-a-string",
        "customers/acme.yaml",
        customer("name: [Acme]\nranges: {}\n"),
        4,
        "name",
        "must be a non-empty string, got a list",
    ),
    Bad(
        "customer-in-defaults",
        "defaults.yaml",
        DEFAULTS_HEAD + "customer: acme\nranges: {}\n",
        3,
        "customer",
        "not allowed in defaults.yaml (customer files only)",
    ),
    Bad(
        "name-in-defaults",
        "defaults.yaml",
        DEFAULTS_HEAD + "name: Defaults\nranges: {}\n",
        3,
        "name",
        "not allowed in defaults.yaml",
    ),
    Bad(
        "defaults-version-missing",
        "defaults.yaml",
        "apiVersion: kpictl/v1\nranges: {}\n",
        1,
        "version",
        "required key is missing",
    ),
    Bad(
        "ranges-missing",
        "customers/acme.yaml",
        customer("name: Acme\n"),
        1,
        "ranges",
        "required key is missing",
    ),
    Bad(
        "ranges-not-a-mapping",
        "customers/acme.yaml",
        customer("ranges:\n  - error_rate_pct\n"),
        4,
        "ranges",
        "must be a mapping of KPI names to bands, got a list",
    ),
    Bad(
        "ranges-null",
        "customers/acme.yaml",
        customer("ranges:\n"),
        4,
        "ranges",
        "got null",
    ),
    # -- KPIs
    Bad(
        "kpi-not-in-catalog",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate:\n    healthy: {max: 1}\n"),
        5,
        "ranges.error_rate",
        "unknown KPI 'error_rate': not in the catalog ranges/kpis.yaml; "
        "did you mean 'error_rate_pct'?",
    ),
    Bad(
        "kpi-not-a-mapping",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct: 5\n"),
        5,
        "ranges.error_rate_pct",
        "must be a mapping of bands (critical, risk, healthy), got integer 5",
    ),
    Bad(
        "kpi-unknown-key",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    helthy: {max: 1}\n"),
        9,
        "ranges.error_rate_pct.helthy",
        "unknown key; did you mean 'healthy'?",
    ),
    Bad(
        "kpi-no-band",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    weight: 2\n"),
        5,
        "ranges.error_rate_pct",
        "needs at least one band: critical, risk or healthy",
    ),
    Bad(
        "kpi-empty",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct: {}\n"),
        5,
        "ranges.error_rate_pct",
        "needs at least one band",
    ),
    # -- bands
    Bad(
        "band-not-a-mapping",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    risk: 5\n"),
        6,
        "ranges.error_rate_pct.risk",
        "must be a mapping with min and/or max, got integer 5",
    ),
    Bad(
        "band-unknown-key",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    risk: {mini: 1, max: 5}\n"),
        6,
        "ranges.error_rate_pct.risk.mini",
        "unknown key; did you mean 'min'?",
    ),
    Bad(
        "band-empty",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    risk: {}\n"),
        6,
        "ranges.error_rate_pct.risk",
        "needs min, max or both",
    ),
    Bad(
        "bound-string",
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              error_rate_pct:
                critical: {min: 5}
                risk:
                  min: 1
                  max: abc
            """
        ),
        9,
        "ranges.error_rate_pct.risk.max",
        "must be a number, got string 'abc'",
    ),
    Bad(
        "bound-yes",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    critical: {min: yes}\n"),
        6,
        "ranges.error_rate_pct.critical.min",
        "must be a number, got string 'yes'",
    ),
    Bad(
        "bound-true",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    critical: {min: true}\n"),
        6,
        "ranges.error_rate_pct.critical.min",
        "must be a number, got boolean true",
    ),
    Bad(
        "bound-quoted-number",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    critical: {min: '5'}\n"),
        6,
        "ranges.error_rate_pct.critical.min",
        "must be a number, got string '5'",
    ),
    Bad(
        "bound-null",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    critical: {min: null}\n"),
        6,
        "ranges.error_rate_pct.critical.min",
        "must be a number, got null",
    ),
    Bad(
        "bound-nan",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    critical: {min: .nan}\n"),
        6,
        "ranges.error_rate_pct.critical.min",
        "must be a finite number, got .nan",
    ),
    Bad(
        "bound-inf",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    healthy: {max: .inf}\n"),
        6,
        "ranges.error_rate_pct.healthy.max",
        "must be a finite number, got .inf",
    ),
    Bad(
        "bound-minus-inf",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    healthy: {min: -.inf, max: 1}\n"),
        6,
        "ranges.error_rate_pct.healthy.min",
        "must be a finite number, got -.inf",
    ),
    Bad(
        "bound-overflows",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    healthy: {max: 1e999}\n"),
        6,
        "ranges.error_rate_pct.healthy.max",
        "must be a finite number",
    ),
    Bad(
        "min-above-max",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    risk: {min: 5, max: 1}\n"),
        6,
        "ranges.error_rate_pct.risk",
        "min 5 must be less than max 1",
    ),
    Bad(
        "min-equals-max",
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    risk: {min: 2.5, max: 2.5}\n"),
        6,
        "ranges.error_rate_pct.risk",
        "min 2.5 must be less than max 2.5",
    ),
    Bad(
        "bands-overlap",
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              daily_invocations:
                critical: {max: 956}
                risk: {min: 900, max: 2000}
                healthy: {min: 2000}
            """
        ),
        7,
        "ranges.daily_invocations",
        "bands critical [-inf, 956) and risk [900, 2000) overlap",
    ),
    Bad(
        "bands-contradict-higher",
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              daily_invocations:
                critical: {min: 2000}
                healthy: {max: 2000}
            """
        ),
        5,
        "ranges.daily_invocations",
        "contradicts better: higher (healthy must lie above critical)",
    ),
    Bad(
        "bands-contradict-higher-risk",
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              daily_invocations:
                critical: {max: 100}
                risk: {min: 2000}
                healthy: {min: 100, max: 2000}
            """
        ),
        5,
        "ranges.daily_invocations",
        "contradicts better: higher (healthy must lie above risk)",
    ),
    Bad(
        "bands-contradict-lower",
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              error_rate_pct:
                critical: {max: 1}
                risk: {min: 1, max: 5}
                healthy: {min: 5}
            """
        ),
        5,
        "ranges.error_rate_pct",
        "contradicts better: lower (healthy must lie below critical)",
    ),
    # -- weight and playbook
    Bad(
        "weight-negative",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    weight: -1\n"),
        9,
        "ranges.error_rate_pct.weight",
        "must be >= 0, got -1",
    ),
    Bad(
        "weight-string",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    weight: heavy\n"),
        9,
        "ranges.error_rate_pct.weight",
        "must be a number, got string 'heavy'",
    ),
    Bad(
        "weight-inf",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    weight: .inf\n"),
        9,
        "ranges.error_rate_pct.weight",
        "must be a finite number, got .inf",
    ),
    Bad(
        "weight-boolean",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    weight: on\n"),
        9,
        "ranges.error_rate_pct.weight",
        "must be a number, got string 'on'",
    ),
    Bad(
        "playbook-not-a-name",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    playbook: Reliability Review\n"),
        9,
        "ranges.error_rate_pct.playbook",
        "must be a playbook name",
    ),
    Bad(
        "playbook-empty",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    playbook: ''\n"),
        9,
        "ranges.error_rate_pct.playbook",
        "got string ''",
    ),
    Bad(
        "playbook-number",
        "customers/acme.yaml",
        customer(GOOD_RANGES + "    playbook: 7\n"),
        9,
        "ranges.error_rate_pct.playbook",
        "got integer 7",
    ),
    # -- version
    *[
        Bad(
            f"version-{name}",
            "customers/acme.yaml",
            f"apiVersion: kpictl/v1\ncustomer: acme\nversion: {text}\nranges: {{}}\n",
            3,
            "version",
            f"must be a positive integer, got {got}",
        )
        for name, text, got in [
            ("zero", "0", "integer 0"),
            ("negative", "-3", "integer -3"),
            ("float", "1.5", "number 1.5"),
            ("float-integral", "2.0", "number 2"),
            ("boolean", "true", "boolean true"),
            ("string", "'1'", "string '1'"),
            ("null", "~", "null"),
        ]
    ],
    Bad(
        "version-too-large",
        "customers/acme.yaml",
        "apiVersion: kpictl/v1\ncustomer: acme\nversion: 9999999999\nranges: {}\n",
        3,
        "version",
        "must be at most 2147483647",
    ),
    # -- scoring
    Bad(
        "scoring-not-a-mapping",
        "customers/acme.yaml",
        customer("scoring: regression\nranges: {}\n"),
        4,
        "scoring",
        "must be a mapping with model and its parameters, got string 'regression'",
    ),
    Bad(
        "scoring-model-missing",
        "customers/acme.yaml",
        customer("scoring:\n  intercept: 1\nranges: {}\n"),
        4,
        "scoring.model",
        "required key is missing",
    ),
    Bad(
        "scoring-model-unknown",
        "customers/acme.yaml",
        customer("scoring:\n  model: linear\nranges: {}\n"),
        5,
        "scoring.model",
        "unknown model string 'linear' (expected ranges or regression)",
    ),
    Bad(
        "scoring-points-incomplete",
        "customers/acme.yaml",
        customer("scoring:\n  model: ranges\n  points: {healthy: 100, risk: 50}\nranges: {}\n"),
        6,
        "scoring.points.critical",
        "required key is missing",
    ),
    Bad(
        "scoring-points-not-numbers",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: ranges\n  points: {healthy: 100, risk: half, critical: 0}\n"
            "ranges: {}\n"
        ),
        6,
        "scoring.points.risk",
        "must be a number, got string 'half'",
    ),
    Bad(
        "scoring-points-unknown-key",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: ranges\n  points: {healthy: 1, risk: 1, critical: 0, unknown: 0}\n"
            "ranges: {}\n"
        ),
        6,
        "scoring.points.unknown",
        "unknown key",
    ),
    Bad(
        "scoring-ranges-with-intercept",
        "customers/acme.yaml",
        customer("scoring:\n  model: ranges\n  intercept: 5\nranges: {}\n"),
        6,
        "scoring.intercept",
        "unknown key (allowed: model, points, min_coverage)",
    ),
    Bad(
        "scoring-regression-with-points",
        "customers/acme.yaml",
        customer(
            """\
            scoring:
              model: regression
              intercept: 50
              coefficients: {error_rate_pct: -2}
              points: {healthy: 100, risk: 50, critical: 0}
            ranges: {}
            """
        ),
        8,
        "scoring.points",
        "unknown key (allowed: model, intercept, coefficients, clamp, min_coverage)",
    ),
    Bad(
        "scoring-intercept-missing",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: regression\n  coefficients: {error_rate_pct: -2}\nranges: {}\n"
        ),
        4,
        "scoring.intercept",
        "required key is missing",
    ),
    Bad(
        "scoring-intercept-string",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: regression\n  intercept: high\n"
            "  coefficients: {error_rate_pct: 1}\nranges: {}\n"
        ),
        6,
        "scoring.intercept",
        "must be a number, got string 'high'",
    ),
    Bad(
        "scoring-coefficients-missing",
        "customers/acme.yaml",
        customer("scoring:\n  model: regression\n  intercept: 50\nranges: {}\n"),
        4,
        "scoring.coefficients",
        "required key is missing",
    ),
    Bad(
        "scoring-coefficients-empty",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: regression\n  intercept: 50\n  coefficients: {}\nranges: {}\n"
        ),
        7,
        "scoring.coefficients",
        "must name at least one KPI",
    ),
    Bad(
        "scoring-coefficient-unknown-kpi",
        "customers/acme.yaml",
        customer(
            """\
            scoring:
              model: regression
              intercept: 50
              coefficients:
                error_rate_pct: -2
                velocity: 0.4
            ranges: {}
            """
        ),
        9,
        "scoring.coefficients.velocity",
        "unknown KPI 'velocity': not in the catalog",
    ),
    Bad(
        "scoring-coefficient-not-a-number",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: regression\n  intercept: 50\n"
            "  coefficients: {error_rate_pct: .nan}\nranges: {}\n"
        ),
        7,
        "scoring.coefficients.error_rate_pct",
        "must be a finite number, got .nan",
    ),
    Bad(
        "scoring-clamp-reversed",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: regression\n  intercept: 50\n  coefficients: {error_rate_pct: 1}\n"
            "  clamp: {min: 100, max: 0}\nranges: {}\n"
        ),
        8,
        "scoring.clamp",
        "min 100 must be less than max 0",
    ),
    Bad(
        "scoring-clamp-incomplete",
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: regression\n  intercept: 50\n  coefficients: {error_rate_pct: 1}\n"
            "  clamp: {min: 0}\nranges: {}\n"
        ),
        8,
        "scoring.clamp.max",
        "required key is missing",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_each_rule_refuses_its_bad_input(bad: Bad, workdir: Path) -> None:
    problems = check(bad.file, bad.content)
    found = errors(problems)
    assert len(found) == 1, "\n".join(map(str, problems))
    [problem] = found
    assert problem.path == f"ranges/{bad.file}"
    assert (problem.line, problem.where) == (bad.line, bad.where), str(problem)
    assert bad.message in problem.message, str(problem)


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_the_pure_parser_gives_identical_problems(
    bad: Bad, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not yamlstrict.HAVE_LIBYAML:
        pytest.skip("libyaml is not installed")
    with_libyaml = check(bad.file, bad.content)
    monkeypatch.setattr(yamlstrict, "FORCE_PURE", True)
    assert check(bad.file, bad.content) == with_libyaml


def test_a_problem_renders_as_path_line_field_message(workdir: Path) -> None:
    [bound] = [b for b in BAD if b.id == "bound-string"]
    [problem] = check(bound.file, bound.content)
    assert str(problem) == (
        "ranges/customers/acme.yaml:9 ranges.error_rate_pct.risk.max: "
        "must be a number, got string 'abc'"
    )


def test_a_file_with_an_error_is_not_built(workdir: Path) -> None:
    path = write("customers/acme.yaml", customer("ranges:\n  error_rate_pct: {}\n"))
    catalog, _ = load_catalog(Path("ranges/kpis.yaml"))
    rangefile, problems = load_range_file(path, catalog)
    assert rangefile is None
    assert errors(problems)


def test_every_error_of_a_file_is_reported_in_line_order(workdir: Path) -> None:
    problems = check(
        "customers/acme.yaml",
        """\
apiVersion: kpictl/v1
customer: acme-corp
version: 0
extra: true
ranges:
  error_rate_pct:
    critical: {min: 5}
    risk: {min: 1, max: abc}
  p95_latency_ms:
    critical: {max: 500}
    healthy: {min: 1500}
    weight: -1
  nope:
    healthy: {min: 1}
""",
    )
    assert [(p.line, p.where, p.severity) for p in problems] == [
        (2, "customer", "error"),
        (3, "version", "error"),
        (4, "extra", "error"),
        (8, "ranges.error_rate_pct.risk.max", "error"),
        (9, "ranges.p95_latency_ms", "error"),  # contradicts better: lower
        (9, "ranges.p95_latency_ms", "warning"),  # and leaves a gap
        (12, "ranges.p95_latency_ms.weight", "error"),
        (13, "ranges.nope", "error"),
    ]


# -- what is valid -----------------------------------------------------------------------


def test_1e6_is_a_number(workdir: Path) -> None:
    path = write(
        "customers/acme.yaml",
        customer(
            "ranges:\n  invocations_30d:\n    critical: {max: 1e6}\n    healthy: {min: 1e6}\n"
        ),
    )
    catalog, _ = load_catalog(Path("ranges/kpis.yaml"))
    rangefile, problems = load_range_file(path, catalog)
    assert problems == []
    assert rangefile is not None
    assert rangefile.ranges["invocations_30d"].critical == Band(None, 1_000_000.0)


def test_touching_bands_do_not_overlap(workdir: Path) -> None:
    problems = check(
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              daily_invocations:
                critical: {max: 956}
                risk: {min: 956, max: 2000}
                healthy: {min: 2000}
            """
        ),
    )
    assert problems == []


def test_a_gap_between_bands_is_a_warning_and_the_file_is_valid(workdir: Path) -> None:
    path = write(
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              daily_invocations:
                critical: {max: 900}
                risk: {min: 956, max: 2000}
                healthy: {min: 2500}
            """
        ),
    )
    catalog, _ = load_catalog(Path("ranges/kpis.yaml"))
    rangefile, problems = load_range_file(path, catalog)
    assert rangefile is not None
    assert [(p.severity, p.line, p.where) for p in problems] == [
        ("warning", 5, "ranges.daily_invocations"),
        ("warning", 5, "ranges.daily_invocations"),
    ]
    assert "gap between critical [-inf, 900) and risk [956, 2000)" in problems[0].message
    assert "a value from 900 up to 956 is in no band" in problems[0].message
    assert "gap between risk [956, 2000) and healthy [2500, inf)" in problems[1].message


def test_a_single_band_is_enough(workdir: Path) -> None:
    assert (
        check(
            "customers/acme.yaml", customer("ranges:\n  error_rate_pct:\n    critical: {min: 5}\n")
        )
        == []
    )


def test_better_none_means_no_order_check(workdir: Path) -> None:
    write("kpis.yaml", CATALOG_HEAD + "  temperature: {unit: C, better: none}\n")
    problems = check(
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              temperature:
                critical: {min: 30}
                risk: {min: 25, max: 30}
                healthy: {min: 18, max: 25}
            """
        ),
    )
    assert problems == []


def test_higher_and_lower_accept_their_own_order(workdir: Path) -> None:
    problems = check(
        "customers/acme.yaml",
        customer(
            """\
            ranges:
              daily_invocations:
                healthy: {min: 2000}
                critical: {max: 956}
                risk: {min: 956, max: 2000}
              error_rate_pct:
                healthy: {max: 1}
                risk: {min: 1, max: 5}
                critical: {min: 5}
            """
        ),
    )
    assert problems == []


def test_a_valid_customer_file_builds_its_model(workdir: Path) -> None:
    content = customer(
        """\
        name: Acme Corp
        scoring:
          model: regression
          intercept: 52.14
          coefficients: {invocation_velocity_change_pct: 0.416, error_rate_pct: -3}
          clamp: {min: 0, max: 90}
        ranges:
          error_rate_pct:
            critical: {min: 5}
            risk: {min: 1, max: 5}
            healthy: {max: 1}
            weight: 3
            playbook: reliability-review
          daily_invocations:
            critical: {max: 956}
        """
    )
    path = write("customers/acme.yaml", content)
    catalog, _ = load_catalog(Path("ranges/kpis.yaml"))
    rangefile, problems = load_range_file(path, catalog, display="shown/acme.yaml")
    assert problems == []
    assert rangefile is not None
    assert rangefile.path == path
    assert (rangefile.kind, rangefile.customer, rangefile.name) == ("customer", "acme", "Acme Corp")
    assert rangefile.version == 1
    assert rangefile.sha256 == hashlib.sha256(content.encode()).hexdigest()
    assert list(rangefile.ranges) == ["error_rate_pct", "daily_invocations"]  # file order
    assert rangefile.ranges["error_rate_pct"] == KpiRange(
        "error_rate_pct",
        critical=Band(5.0, None),
        risk=Band(1.0, 5.0),
        healthy=Band(None, 1.0),
        weight=3.0,
        playbook="reliability-review",
    )
    daily = rangefile.ranges["daily_invocations"]
    assert daily == KpiRange("daily_invocations", critical=Band(None, 956.0))
    assert type(daily.critical.max) is float  # type: ignore[union-attr]
    assert type(daily.weight) is float
    assert rangefile.scoring == Scoring(
        model="regression",
        intercept=52.14,
        coefficients={"invocation_velocity_change_pct": 0.416, "error_rate_pct": -3.0},
        clamp=(0.0, 90.0),
    )


def test_name_defaults_to_the_slug_and_empty_ranges_are_valid(workdir: Path) -> None:
    path = write("customers/acme.yaml", customer("ranges: {}\n"))
    rangefile, problems = load_range_file(path, None)
    assert problems == []
    assert rangefile is not None
    assert (rangefile.name, rangefile.ranges, rangefile.scoring) == ("acme", {}, None)


def test_scoring_ranges_model_with_and_without_points(workdir: Path) -> None:
    path = write(
        "customers/acme.yaml",
        customer(
            "scoring:\n  model: ranges\n  points: {healthy: 100, risk: 40, critical: 0}\n"
            "ranges: {}\n"
        ),
    )
    rangefile, _ = load_range_file(path, None)
    assert rangefile is not None
    assert rangefile.scoring == Scoring(
        model="ranges", points={"healthy": 100.0, "risk": 40.0, "critical": 0.0}
    )
    path = write("defaults.yaml", DEFAULTS_HEAD + "scoring: {model: ranges}\nranges: {}\n")
    rangefile, _ = load_range_file(path, None)
    assert rangefile is not None
    assert rangefile.scoring == Scoring(model="ranges")
    assert (rangefile.kind, rangefile.customer, rangefile.name) == ("defaults", None, None)


def test_regression_without_clamp_keeps_clamp_none(workdir: Path) -> None:
    path = write(
        "customers/acme.yaml",
        customer(
            "scoring: {model: regression, intercept: 1, coefficients: {error_rate_pct: 2}}\n"
            "ranges: {}\n"
        ),
    )
    rangefile, _ = load_range_file(path, None)
    assert rangefile is not None and rangefile.scoring is not None
    assert rangefile.scoring.clamp is None


def test_data_can_be_given_instead_of_read(workdir: Path) -> None:
    content = customer(GOOD_RANGES).encode()
    rangefile, problems = load_range_file(
        Path("ranges/customers/acme.yaml"), None, display="<stdin>", data=content
    )
    assert problems == []
    assert rangefile is not None
    assert rangefile.sha256 == hashlib.sha256(content).hexdigest()
    _, problems = load_range_file(
        Path("ranges/customers/acme.yaml"), None, display="<stdin>", data=b"version: x\n"
    )
    assert {p.path for p in problems} == {"<stdin>"}


def test_a_missing_or_unreadable_file_is_a_problem(workdir: Path) -> None:
    rangefile, problems = load_range_file(Path("ranges/customers/nope.yaml"), None)
    assert rangefile is None
    assert [str(p) for p in problems] == ["ranges/customers/nope.yaml: no such file"]
    _, problems = load_range_file(Path("ranges/customers"), None)
    assert problems[0].message.startswith("cannot read")


# -- without a valid catalog --------------------------------------------------------------


def test_without_a_catalog_files_are_checked_for_structure_only(workdir: Path) -> None:
    path = write(
        "customers/acme.yaml",
        customer(
            """\
            scoring: {model: regression, intercept: 1, coefficients: {made_up: 2}}
            ranges:
              made_up_kpi:
                critical: {min: 2000}
                healthy: {max: 2000}
              another_one:
                healthy: {min: 5, max: 1}
              Bad-Name:
                healthy: {min: 1}
            """
        ),
    )
    rangefile, problems = load_range_file(path, None)
    assert rangefile is None
    # No "unknown KPI" for each KPI and no order check; structure and names still count.
    assert [(p.where, p.message.split(":")[0]) for p in problems] == [
        ("ranges.another_one.healthy", "min 5 must be less than max 1"),
        ("ranges.Bad-Name", "KPI name 'Bad-Name' is not valid"),
    ]


def test_an_invalid_catalog_is_none_and_load_ranges_still_checks_structure(
    load_ranges,
    workdir: Path,
) -> None:
    write("kpis.yaml", CATALOG_HEAD + "  daily_invocations: {unit: count, better: upward}\n")
    write("customers/acme.yaml", customer("ranges:\n  daily_invocations:\n    risk: {max: x}\n"))
    write("customers/globex.yaml", customer("ranges: {}\n").replace("acme", "globex"))
    catalog, problems = load_catalog(Path("ranges/kpis.yaml"))
    assert catalog is None
    assert [p.where for p in problems] == ["kpis.daily_invocations.better"]
    rangeset = load_ranges(Path("ranges"), defaults=False)
    assert rangeset.catalog is None
    assert [(p.path, p.where) for p in rangeset.errors] == [
        ("ranges/kpis.yaml", "kpis.daily_invocations.better"),
        ("ranges/customers/acme.yaml", "ranges.daily_invocations.risk.max"),
    ]
    assert list(rangeset.customers) == ["globex"]


def test_a_valid_catalog_builds_kpi_definitions(workdir: Path) -> None:
    catalog, problems = load_catalog(Path("ranges/kpis.yaml"), display="catalog")
    assert problems == []
    assert isinstance(catalog, Catalog)
    assert catalog.path == Path("ranges/kpis.yaml")
    assert "error_rate_pct" in catalog
    kpi = catalog.kpis["error_rate_pct"]
    assert (kpi.unit, kpi.better) == ("percent", "lower")
    write("kpis.yaml", CATALOG_HEAD + "  x: {unit: count, better: none}\n")
    catalog, _ = load_catalog(Path("ranges/kpis.yaml"))
    assert catalog is not None and catalog.kpis["x"].description is None


# -- load_ranges ---------------------------------------------------------------------------


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped ranges/ as ./ranges."""
    shutil.copytree(SHIPPED, tmp_path / "ranges")
    monkeypatch.chdir(tmp_path)
    return Path("ranges")


def test_load_ranges_collects_every_problem_of_every_file(load_ranges, shipped: Path) -> None:
    (shipped / "defaults.yaml").write_text(
        (shipped / "defaults.yaml").read_text().replace("version: 1", "version: 0")
    )
    write("customers/acme.yaml", customer("ranges:\n  error_rate: {}\n  p95_latency_ms: 5\n"))
    write("customers/initech.yaml", "apiVersion: kpictl/v1\ncustomer: initech\nranges: {}\n")
    rangeset = load_ranges(shipped)
    assert [(p.path, p.where) for p in rangeset.errors] == [
        ("ranges/defaults.yaml", "version"),
        ("ranges/customers/acme.yaml", "ranges.error_rate"),
        ("ranges/customers/acme.yaml", "ranges.error_rate"),
        ("ranges/customers/acme.yaml", "ranges.p95_latency_ms"),
        ("ranges/customers/initech.yaml", "version"),
    ]
    # Files that fail are left out; the others are there.
    assert rangeset.defaults is None
    assert sorted(rangeset.customers) == ["data-center", "globex"]


def test_load_ranges_selects_customers_and_defaults(load_ranges, shipped: Path) -> None:
    rangeset = load_ranges(shipped, defaults=False, customers=["acme", "acme"])
    assert rangeset.problems == []
    assert rangeset.defaults is None
    assert list(rangeset.customers) == ["acme"]
    assert [f.customer for f in rangeset.files()] == ["acme"]
    rangeset = load_ranges(shipped, customers=[])
    assert rangeset.defaults is not None and rangeset.customers == {}


def test_load_ranges_skips_missing_files_unless_required(load_ranges, shipped: Path) -> None:
    rangeset = load_ranges(shipped, customers=["acme", "nope", "../defaults"])
    assert rangeset.problems == []
    assert list(rangeset.customers) == ["acme"]
    with pytest.raises(RangeFileMissing, match=r"^ranges/customers/nope.yaml: no such file$"):
        load_ranges(shipped, customers=["acme", "nope"], require=True)
    with pytest.raises(RangeFileMissing, match="not a valid customer slug"):
        load_ranges(shipped, customers=["../defaults"], require=True)
    (shipped / "defaults.yaml").unlink()
    assert load_ranges(shipped, customers=["acme"]).defaults is None
    with pytest.raises(RangeFileMissing, match=r"^ranges/defaults.yaml: no such file$"):
        load_ranges(shipped, customers=["acme"], require=True)
    assert load_ranges(shipped, defaults=False, customers=["acme"], require=True).customers


def test_a_missing_catalog_is_an_error_in_the_set(load_ranges, shipped: Path) -> None:
    (shipped / "kpis.yaml").unlink()
    rangeset = load_ranges(shipped)
    assert [str(p) for p in rangeset.errors] == ["ranges/kpis.yaml: no such file"]
    assert rangeset.catalog is None
    assert len(rangeset.customers) == 3  # still read, structurally valid


def test_a_missing_ranges_dir_raises(load_ranges, workdir: Path) -> None:
    with pytest.raises(RangeFileMissing, match=r"^elsewhere: no such directory$"):
        load_ranges(Path("elsewhere"))
    with pytest.raises(RangeFileMissing, match="not a directory"):
        load_ranges(Path("ranges/kpis.yaml"))


def test_load_ranges_warns_about_yml_customer_files(load_ranges, shipped: Path) -> None:
    shutil.copy(shipped / "customers" / "acme.yaml", shipped / "customers" / "initech.yml")
    (shipped / "customers" / ".#acme.yaml").write_text("editor lock file")
    rangeset = load_ranges(shipped)
    assert rangeset.errors == []
    [warning] = rangeset.warnings
    assert warning.path == "ranges/customers/initech.yml"
    assert "rename to initech.yaml" in warning.message


def test_a_customer_file_named_unlike_its_slug_is_reported(load_ranges, shipped: Path) -> None:
    shutil.copy(shipped / "customers" / "acme.yaml", shipped / "customers" / "Acme.yaml")
    rangeset = load_ranges(shipped)
    [error] = rangeset.errors
    assert (error.path, error.where) == ("ranges/customers/Acme.yaml", "customer")


# -- validate_paths ------------------------------------------------------------------------


def test_validate_paths_defaults_to_the_whole_ranges_dir(shipped: Path) -> None:
    assert validate_paths([], shipped) == []


def test_validate_paths_walks_directories_sorted_and_checks_kpis_as_a_catalog(
    shipped: Path,
) -> None:
    write("customers/zeta.yml", "apiVersion: kpictl/v1\ncustomer: zeta\nversion: x\nranges: {}\n")
    write("customers/beta.yaml", "apiVersion: kpictl/v1\ncustomer: beta\nversion: x\nranges: {}\n")
    write("nested/deeper/gamma.yaml", "apiVersion: kpictl/v1\n")
    write("notes.txt", "not checked")
    write("kpis.yaml", CATALOG_HEAD + "  error_rate_pct: {unit: percent, better: lower, x: 1}\n")
    problems = validate_paths([Path("ranges")], Path("ranges"))
    assert [(p.path, p.where) for p in problems] == [
        ("ranges/kpis.yaml", "kpis.error_rate_pct.x"),
        ("ranges/customers/beta.yaml", "version"),
        ("ranges/customers/zeta.yml", "version"),
        ("ranges/nested/deeper/gamma.yaml", "customer"),
        ("ranges/nested/deeper/gamma.yaml", "version"),
        ("ranges/nested/deeper/gamma.yaml", "ranges"),
    ]


def test_validate_paths_reports_the_catalog_once_even_when_named(shipped: Path) -> None:
    write("kpis.yaml", "apiVersion: kpictl/v1\nkpis: []\n")
    paths = [Path("ranges/kpis.yaml"), Path("ranges"), Path("ranges/customers/acme.yaml")]
    problems = validate_paths(paths, Path("ranges"))
    assert [(p.path, p.where) for p in problems] == [("ranges/kpis.yaml", "kpis")]


def test_validate_paths_reports_a_bad_catalog_when_checking_another_file(shipped: Path) -> None:
    (shipped / "kpis.yaml").unlink()
    problems = validate_paths([Path("ranges/customers/acme.yaml")], shipped)
    assert [str(p) for p in problems] == ["ranges/kpis.yaml: no such file"]


def test_validate_paths_checks_a_file_anywhere_against_the_ranges_catalog(
    shipped: Path,
) -> None:
    elsewhere = Path("incoming")
    elsewhere.mkdir()
    (elsewhere / "acme.yaml").write_text(customer("ranges:\n  nope:\n    risk: {min: 1}\n"))
    (elsewhere / "kpis.yaml").write_text(CATALOG_HEAD + "  nope: {unit: x, better: none}\n")
    problems = validate_paths([elsewhere], shipped)
    # incoming/kpis.yaml is valid itself, but the catalog in use is ranges/kpis.yaml.
    assert [(p.path, p.where) for p in problems] == [("incoming/acme.yaml", "ranges.nope")]
    assert "not in the catalog ranges/kpis.yaml" in problems[0].message


def test_validate_paths_raises_on_a_path_that_does_not_exist(shipped: Path) -> None:
    with pytest.raises(RangeFileMissing, match=r"^ranges/customers/nope\.yaml: no such file"):
        validate_paths([Path("ranges/customers/nope.yaml")], shipped)
    with pytest.raises(RangeFileMissing, match=r"^gone: no such directory"):
        validate_paths([], Path("gone"))


def test_validate_paths_returns_warnings_too(shipped: Path) -> None:
    write(
        "customers/acme.yaml",
        customer("ranges:\n  error_rate_pct:\n    healthy: {max: 1}\n    critical: {min: 5}\n"),
    )
    [problem] = validate_paths([Path("ranges/customers/acme.yaml")], shipped)
    assert problem.severity == "warning"


# -- weight of the import ------------------------------------------------------------------


def test_importing_rangefiles_leaves_database_and_cli_libraries_out() -> None:
    code = (
        "import sys, kpictl.rangefiles\n"
        "heavy = {'sqlalchemy', 'typer', 'rich', 'pydantic', 'jsonschema'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
