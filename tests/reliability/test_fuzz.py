"""Property-based fuzzing of the range-file reader: mutated shipped files and generated
documents go through ``kpictl validate`` and ``kpictl seed --all --dry-run``.

The only outcomes allowed: exit 0, 1 or 2, with an ``error:`` line on failure; never
a traceback or an "unexpected" error, never a hang (each run is cut off after 10 s),
never a memory blow-up; and the two commands agree (a file set that validates is one
that seeds). Together about 250 documents, within a minute.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kpictl.cli.app import app
from tests.helpers import reliability

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {
    str(p.relative_to(REPO / "ranges")): p.read_bytes()
    for p in sorted((REPO / "ranges").rglob("*.yaml"))
}
KPIS = list(yaml.safe_load(SHIPPED["kpis.yaml"])["kpis"])
SECONDS_PER_RUN = 10
MAX_GROWTH_KB = 300 * 1024


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, **_FUZZ)


_FUZZ: dict[str, Any] = dict(
    deadline=None,  # time is bounded by SIGALRM below, per run, as a failure
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


class Bench:
    """A ranges dir and a seeded SQLite database, reused by every example (seed
    --dry-run writes nothing); each example replaces one file and puts it back."""

    def __init__(self, root: Path, time_limit: Any) -> None:
        self.time_limit = time_limit
        self.ranges = root / "ranges"
        shutil.copytree(REPO / "ranges", self.ranges)
        self.env = {
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "KPICTL_DEBUG": "",
            "KPICTL_DATABASE_URL": f"sqlite:///{root / 'kpictl.db'}",
            "KPICTL_RANGES_DIR": str(self.ranges),
        }
        self.runner = CliRunner()
        assert self.run("seed", "--all").exit_code == 0
        self.database = (root / "kpictl.db").read_bytes()
        self.rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def run(self, *args: str) -> Any:
        with self.time_limit(SECONDS_PER_RUN):
            return self.runner.invoke(app, list(args), env=self.env, catch_exceptions=False)

    def check(self, target: str, data: bytes) -> None:
        path = self.ranges / target
        path.write_bytes(data)
        try:
            validated = self.run("validate")
            seeded = self.run("seed", "--all", "--dry-run")
        finally:
            path.write_bytes(SHIPPED[target])
        for result in (validated, seeded):
            output = result.stdout + result.stderr
            assert result.exit_code in (0, 1, 2), output
            assert "Traceback" not in output, output
            assert "error: unexpected" not in output, output
            if result.exit_code != 0:
                assert any(line.startswith("error:") for line in result.stderr.splitlines())
        assert validated.exit_code in (0, 1), validated.output
        event(f"validate exit {validated.exit_code}, seed --dry-run exit {seeded.exit_code}")
        # the two agree: what validates seeds, what does not is refused
        assert (validated.exit_code == 0) == (seeded.exit_code == 0), (
            validated.output,
            seeded.output,
        )

    def finish(self, root: Path) -> None:
        assert (root / "kpictl.db").read_bytes() == self.database  # dry runs wrote nothing
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.rss_before
        assert grown < MAX_GROWTH_KB, f"peak memory grew by {grown // 1024} MB"


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    made = Bench(tmp_path, reliability.time_limit)
    yield made
    made.finish(tmp_path)


# -- mutations of the shipped files ------------------------------------------------

HOSTILE_SCALARS = [
    ".nan", ".inf", "-.inf", "1e400", "-1e400", "1e-400", "9" * 400, "0x1F", "0o17",
    "1_000", "yes", "no", "on", "~", "null", '""', "''", "-0", "+12", ".5", "5.",
    "2026-11-30", "12:30:00", "!!str 1", "!!int x", "!!float 1", "!!binary aGk=",
    "!!python/none", "!!python/object/apply:os.system [id]", "!include x", "&a 1", "*a",
    "*nowhere", "[1, 2]", "{min: 1}", "{", "[", "|\n  x", ">-", "'unterminated",
    '"\\x00"', '"\\uD800"', "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u202eevil", "e\u0301", "x" * 10_000,
    "'; DROP TABLE customers; --",
]  # fmt: skip
HOSTILE_KEYS = [
    "'; DROP TABLE customers; --", "<<", "? [a, b]", "1", "null", "true", "~", "''",
    "apiVersion", "version", "ranges", "customer", "name", "scoring", "weight",
    "playbook", "critical", "risk", "healthy", "min", "max", "model", "points",
    "intercept", "coefficients", "clamp", "health_score", "k" * 1000, "ｍｉｎ",
    *KPIS,
]  # fmt: skip
_SCALAR = re.compile(rb"(?<=: )[^\n{}\[\],#]+|(?<=: )\{[^\n]*\}|-?\d+(?:\.\d+)?")
_KEY = re.compile(rb"^(\s*)([A-Za-z_]+):", re.M)


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, bytes]:
    target = draw(st.sampled_from(sorted(SHIPPED)))
    data = SHIPPED[target]
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.sampled_from(MUTATIONS))(draw, data)
    return target, data


def _flip_byte(draw: st.DrawFn, data: bytes) -> bytes:
    if not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n") or [b""]


def _delete_line(draw: st.DrawFn, data: bytes) -> bytes:
    lines = _lines(data)
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"\n".join(lines)


def _duplicate_line(draw: st.DrawFn, data: bytes) -> bytes:
    lines = _lines(data)
    line = lines[draw(st.integers(0, len(lines) - 1))]
    lines.insert(draw(st.integers(0, len(lines))), line)
    return b"\n".join(lines)


def _swap_lines(draw: st.DrawFn, data: bytes) -> bytes:
    lines = _lines(data)
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _truncate(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


def _replace_scalar(draw: st.DrawFn, data: bytes) -> bytes:
    spots = list(_SCALAR.finditer(data))
    if not spots:
        return data
    spot = draw(st.sampled_from(spots))
    new = draw(
        st.sampled_from(HOSTILE_SCALARS)
        | st.text(max_size=40).map(json.dumps)
        | st.integers().map(str)
        | st.floats().map(repr)
    )
    return data[: spot.start()] + new.encode() + data[spot.end() :]


def _replace_key(draw: st.DrawFn, data: bytes) -> bytes:
    spots = list(_KEY.finditer(data))
    if not spots:
        return data
    spot = draw(st.sampled_from(spots))
    new = draw(st.sampled_from(HOSTILE_KEYS) | st.text(min_size=1, max_size=30).map(json.dumps))
    return data[: spot.start(2)] + new.encode() + data[spot.end(2) :]


def _insert_text(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.text(max_size=20)).encode("utf-8", "surrogatepass") + data[at:]


def _deep_nesting(draw: st.DrawFn, data: bytes) -> bytes:
    depth = draw(st.integers(1, 20_000))
    kind = draw(st.sampled_from(["[", "{a: "]))
    close = "]" if kind == "[" else "}"
    return data + f"\nnested: {kind * depth}{close * depth}\n".encode()


def _block_nesting(draw: st.DrawFn, data: bytes) -> bytes:
    depth = draw(st.integers(1, 300))
    return data + b"\n" + b"".join(b" " * i + b"k:\n" for i in range(depth))


def _long_line(draw: st.DrawFn, data: bytes) -> bytes:
    return data + b"\n# " + b"x" * draw(st.integers(0, 1_200_000)) + b"\n"


def _alias_bomb(draw: st.DrawFn, data: bytes) -> bytes:
    width, depth = draw(st.integers(2, 12)), draw(st.integers(1, 9))
    lines = ["bomb0: &b0 [x, x]"]
    lines += [f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, depth)]
    return data + ("\n" + "\n".join(lines) + "\n").encode()


def _recursive_alias(draw: st.DrawFn, data: bytes) -> bytes:
    return data + b"\nloop: &loop {self: *loop}\n"


MUTATIONS = [
    _flip_byte, _delete_line, _duplicate_line, _swap_lines, _truncate, _replace_scalar,
    _replace_key, _insert_text, _deep_nesting, _block_nesting, _long_line, _alias_bomb,
    _recursive_alias,
]  # fmt: skip


@fuzz(150)
@given(case=mutated_file())
def test_mutated_range_files_fail_cleanly(bench: Bench, case: tuple[str, bytes]) -> None:
    bench.check(*case)


# -- generated documents -----------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["kpictl/v1", "acme", "regression", "ranges", "higher", "lower"])
)
keys = st.sampled_from(HOSTILE_KEYS) | st.text(max_size=12)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
numbers = st.integers(-(10**6), 10**6) | st.floats(allow_nan=True, allow_infinity=True)
band = st.dictionaries(st.sampled_from(["min", "max"]) | keys, numbers | anything, max_size=3)
kpi_range = st.dictionaries(
    st.sampled_from(["critical", "risk", "healthy", "weight", "playbook"]) | keys,
    band | numbers | anything,
    max_size=5,
)
range_file = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["kpictl/v1", "kpictl/v1", "kpictl/v2", "v1"]) | scalars},
    optional={
        "customer": st.sampled_from(["acme", "globex", "Acme", "'; DROP TABLE x; --"]) | scalars,
        "name": st.text(max_size=50) | anything,
        "version": st.integers(-2, 2**40) | scalars,
        "ranges": st.dictionaries(st.sampled_from(KPIS) | keys, kpi_range | anything, max_size=6),
        "scoring": st.fixed_dictionaries(
            {"model": st.sampled_from(["ranges", "regression", "neural"]) | scalars},
            optional={
                "intercept": numbers,
                "coefficients": st.dictionaries(st.sampled_from(KPIS) | keys, numbers, max_size=3),
                "points": st.dictionaries(
                    st.sampled_from(["healthy", "risk", "critical"]), numbers
                ),
                "clamp": band,
            },
        )
        | anything,
        "extra": anything,
    },
)
catalog = st.fixed_dictionaries(
    {"apiVersion": st.just("kpictl/v1") | scalars},
    optional={
        "kpis": st.dictionaries(
            st.sampled_from(KPIS) | keys,
            st.fixed_dictionaries(
                {},
                optional={
                    "unit": st.text(max_size=10) | scalars,
                    "better": st.sampled_from(["higher", "lower", "none", "up"]) | scalars,
                    "description": st.text(max_size=20) | scalars,
                },
            )
            | anything,
            max_size=12,
        )
    },
)


@st.composite
def generated_file(draw: st.DrawFn) -> tuple[str, bytes]:
    target = draw(st.sampled_from(["customers/acme.yaml", "defaults.yaml", "kpis.yaml"]))
    document = draw(catalog if target == "kpis.yaml" else range_file)
    flow = draw(st.booleans())
    text = yaml.safe_dump(
        document, default_flow_style=flow, allow_unicode=draw(st.booleans()), sort_keys=False
    )
    return target, text.encode("utf-8", "surrogatepass")


@fuzz(100)
@given(case=generated_file())
def test_generated_range_files_fail_cleanly(bench: Bench, case: tuple[str, bytes]) -> None:
    bench.check(*case)
