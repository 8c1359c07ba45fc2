"""The GraphQL schema, assembled from the modules of :mod:`credence.api`.

Resolvers are thin: they check the caller's role (:data:`~credence.api.context.PERMISSIONS`),
hand store and engine work to the service's worker thread, batch lookups through
per-request DataLoaders (:mod:`~credence.api.loaders`), and turn results into the
GraphQL types of :mod:`credence.api.types`.

``Query`` merges the area classes of :mod:`credence.api.resolvers` with strawberry's
``merge_types``, in the order their fields appear in the SDL, which is checked in at
``credence/api/schema.graphql`` (``credence schema --out credence/api/schema.graphql``).
"""

from __future__ import annotations

import functools
import logging
from functools import partial

import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from credence.api.config import ApiConfig
from credence.api.extensions import CachedParser, CostLimit, CredenceErrors
from credence.api.guard import document_of
from credence.api.limits import RequestLimitsRule, measure_operation
from credence.api.resolvers.analyst import AnalystQuery
from credence.api.resolvers.audit import AuditQuery
from credence.api.resolvers.mutations import Mutation
from credence.api.resolvers.subscription import Subscription
from credence.api.resolvers.users import UsersQuery
from credence.api.resolvers.viewer import ViewerQuery
from credence.api.scalars import DATETIME, EpochSeconds
from credence.api.tracing import current_request_id
from credence.api.types.users import User
from credence.core.errors import clip

__all__ = ["CredenceSchema", "Query", "build_schema"]

log = logging.getLogger("credence.api")

#: The root query type: users and scores, then the analyst's tools, the audit log, the caller's key.
Query = merge_types("Query", (UsersQuery, AnalystQuery, AuditQuery, ViewerQuery))


class CredenceSchema(strawberry.Schema):
    """Strawberry's schema, without its logging of every error with a traceback.

    A client's mistake (bad input, an unknown user, a refused role) is answered, not
    logged as a server fault; the errors masked as ``INTERNAL_SERVER_ERROR`` are logged,
    with their traceback, by :class:`~credence.api.extensions.CredenceErrors`.
    """

    @functools.lru_cache(maxsize=2_048)  # noqa: B019 - one schema per server, documents repeat
    def cost_of(self, query: str, operation_name: str | None, max_first: int) -> int | None:
        """The estimated cost of the operation a request runs (:func:`~credence.api.limits.measure_operation`).

        None when the document does not parse or names no such operation (validation
        reports that).
        """
        document = document_of(query)
        if document is None:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [
            op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)
        ]
        if not chosen:
            return None
        return measure_operation(self._schema, document, max_first=max_first, operation=chosen[0]).cost

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log each error on one line at DEBUG (not as a traceback at ERROR)."""
        for error in errors:
            log.debug("request %s: %s", current_request_id(), clip(error.message, 200))


def build_schema(config: ApiConfig) -> strawberry.Schema:
    """The schema with the request limits of ``config``.

    Parameters
    ----------
    config
        The server's configuration; only its limits shape the schema.

    Returns
    -------
    strawberry.Schema
        Query, mutation and subscription with the extensions as factories (one
        instance per operation): token limit, parse cache, validation cache, the
        request limits rule, and error codes with the audit write.
    """
    limits = config.limits
    return CredenceSchema(
        query=Query, mutation=Mutation, subscription=Subscription, types=[User],
        config=StrawberryConfig(scalar_map={EpochSeconds: DATETIME}),
        extensions=[
            partial(MaxTokensLimiter, max_token_count=limits.max_tokens),
            CachedParser,
            # Clients repeat the same documents: validate each once (the limits rule depends on
            # the document only; page sizes from variables are checked at run time).
            partial(ValidationCache, maxsize=1_024),
            partial(AddValidationRules, [RequestLimitsRule(limits)]),
            CostLimit,
            CredenceErrors,
        ],
    )  # fmt: skip
