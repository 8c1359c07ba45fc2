"""Per-request state: the caller's key, what their role may do, loaders and the audit trail.

Who may do what (a role not listed gets FORBIDDEN; no key gets UNAUTHENTICATED)::

    permission  roles                 fields
    read        app, analyst, admin   user, users, node, scoreStats, scoreHistogram, model,
                                      User.score/band/components/reasons/history,
                                      User.network{value, prior, degree}, scoreChanged
    evidence    analyst, admin        Network.contributors, Network.influenced, User.friends,
                                      User.flags, influencePaths, suspiciousClusters, whatIf,
                                      sybilSuspects, communities, Influence.ifDefaulted
                                      (audited for the roles in ApiConfig.audit_roles)
    write       app, admin            upsertUser, addLink, removeLink, recordRepayment,
                                      recordSpending, setConsent
    flag        analyst, admin        flagUser, flagUsers, unflagUser
    admin       admin                 recompute, auditLog

Every resolver starts with :meth:`Context.require`; reads of evidence add an entry
with :meth:`Context.audit_read`, flags and recomputes with :meth:`Context.audit_action`.
:class:`~credence.api.extensions.CredenceErrors` writes the entries a request gathered
before its response leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from credence.api.budget import Spent
from credence.api.config import ApiConfig
from credence.api.keys import ApiKey
from credence.api.limits import PAGE_DEFAULT, PageSize, check_first, page_size
from credence.api.service import CredenceService
from credence.core.errors import AuthenticationError, CredenceError, PermissionDeniedError
from credence.graph.store import AuditDraft

__all__ = [
    "AFTER",
    "BEFORE",
    "LAST",
    "PERMISSIONS",
    "Context",
    "ReadOnlyError",
    "context_of",
    "first_argument",
]

#: Permission -> the roles that have it.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ("app", "analyst", "admin"),
    "evidence": ("analyst", "admin"),
    "write": ("app", "admin"),
    "flag": ("analyst", "admin"),
    # A person's own records (consent history, subject export): their app and admins.
    "subject": ("app", "admin"),
    "admin": ("admin",),
}


@dataclass
class Context:
    """Per-request state: the caller, the service, loaders and pending audit entries.

    Attributes
    ----------
    service
        The process's service (store, engine, worker threads, broker).
    config
        The server's configuration (keys, limits, audited roles, read-only).
    key
        The caller's key, or None when the request carried no valid key.
    audit
        Audit entries gathered by this request, written before the response leaves.
    loaders
        This request's DataLoaders by name (see :meth:`loader`).
    connection_params
        A websocket's ``connection_init`` payload (set by strawberry), where a browser,
        which cannot set handshake headers, sends its key.
    """

    service: CredenceService
    config: ApiConfig
    key: ApiKey | None
    audit: list[AuditDraft] = field(default_factory=list)
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    connection_params: dict[str, Any] | None = None
    #: The HTTP response being prepared (strawberry's sub-response), for headers; None on a websocket.
    response: Any = None
    #: What this request's operation cost its key (:mod:`credence.api.budget`), once charged.
    spent: Spent | None = None

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Add headers to the HTTP response (nothing on a websocket)."""
        if self.response is not None and hasattr(self.response, "headers"):
            for name, value in headers.items():
                self.response.headers[name] = value

    def require(self, permission: str, what: str) -> ApiKey:
        """The caller's key if its role has ``permission``.

        Parameters
        ----------
        permission
            A key of :data:`PERMISSIONS`.
        what
            The field asked for, named in the error.

        Returns
        -------
        ApiKey
            The caller's key.

        Raises
        ------
        AuthenticationError
            If the request carried no valid key.
        PermissionDeniedError
            If the key's role lacks ``permission``.
        """
        if self.key is None:
            raise AuthenticationError("no valid API key: send 'Authorization: Bearer <key>'")
        allowed = PERMISSIONS[permission]
        if self.key.role not in allowed:
            raise PermissionDeniedError(what, role=self.key.role, allowed=allowed)
        return self.key

    def allows(self, permission: str) -> bool:
        """Whether the caller's key has ``permission`` (False without a valid key); never raises."""
        return self.key is not None and self.key.role in PERMISSIONS[permission]

    def audit_read(self, action: str, subject: str | None, detail: str = "") -> None:
        """Record a read of evidence about ``subject``, if the caller's role is audited.

        Only the roles in ``ApiConfig.audit_roles`` are recorded (analysts by default):
        the log answers who looked at whose network, not every app read.
        """
        key = self.key
        if key is not None and key.role in self.config.audit_roles:
            self.audit.append(AuditDraft(actor=key.name, role=key.role, action=action, subject=subject,
                                         detail=detail))  # fmt: skip

    def audit_action(
        self, key: ApiKey, action: str, subject: str | None = None, detail: str = ""
    ) -> AuditDraft:
        """The audit entry of a change ``key`` makes (flag, unflag, recompute), whatever its role.

        The entry is handed to :meth:`~credence.api.service.CredenceService.mutate` with
        the change, so that both commit in one transaction.

        Parameters
        ----------
        key
            The caller's key, as :meth:`require` returned it.
        action
            What was done (``"flag"``, ``"unflag"``, ``"recompute"``).
        subject
            The user it was done to, if any.
        detail
            Free text (the analyst's reason, the recompute's size).
        """
        return AuditDraft(actor=key.name, role=key.role, action=action, subject=subject, detail=detail)

    def loader(self, name: str, batch: Callable[[list[Any]], Awaitable[list[Any]]]) -> DataLoader[Any, Any]:
        """The request's DataLoader ``name``, created on first use with ``batch``.

        Loaders live as long as the request, so a cached value is never served to
        another request or after a mutation of a later request.
        """
        if name not in self.loaders:
            self.loaders[name] = DataLoader(load_fn=batch)
        return self.loaders[name]

    def first(self, first: int, where: str = "first") -> int:
        """A page size checked against the limits (run time: variables are known here)."""
        return check_first(first, self.config.limits, where)

    def page(self, first: int | None, last: int | None, default: int) -> PageSize:
        """The page a connection's ``first``/``last`` ask for (:func:`~credence.api.limits.page_size`).

        ``default`` applies when neither is given; both given is BAD_USER_INPUT, and each is
        checked against ``max_first`` under its own name (LIMIT_EXCEEDED).
        """
        return page_size(first, last, default, self.config.limits)

    def writable(self) -> None:
        """Refuse a mutation on a read-only server (:class:`ReadOnlyError`)."""
        if self.config.read_only:
            raise ReadOnlyError()
        if self.service.follower is not None and (self.service.relay is None or self.response is None):
            # Only the primary writes; HTTP changes reach it through the follower (forwarded whole,
            # or the common ones relayed as calls), websocket ones cannot.
            raise ReadOnlyError("this worker follows the writer and takes changes only over HTTP POST")


