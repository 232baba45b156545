"""The JSON Schemas of range files: generated from the validator's tables, in step with
the committed files under schemas/, and in agreement with `kpictl validate` on every
rule that a schema can express."""

from __future__ import annotations

import copy
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kpictl.rangefiles import load_catalog, load_range_file, rules
from kpictl.rangefiles.schema import (
    KINDS,
    SCHEMA_FILES,
    CatalogInvalid,
    catalog_of,
    range_file_schema,
    range_file_schemas,
    schema_text,
    stale_schemas,
    write_schemas,
)
from kpictl.rangefiles.yamlstrict import read_yaml

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "ranges"
SCHEMAS = REPO / "schemas"
CATALOG, _ = load_catalog(SHIPPED / "kpis.yaml")
assert CATALOG is not None

MODELINE = "# yaml-language-server: $schema="


def validator(kind: str, *, catalog: bool = True) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(range_file_schema(kind, CATALOG if catalog else None))  # type: ignore[arg-type]


def yaml_bytes(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode()


def kpictl_errors(kind: str, doc: Any, *, catalog: bool = True) -> list[str]:
    """The errors `kpictl validate` finds in ``doc`` as a file of ``kind``."""
    data = yaml_bytes(doc)
    known = CATALOG if catalog else None
    if kind == "catalog":  # the catalog reader reads a file
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "kpis.yaml"
            path.write_bytes(data)
            _, problems = load_catalog(path)
    else:
        path = Path("defaults.yaml" if kind == "defaults" else "customers/acme.yaml")
        _, problems = load_range_file(path, known, data=data)
    return [str(p) for p in problems if p.severity == "error"]


def schema_errors(kind: str, doc: Any, *, catalog: bool = True) -> list[str]:
    """The schema's errors for ``doc`` as kpictl reads it (YAML 1.2 core)."""
    data = read_yaml(yaml_bytes(doc)).data
    return [e.message for e in validator(kind, catalog=catalog).iter_errors(data)]


# -- the committed schemas and the shipped files -----------------------------------------


def test_committed_schemas_are_up_to_date() -> None:
    stale = stale_schemas(SCHEMAS, range_file_schemas(CATALOG))
    assert stale == [], "run `kpictl schema --output-dir schemas` and commit the result"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_catalog", [True, False])
def test_every_schema_is_a_valid_draft7_schema(kind: str, with_catalog: bool) -> None:
    jsonschema.Draft7Validator.check_schema(
        range_file_schema(kind, CATALOG if with_catalog else None)  # type: ignore[arg-type]
    )


def shipped_files() -> list[tuple[Path, str]]:
    files = [(SHIPPED / "kpis.yaml", "catalog"), (SHIPPED / "defaults.yaml", "defaults")]
    files += [(p, "customer") for p in sorted((SHIPPED / "customers").glob("*.yaml"))]
    return files


@pytest.mark.parametrize(
    ("path", "kind"), shipped_files(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_shipped_files_name_their_schema_on_the_first_line(path: Path, kind: str) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(MODELINE), first
    target = (path.parent / first.removeprefix(MODELINE)).resolve()
    assert target == (SCHEMAS / SCHEMA_FILES[kind]).resolve()  # type: ignore[index]
    data = read_yaml(path.read_bytes()).data
    for with_catalog in (True, False):
        errors = list(validator(kind, catalog=with_catalog).iter_errors(data))
        assert errors == [], [e.message for e in errors]


def test_the_schemas_use_the_validators_key_tables() -> None:
    customer = range_file_schema("customer", CATALOG)
    defaults = range_file_schema("defaults", CATALOG)
    catalog = range_file_schema("catalog")
    defs = customer["definitions"]
    assert tuple(customer["properties"]) == rules.CUSTOMER_KEYS
    assert customer["required"] == ["apiVersion", *rules.CUSTOMER_REQUIRED]
    assert tuple(defaults["properties"]) == rules.DEFAULTS_KEYS
    assert defaults["required"] == ["apiVersion", *rules.DEFAULTS_REQUIRED]
    assert not set(rules.DEFAULTS_REFUSED) & set(defaults["properties"])
    assert tuple(catalog["properties"]) == rules.CATALOG_KEYS
    assert tuple(catalog["definitions"]["kpi"]["properties"]) == rules.KPI_DEF_KEYS
    assert catalog["definitions"]["kpi"]["required"] == list(rules.KPI_DEF_REQUIRED)
    assert catalog["definitions"]["kpi"]["properties"]["better"]["enum"] == list(rules.BETTER)
    assert tuple(defs["kpiRange"]["properties"]) == rules.KPI_RANGE_KEYS
    assert tuple(defs["band"]["properties"]) == rules.BAND_KEYS
    assert tuple(defs["rangesModel"]["properties"]) == rules.RANGES_SCORING_KEYS
    assert tuple(defs["regressionModel"]["properties"]) == rules.REGRESSION_KEYS
    regression = defs["regressionModel"]["properties"]
    assert tuple(regression["clamp"]["properties"]) == rules.CLAMP_KEYS
    assert tuple(defs["rangesModel"]["properties"]["points"]["properties"]) == rules.POINTS_KEYS
    assert defs["scoring"]["properties"]["model"]["enum"] == list(rules.MODELS)
    assert list(customer["properties"]["ranges"]["properties"]) == list(CATALOG.kpis)
    assert rules.SCORE_KPI not in regression["coefficients"]["properties"]
    assert customer["properties"]["version"]["maximum"] == rules.MAX_VERSION


def test_write_and_check_a_schemas_directory(tmp_path: Path) -> None:
    built = range_file_schemas(CATALOG)
    target = tmp_path / "schemas"
    assert stale_schemas(target, built) == [target / name for name in SCHEMA_FILES.values()]
    assert len(write_schemas(target, built)) == 3
    assert stale_schemas(target, built) == []
    assert write_schemas(target, built) == []  # unchanged files are not rewritten
    assert (target / "kpis.schema.json").read_text() == schema_text(built["catalog"])


def test_catalog_of_a_ranges_dir(tmp_path: Path) -> None:
    assert catalog_of(SHIPPED, required=True) == CATALOG
    assert catalog_of(tmp_path, required=False) is None
    (tmp_path / "kpis.yaml").write_text("apiVersion: kpictl/v1\nkpis: {x: {unit: n}}\n")
    with pytest.raises(CatalogInvalid) as raised:
        catalog_of(tmp_path, required=False)
    assert raised.value.exit_code == 2
    assert "kpis.x.better: required key is missing" in str(raised.value.problems[0])


# -- the schema agrees with the validator -------------------------------------------------

BASE: dict[str, Any] = {
    "apiVersion": "kpictl/v1",
    "customer": "acme",
    "name": "Acme Corp",
    "version": 3,
    "scoring": {
        "model": "regression",
        "intercept": 52.14,
        "coefficients": {"invocation_velocity_change_pct": 0.416},
        "clamp": {"min": 0, "max": 100},
    },
    "ranges": {
        "daily_invocations": {
            "critical": {"max": 100},
            "risk": {"min": 100, "max": 500},
            "healthy": {"min": 500},
            "weight": 2,
            "playbook": "usage-drop",
        },
        "error_rate_pct": {"critical": {"min": 2}, "healthy": {"max": 0.5}},
    },
}


def edit(*path: Any, value: Any = None, delete: bool = False) -> Callable[[dict], dict]:
    def apply(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        node = doc
        for key in path[:-1]:
            node = node[key]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return doc

    return apply


RNG = ("ranges", "daily_invocations")
SCORING = ("scoring",)

BOTH_ACCEPT = {
    "the base file": edit("version", value=3),
    "no name": edit("name", delete=True),
    "no scoring": edit("scoring", delete=True),
    "no ranges of its own": edit("ranges", value={}),
    "one band": edit("ranges", value={"error_rate_pct": {"risk": {"min": 0.5, "max": 2}}}),
    "weight zero": edit(*RNG, "weight", value=0),
    "a float weight": edit(*RNG, "weight", value=0.25),
    "1e6 is a number": edit(*RNG, "healthy", "min", value=1e6),
    "no clamp": edit(*SCORING, "clamp", delete=True),
    "ranges model": edit("scoring", value={"model": "ranges"}),
    "ranges model with points": edit(
        "scoring", value={"model": "ranges", "points": {"healthy": 10, "risk": 5, "critical": 0}}
    ),
}

BOTH_REFUSE = {
    "unknown top key": edit("customers", value="acme"),
    "no apiVersion": edit("apiVersion", delete=True),
    "apiVersion v2": edit("apiVersion", value="kpictl/v2"),
    "apiVersion a number": edit("apiVersion", value=1),
    "no customer": edit("customer", delete=True),
    "no version": edit("version", delete=True),
    "no ranges": edit("ranges", delete=True),
    "version 0": edit("version", value=0),
    "version a string": edit("version", value="3"),
    "version a boolean": edit("version", value=True),
    "version too large": edit("version", value=rules.MAX_VERSION + 1),
    "bad slug": edit("customer", value="-acme"),
    "empty name": edit("name", value=" "),
    "name a number": edit("name", value=7),
    "ranges a list": edit("ranges", value=["daily_invocations"]),
    "unknown KPI": edit("ranges", "daily_invocation", value={"critical": {"max": 1}}),
    "KPI not a mapping": edit(*RNG, value=5),
    "KPI without a band": edit(*RNG, value={"weight": 1}),
    "unknown KPI key": edit(*RNG, "helthy", value={"min": 1}),
    "unknown band key": edit(*RNG, "healthy", value={"minimum": 500}),
    "empty band": edit(*RNG, "healthy", value={}),
    "band not a mapping": edit(*RNG, "healthy", value=500),
    "bound a string": edit(*RNG, "healthy", "min", value="500"),
    "bound a boolean": edit(*RNG, "healthy", "min", value=True),
    "bound null": edit(*RNG, "healthy", "min", value=None),
    "negative weight": edit(*RNG, "weight", value=-1),
    "weight a string": edit(*RNG, "weight", value="2"),
    "bad playbook": edit(*RNG, "playbook", value="Usage Drop"),
    "playbook a number": edit(*RNG, "playbook", value=7),
    "scoring not a mapping": edit("scoring", value="regression"),
    "scoring without a model": edit(*SCORING, "model", delete=True),
    "unknown model": edit(*SCORING, "model", value="linear"),
    "regression without intercept": edit(*SCORING, "intercept", delete=True),
    "regression without coefficients": edit(*SCORING, "coefficients", delete=True),
    "no coefficient": edit(*SCORING, "coefficients", value={}),
    "coefficient on health_score": edit(*SCORING, "coefficients", "health_score", value=1),
    "coefficient on an unknown KPI": edit(*SCORING, "coefficients", "nope", value=1),
    "coefficient a string": edit(*SCORING, "coefficients", "error_rate_pct", value="1"),
    "intercept a string": edit(*SCORING, "intercept", value="52"),
    "clamp without max": edit(*SCORING, "clamp", value={"min": 0}),
    "clamp extra key": edit(*SCORING, "clamp", value={"min": 0, "max": 1, "mid": 0.5}),
    "points on a regression": edit(*SCORING, "points", value={"healthy": 1}),
    "intercept on a ranges model": edit("scoring", value={"model": "ranges", "intercept": 1}),
    "points missing risk": edit(
        "scoring", value={"model": "ranges", "points": {"healthy": 100, "critical": 0}}
    ),
    "points extra key": edit(
        "scoring",
        value={"model": "ranges", "points": {"healthy": 1, "risk": 1, "critical": 0, "x": 1}},
    ),
}

# What a schema cannot say: these pass the schema, and only `kpictl validate` refuses them.
ONLY_KPICTL_REFUSES = {
    "min >= max": edit(*RNG, "risk", value={"min": 500, "max": 100}),
    "overlapping bands": edit(*RNG, "risk", value={"min": 50, "max": 500}),
    "bands against better": edit(*RNG, value={"critical": {"min": 500}, "healthy": {"max": 100}}),
    "customer differs from the file name": edit("customer", value="globex"),
    "clamp min >= max": edit(*SCORING, "clamp", value={"min": 100, "max": 0}),
}


@pytest.mark.parametrize("case", list(BOTH_ACCEPT))
def test_both_accept(case: str) -> None:
    doc = BOTH_ACCEPT[case](BASE)
    assert kpictl_errors("customer", doc) == []
    assert schema_errors("customer", doc) == []


@pytest.mark.parametrize("case", list(BOTH_REFUSE))
def test_both_refuse(case: str) -> None:
    doc = BOTH_REFUSE[case](BASE)
    assert kpictl_errors("customer", doc) != []
    assert schema_errors("customer", doc) != []


@pytest.mark.parametrize("case", list(ONLY_KPICTL_REFUSES))
def test_what_only_kpictl_validate_refuses(case: str) -> None:
    doc = ONLY_KPICTL_REFUSES[case](BASE)
    assert kpictl_errors("customer", doc) != []
    assert schema_errors("customer", doc) == []


def defaults_doc() -> dict:
    doc = copy.deepcopy(BASE)
    del doc["customer"], doc["name"]
    return doc


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"customer": "acme"}, False),
        ({"name": "Defaults"}, False),
        ({"version": -1}, False),
    ],
)
def test_defaults_schema_agrees(change: dict, valid: bool) -> None:
    doc = {**defaults_doc(), **change}
    assert (kpictl_errors("defaults", doc) == []) is valid
    assert (schema_errors("defaults", doc) == []) is valid


