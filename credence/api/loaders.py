"""Per-request DataLoaders: one batch per field, not one call per user.

A page of 100 users asking for ``network { value }`` costs one trip to the worker
thread, not 100. Summaries are read from the engine's memory without the lock
(so on the event loop); network summaries, histories and friend lists take the
engine lock or read the store, so their batches run on the service's worker
thread. A lookup that fails (an unknown user) fails only its own key: the batch
returns the error in that key's place and the DataLoader raises it for that key.

A loaded key's future is shared by every field that asks for it in the request, so
each field awaits it through :func:`asyncio.shield`: when graphql-core cancels a
field (a sibling failed), only that field's wait ends; the shared future, and every
other field waiting on it, carry on. Awaited bare, the cancellation would cancel the
shared future and surface in an unrelated field as a CancelledError (an HTTP 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import pandas as pd

from credence.api.context import Context
from credence.core.errors import CredenceError, NotFoundError
from credence.engine import NetworkSummary, UserSummary

__all__ = [
    "load_friends",
    "load_history",
    "load_model_weights",
    "load_network",
    "load_summaries",
    "load_summary",
]

T = TypeVar("T")


async def _shared(load: Awaitable[T]) -> T:
    """Await a DataLoader future without letting this caller's cancellation cancel it."""
    return await asyncio.shield(load)


async def _summaries(ctx: Context, keys: list[str]) -> list[UserSummary | None]:
    return ctx.service.engine.summaries(keys)


async def _each(ctx: Context, keys: list[str], one: Callable[[str], T]) -> list[T | Exception]:
    def work() -> list[T | Exception]:
        out: list[T | Exception] = []
        for key in keys:
            try:
                out.append(one(key))
            except CredenceError as error:
                out.append(error)
        return out

    return await ctx.service.run(work)


async def _networks(ctx: Context, keys: list[str]) -> list[NetworkSummary | Exception]:
    return await _each(ctx, keys, ctx.service.engine.network)


async def _histories(ctx: Context, keys: list[str]) -> list[pd.DataFrame | Exception]:
    return await _each(ctx, keys, ctx.service.store.score_history)


async def _models(ctx: Context, keys: list[str]) -> list[dict[str, dict[str, float]]]:
    weights = await ctx.service.run(ctx.service.store.model_weights)
    return [weights for _ in keys]


async def _friends(ctx: Context, keys: list[str]) -> list[list[tuple[str, float]] | Exception]:
    return await _each(ctx, keys, ctx.service.engine.friends)


async def load_summaries(ctx: Context, user_ids: list[str]) -> list[UserSummary | None]:
    """The score summaries of ``user_ids`` (None for an unknown user), batched per request."""
    return await _shared(ctx.loader("summary", partial(_summaries, ctx)).load_many(user_ids))


async def load_summary(ctx: Context, user_id: str) -> UserSummary:
    """The score summary of one user, batched with the request's other summaries.

    Raises
    ------
    NotFoundError
        If there is no such user.
    """
    found = await _shared(ctx.loader("summary", partial(_summaries, ctx)).load(user_id))
    if found is None:
        raise NotFoundError("user", user_id)
    return found


async def load_network(ctx: Context, user_id: str) -> NetworkSummary:
    """A user's network summary (value, prior, degree, shrink, ...), batched per request."""
    found: NetworkSummary = await _shared(ctx.loader("network", partial(_networks, ctx)).load(user_id))
    return found


async def load_history(ctx: Context, user_id: str) -> pd.DataFrame:
    """A user's stored score snapshots, oldest first (the store's order), batched per request."""
    found: pd.DataFrame = await _shared(ctx.loader("history", partial(_histories, ctx)).load(user_id))
    return found


async def load_model_weights(ctx: Context) -> dict[str, dict[str, float]]:
    """The weights of every model version the store has recorded, read once per request."""
    found: dict[str, dict[str, float]] = await _shared(
        ctx.loader("models", partial(_models, ctx)).load("all")
    )
    return found


async def load_friends(ctx: Context, user_id: str) -> list[tuple[str, float]]:
    """A user's ``(friend, weight)`` pairs by friend id, batched per request."""
    found: list[tuple[str, float]] = await _shared(
        ctx.loader("friends", partial(_friends, ctx)).load(user_id)
    )
    return found
