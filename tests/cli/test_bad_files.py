"""Every invalid-file rule, end to end: validate exits 1, seed exits 2 with an 'error:'
line naming the file, line and field, and the database is exactly as it was."""

from __future__ import annotations

import re

import pytest

GOOD = """\
apiVersion: kpictl/v1
customer: acme
name: Acme Corp
version: 1
ranges:
  error_rate_pct:
    critical: {min: 2}
    risk: {min: 0.5, max: 2}
    healthy: {max: 0.5}
"""

# (case id, file text, the "where" the error must name, a fragment of its message)
BAD = [
    ("not-yaml", GOOD + "  : [\n", "", "YAML"),
    ("not-a-mapping", "- 1\n- 2\n", "", "mapping"),
    ("too-large", GOOD + "#" + "x" * (1 << 20) + "\n", "", "1 MiB"),
    ("no-apiversion", GOOD.replace("apiVersion: kpictl/v1\n", ""), "apiVersion", "missing"),
    ("newer-apiversion", GOOD.replace("kpictl/v1", "kpictl/v2"), "apiVersion", "upgrade"),
    ("duplicate-key", GOOD + "version: 2\n", "version", "duplicate"),
    (
        "alias-bomb",
        "apiVersion: kpictl/v1\ncustomer: acme\nversion: 1\nranges: {}\n"
        + "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "",
        "alias",
    ),
    ("unknown-top-key", GOOD + "colour: red\n", "colour", "unknown key"),
    (
        "unknown-band-key",
        GOOD.replace("{min: 2}", "{min: 2, mx: 3}"),
        "ranges.error_rate_pct.critical.mx",
        "unknown key",
    ),
    ("missing-version", GOOD.replace("version: 1\n", ""), "version", "missing"),
    (
        "unknown-kpi",
        GOOD.replace("error_rate_pct:", "eror_rate_pct:"),
        "ranges.eror_rate_pct",
        "catalog",
    ),
    ("bad-slug", GOOD.replace("customer: acme", "customer: Acme_Corp"), "customer", "slug"),
    ("stem-mismatch", GOOD.replace("customer: acme", "customer: globex"), "customer", "stem"),
    (
        "string-bound",
        GOOD.replace("{min: 2}", "{min: two}"),
        "ranges.error_rate_pct.critical.min",
        "number",
    ),
    (
        "boolean-bound",
        GOOD.replace("{min: 2}", "{min: true}"),
        "ranges.error_rate_pct.critical.min",
        "boolean",
    ),
    (
        "nan-bound",
        GOOD.replace("{min: 2}", "{min: .nan}"),
        "ranges.error_rate_pct.critical.min",
        "finite",
    ),
    ("inf-weight", GOOD + "    weight: .inf\n", "ranges.error_rate_pct.weight", "finite"),
    ("negative-weight", GOOD + "    weight: -1\n", "ranges.error_rate_pct.weight", ">= 0"),
    (
        "min-not-below-max",
        GOOD.replace("{min: 0.5, max: 2}", "{min: 2, max: 0.5}"),
        "ranges.error_rate_pct.risk",
        "less than",
    ),
    (
        "no-band",
        GOOD.replace(
            "    critical: {min: 2}\n    risk: {min: 0.5, max: 2}\n    healthy: {max: 0.5}\n",
            "    weight: 1\n",
        ),
        "ranges.error_rate_pct",
        "band",
    ),
    (
        "overlap",
        GOOD.replace("{min: 0.5, max: 2}", "{min: 0.5, max: 3}"),
        "ranges.error_rate_pct",
        "overlap",
    ),
    (
        "contradicts-better",
        GOOD.replace("critical: {min: 2}", "critical: {max: 0.1}").replace(
            "healthy: {max: 0.5}", "healthy: {min: 2}"
        ),
        "ranges.error_rate_pct",
        "contradicts better",
    ),
    ("unknown-model", GOOD + "scoring: {model: neural}\n", "scoring.model", "unknown model"),
    (
        "coefficient-on-health-score",
        GOOD + "scoring: {model: regression, intercept: 1, coefficients: {health_score: 1}}\n",
        "scoring.coefficients.health_score",
        "output, not an input",
    ),
    (
        "coefficient-unknown-kpi",
        GOOD + "scoring: {model: regression, intercept: 1, coefficients: {nope: 1}}\n",
        "scoring.coefficients.nope",
        "",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_invalid_file_is_refused_and_nothing_changes(
    kpictl, ranges_dir, db_url, db_snapshot, text: str, where: str, fragment: str
) -> None:
    kpictl("seed", "--all")
    before = db_snapshot(db_url)
    (ranges_dir / "customers" / "acme.yaml").write_text(text)

    validated = kpictl("validate", expect=1)
    seeded = kpictl("seed", "--all", expect=2)

    for result in (validated, seeded):
        assert "Traceback" not in result.output
        line = next(
            (
                err
                for err in result.stderr.splitlines()
                if err.startswith("error:") and "customers/acme.yaml" in err
            ),
            None,
        )
        assert line is not None, result.stderr
        location = re.search(r"customers/acme\.yaml(:\d+)? (\S+):", line)
        if where:
            assert location and location.group(2) == where, line
            assert location.group(1), f"no line number: {line}"
        assert fragment.lower() in line.lower(), line
    assert "nothing was applied" in seeded.stderr
    assert db_snapshot(db_url) == before
