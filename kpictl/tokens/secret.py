"""API token values: made, hashed and checked here, nowhere else. Pure: no database.

A token is ``kpi_`` and 43 characters of ``secrets.token_urlsafe(32)`` (256 random
bits). Only its sha256 is stored; a lookup finds the row by that hash (an index
lookup whose timing depends on the hash, not on how much of a stored token matched)
and compares the hashes with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

PREFIX = "kpi_"
TOKEN_RE = re.compile(r"^kpi_[A-Za-z0-9_-]{43}$")

_DURATION_RE = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a token: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def well_formed(token: str) -> bool:
    return TOKEN_RE.fullmatch(token) is not None


def same_hash(stored: str, computed: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(stored.encode("ascii"), computed.encode("ascii"))


def parse_duration(text: str) -> timedelta | None:
    """``--expires``: ``90d``, ``12h``, ``30m``, ``2w``; ``never`` means no expiry (None)."""
    if text.strip().lower() == "never":
        return None
    match = _DURATION_RE.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"--expires {text[:40]!r}: expected a positive number and a unit, e.g. 90d, "
            "12h, 30m or 2w, or 'never'"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
