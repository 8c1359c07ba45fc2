"""API keys: the key file, issuing, listing, revoking and rotating keys, and reading it live.

API keys are never part of the code, and their secrets are never stored: the key file
(TOML, mode 0600) holds each key's SHA-256::

    [[keys]]
    name = "mobile-app"        # who the key belongs to; written to the audit log
    role = "app"               # app | analyst | admin
    sha256 = "9f86d08..."      # hex digest of the secret
    created = 1796190000       # epoch seconds (optional in older files)
    revoked = 1796200000       # set by `credence api-key revoke`: the key no longer works
    previous_sha256 = "..."    # set by `credence api-key rotate --grace S`: the old
    previous_until = 1796203600  # secret keeps working until then

:func:`parse_api_keys` is the one parser (text in, keys out) and
:func:`generate_key_file` the one writer (keys in, text out); :func:`read_api_keys`
and :func:`write_api_keys` wrap them for files. Every change (:func:`issue_api_key`,
:func:`revoke_api_key`, :func:`rotate_api_key`) reads, changes and atomically replaces
the file under an exclusive lock, so concurrent commands do not lose each other's keys
and a server never reads half a file. :class:`KeyFile` is what a server holds: it reads
the file again when it changed (looking at most once a second), so a key issued,
revoked or rotated takes effect without a restart; a file that no longer parses leaves
the previous keys in force (and is logged).

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

import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from credence.core.checks import check_choice
from credence.core.errors import ConflictError, NotFoundError, ParameterError, ValidationError

__all__ = [
    "ROLES",
    "ApiKey",
    "ApiKeys",
    "KeyFile",
    "generate_key_file",
    "hash_secret",
    "issue_api_key",
    "parse_api_keys",
    "read_api_keys",
    "revoke_api_key",
    "rotate_api_key",
    "write_api_keys",
    "write_private_text",
]

log = logging.getLogger("credence.api.keys")

ROLES = ("app", "analyst", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = ("name", "role", "sha256", "created", "revoked", "previous_sha256", "previous_until")


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of an API key's secret (what the key file stores).

    Examples
    --------
    >>> hash_secret("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_time(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ParameterError(name, value, "must be an integer >= 0 (epoch seconds)")


def _check_digest(value: str | None, name: str) -> None:
    if value is not None and (not isinstance(value, str) or not _HEX.match(value)):
        raise ParameterError(name, value, "must be 64 lowercase hex digits")


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """One issued key: the holder's name, its role, the secret's digest and its life.

    Examples
    --------
    >>> key = ApiKey(name="app-1", role="app", sha256=hash_secret("new"),
    ...              previous_sha256=hash_secret("old"), previous_until=200)
    >>> key.accepts(hash_secret("old"), now=100), key.accepts(hash_secret("old"), now=300)
    (True, False)
    >>> key.status(now=100)
    'active (previous secret valid until 200)'
    """

    name: str
    role: str
    sha256: str
    created: int | None = None
    revoked: int | None = None
    previous_sha256: str | None = None
    previous_until: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ParameterError("name", self.name, "must be 1-64 letters, digits or _.@- (no spaces)")
        check_choice(self.role, "role", ROLES)
        _check_digest(self.sha256, "sha256")
        _check_digest(self.previous_sha256, "previous_sha256")
        for name in ("created", "revoked", "previous_until"):
            _check_time(getattr(self, name), name)
        if (self.previous_sha256 is None) != (self.previous_until is None):
            raise ParameterError(
                "previous_until", self.previous_until, "goes with previous_sha256, and only with it"
            )

    def accepts(self, digest: str, *, now: float) -> bool:
        """Whether a secret with this ``digest`` opens this key at time ``now`` (constant time per digest)."""
        if self.revoked is not None:
            return False
        current = hmac.compare_digest(self.sha256, digest)
        previous = self.previous_sha256 is not None and hmac.compare_digest(self.previous_sha256, digest)
        return current or (previous and self.previous_until is not None and now < self.previous_until)

    def status(self, *, now: float) -> str:
        """``active``, ``revoked``, or active with a previous secret still valid."""
        if self.revoked is not None:
            return "revoked"
        if self.previous_until is not None and now < self.previous_until:
            return f"active (previous secret valid until {self.previous_until})"
        return "active"


@dataclass(frozen=True)
class ApiKeys:
    """The issued keys; looks a secret up in constant time per key."""

    keys: tuple[ApiKey, ...] = ()

    def authenticate(self, secret: str | None, *, now: float | None = None) -> ApiKey | None:
        """The key this secret opens now, or None (revoked keys open nothing)."""
        if not secret:
            return None
        digest = hash_secret(secret)
        at = time.time() if now is None else now
        found = None
        for key in self.keys:
            if key.accepts(digest, now=at):
                found = key
        return found

    def named(self, name: str) -> ApiKey | None:
        """The key called ``name``, or None."""
        return next((key for key in self.keys if key.name == name), None)

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
        unknown = set(entry) - set(_FIELDS)
        if unknown:
            raise ValidationError(
                f"unknown fields {sorted(unknown)}", entity="api key", row=row, source=source
            )
        try:
            key = ApiKey(name=entry.get("name", ""), role=entry.get("role", ""), sha256=entry.get("sha256", ""),
                         **{name: entry[name] for name in _FIELDS[3:] if name in entry})  # fmt: skip
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


def generate_key_file(keys: ApiKeys) -> str:
    """The key file's TOML text for ``keys`` (read back by :func:`parse_api_keys`).

    Examples
    --------
    >>> keys = ApiKeys((ApiKey(name="a", role="app", sha256=hash_secret("x"), created=5),))
    >>> parse_api_keys(generate_key_file(keys)) == keys
    True
    """
    blocks = []
    for key in keys.keys:
        lines = ["[[keys]]"]
        for name in _FIELDS:
            value = getattr(key, name)
            if value is not None:
                lines.append(f'{name} = "{value}"' if isinstance(value, str) else f"{name} = {value}")
        blocks.append("\n".join(lines) + "\n")
    return (
        "# Credence API keys: SHA-256 digests only, never secrets (credence api-key --help).\n\n"
        + "\n".join(blocks)
    )


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


def write_api_keys(path: str | Path, keys: ApiKeys) -> Path:
    """Replace the key file with ``keys`` (atomic, 0600; see :func:`write_private_text`)."""
    return write_private_text(path, generate_key_file(keys))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[ApiKeys]:
    """The file's keys, read under an exclusive lock held until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield read_api_keys(path) if path.exists() else ApiKeys()
    finally:
        os.close(descriptor)