class ReadOnlyError(CredenceError):
    """The server was started read-only (``credence serve --read-only``); mutations are refused."""

    code = "READ_ONLY"

    def __init__(
        self,
        message: str = "this server is read-only (started with --read-only); send writes to a server that takes them",
    ) -> None:
        super().__init__(message)


def first_argument(default: int) -> Any:
    """The ``first`` argument of a paged field: nullable, ``default`` when neither first nor last is given.

    The default lives in the description and in the argument's metadata
    (:data:`~credence.api.limits.PAGE_DEFAULT`, which the cost model reads), not in the
    schema: a schema default would be applied next to a ``last`` given alone.
    """
    return strawberry.argument(
        description=f"Page size from the start of the window (default {default} when neither first nor last "
        "is given; at most the server's max_first).",
        metadata={PAGE_DEFAULT: default},
    )


#: The ``last`` argument of a paged field.
LAST = strawberry.argument(
    description="Page size from the end of the window: the items just before `before` (or the last ones), "
    "in the same order as forward pages. Not with first."
)
#: The ``after`` argument of a paged field.
AFTER = strawberry.argument(description="Only items after this cursor (any edge's cursor of this listing).")
#: The ``before`` argument of a paged field.
BEFORE = strawberry.argument(description="Only items before this cursor (any edge's cursor of this listing).")


def context_of(info: strawberry.Info) -> Context:
    """The :class:`Context` of the request ``info`` belongs to (``info.context``, typed)."""
    context: Context = info.context
    return context
