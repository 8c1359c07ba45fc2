"""Request limits checked before execution: depth, aliases and an estimated cost.

:func:`measure_operation` walks an operation's selection (fragments expanded) against
the schema and returns its depth, alias count and cost; :class:`RequestLimitsRule`
turns a breach of :class:`~credence.api.config.Limits` into a validation error with
``extensions.code = LIMIT_EXCEEDED``. The token limit is the parser's
(``max_tokens``), and page sizes are checked again at run time, where variables
are known (:func:`check_first`).

Introspection fields (``__schema``, ``__type``) count 1 and nothing below them, so
standard tools can read the schema; the token limit still bounds such documents.

Cost model: every field costs 1; a field with a ``first`` argument multiplies what it
selects by its page size (a literal, the argument's default, or ``max_first`` when it
comes from a variable); fields in :data:`PUSH_FIELDS` run a local push per call and
add :data:`PUSH_COST` per item on top.

Examples
--------
>>> from graphql import build_schema, parse
>>> schema = build_schema('''
... type Query { users(first: Int = 10): [User!]! }
... type User { name: String! friends(first: Int = 5): [User!]! }''')
>>> # users: 1 + 3 x (name 1 + friends (1 + 5 x name 1)) = 1 + 3 x 7
>>> measure_operation(schema, parse("{ users(first: 3) { name friends { name } } }"), max_first=100)
Measure(depth=3, aliases=0, cost=22)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
)

from credence.api.config import Limits
from credence.core.errors import LimitExceededError

__all__ = ["PUSH_COST", "PUSH_FIELDS", "Measure", "RequestLimitsRule", "check_first", "measure_operation"]

PUSH_FIELDS = frozenset({"contributors", "influenced", "inflation", "ifDefaulted"})
PUSH_COST = 10


class Measure(NamedTuple):
    """What :func:`measure_operation` found in one operation, to compare with the limits.

    Attributes
    ----------
    depth : int
        Nesting depth of the deepest field (fragments expanded).
    aliases : int
        Aliased fields selected (a fragment's count again at each spread).
    cost : int
        The estimated cost, by the cost model of this module.
    """

    depth: int
    aliases: int
    cost: int


def check_first(first: int, limits: Limits, where: str = "first") -> int:
    """A page size within ``[0, limits.max_first]`` (LimitExceededError above, ValueError below)."""
    if first > limits.max_first:
        raise LimitExceededError(where, first, limits.max_first)
    if first < 0:
        from credence.core.errors import ValidationError

        raise ValidationError("must be >= 0", entity="argument", column=where, value=first)
    return first


@dataclass
class _Walker:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    max_first: int
    aliases: int = 0

    def selection(
        self, parent: Any, selection_set: SelectionSetNode | None, depth: int, seen: frozenset[str]
    ) -> tuple[int, int]:
        """(deepest depth, cost) of a selection set under ``parent`` (a named type)."""
        if selection_set is None:
            return depth, 0
        deepest, cost = depth, 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                d, c = self.field(parent, node, depth + 1, seen)
            elif isinstance(node, InlineFragmentNode):
                target = parent
                if node.type_condition is not None:
                    target = self.schema.get_type(node.type_condition.name.value) or parent
                d, c = self.selection(target, node.selection_set, depth, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # other rules report unknown and cyclic fragments
                target = self.schema.get_type(fragment.type_condition.name.value) or parent
                d, c = self.selection(target, fragment.selection_set, depth, seen | {name})
            else:  # pragma: no cover - the three kinds above are all there are
                continue
            deepest, cost = max(deepest, d), cost + c
        return deepest, cost

    def field(self, parent: Any, node: FieldNode, depth: int, seen: frozenset[str]) -> tuple[int, int]:
        if node.alias is not None:
            self.aliases += 1
        if node.name.value.startswith("__"):
            # Introspection reads the schema, not data: the standard introspection query
            # (depth 15) must pass; its size is still bounded by the token limit.
            return depth, 1
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:  # introspection or unknown: cost 1, nothing below counted
            return self.selection(None, node.selection_set, depth, seen)[0], 1
        multiplier = 1
        argument = definition.args.get("first")
        if argument is not None:
            given = next((a for a in node.arguments or () if a.name.value == "first"), None)
            if given is None:
                multiplier = _default_int(argument, self.max_first)
            elif isinstance(given.value, IntValueNode):
                multiplier = int(given.value.value)
            else:
                multiplier = self.max_first
        multiplier = max(multiplier, 0)
        deepest, below = self.selection(get_named_type(definition.type), node.selection_set, depth, seen)
        extra = PUSH_COST * multiplier if node.name.value in PUSH_FIELDS else 0
        return deepest, 1 + extra + multiplier * below


def _default_int(argument: Any, fallback: int) -> int:
    """An argument's integer default (graphql-core 3.2 ``default_value`` or 3.3 ``default``)."""
    value = getattr(argument, "default_value", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    default = getattr(argument, "default", None)
    if default is not None:
        if isinstance(getattr(default, "value", None), int):
            return int(default.value)
        literal = getattr(default, "literal", None)
        if isinstance(literal, IntValueNode):
            return int(literal.value)
    return fallback


def measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    max_first: int,
    operation: OperationDefinitionNode | None = None,
) -> Measure:
    """Depth, aliases and estimated cost of one operation (the first when not given)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if operation is None:
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    walker = _Walker(schema, fragments, max_first)
    depth, cost = walker.selection(root, operation.selection_set, 0, frozenset())
    return Measure(depth, walker.aliases, cost)


def _limit_error(error: LimitExceededError, node: Any) -> GraphQLError:
    return GraphQLError(
        str(error), node,
        extensions={"code": error.code, "limit": error.limit, "value": error.value, "maximum": error.maximum},
    )  # fmt: skip


def RequestLimitsRule(limits: Limits) -> type[ValidationRule]:
    """A graphql-core validation rule enforcing ``limits`` on every operation."""

    class _Rule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            context = self.context
            measure = measure_operation(
                context.schema, context.document, max_first=limits.max_first, operation=node
            )
            for name, value, maximum in (
                ("depth", measure.depth, limits.max_depth),
                ("aliases", measure.aliases, limits.max_aliases),
                ("cost", measure.cost, limits.max_cost),
            ):
                if value > maximum:
                    context.report_error(_limit_error(LimitExceededError(name, value, maximum), node))

    return _Rule
