"""Schema extensions: error codes and masking, the audit write, and a parse cache.

Errors are Credence's own exceptions; :class:`CredenceErrors` gives each its
``extensions.code`` (and its facts), masks anything else as INTERNAL_SERVER_ERROR,
and writes the audit entries the request gathered before the response leaves.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLError, parse
from strawberry.extensions import SchemaExtension

from credence.api.context import Context
from credence.api.scalars import format_datetime
from credence.api.tracing import current_request_id
from credence.core.errors import CredenceError, LimitExceededError

__all__ = ["ALLOWED_CODES", "CachedParser", "CostLimit", "CredenceErrors"]

log = logging.getLogger("credence.api")

#: Codes that reach clients with their message; anything else is masked.
ALLOWED_CODES = frozenset({
    "BAD_USER_INPUT", "BAD_REQUEST", "PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_IN_LIST", "NOT_FOUND", "CONFLICT", "FORBIDDEN", "UNAUTHENTICATED", "LIMIT_EXCEEDED",
    "STORE_UNAVAILABLE", "OUTCOME_UNKNOWN", "NOT_CONVERGED", "READ_ONLY", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED",
})  # fmt: skip


#: graphql-core's message when the parser stops at the token limit.
_TOKENS = re.compile(r"more than (\d+) tokens")


def _code_of(error: GraphQLError) -> str | None:
    original = error.original_error
    if isinstance(original, CredenceError):
        return original.code
    if isinstance(original, GraphQLError):
        return _code_of(original)
    return None


class CredenceErrors(SchemaExtension):
    """Gives every error its ``extensions.code``, masks unexpected ones, writes the audit log.

    The audit entries of the evidence a request read are written in one transaction of
    their own, on the audit thread (never inside the writer's), before its response
    leaves; if that write fails the response carries no data, only the error, so no
    evidence is ever served unaudited. Changes write their audit entries with the change
    itself (:meth:`~credence.api.service.CredenceService.mutate`).
    """

    async def on_operation(self) -> AsyncIterator[None]:
        """After the operation ran: write its audit entries, then give each error its code.

        Strawberry resumes this generator once the result exists. A failed audit write
        replaces the data with a ``STORE_UNAVAILABLE`` error; every error is then
        presented with its code and facts, or masked as ``INTERNAL_SERVER_ERROR``.
        """
        yield
        result = self.execution_context.result
        context = self.execution_context.context
        if result is None:
            return
        if isinstance(context, Context) and context.audit:
            try:
                await context.service.record_audit(context.audit)
                context.audit.clear()
            except Exception as error:  # audit failure: withhold the data
                log.exception("request %s: audit write failed", current_request_id())
                result.data = None
                result.errors = [*(result.errors or []),
                                 GraphQLError("the audit log could not be written; no data returned",
                                              original_error=error if isinstance(error, CredenceError) else None,
                                              extensions={"code": "STORE_UNAVAILABLE"})]  # fmt: skip
        if result.errors:
            result.errors = [self._present(error) for error in result.errors]

    def get_results(self) -> dict[str, Any]:
        """Response ``extensions``: the ``generation`` token, and ``stale`` when the store was away.

        ``generation`` is the sequence number of the newest snapshot the answer reflects
        (read-your-writes, see :mod:`credence.api.workers`).

        The data may then lag what the store would say; ``since`` (a ``DateTime``) is when
        the store stopped answering, or the engine started being rebuilt from it.
        """
        context = self.execution_context.context
        if not isinstance(context, Context):
            return {}
        out: dict[str, Any] = {"generation": context.service.generation_token()}
        since = context.service.stale_since()
        if since is not None:
            out["stale"] = {"since": format_datetime(since)}
        return out

    @staticmethod
    def _present(error: GraphQLError) -> GraphQLError:
        extensions = dict(error.extensions or {})
        code = extensions.get("code") or _code_of(error)
        message = error.message
        original = error.original_error
        if code is None and message.startswith("Variable '$"):
            # graphql-core's coercion of a variable's value (wrong type, null for a non-null,
            # missing, out of range): the client's mistake, and its message says which and why.
            code = "BAD_USER_INPUT"
        elif code is None and original is None:
            # Parse and validation errors come without an original error.
            tokens = _TOKENS.search(message)
            if tokens is not None:
                code = "LIMIT_EXCEEDED"
                extensions.update(limit="tokens", maximum=int(tokens.group(1)))
            elif message.startswith("Syntax Error"):
                code = "GRAPHQL_PARSE_FAILED"
            else:
                code = "GRAPHQL_VALIDATION_FAILED"
        rid = current_request_id()
        tag = {} if rid is None else {"request_id": rid}
        if code not in ALLOWED_CODES or code is None:
            log.error("request %s: internal error masked: %r", rid, original or error, exc_info=original)
            return GraphQLError("internal server error", error.nodes, error.source, error.positions, error.path,
                                extensions={"code": "INTERNAL_SERVER_ERROR", **tag})  # fmt: skip
        extensions["code"] = code
        if isinstance(original, CredenceError):
            extensions = {**original.extensions, **extensions}
        extensions.update(tag)
        return GraphQLError(
            message, error.nodes, error.source, error.positions, error.path, extensions=extensions
        )


@functools.lru_cache(maxsize=1_024)
def _parse_cached(query: str, max_tokens: int | None) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


class CachedParser(SchemaExtension):
    """Parse each distinct document once (parsing was a quarter of a typical request's CPU).

    Only successful parses are cached and reused; a document that fails to parse is left
    to strawberry, which parses it again and reports the error the usual way (with its
    code), which strawberry's own ParserCache would not.
    """

    def on_parse(self) -> Iterator[None]:
        """Before strawberry parses: hand it the cached document of this query, if it parses."""
        context = self.execution_context
        if context.graphql_document is None and context.query:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parse_cached(
                    context.query, context.parse_options.get("max_tokens")
                )
        yield


class CostLimit(SchemaExtension):
    """Charge each operation's estimated cost to its key's bucket (:mod:`credence.api.budget`).

    Runs once the document is valid, before execution: a refused operation does not execute and is
    answered ``LIMIT_EXCEEDED`` (``limit: "rate"``) with ``retry_after`` (and a
    ``Retry-After`` header); an allowed one reports ``extensions.cost`` and the
    ``X-RateLimit-*`` headers.
    """

    def on_execute(self) -> Iterator[None]:
        """Before execution (the document is valid): take the operation's cost, or refuse it.

        A refusal is set as the result, which strawberry then does not execute.
        """
        self._charge()
        yield

    def _charge(self) -> None:
        execution = self.execution_context
        context = execution.context
        if not isinstance(context, Context) or context.key is None or context.service.buckets is None:
            return
        cost_of = getattr(execution.schema, "cost_of", None)
        if cost_of is None or not execution.query:
            return
        cost = cost_of(execution.query, execution.operation_name, context.config.limits.max_first)
        if cost is None:
            return
        try:
            context.spent = context.service.buckets.spend(context.key.name, cost)
        except LimitExceededError as refused:
            context.set_headers({"Retry-After": str(refused.retry_after)})
            execution.result = ExecutionResult(
                data=None, errors=[GraphQLError(str(refused), original_error=refused)]
            )
            return
        context.set_headers(context.spent.headers())

    def get_results(self) -> dict[str, Any]:
        """Response ``extensions.cost``: requested, remaining, budget, refillPerSecond."""
        context = self.execution_context.context
        if isinstance(context, Context) and context.spent is not None:
            return {"cost": context.spent.as_extension()}
        return {}
