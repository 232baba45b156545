"""Per-customer API tokens for ``kpictl serve``: issue, list, revoke, authenticate.

Only a token's sha256 is stored; the token is shown once, when it is issued.
"""

from kpictl.tokens.registry import (
    Caller,
    IssuedToken,
    TokenInfo,
    authenticate,
    issue,
    list_tokens,
    record_last_used,
    revoke,
)
from kpictl.tokens.secret import new_token, parse_duration, token_hash, well_formed

__all__ = [
    "Caller",
    "IssuedToken",
    "TokenInfo",
    "authenticate",
    "issue",
    "list_tokens",
    "new_token",
    "parse_duration",
    "record_last_used",
    "revoke",
    "token_hash",
    "well_formed",
]
