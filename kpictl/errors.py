"""The exception family of kpictl. Each error carries the exit code of SPEC section 5.

The core raises these; the CLI turns them into one ``error:`` line (plus an optional
``hint:`` line) and the exit code, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kpictl.rangefiles.model import Problem

EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3


class KpictlError(Exception):
    """Base of every expected kpictl error."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# -- bad usage or bad input (exit 2) -------------------------------------------------


class UsageError(KpictlError):
    """The command was called with options that do not fit together."""


class RangeFilesInvalid(KpictlError):
    """One or more range files are invalid; nothing of them is applied."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} in range files; nothing was applied",
            hint="run 'kpictl validate' to see every problem",
        )


class RangeFileMissing(KpictlError):
    """A range file that the command needs does not exist."""


class UnknownCustomer(KpictlError):
    """The customer slug is not in the database (or has no file)."""


class UnknownKpi(KpictlError):
    """The KPI name is not in the catalog."""


class MissingValues(KpictlError):
    """A value the scoring model needs is missing."""


class InvalidInput(KpictlError):
    """An input file or value (CSV, values file, --set) is malformed."""


class ConfirmationRequired(KpictlError):
    """A destructive command was run without --yes and with no terminal to confirm on."""


# -- it ran and found a problem (exit 1) ---------------------------------------------


class VersionRefused(KpictlError):
    """A range file's version is below the recorded one, or equal with other content."""

    exit_code = EXIT_PROBLEM


# -- database errors (exit 3) --------------------------------------------------------


class DatabaseError(KpictlError):
    """The database refused or failed an operation; nothing was written."""

    exit_code = EXIT_DATABASE


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached."""


class SchemaTooNew(DatabaseError):
    """The database schema was written by a newer kpictl."""


class LockTimeout(DatabaseError):
    """Another kpictl held the write lock for longer than --lock-timeout."""


class SchemaMissing(DatabaseError):
    """The database has no kpictl schema, and the command only reads."""


class SchemaOutdated(DatabaseError):
    """The database schema is older than this kpictl's, and the command only reads."""
