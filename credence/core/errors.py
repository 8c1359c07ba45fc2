"""The one exception hierarchy of Credence.

Every error Credence raises on purpose derives from :class:`CredenceError` and
carries its facts as attributes, so callers (the CLI, the GraphQL layer) can
render them without parsing messages. Each class maps to one GraphQL
``extensions.code`` through its ``code`` attribute::

    CredenceError                      INTERNAL
    ├── InputError                     BAD_USER_INPUT
    │   ├── ValidationError            BAD_USER_INPUT   a row/field is wrong
    │   ├── UnknownReferenceError      BAD_USER_INPUT   a row names a missing user
    │   └── ParameterError             BAD_USER_INPUT   a bad function/config parameter
    ├── NotFoundError                  NOT_FOUND
    ├── ConflictError                  CONFLICT
    ├── StoreError                     STORE_UNAVAILABLE
    │   └── Neo4jUnavailableError      STORE_UNAVAILABLE
    ├── ConvergenceError               NOT_CONVERGED
    ├── AuthenticationError            UNAUTHENTICATED  no or unknown API key
    ├── PermissionDeniedError          FORBIDDEN        the key's role may not do this
    └── LimitExceededError             LIMIT_EXCEEDED   a request is too deep/long/costly

This module imports nothing of Credence, so every layer (``credence.graph``,
``credence.scoring``, ``credence.api``, ``credence.seeds``) may import it without breaking the one-way
arrows of the design.

Examples
--------
>>> err = ValidationError("must be >= 0", entity="repayment", row=3,
...                       column="amount", value=-5, source="repayments.csv")
>>> print(err)
repayments.csv, repayment row 3, column 'amount' (value -5): must be >= 0
>>> err.code
'BAD_USER_INPUT'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "CLIP_CHARS",
    "AuthenticationError",
    "ConflictError",
    "ConvergenceError",
    "CredenceError",
    "InputError",
    "LimitExceededError",
    "Neo4jUnavailableError",
    "NotFoundError",
    "OutcomeUnknownError",
    "ParameterError",
    "PermissionDeniedError",
    "PersistedQueryNotFoundError",
    "QueryNotAllowedError",
    "RequestError",
    "StoreError",
    "UnknownReferenceError",
    "ValidationError",
    "clip",
    "error_from_payload",
    "error_payload",
]


#: The most characters of an offending value an error message repeats.
CLIP_CHARS = 80


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """``text``, or its first ``limit`` characters and how long it was (a hostile 1 MB id is not echoed).

    Examples
    --------
    >>> clip("u0001")
    'u0001'
    >>> clip("x" * 1_000_000, limit=5)
    'xxxxx... (1000000 characters)'
    """
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class CredenceError(Exception):
    """Base class of every deliberate Credence error."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    #: Attributes copied into GraphQL ``extensions`` when an error carries them.
    EXTENSION_FIELDS = ("entity", "row", "column", "value", "source", "name", "limit", "maximum", "role",
                        "allowed", "key", "retry_after")  # fmt: skip

    @property
    def extensions(self) -> dict[str, Any]:
        """GraphQL ``extensions``: the code and the facts the error carries (graphql-core reads this).

        Examples
        --------
        >>> NotFoundError("user", "u1").extensions
        {'code': 'NOT_FOUND', 'entity': 'user', 'key': 'u1'}
        """
        out: dict[str, Any] = {"code": self.code}
        for name in self.EXTENSION_FIELDS:
            value = getattr(self, name, None)
            if value is not None:
                out[name] = value if isinstance(value, int | float | bool) else clip(str(value))
        return out


class InputError(CredenceError):
    """Something the caller supplied is wrong; nothing was written."""

    code = "BAD_USER_INPUT"


class RequestError(InputError):
    """An HTTP request the API cannot read: not UTF-8, not JSON, not a JSON object, no query.

    Examples
    --------
    >>> RequestError("the body is not valid UTF-8 (byte 0xff at offset 11)").extensions
    {'code': 'BAD_REQUEST'}
    """

    code = "BAD_REQUEST"


