"""API keys: configured as sha256 hashes with a role, checked in constant time.

Clients send ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The ``admin`` role
includes ``decide`` and ``approve``; ``approve`` approves releases for a stage (four eyes,
see docs/security.md). Keys are never stored in clear: configure ``hash_key(key)``.

With ``allow_anonymous`` a caller without a key may decide, and nothing else: promotion,
rollback and approval always need a key (anonymous callers are never admins).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from kaskad.serve.errors import ServeConfigError, ServeError

Role = Literal["decide", "approve", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_IMPLIES: dict[str, set[Role]] = {
    "decide": {"decide"},
    "approve": {"approve"},
    "admin": {"decide", "approve", "admin"},
}


def hash_key(key: str) -> str:
    """The sha256 hex digest to put in the configuration for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A configured key: its sha256 hex digest, its role and a label for logs (a role or
    a system name, never a person)."""

    sha256: str
    role: str  # one of ROLES (read from key files as text, checked here)
    label: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ServeConfigError(f"API key role must be one of {', '.join(ROLES)}: {self.role}")
        digest = self.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ServeConfigError("API key must be given as a sha256 hex digest (see hash_key)")


class Authenticator:
    """Checks the key of a request against the configured hashes."""

    def __init__(self, keys: Sequence[ApiKey], allow_anonymous: bool) -> None:
        if not keys and not allow_anonymous:
            raise ServeConfigError(
                "no API keys configured: add keys, or set allow_anonymous=True explicitly"
            )
        self._keys = [(bytes.fromhex(k.sha256), k) for k in keys]
        self.anonymous = allow_anonymous

    def check(self, headers: Mapping[str, str], role: Role) -> ApiKey | None:
        """The matching key, or None for an anonymous caller (only for ``decide`` with
        anonymous access on); raise 401 or 403."""
        presented = _presented(headers)
        if presented is None:
            if self.anonymous and role == "decide":
                return None
            if self.anonymous:
                raise ServeError(
                    401,
                    "S401",
                    f"anonymous callers may only decide: the '{role}' role needs an API key"
                    " (Authorization: Bearer KEY)",
                )
            raise ServeError(401, "S401", "an API key is required (Authorization: Bearer KEY)")
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: ApiKey | None = None
        for expected, key in self._keys:  # compare with every key: no early exit
            if hmac.compare_digest(digest, expected):
                found = key
        if found is None:
            raise ServeError(401, "S401", "the API key is not valid")
        if role not in _IMPLIES[found.role]:
            raise ServeError(403, "S403", f"the API key does not have the '{role}' role")
        return found

    def check_metrics(self, headers: Mapping[str, str]) -> None:
        """``/metrics``: open with anonymous access on (counts, no decision data), else
        the ``admin`` role."""
        if self.anonymous and _presented(headers) is None:
            return
        self.check(headers, "admin")


def _presented(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None
