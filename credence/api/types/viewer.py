"""Who is calling: the caller's key name, role, what the role may do, and the request limits."""

from __future__ import annotations

import strawberry

__all__ = ["Viewer"]


@strawberry.type(description="The caller's API key as the server sees it, and the limits its requests meet.")
class Viewer:
    """The caller's key (never its secret), its role's permissions and the server's limits.

    A client such as the analyst console reads it once after sign-in, to show only what
    the role may see and to size its pages and costs within the limits.
    """

    name: str = strawberry.field(description="The key's name (as in the audit log).")
    role: str = strawberry.field(description="app, analyst or admin.")
    permissions: list[str] = strawberry.field(
        description="The permissions the role has (read, evidence, write, flag, subject, admin)."
    )
    max_first: int = strawberry.field(description="The largest page of any list or connection.")
    max_cost: int = strawberry.field(description="The largest estimated cost of one operation.")
    max_aliases: int = strawberry.field(description="The most aliased fields in one document.")
