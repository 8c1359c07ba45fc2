"""The root query of the caller's own key: ``viewer``."""

from __future__ import annotations

import strawberry

from credence.api.context import PERMISSIONS, context_of
from credence.api.types.viewer import Viewer

__all__ = ["ViewerQuery"]


@strawberry.type
class ViewerQuery:
    """Root field telling the caller who they are to the API (the ``read`` permission)."""

    @strawberry.field(
        description="The caller's key name, role, permissions and the request limits (any role)."
    )
    def viewer(self, info: strawberry.Info) -> Viewer:
        """The caller's key as a :class:`~credence.api.types.viewer.Viewer` (no store access, not audited).

        Raises
        ------
        AuthenticationError
            If the request carried no valid key.
        """
        ctx = context_of(info)
        key = ctx.require("read", "viewer")
        limits = ctx.config.limits
        allowed = [permission for permission, roles in PERMISSIONS.items() if key.role in roles]
        return Viewer(name=key.name, role=key.role, permissions=allowed, max_first=limits.max_first,
                      max_cost=limits.max_cost, max_aliases=limits.max_aliases)  # fmt: skip
