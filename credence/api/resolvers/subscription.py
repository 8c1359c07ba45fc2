"""The score subscription: score changes pushed as they happen (graphql-transport-ws)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from credence.api.context import context_of
from credence.api.types.payloads import ScoreChangedEvent
from credence.core.errors import NotFoundError
from credence.graph.model import check_user_id

__all__ = ["Subscription"]


@strawberry.type
class Subscription:
    """The root subscription type."""

    @strawberry.subscription(description="Score changes of one user (or of everyone when userId is null).")
    async def score_changed(
        self, info: strawberry.Info, user_id: str | None = None
    ) -> AsyncGenerator[ScoreChangedEvent, None]:
        """Each score change of ``user_id`` (of every user when None) as it is published (``read``).

        The queue is the broker's; it is unsubscribed when the client goes away. A slow
        client misses changes rather than holding up the publisher (its queue is bounded).

        Raises
        ------
        NotFoundError
            If ``user_id`` names no user.
        """
        ctx = context_of(info)
        ctx.require("read", "scoreChanged")
        key = None if user_id is None else check_user_id(user_id)
        if key is not None and ctx.service.engine.summaries([key])[0] is None:
            raise NotFoundError("user", key)
        token, queue = ctx.service.broker.subscribe(key)
        try:
            while True:
                change = await queue.get()
                yield ScoreChangedEvent(user_id=change.user, before=change.before, after=change.after)
        finally:
            ctx.service.broker.unsubscribe(token)