class PersistedQueryNotFoundError(InputError):
    """A persisted query's hash this server does not know: the client sends the query once.

    The message is the one Apollo clients look for.
    """

    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class QueryNotAllowedError(CredenceError):
    """A query that is not on the server's allow-list (persisted queries only)."""

    code = "PERSISTED_QUERY_NOT_IN_LIST"


class ValidationError(InputError):
    """A row or field of input data is invalid.

    Parameters
    ----------
    problem : str
        What is wrong, in plain words.
    entity : str
        The kind of record ("user", "link", "repayment", "spending", ...).
    row : int or None
        Row number in the input: 1-based data row (the header is not counted),
        so ``row=1`` is the first line after a CSV header.
    column : str or None
        The offending column, if one.
    value : object
        The offending value, if one.
    source : str or None
        Where the data came from (a file name), if known.
    """

    def __init__(
        self,
        problem: str,
        *,
        entity: str,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        source: str | None = None,
    ) -> None:
        self.problem = problem
        self.entity = entity
        self.row = row
        self.column = column
        self.value = value
        self.source = source
        where = []
        if source:
            where.append(source)
        where.append(f"{entity} row {row}" if row is not None else entity)
        if column is not None:
            col = f"column {column!r}"
            if value is not None:
                col += (
                    f" (value {clip(value)!r})" if isinstance(value, str) else f" (value {clip(repr(value))})"
                )
            where.append(col)
        super().__init__(f"{', '.join(where)}: {problem}")

    def with_source(self, source: str) -> ValidationError:
        """Return a copy of this error that names ``source``."""
        return type(self)(
            self.problem,
            entity=self.entity,
            row=self.row,
            column=self.column,
            value=self.value,
            source=source,
        )


class UnknownReferenceError(ValidationError):
    """A row refers to a user that is neither in the input nor in the store."""


class ParameterError(InputError):
    """A function or configuration parameter is out of its domain.

    Examples
    --------
    >>> print(ParameterError("damping", 1.5, "must be in (0, 1)"))
    parameter 'damping' = 1.5: must be in (0, 1)
    """

    def __init__(self, name: str, value: Any, problem: str) -> None:
        self.name = name
        self.value = value
        self.problem = problem
        super().__init__(f"parameter {name!r} = {clip(repr(value))}: {problem}")


