"""API configuration: roles, API keys, request limits and the server settings.

API keys are never part of the code. They live in a TOML file that holds only the
SHA-256 of each secret::

    [[keys]]
    name = "mobile-app"        # who the key belongs to; written to the audit log
    role = "app"               # app | analyst | admin
    sha256 = "9f86d08..."      # hex digest of the secret

``credence api-key new NAME --role ROLE`` appends a key to such a file and prints the
secret once. :func:`parse_api_keys` is the one parser (text in, keys out);
:func:`read_api_keys` reads a file with it.

Examples
--------
>>> keys = parse_api_keys('''
... [[keys]]
... name = "app-1"
... role = "app"
... sha256 = "%s"
... ''' % hash_secret("s3cret"), source="keys.toml")
>>> keys.authenticate("s3cret").name, keys.authenticate("s3cret").role
('app-1', 'app')
>>> keys.authenticate("wrong") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from credence.core.checks import check_choice, check_int
from credence.core.errors import ParameterError, ValidationError

__all__ = [
    "ROLES",
    "ApiConfig",
    "ApiKey",
    "ApiKeys",
    "Limits",
    "generate_api_key",
    "hash_secret",
    "parse_api_keys",
    "read_api_keys",
    "write_private_text",
]

ROLES = ("app", "analyst", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of an API key's secret (what the key file stores).

    Examples
    --------
    >>> hash_secret("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """One issued key: the holder's name, its role and the secret's digest."""

    name: str
    role: str
    sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ParameterError("name", self.name, "must be 1-64 letters, digits or _.@- (no spaces)")
        check_choice(self.role, "role", ROLES)
        if not isinstance(self.sha256, str) or not _HEX.match(self.sha256):
            raise ParameterError("sha256", self.sha256, "must be 64 lowercase hex digits")


@dataclass(frozen=True)
class ApiKeys:
    """The issued keys; looks a secret up in constant time per key."""

    keys: tuple[ApiKey, ...] = ()

    def authenticate(self, secret: str | None) -> ApiKey | None:
        """The key whose secret this is, or None."""
        if not secret:
            return None
        digest = hash_secret(secret)
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.sha256, digest):
                found = key
        return found

    def __len__(self) -> int:
        return len(self.keys)


def parse_api_keys(text: str, *, source: str = "<keys>") -> ApiKeys:
    """Parse a key file's TOML text; a bad entry raises ValidationError naming it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValidationError(f"not valid TOML: {error}", entity="api key file", source=source) from None
    entries = data.get("keys", [])
    if not isinstance(entries, list):
        raise ValidationError("'keys' must be an array of tables", entity="api key file", source=source)
    keys: list[ApiKey] = []
    names: set[str] = set()
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            raise ValidationError("must be a table", entity="api key", row=row, source=source)
        unknown = set(entry) - {"name", "role", "sha256"}
        if unknown:
            raise ValidationError(
                f"unknown fields {sorted(unknown)}", entity="api key", row=row, source=source
            )
        try:
            key = ApiKey(
                name=entry.get("name", ""), role=entry.get("role", ""), sha256=entry.get("sha256", "")
            )
        except ParameterError as error:
            raise ValidationError(
                error.problem, entity="api key", row=row, column=error.name, value=error.value, source=source
            ) from None
        if key.name in names:
            raise ValidationError(
                "duplicate name", entity="api key", row=row, column="name", value=key.name, source=source
            )
        names.add(key.name)
        keys.append(key)
    return ApiKeys(tuple(keys))


def read_api_keys(path: str | Path) -> ApiKeys:
    """Read a key file (see :func:`parse_api_keys`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValidationError(
            f"cannot read: {error.strerror}", entity="api key file", source=str(path)
        ) from None
    return parse_api_keys(text, source=str(path))


def generate_api_key(path: str | Path, *, name: str, role: str) -> str:
    """Issue a key: append its digest to the key file (created 0600) and return the secret."""
    path = Path(path)
    existing = read_api_keys(path) if path.exists() else ApiKeys()
    key = ApiKey(name=name, role=role, sha256="0" * 64)
    if any(k.name == key.name for k in existing.keys):
        raise ValidationError(
            "a key with this name exists", entity="api key", column="name", value=name, source=str(path)
        )
    secret = f"cred_{role}_{secrets.token_urlsafe(24)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = f'\n[[keys]]\nname = "{key.name}"\nrole = "{key.role}"\nsha256 = "{hash_secret(secret)}"\n'
    # Created 0600 in the same call that creates it (never readable by others, whatever
    # the umask, not even for a moment); an existing file keeps its mode.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        out.write(entry)
        out.flush()
        os.fsync(out.fileno())
    return secret


def write_private_text(path: str | Path, text: str) -> Path:
    """Replace ``path`` with ``text`` atomically, readable by its owner only (mode 0600).

    The text goes to a new 0600 file beside it, is flushed to disk, then renamed over
    ``path``: a reader sees the old file or the new one, never a half-written one.

    Examples
    --------
    >>> import tempfile, stat
    >>> target = Path(tempfile.mkdtemp()) / "secret.txt"
    >>> _ = write_private_text(target, "s3cret")
    >>> oct(stat.S_IMODE(target.stat().st_mode)), target.read_text()
    ('0o600', 's3cret')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one request may ask for.

    Parameters
    ----------
    max_depth : int
        Nesting depth of the selection (fragments expanded).
    max_tokens : int
        Tokens in the document (the parser stops beyond it).
    max_aliases : int
        Aliased fields in the document.
    max_first : int
        Largest page (``first``) of any list or connection.
    max_cost : int
        Budget of the estimated cost: a field costs 1, list fields multiply what
        they select by their page size, network evidence (contributors, influenced)
        costs 10 per item (a push per user).
    max_body_bytes : int
        Size of an HTTP request body (a query with its variables); larger ones are
        refused (HTTP 413) before anything parses them.
    """

    max_depth: int = 12
    max_tokens: int = 2_000
    max_aliases: int = 20
    max_first: int = 100
    max_cost: int = 20_000
    max_body_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_tokens", "max_aliases", "max_first", "max_cost", "max_body_bytes"):
            # stored as a plain int, so that a numpy integer compares and prints like one
            object.__setattr__(self, name, check_int(getattr(self, name), name, 1))


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """How the GraphQL app behaves.

    Parameters
    ----------
    keys : ApiKeys
        Who may call, with which role.
    limits : Limits
        Per-request limits.
    graphiql : bool
        Serve the GraphiQL IDE on GET (for local use).
    read_only : bool
        Refuse mutations (``credence serve --read-only``: a server that only answers).
    audit_roles : tuple of str
        Roles whose reads of a person's network evidence are written to the audit log.
    """

    keys: ApiKeys
    limits: Limits = field(default_factory=Limits)
    graphiql: bool = True
    read_only: bool = False
    audit_roles: Sequence[str] = ("analyst", "admin")

    def __post_init__(self) -> None:
        if not isinstance(self.keys, ApiKeys):
            raise ParameterError("keys", self.keys, "must be ApiKeys")
        for role in self.audit_roles:
            check_choice(role, "audit_roles", ROLES)
