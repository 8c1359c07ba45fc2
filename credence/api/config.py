"""API configuration: the request limits and how the GraphQL app behaves.

The API keys themselves are in :mod:`credence.api.keys`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from credence.api.keys import ROLES, ApiKeys, KeyFile
from credence.core.checks import check_choice, check_int
from credence.core.errors import ParameterError

__all__ = ["ApiConfig", "Limits"]

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


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
    rate_budget : int
        Cost points an API key's bucket holds (:mod:`credence.api.budget`); 0 turns
        rate limiting off. At least ``max_cost``, so that any allowed operation can run.
    rate_refill_per_second : int
        Points a key's bucket regains per second.
    """

    max_depth: int = 12
    max_tokens: int = 2_000
    max_aliases: int = 20
    max_first: int = 100
    max_cost: int = 20_000
    max_body_bytes: int = 1_048_576
    rate_budget: int = 400_000
    rate_refill_per_second: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_tokens", "max_aliases", "max_first", "max_cost", "max_body_bytes",
                     "rate_refill_per_second"):  # fmt: skip
            # stored as a plain int, so that a numpy integer compares and prints like one
            object.__setattr__(self, name, check_int(getattr(self, name), name, 1))
        object.__setattr__(self, "rate_budget", check_int(self.rate_budget, "rate_budget", 0))
        if 0 < self.rate_budget < self.max_cost:
            raise ParameterError(
                "rate_budget", self.rate_budget, f"must be 0 (off) or at least max_cost ({self.max_cost})"
            )


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """How the GraphQL app behaves.

    Parameters
    ----------
    keys : ApiKeys or KeyFile
        Who may call, with which role: fixed keys, or a key file that is read again
        when it changes (``credence serve``), so that keys issued, revoked or rotated
        take effect without a restart.
    limits : Limits
        Per-request limits.
    graphiql : bool
        Serve the GraphiQL IDE on GET (for local use).
    read_only : bool
        Refuse mutations (``credence serve --read-only``: a server that only answers).
    audit_roles : tuple of str
        Roles whose reads of a person's network evidence are written to the audit log.
    cors_origins : tuple of str
        Browser origins allowed to call the API from another site (CORS), e.g.
        ``("https://console.example.org",)``; none by default.
    allowed_queries : mapping of str to str, optional
        An allow-list of persisted queries (id -> text,
        :func:`~credence.api.persisted.read_manifest`): only these run. Without it,
        persisted queries register automatically.
    """

    keys: ApiKeys | KeyFile
    limits: Limits = field(default_factory=Limits)
    graphiql: bool = True
    read_only: bool = False
    audit_roles: Sequence[str] = ("analyst", "admin")
    cors_origins: tuple[str, ...] = ()
    allowed_queries: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.keys, ApiKeys | KeyFile):
            raise ParameterError("keys", self.keys, "must be ApiKeys or a KeyFile")
        for role in self.audit_roles:
            check_choice(role, "audit_roles", ROLES)
        for origin in self.cors_origins:
            if not isinstance(origin, str) or not _ORIGIN.match(origin):
                raise ParameterError(
                    "cors_origins", origin, "must be an origin like https://host[:port] (no path)"
                )
