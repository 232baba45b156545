"""Strict YAML: core-schema scalars, duplicate keys, tags, alias bombs, limits.

Every test runs on both parsers (libyaml and pure Python) through the ``pure``
fixture; the C side is skipped only when libyaml is not installed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpictl.rangefiles import yamlstrict
from kpictl.rangefiles.yamlstrict import StrictYamlError, read_yaml, resolve_plain


@pytest.fixture(params=[False, True], ids=["libyaml", "pure"])
def pure(request: pytest.FixtureRequest) -> bool:
    if not request.param and not yamlstrict.HAVE_LIBYAML:
        pytest.skip("libyaml is not installed")
    return bool(request.param)


def value(text: str, pure: bool) -> object:
    return read_yaml(f"v: {text}\n".encode(), pure=pure).data["v"]


def refused(data: bytes | str, pure: bool) -> StrictYamlError:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(StrictYamlError) as caught:
        read_yaml(raw, pure=pure)
    return caught.value


# -- scalars: the YAML 1.2 core schema -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("~", None),
        ("null", None),
        ("NULL", None),
        ("", None),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e6", 1_000_000.0),
        ("1E6", 1_000_000.0),
        ("1.5e-3", 0.0015),
        ("-2.5E+2", -250.0),
        (".5", 0.5),
        ("1.", 1.0),
        (".inf", math.inf),
        ("-.inf", -math.inf),
        ("+.INF", math.inf),
        # YAML 1.1 would turn these into booleans, sexagesimals or numbers: 1.2 doesn't.
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("1_000", "1_000"),
        ("1:30", "1:30"),
        ("0b101", "0b101"),
        ("2024-01-01", "2024-01-01"),
        ("abc", "abc"),
        ("'5'", "5"),
        ('"true"', "true"),
        ("'~'", "~"),
        ("!!str 5", "5"),
        ("!!float 5", 5.0),
        ("!!int 0x10", 16),
        ("!!bool true", True),
        ("!!null ~", None),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text: str, expected: object, pure: bool) -> None:
    got = value(text, pure)
    assert got == expected
    assert type(got) is type(expected)


def test_nan_is_a_float_nan(pure: bool) -> None:
    got = value(".nan", pure)
    assert isinstance(got, float)
    assert math.isnan(got)


def test_block_scalars_are_strings(pure: bool) -> None:
    assert value("|\n  5\n", pure) == "5\n"


def test_an_integer_too_long_for_int_is_still_a_number(pure: bool) -> None:
    assert value("9" * 5000, pure) == math.inf


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_written_by_python_reads_back(number: float) -> None:
    assert resolve_plain(repr(number)) == number


@given(st.integers())
def test_any_integer_reads_back(number: int) -> None:
    assert resolve_plain(str(number)) == number


# -- structure -------------------------------------------------------------------------


def test_lines_of_keys_are_recorded(pure: bool) -> None:
    doc = read_yaml(b"# comment\na:\n  b: 1\n  c:\n    - x\n    - y\n", pure=pure)
    assert doc.data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert doc.lines[()] == 2
    assert doc.lines[("a",)] == 2
    assert doc.lines[("a", "b")] == 3
    assert doc.lines[("a", "c", 1)] == 6
    assert doc.line(("a", "b", "missing")) == 3


def test_a_duplicate_key_is_reported_with_both_lines(pure: bool) -> None:
    doc = read_yaml(b"a:\n  min: 1\n  max: 2\n  min: 3\n", pure=pure)
    assert doc.data == {"a": {"min": 1, "max": 2}}  # the first value is kept
    [issue] = doc.issues
    assert issue.path == ("a", "min")
    assert issue.line == 4
    assert issue.message == "duplicate key 'min' (first on line 2, again on line 4)"


def test_duplicate_keys_are_found_in_flow_mappings_and_everywhere(pure: bool) -> None:
    doc = read_yaml(b"a: {x: 1, x: 2}\nb: 1\nb: 2\n", pure=pure)
    assert [(i.path, i.line) for i in doc.issues] == [(("a", "x"), 1), (("b",), 3)]


def test_keys_equal_after_resolution_are_duplicates(pure: bool) -> None:
    doc = read_yaml(b"1: a\n0x1: b\n", pure=pure)
    assert len(doc.issues) == 1


def test_merge_keys_are_plain_keys_not_merges(pure: bool) -> None:
    doc = read_yaml(b"base: &b {min: 1}\nband:\n  <<: *b\n  max: 2\n", pure=pure)
    assert doc.data["band"] == {"<<": {"min": 1}, "max": 2}


def test_small_aliases_are_expanded(pure: bool) -> None:
    doc = read_yaml(b"a: &x {min: 1, max: 2}\nb: *x\n", pure=pure)
    assert doc.data == {"a": {"min": 1, "max": 2}, "b": {"min": 1, "max": 2}}
    assert doc.lines[("b", "max")] == 1


def test_a_billion_laughs_document_is_refused(pure: bool) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    error = refused("\n".join(lines) + "\n", pure)
    assert "alias expansion too large" in error.message


def test_a_recursive_alias_is_refused(pure: bool) -> None:
    error = refused("a: &a\n  b: *a\n", pure)
    assert "recursive alias" in error.message
    assert error.line is not None


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a: !!python/object:os.system x\n", "!!python/object:os.system"),
        ("a: !!python/name:os.system\n", "!!python/name:os.system"),
        ("a: !foo 1\n", "!foo"),
        ("a: !!binary aGk=\n", "!!binary"),
        ("a: !!timestamp 2024-01-01\n", "!!timestamp"),
        ("a: !!set {x: null}\n", "!!set"),
        ("a: !!omap [x: 1]\n", "!!omap"),
        ("a: !custom {x: 1}\n", "!custom"),
        ("a: !custom [1]\n", "!custom"),
        ("!!python/name:os.system x: 1\n", "!!python/name:os.system"),
    ],
)
def test_explicit_non_standard_tags_are_refused(text: str, tag: str, pure: bool) -> None:
    error = refused(text, pure)
    assert error.message == f"tag {tag} is not allowed"
    assert error.line == 1


def test_a_standard_tag_that_does_not_fit_is_refused(pure: bool) -> None:
    error = refused("a: 1\nb: !!int abc\n", pure)
    assert error.message == "'abc' is not a valid !!int"
    assert error.line == 2


def test_a_mapping_as_key_is_refused(pure: bool) -> None:
    error = refused("? [a]\n: 1\n", pure)
    assert "key" in error.message


# -- documents that cannot be read -----------------------------------------------------


def test_a_file_over_one_mib_is_refused_before_parsing(pure: bool) -> None:
    error = refused(b"a: " + b"x" * yamlstrict.MAX_BYTES + b"\n", pure)
    assert "larger than 1 MiB" in error.message


def test_a_file_of_exactly_one_mib_is_read() -> None:
    data = b"a: 1\n" + b"#" * (yamlstrict.MAX_BYTES - 6) + b"\n"
    assert len(data) == yamlstrict.MAX_BYTES
    assert read_yaml(data).data == {"a": 1}


@pytest.mark.parametrize("data", [b"", b"\n\n", b"# only a comment\n", b"---\n"])
def test_an_empty_document_is_refused(data: bytes, pure: bool) -> None:
    assert "empty" in refused(data, pure).message


@pytest.mark.parametrize(
    ("data", "got"),
    [(b"- 1\n- 2\n", "a list"), (b"just text\n", "a single value"), (b"42\n", "a single value")],
)
def test_a_document_that_is_not_a_mapping_is_refused(data: bytes, got: str, pure: bool) -> None:
    error = refused(data, pure)
    assert error.message == f"must be a mapping at the top level, got {got}"
    assert error.line == 1


def test_invalid_utf8_is_refused_with_its_line(pure: bool) -> None:
    error = refused(b"a: 1\nb: caf\xe9\n", pure)
    assert error.message.startswith("not valid UTF-8")
    assert error.line == 2


def test_a_byte_order_mark_is_accepted(pure: bool) -> None:
    assert read_yaml(b"\xef\xbb\xbfa: 1\n", pure=pure).data == {"a": 1}


@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        ("a: 1\nb: c: d\n", 2, "mapping values are not allowed here"),
        ("a:\n\tb: 1\n", 2, "cannot start any token"),
        ("a: 'unclosed\nb: 2\n", 3, "found unexpected end of stream"),
        ("a: [1, 2\nb: 3\n", 2, "expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a: *nope\n", 1, "undefined alias"),
        ("a: \x07\n", 1, "character #x0007 is not allowed"),
    ],
)
def test_invalid_yaml_reports_the_parsers_line(
    data: str, line: int, fragment: str, pure: bool
) -> None:
    error = refused(data, pure)
    assert error.message.startswith("invalid YAML: ")
    assert fragment in error.message
    assert error.line == line


@pytest.mark.parametrize(
    "data",
    [
        # libyaml stops at 1000 levels, the pure parser runs out of stack a little
        # earlier, and kpictl stops at 64 itself: the same error whoever stops first.
        "a:\n" + "- " * 2000 + "x\n",
        "a: " + "[" * 600 + "]" * 600 + "\n",
        "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(80)),
    ],
    ids=["block-list-2000", "flow-600", "block-mapping-80"],
)
def test_deep_nesting_is_refused(data: str, pure: bool) -> None:
    error = refused(data, pure)
    assert (error.message, error.line) == (
        "invalid YAML: nested too deeply (more than 64 levels)",
        None,
    )


def test_a_bad_document_gets_the_same_message_from_both_parsers() -> None:
    if not yamlstrict.HAVE_LIBYAML:
        pytest.skip("libyaml is not installed")
    for data in ["a: b: c\n", "a: @x\n", "a: [1\n", "a: " + "[" * 1100 + "\n"]:
        results = []
        for pure in (False, True):
            error = refused(data, pure)
            results.append((error.message, error.line))
        assert results[0] == results[1], data[:40]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab:-[]{}, \n'\"&*!#?|>~.0123456789\t", max_size=60))
def test_arbitrary_text_is_read_or_refused_never_crashes(text: str) -> None:
    try:
        read_yaml(text.encode())
    except StrictYamlError as error:
        assert error.message
