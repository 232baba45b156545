"""Where kpictl finds its database and range files (options, then environment)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, unquote_plus, urlsplit

from kpictl.errors import UsageError

DEFAULT_DATABASE_URL = "sqlite:///kpictl.db"
DEFAULT_RANGES_DIR = "ranges"
DEFAULT_LOCK_TIMEOUT = 30.0
DATABASE_URL_VARIABLE = "KPICTL_DATABASE_URL"
RANGES_DIR_VARIABLE = "KPICTL_RANGES_DIR"

_WHITE_SPACE = re.compile(r"(\s+)")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
# A password given as a query parameter (?password=...) or a libpq keyword (password=...).
_PASSWORD_PARAM = re.compile(r"(?P<head>\bpassword=)(?P<pw>'[^']*'|[^&\s]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Settings:
    """The database URL and ranges directory one kpictl run works with."""

    database_url: str = DEFAULT_DATABASE_URL
    ranges_dir: Path = Path(DEFAULT_RANGES_DIR)

    @classmethod
    def resolve(cls, db: str | None = None, ranges: str | Path | None = None) -> Settings:
        """The options given, else the environment, else the defaults. An option or
        variable that is set but empty or blank (a CI secret that is missing) is an
        error (:class:`UsageError`), never a silent fall back to the default."""
        url = _setting(db, "--db", DATABASE_URL_VARIABLE, "a database URL")
        directory = _setting(ranges, "--ranges", RANGES_DIR_VARIABLE, "a directory")
        return cls(
            database_url=url or DEFAULT_DATABASE_URL,
            ranges_dir=Path(directory or DEFAULT_RANGES_DIR),
        )

    @property
    def safe_url(self) -> str:
        """The database URL with its password (wherever it is given) replaced by ***."""
        split = _split_password(self.database_url)
        url = f"{split[0]}***{split[2]}" if split else self.database_url
        return mask_url(_mask_query_values(url, set(self.secrets())))

    def mask(self, text: str) -> str:
        """``text`` with every password in it replaced by ***: for anything printed.

        Structural, never a blind substring replacement (a password ``p`` or
        ``postgres`` must not garble a message): this URL, wherever it appears whole,
        is re-rendered as :attr:`safe_url`; every other URL has its password field and
        any query value that is this URL's password masked; outside URLs, the password
        (as written, percent-decoded) is masked only where it stands as a token of its
        own, not inside a longer word (a driver that echoes it: ``password "..."``), and
        only when it is at least MIN_BARE_SECRET characters and not also the URL's user,
        host or database name (which are printed anyway).
        """
        if self.database_url in text:
            text = text.replace(self.database_url, self.safe_url)
        secrets = self.secrets()
        if not secrets:
            return mask_url(text)
        public = _public_parts(self.database_url)
        tokens = [s for s in secrets if len(s) >= MIN_BARE_SECRET and s not in public]
        bare = re.compile(
            "|".join(rf"(?<![0-9A-Za-z]){re.escape(s)}(?![0-9A-Za-z])" for s in tokens) or "(?!)"
        )
        words = _WHITE_SPACE.split(text)
        out = []
        for word in words:
            if "://" in word:
                out.append(_mask_query_values(_mask_word(word), set(secrets)))
            elif word and not word.isspace():
                out.append(bare.sub("***", word))
            else:
                out.append(word)
        return mask_url("".join(out))

    def secrets(self) -> list[str]:
        """Strings that must never be printed: the URL's password, as written and decoded."""
        found = []
        split = _split_password(self.database_url)
        if split:
            found.append(split[1])
        found += [m.group("pw").strip("'") for m in _PASSWORD_PARAM.finditer(self.database_url)]
        variants = {v for raw in found for v in (raw, unquote(raw), unquote_plus(raw))}
        return sorted((v for v in variants if v), key=len, reverse=True)