class NotFoundError(CredenceError):
    """A requested record does not exist."""

    code = "NOT_FOUND"

    def __init__(self, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {clip(key) if isinstance(key, str) else key!r} not found")


class ConflictError(CredenceError):
    """The request conflicts with the stored state (e.g. unflagging an unflagged user)."""

    code = "CONFLICT"


class StoreError(CredenceError):
    """The store could not be reached or failed; the operation was rolled back.

    Parameters
    ----------
    message : str
        What failed.
    retry_after : int or None
        Seconds after which trying again may succeed (the server is down or busy, a
        lock was not granted in time), or None when retrying will not help. Carried
        into GraphQL ``extensions``.

    Examples
    --------
    >>> StoreError("Neo4j at bolt://127.0.0.1:7687 is unavailable", retry_after=2).extensions
    {'code': 'STORE_UNAVAILABLE', 'retry_after': 2}
    """

    code = "STORE_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknownError(StoreError):
    """A change was sent but its answer was lost: it may or may not have been applied.

    The connection to the store (or to the writer process) broke after the change left
    and before its outcome came back. Unlike :class:`StoreError` this does not say
    "nothing was applied": read the state (or retry a change with the same id, which is
    then refused as a conflict if it was applied) before acting on it.

    Examples
    --------
    >>> OutcomeUnknownError("the writer process stopped answering", retry_after=1).extensions
    {'code': 'OUTCOME_UNKNOWN', 'retry_after': 1}
    """

    code = "OUTCOME_UNKNOWN"


class Neo4jUnavailableError(StoreError):
    """A Neo4j server could not be started, reached or built."""


class ConvergenceError(CredenceError):
    """An iterative solver stopped before reaching its tolerance.

    Parameters
    ----------
    iterations : int
        Iterations performed.
    residual : float
        Last residual (same norm as the tolerance).
    tol : float
        The tolerance that was asked for.
    """

    code = "NOT_CONVERGED"

    def __init__(self, iterations: int, residual: float, tol: float) -> None:
        self.iterations = iterations
        self.residual = residual
        self.tol = tol
        super().__init__(
            f"did not converge in {iterations} iterations: residual {residual:.3g} > tol {tol:.3g}"
        )


class AuthenticationError(CredenceError):
    """A request came without an API key, or with one nobody issued."""

    code = "UNAUTHENTICATED"


class PermissionDeniedError(CredenceError):
    """The caller's role may not read this field or run this operation.

    Examples
    --------
    >>> print(PermissionDeniedError("flagUser", role="app", allowed=("analyst", "admin")))
    role 'app' may not use flagUser (allowed: analyst, admin)
    """

    code = "FORBIDDEN"

    def __init__(self, what: str, *, role: str, allowed: tuple[str, ...]) -> None:
        self.what = what
        self.role = role
        self.allowed = allowed
        super().__init__(f"role {role!r} may not use {what} (allowed: {', '.join(allowed)})")


class LimitExceededError(CredenceError):
    """A request exceeds one of the server's limits (depth, tokens, aliases, page size, cost).

    Examples
    --------
    >>> print(LimitExceededError("first", 500, 100))
    first is 500, above the limit of 100
    """

    code = "LIMIT_EXCEEDED"

    def __init__(
        self, limit: str, value: int | float, maximum: int | float, *, retry_after: int | None = None
    ) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.retry_after = retry_after  # a rate limit: seconds until it would pass
        super().__init__(f"{limit} is {value}, above the limit of {maximum}")


# --------------------------------------------------------------------------- errors across processes


def _plain(value: Any) -> Any:
    """A fact as JSON holds it: simple values as they are, sequences as lists, anything else as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    item = getattr(value, "item", None)  # a numpy scalar
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _subclasses(cls: type[CredenceError]) -> Iterator[type[CredenceError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def error_payload(error: CredenceError) -> dict[str, Any]:
    """``error`` as JSON-ready data: its class, code, message and facts (:func:`error_from_payload` rebuilds it).

    How a worker process hands an error raised in another one to its own client
    unchanged: same class, message, ``extensions`` and attributes.

    Examples
    --------
    >>> err = error_from_payload(error_payload(ValidationError("must be >= 0", entity="repayment",
    ...                                                        column="amount", value=-5.0)))
    >>> type(err).__name__, err.column, err.extensions["code"]
    ('ValidationError', 'amount', 'BAD_USER_INPUT')
    >>> print(err)
    repayment, column 'amount' (value -5.0): must be >= 0
    """
    facts = {
        name: _plain(value)
        for name, value in vars(error).items()
        if name != "message" and not name.startswith("_")
    }
    return {"type": type(error).__name__, "code": error.code, "message": error.message, "facts": facts}


def error_from_payload(payload: Any) -> CredenceError:
    """The error :func:`error_payload` described (a :class:`CredenceError` of the same name and facts).

    An unknown class name gives a :class:`CredenceError` that keeps the payload's code;
    a payload that is not one gives an ``INTERNAL`` error saying so.

    Examples
    --------
    >>> err = error_from_payload(error_payload(StoreError("the store is away", retry_after=2)))
    >>> type(err).__name__, err.extensions
    ('StoreError', {'code': 'STORE_UNAVAILABLE', 'retry_after': 2})
    >>> error_from_payload({"type": 1}).code
    'INTERNAL'
    """
    if not (
        isinstance(payload, Mapping)
        and isinstance(payload.get("type"), str)
        and isinstance(payload.get("message"), str)
        and isinstance(payload.get("facts", {}), Mapping)
    ):
        return CredenceError(f"an error came back in an unreadable form: {clip(repr(payload))}")
    classes = {cls.__name__: cls for cls in _subclasses(CredenceError)}
    cls = classes.get(payload["type"], CredenceError)
    error = cls.__new__(cls)
    Exception.__init__(error, payload["message"])
    error.message = payload["message"]
    for name, value in payload.get("facts", {}).items():
        if isinstance(name, str) and not name.startswith("_"):
            setattr(error, name, tuple(value) if isinstance(value, list) else value)
    if cls is CredenceError and isinstance(payload.get("code"), str):
        error.code = payload["code"]
    return error
