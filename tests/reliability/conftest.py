"""Fixtures of the reliability tests. Their helpers live in tests/helpers/reliability.py
and tests/helpers/faults.py: a test imports what it needs from there."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.helpers import reliability


@pytest.fixture
def rel() -> ModuleType:
    """The module tests.helpers.reliability, for tests written against this fixture
    (``rel.assert_one_clean_error``) before the helpers became importable modules."""
    return reliability
