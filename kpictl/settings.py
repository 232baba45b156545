"""Where kpictl finds its database and range files (options, then environment)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///kpictl.db"
DEFAULT_RANGES_DIR = "ranges"
DEFAULT_LOCK_TIMEOUT = 30.0

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")


@dataclass(frozen=True, slots=True)
class Settings:
    """The database URL and ranges directory one kpictl run works with."""

    database_url: str = DEFAULT_DATABASE_URL
    ranges_dir: Path = Path(DEFAULT_RANGES_DIR)

    @classmethod
    def resolve(cls, db: str | None = None, ranges: str | Path | None = None) -> Settings:
        return cls(
            database_url=db or os.environ.get("KPICTL_DATABASE_URL") or DEFAULT_DATABASE_URL,
            ranges_dir=Path(ranges or os.environ.get("KPICTL_RANGES_DIR") or DEFAULT_RANGES_DIR),
        )

    @property
    def safe_url(self) -> str:
        return mask_url(self.database_url)

    def secrets(self) -> list[str]:
        """Strings that must never be printed (the URL's password)."""
        match = _PASSWORD_IN_URL.search(self.database_url)
        return [match.group("pw")] if match and match.group("pw") else []


def mask_url(text: str) -> str:
    """Replace every password in URLs inside ``text`` with ***."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m.group('head')}***@", text)


def applied_by() -> str:
    """Who is applying: $KPICTL_APPLIED_BY, else user@host."""
    explicit = os.environ.get("KPICTL_APPLIED_BY")
    if explicit:
        return explicit
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