def _setting(given: str | Path | None, option: str, variable: str, what: str) -> str | None:
    """The value of an option (which Typer may have read from ``variable``), else of
    ``variable``; None when neither is set. Refuses an empty or blank value."""
    if given is not None:
        value = str(given)
        if value.strip():
            return value
        if os.environ.get(variable) == value:  # Typer read it from the variable
            raise _empty_variable(variable, option, what)
        raise UsageError(f"{option} is empty", hint=f"give {what}, or leave {option} out")
    found = os.environ.get(variable)
    if found is None:
        return None
    if not found.strip():
        raise _empty_variable(variable, option, what)
    return found


def _empty_variable(variable: str, option: str, what: str) -> UsageError:
    return UsageError(
        f"{variable} is set but empty",
        hint=f"set it to {what}, or unset it to use the default (or give {option})",
    )


MIN_BARE_SECRET = 4
"""A password shorter than this is masked inside URLs only: as a free-standing token it
would mask ordinary words ("p", "db") and tell nothing."""


def _public_parts(url: str) -> set[str]:
    """The user name, host, port and database name of a URL: printed anyway."""
    split = urlsplit(url) if "://" in url else None
    if split is None:
        return set()
    netloc = split.netloc.rpartition("@")
    user = netloc[0].partition(":")[0] if netloc[1] else ""
    host = netloc[2]
    parts = {user, unquote(user), host, host.partition(":")[0], host.partition(":")[2]}
    parts |= {split.path.lstrip("/"), unquote(split.path.lstrip("/"))}
    return {p for p in parts if p}


_QUERY_VALUE = re.compile(r"(?P<head>[?&][^=&#\s]+=)(?P<value>[^&#\s]*)")


def _mask_query_values(word: str, secrets: set[str]) -> str:
    """A URL's query values that are a password (``?sslmode=<password>``) masked."""
    if "?" not in word:
        return word
    return _QUERY_VALUE.sub(
        lambda m: (
            f"{m.group('head')}***"
            if m.group("value") in secrets or unquote_plus(m.group("value")) in secrets
            else m.group(0)
        ),
        word,
    )


def _split_password(url: str) -> tuple[str, str, str] | None:
    """``scheme://user:``, the password, ``@host...`` of a URL that has a password.

    The password is everything between the first ':' of the user part and the last
    '@' of the URL (SQLAlchemy allows '/', ':' and spaces in it), so nothing of a
    password is shown even when a character in it should have been percent-encoded.
    """
    start = url.find("://")
    at = url.rfind("@")
    if start < 0 or at < start:
        return None
    start += 3
    colon = url.find(":", start, at)
    if colon < 0 or "/" in url[start:colon]:
        return None
    return url[: colon + 1], url[colon + 1 : at], url[at:]


def password_of(url: str) -> str | None:
    """The password of a URL as SQLAlchemy reads it (percent-decoded), None without one."""
    split = _split_password(url)
    return unquote(split[1]) if split else None


def mask_url(text: str) -> str:
    """Replace every password of URLs (and ``password=`` parameters) in ``text`` with ***.

    In free text (an error message) a URL ends at white space, and its password runs
    to the last '@' of it, so that an unencoded '@' in a password cannot leave a piece
    showing. Linear in the length of ``text``: it may echo a 10 MB argument.
    """
    if "://" in text and "@" in text:
        text = "".join(_mask_word(w) if "://" in w else w for w in _WHITE_SPACE.split(text))
    if "=" not in text:
        return text
    return _PASSWORD_PARAM.sub(
        lambda m: m.group(0) if m.group("pw").startswith("***") else f"{m.group('head')}***",
        text,
    )


def _mask_word(word: str) -> str:
    last_at = word.rfind("@")
    scheme_end = word.find("://")
    while 0 < scheme_end < last_at:
        i = scheme_end + 3
        while i < last_at and word[i] not in ":/":  # the user name, as SQLAlchemy reads it
            i += 1
        if word[i] == ":" and word[scheme_end - 1] in _SCHEME_CHARS:
            return f"{word[: i + 1]}***{word[last_at:]}"
        scheme_end = word.find("://", i)
    return word


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