def _new_secret(role: str) -> str:
    return f"cred_{role}_{secrets.token_urlsafe(24)}"


def _change_key(
    path: Path, name: str, revoked: Callable[[ApiKey], str], change: Callable[[ApiKey], ApiKey]
) -> ApiKey:
    """Replace the live key ``name`` with ``change(key)`` under the file's lock; the new key.

    NotFoundError without such a key; ConflictError (``revoked`` says why) if it is revoked.
    """
    with _locked(path) as keys:
        key = keys.named(name)
        if key is None:
            raise NotFoundError("api key", name)
        if key.revoked is not None:
            raise ConflictError(f"api key {name!r} {revoked(key)}")
        changed = change(key)
        write_api_keys(path, ApiKeys(tuple(changed if k.name == name else k for k in keys.keys)))
    return changed


def issue_api_key(path: str | Path, *, name: str, role: str, now: int | None = None) -> str:
    """Issue a key: add its digest to the key file (created 0600) and return the secret, shown only now.

    Raises
    ------
    ValidationError
        If a key of this name exists (revoked ones too: names stay unique in the
        audit log), or the name or role is invalid; the file is then unchanged.
    """
    path = Path(path)
    key = ApiKey(name=name, role=role, sha256="0" * 64, created=int(time.time() if now is None else now))
    with _locked(path) as keys:
        if keys.named(name) is not None:
            raise ValidationError(
                "a key with this name exists", entity="api key", column="name", value=name, source=str(path)
            )
        secret = _new_secret(role)
        write_api_keys(path, ApiKeys((*keys.keys, dataclasses.replace(key, sha256=hash_secret(secret)))))
    return secret


def revoke_api_key(path: str | Path, *, name: str, now: int | None = None) -> ApiKey:
    """Revoke the key ``name`` (it stays listed, marked revoked); the revoked key.

    Raises
    ------
    NotFoundError
        No key has this name.
    ConflictError
        It is revoked already.
    """
    at = int(time.time() if now is None else now)
    return _change_key(Path(path), name, lambda key: f"was revoked at {key.revoked}",
                       lambda key: dataclasses.replace(key, revoked=at, previous_sha256=None, previous_until=None))  # fmt: skip


def rotate_api_key(path: str | Path, *, name: str, grace: int = 0, now: int | None = None) -> str:
    """Give the key ``name`` a new secret (returned, shown only now); the old one works ``grace`` more seconds.

    Raises
    ------
    NotFoundError
        No key has this name.
    ConflictError
        It is revoked (issue a new key instead).
    ParameterError
        ``grace`` is not an integer >= 0.
    """
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise ParameterError("grace", grace, "must be an integer >= 0 (seconds)")
    at = int(time.time() if now is None else now)
    secret = ""

    def rotated(key: ApiKey) -> ApiKey:
        nonlocal secret
        secret = _new_secret(key.role)
        return dataclasses.replace(key, sha256=hash_secret(secret), previous_sha256=key.sha256 if grace else None,
                                   previous_until=at + grace if grace else None)  # fmt: skip

    _change_key(Path(path), name, lambda _: "is revoked; issue a new key instead", rotated)
    return secret


class KeyFile:
    """A key file a server reads again whenever it changed (looking at most every ``check_every`` s).

    Parameters
    ----------
    path : path
        The key file; it must parse now (:class:`ValidationError` otherwise).
    check_every : float
        Seconds between looks at the file's size, time and inode.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "keys.toml"
    >>> first = issue_api_key(path, name="one", role="app")
    >>> live = KeyFile(path, check_every=0)
    >>> live.authenticate(first).name
    'one'
    >>> _ = revoke_api_key(path, name="one")
    >>> live.authenticate(first) is None
    True
    """

    def __init__(self, path: str | Path, *, check_every: float = 1.0) -> None:
        self.path = Path(path)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._keys = read_api_keys(self.path)
        self._looked = time.monotonic()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    @property
    def keys(self) -> ApiKeys:
        """The keys in force now (the file read again if it changed)."""
        now = time.monotonic()
        if now - self._looked < self.check_every:
            return self._keys
        with self._lock:
            self._looked = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._keys = read_api_keys(self.path)
                    log.info("API keys re-read from %s: %d keys", self.path, len(self._keys))
                except ValidationError as error:
                    log.error(
                        "API key file changed but cannot be used; the previous keys stay in force: %s", error
                    )
            return self._keys

    def authenticate(self, secret: str | None, *, now: float | None = None) -> ApiKey | None:
        """The key this secret opens now, or None (see :meth:`ApiKeys.authenticate`)."""
        return self.keys.authenticate(secret, now=now)

    def __len__(self) -> int:
        return len(self.keys)


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
