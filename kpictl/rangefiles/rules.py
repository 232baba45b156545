"""The rules of range files as data: the keys of every mapping, which of them are
required, and the patterns of names and numbers.

The validator (``loader.py``) enforces these; ``schema.py`` publishes them as JSON
Schema for editors and CI. Both read this one table, so they cannot disagree.
"""

from __future__ import annotations

import re

from kpictl.rangefiles.model import BAND_NAMES

CATALOG_FILE = "kpis.yaml"
DEFAULTS_FILE = "defaults.yaml"
CUSTOMERS_DIR = "customers"

SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
KPI_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
PLAYBOOK_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
MAX_VERSION = 2**31 - 1  # the revision log stores it in an INTEGER column

# A display name is printed on terminals and stored as text: no C0/C1 control characters
# (PostgreSQL refuses NUL in text; ESC would drive the terminal), and no bidirectional
# controls (a right-to-left override makes "acme" read as another name).
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Characters that show nothing: spaces, format characters (zero-width space, joiners,
# word joiner, BOM), combining marks on their own, and the blank "letters" of Hangul
# and Braille. A name made of these only looks empty, or like nothing at all.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INVISIBLE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"))


def control_character(text: str) -> str | None:
    """The first control character in ``text``, shown escaped (e.g. '\\x1b'); else None."""
    found = CONTROL_RE.search(text)
    return None if found is None else ascii(found.group())


def invisible_only(text: str) -> bool:
    """``text`` has no visible character (e.g. only zero-width spaces)."""
    import unicodedata

    return not any(
        ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
        for ch in text
    )


def name_problem(text: str) -> str | None:
    """What is wrong with a display name or label, worded after "must ...", else None."""
    if bad := control_character(text):
        return f"must not contain control characters, got {bad}"
    if invisible_only(text):
        return f"must contain a visible character, got only invisible ones: {text[:20]!a}"
    return None


SLUG_RULE = "lowercase letters, digits and '-', 1-63 characters, not starting or ending with '-'"
KPI_NAME_RULE = "a lowercase letter, then up to 62 lowercase letters, digits or '_'"
PLAYBOOK_RULE = "lowercase letters, digits, '_', '.' and '-', up to 100 characters"

BETTER = ("higher", "lower", "none")
MODELS = ("ranges", "regression")
SCORE_KPI = "health_score"
"""The KPI a score is judged by: the output of a scoring model, never one of its inputs."""

# apiVersion is checked first and on its own (a file of a format this kpictl cannot
# read is not checked further), so the *_REQUIRED tuples of range files leave it out.
CATALOG_KEYS = ("apiVersion", "kpis")
CATALOG_REQUIRED = CATALOG_KEYS
KPI_DEF_KEYS = ("unit", "better", "description")
KPI_DEF_REQUIRED = ("unit", "better")
DEFAULTS_KEYS = ("apiVersion", "version", "scoring", "ranges")
DEFAULTS_REQUIRED = ("version", "ranges")
DEFAULTS_REFUSED = ("customer", "name")
"""Keys of customer files that defaults.yaml refuses with their own message."""
CUSTOMER_KEYS = ("apiVersion", "customer", "name", "version", "scoring", "ranges")
CUSTOMER_REQUIRED = ("customer", "version", "ranges")
KPI_RANGE_KEYS = (*BAND_NAMES, "weight", "playbook")
BAND_KEYS = ("min", "max")
CLAMP_KEYS = BAND_KEYS
CLAMP_REQUIRED = CLAMP_KEYS
RANGES_SCORING_KEYS = ("model", "points", "min_coverage")
REGRESSION_KEYS = ("model", "intercept", "coefficients", "clamp", "min_coverage")
REGRESSION_REQUIRED = ("intercept", "coefficients")
POINTS_KEYS = ("healthy", "risk", "critical")
POINTS_REQUIRED = POINTS_KEYS