def test_without_a_catalog_any_valid_kpi_name_is_accepted() -> None:
    doc = edit("ranges", "not_in_the_catalog", value={"critical": {"max": 1}})(BASE)
    assert kpictl_errors("customer", doc, catalog=False) == []
    assert schema_errors("customer", doc, catalog=False) == []
    bad = edit("ranges", "Not-A-Name", value={"critical": {"max": 1}})(BASE)
    assert kpictl_errors("customer", bad, catalog=False) != []
    assert schema_errors("customer", bad, catalog=False) != []
    score = edit(*SCORING, "coefficients", "health_score", value=1)(BASE)
    assert schema_errors("customer", score, catalog=False) != []


CATALOG_BASE = {
    "apiVersion": "kpictl/v1",
    "kpis": {
        "daily_invocations": {"unit": "count", "better": "higher", "description": "Per day"},
        "target": {"unit": "x", "better": "none"},
    },
}


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        (edit("kpis", "target", "description", value="Aim"), True),
        (edit("kpis", value={}), True),
        (edit("kpis", "target", "better", value="up"), False),
        (edit("kpis", "target", "unit", delete=True), False),
        (edit("kpis", "target", "unit", value=""), False),
        (edit("kpis", "target", "owner", value="me"), False),
        (edit("kpis", "Bad-Name", value={"unit": "x", "better": "none"}), False),
        (edit("kpis", "target", value="x"), False),
        (edit("kpis", delete=True), False),
        (edit("extra", value=1), False),
    ],
)
def test_catalog_schema_agrees(change: Callable[[dict], dict], valid: bool) -> None:
    doc = change(CATALOG_BASE)
    assert (kpictl_errors("catalog", doc) == []) is valid
    assert (schema_errors("catalog", doc) == []) is valid


# Random bands: whatever keys and values, the schema and the validator agree, except on
# min >= max, which only the validator can check.
VALUES = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
)
BAND_DICTS = st.dictionaries(
    st.one_of(st.sampled_from(["min", "max"]), st.text(min_size=1, max_size=6)),
    VALUES,
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(band=BAND_DICTS, weight=VALUES)
def test_random_bands_and_weights(band: dict, weight: Any) -> None:
    doc = edit("ranges", value={"daily_invocations": {"critical": band, "weight": weight}})(BASE)
    seen = read_yaml(yaml_bytes(doc)).data["ranges"]["daily_invocations"]["critical"]
    low, high = seen.get("min"), seen.get("max")
    numbers = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in (low, high)
    )
    if numbers and low >= high:
        return  # the validator's alone
    assert (kpictl_errors("customer", doc) == []) == (schema_errors("customer", doc) == [])
