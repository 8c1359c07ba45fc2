"""Persisted queries: automatic (a hash first, the text once on a miss) and an allow-list.

**Automatic persisted queries** (the protocol Apollo clients speak): a request may send,
instead of ``query``, ``"extensions": {"persistedQuery": {"version": 1, "sha256Hash":
"<hex>"}}``. A known hash runs its query; an unknown one is answered
``PERSISTED_QUERY_NOT_FOUND`` (message ``PersistedQueryNotFound``, HTTP 200), and the
client sends the query with its hash once, which is checked (SHA-256 of the text) and
remembered (the most recent :data:`CACHE_SIZE` per server process).

**Allow-list mode** (``credence serve --allow-queries MANIFEST``, for production apps): only
the queries of a manifest run, by hash or by text; anything else is refused with
``PERSISTED_QUERY_NOT_IN_LIST`` and nothing runs. The manifest is Apollo's persisted-query
manifest format (``{"format": "apollo-persisted-query-manifest", "version": 1,
"operations": [{"id": "<sha256 of body>", "name": ..., "type": ..., "body": "<query>"}]}``);
every id must be the SHA-256 of its body.

Examples
--------
>>> persisted = PersistedQueries()
>>> query = "{ scoreStats { count } }"
>>> digest = sha256_of(query)
>>> ask = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
>>> persisted.resolve(ask)
Traceback (most recent call last):
...
credence.core.errors.PersistedQueryNotFoundError: PersistedQueryNotFound
>>> persisted.resolve({**ask, "query": query})["query"] == query  # registered
True
>>> persisted.resolve(ask)["query"] == query  # now the hash alone runs it
True
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from credence.core.errors import (
    PersistedQueryNotFoundError,
    QueryNotAllowedError,
    RequestError,
    ValidationError,
)

__all__ = ["CACHE_SIZE", "PersistedQueries", "parse_manifest", "read_manifest", "sha256_of"]

#: Queries remembered per process in automatic mode.
CACHE_SIZE = 10_000
_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(query: str) -> str:
    """Hex SHA-256 of a query's text (its persisted-query id).

    Examples
    --------
    >>> sha256_of("{ model { version } }")[:12]
    'a9428abc8319'
    """
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def parse_manifest(text: str, *, source: str = "<manifest>") -> dict[str, str]:
    """The allow-list of an Apollo persisted-query manifest: id (SHA-256) -> query text.

    Raises
    ------
    ValidationError
        Naming the operation (1-based) and field that is wrong: not JSON, not the
        manifest format, an id that is not the SHA-256 of its body.

    Examples
    --------
    >>> body = "{ model { version } }"
    >>> manifest = {"format": "apollo-persisted-query-manifest", "version": 1,
    ...             "operations": [{"id": sha256_of(body), "name": "Model", "type": "query", "body": body}]}
    >>> list(parse_manifest(json.dumps(manifest)).values())
    ['{ model { version } }']
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(f"not JSON: {error.msg} at line {error.lineno}", entity="query manifest",
                              source=source) from None  # fmt: skip
    if (
        not isinstance(data, dict)
        or data.get("format") != "apollo-persisted-query-manifest"
        or data.get("version") != 1
    ):
        raise ValidationError('must be {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [...]}',
                              entity="query manifest", source=source)  # fmt: skip
    operations = data.get("operations")
    if not isinstance(operations, list):
        raise ValidationError("'operations' must be a list", entity="query manifest", source=source)
    allowed: dict[str, str] = {}
    for row, operation in enumerate(operations, start=1):
        if not isinstance(operation, dict) or not isinstance(operation.get("body"), str):
            raise ValidationError("must be an object with a string 'body'", entity="manifest operation", row=row,
                                  source=source)  # fmt: skip
        body, digest = operation["body"], operation.get("id")
        if digest != sha256_of(body):
            raise ValidationError("is not the SHA-256 of the operation's body", entity="manifest operation",
                                  row=row, column="id", value=digest, source=source)  # fmt: skip
        allowed[digest] = body
    return allowed


def read_manifest(path: str | Path) -> dict[str, str]:
    """Read a manifest file (see :func:`parse_manifest`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValidationError(
            f"cannot read: {error.strerror}", entity="query manifest", source=str(path)
        ) from None
    return parse_manifest(text, source=str(path))


class PersistedQueries:
    """What one server process knows of persisted queries (thread-safe).

    Parameters
    ----------
    allowed : mapping of str to str, optional
        An allow-list (id -> query, :func:`read_manifest`): only these queries run, and
        clients cannot register others. Without it, queries register automatically.
    """

    def __init__(self, allowed: dict[str, str] | None = None) -> None:
        self.allowed = None if allowed is None else dict(allowed)
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The request ``payload`` with the query it runs (the same object when nothing changes).

        Raises
        ------
        RequestError
            The ``persistedQuery`` extension is malformed, or its hash is not the query's.
        PersistedQueryNotFoundError
            A hash alone that this process does not know (send the query once).
        QueryNotAllowedError
            In allow-list mode, a query (or hash) that is not on the list.
        """
        query = payload.get("query")
        extensions = payload.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if self.allowed is not None and isinstance(query, str) and sha256_of(query) not in self.allowed:
                raise QueryNotAllowedError(
                    "this server runs only the queries of its allow-list; this one is not on it"
                )
            return payload
        digest = _check_extension(persisted)
        if query is not None:
            if not isinstance(query, str) or sha256_of(query) != digest:
                raise RequestError("persistedQuery.sha256Hash is not the SHA-256 of the query sent with it")
            if self.allowed is not None:
                if digest not in self.allowed:
                    raise QueryNotAllowedError(f"query {digest[:12]}... is not on this server's allow-list")
                return payload
            with self._lock:
                self._cache[digest] = query
                self._cache.move_to_end(digest)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            return payload
        if self.allowed is not None:
            known = self.allowed.get(digest)
            if known is None:
                raise QueryNotAllowedError(f"query {digest[:12]}... is not on this server's allow-list")
        else:
            with self._lock:
                known = self._cache.get(digest)
                if known is not None:
                    self._cache.move_to_end(digest)
            if known is None:
                raise PersistedQueryNotFoundError()
        return {**payload, "query": known}


def _check_extension(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise RequestError(
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex digits>"}'
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HEX.match(digest):
        raise RequestError("extensions.persistedQuery.sha256Hash must be 64 lowercase hex digits")
    return digest
