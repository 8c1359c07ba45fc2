"""Request limits checked before execution: depth, aliases and an estimated cost.

:func:`measure_operation` walks an operation's selection (fragments expanded) against
the schema and returns its depth, alias count and cost; :class:`RequestLimitsRule`
turns a breach of :class:`~credence.api.config.Limits` into a validation error with
``extensions.code = LIMIT_EXCEEDED``. The token limit is the parser's
(``max_tokens``), and page sizes are checked again at run time, where variables
are known (:func:`check_first`).

Introspection fields (``__schema``, ``__type``) count 1 and nothing below them, so
standard tools can read the schema; the token limit still bounds such documents.

Cost model: every field costs 1; a field with a ``first`` (or ``last``) argument
multiplies what it selects by its page size: the literal given (the larger of ``first``
and ``last`` if both are), ``max_first`` when it comes from a variable, and when
neither is given the default page size (the ``first`` argument's default value, or
the :data:`PAGE_DEFAULT` in its metadata when the schema declares ``first`` without a
default so that ``last`` can be given alone, see :func:`page_size`); fields in
:data:`PUSH_FIELDS` run a local push per call and add :data:`PUSH_COST` per item on top.

Examples
--------
>>> from graphql import build_schema, parse
>>> schema = build_schema('''
... type Query { users(first: Int = 10): [User!]! }
... type User { name: String! friends(first: Int = 5): [User!]! }''')
>>> # users: 1 + 3 x (name 1 + friends (1 + 5 x name 1)) = 1 + 3 x 7
>>> measure_operation(schema, parse("{ users(first: 3) { name friends { name } } }"), max_first=100)
Measure(depth=3, aliases=0, cost=22)
>>> paged = build_schema("type Query { users(first: Int, last: Int): [User!]! } type User { name: String! }")
>>> measure_operation(paged, parse("{ users(last: 7) { name } }"), max_first=100).cost  # 1 + 7 x 1
8
>>> measure_operation(paged, parse("query($n: Int) { users(last: $n) { name } }"), max_first=100).cost
101
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
)

from credence.api.config import Limits
from credence.core.errors import LimitExceededError, ValidationError

T = TypeVar("T")
#: The largest id a keyset cursor holds (ids are signed 64-bit).
_ID_MAX = 2**63 - 1

__all__ = [
    "PAGE_DEFAULT",
    "PUSH_COST",
    "PUSH_FIELDS",
    "Measure",
    "PageSize",
    "RequestLimitsRule",
    "check_first",
    "measure_operation",
    "page_size",
]

PUSH_FIELDS = frozenset({"contributors", "influenced", "inflation", "ifDefaulted"})
PUSH_COST = 10
#: Metadata key of a paged field's default page size, on its ``first`` argument (strawberry's
#: ``strawberry.argument(metadata=...)``): the schema declares ``first`` without a default,
#: so that ``last`` can be given alone, and the cost model reads the default from here.
PAGE_DEFAULT = "credence.page_default"


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
    """A page size within ``[0, limits.max_first]`` (LimitExceededError above, ValidationError below)."""
    if first > limits.max_first:
        raise LimitExceededError(where, first, limits.max_first)
    if first < 0:
        raise ValidationError("must be >= 0", entity="argument", column=where, value=first)
    return first


class PageSize(NamedTuple):
    """How many items a paged field returns, and from which end of its window.

    Attributes
    ----------
    size : int
        The page size, within the limits.
    from_end : bool
        True for ``last`` (the items nearest ``before``, or the end), False for ``first``.
    """

    size: int
    from_end: bool

    def cut(self, low: int, high: int) -> tuple[int, int]:
        """The ``[start, stop)`` of the page within the window ``[low, high)`` of a list.

        The window is what the cursors leave (``after`` and ``before`` excluded); the page
        is its first ``size`` items, or its last ``size`` with ``from_end``. A window that
        the cursors leave empty (``high <= low``) gives an empty page at ``low``.

        Examples
        --------
        >>> PageSize(3, False).cut(2, 10), PageSize(3, True).cut(2, 10), PageSize(3, True).cut(2, 4)
        ((2, 5), (7, 10), (2, 4))
        """
        high = max(high, low)
        if self.from_end:
            return max(low, high - self.size), high
        return low, min(high, low + self.size)

    def keyset(
        self,
        fetch: Callable[[int | None, int | None, int, bool], list[T]],
        after: int | None,
        before: int | None,
    ) -> tuple[list[T], bool, bool]:
        """The page of a keyset listing between id cursors, and whether items precede and follow it.

        ``fetch(after, before, limit, newest)`` returns the items with ``after < id < before``
        (None: unbounded), the oldest ``limit`` or with ``newest`` the newest ``limit``,
        oldest first. One item more than the page tells whether the window goes on beyond
        it; whether items lie beyond the cursors themselves is one fetch of at most one
        item each way. Returns ``(items, has_previous, has_next)``.

        Examples
        --------
        >>> ids = [3, 5, 8, 9, 12]
        >>> def fetch(after, before, limit, newest):
        ...     inside = [i for i in ids if (after is None or i > after) and (before is None or i < before)]
        ...     return inside[-limit:] if newest else inside[:limit]
        >>> PageSize(2, False).keyset(fetch, 3, None), PageSize(2, True).keyset(fetch, None, 12)
        (([5, 8], True, True), ([8, 9], True, True))
        """
        wanted = self.size + 1
        found = fetch(after, before, wanted, self.from_end)
        more = len(found) > self.size
        found = found[len(found) - self.size :] if self.from_end and more else found[: self.size]
        earlier = after is not None and bool(fetch(None, after + 1 if after < _ID_MAX else None, 1, True))
        later = before is not None and bool(fetch(before - 1 if before > 0 else None, None, 1, False))
        return found, earlier or (self.from_end and more), later or (not self.from_end and more)


def page_size(first: int | None, last: int | None, default: int, limits: Limits) -> PageSize:
    """The page a Relay connection's ``first``/``last`` ask for, checked against the limits.

    Parameters
    ----------
    first, last
        The arguments as given (None when absent or null).
    default
        The page size when neither is given (a ``first`` of that size).
    limits
        The server's limits: ``max_first`` bounds ``first`` and ``last`` alike.

    Returns
    -------
    PageSize
        ``(last, True)`` when ``last`` is given, otherwise ``(first or the default, False)``.

    Raises
    ------
    ValidationError
        If both are given, or either is negative (naming the argument).
    LimitExceededError
        If the one given exceeds ``max_first`` (naming the argument).

    Examples
    --------
    >>> page_size(None, None, 20, Limits()), page_size(None, 5, 20, Limits())
    (PageSize(size=20, from_end=False), PageSize(size=5, from_end=True))
    >>> page_size(3, 5, 20, Limits())
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: argument, column 'last' (value 5): give first or last, not both
    """
    if first is not None and last is not None:
        raise ValidationError("give first or last, not both", entity="argument", column="last", value=last)
    if last is not None:
        return PageSize(check_first(last, limits, "last"), True)
    return PageSize(check_first(default if first is None else first, limits, "first"), False)


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
        sizes = [name for name in ("first", "last") if name in definition.args]
        if sizes:
            given = [size for name in sizes if (size := self.size(node, name)) is not None]
            multiplier = max(given) if given else _default_size(definition.args[sizes[0]], self.max_first)
        multiplier = max(multiplier, 0)
        deepest, below = self.selection(get_named_type(definition.type), node.selection_set, depth, seen)
        extra = PUSH_COST * multiplier if node.name.value in PUSH_FIELDS else 0
        return deepest, 1 + extra + multiplier * below

    def size(self, node: FieldNode, name: str) -> int | None:
        """The page size the argument ``name`` of ``node`` asks for; None when absent or null.

        A variable counts as ``max_first``: its value is not known when the cost is estimated.
        """
        given = next((a for a in node.arguments or () if a.name.value == name), None)
        if given is None or isinstance(given.value, NullValueNode):
            return None
        if isinstance(given.value, IntValueNode):
            return int(given.value.value)
        return self.max_first


def _default_size(argument: Any, fallback: int) -> int:
    """The page size of a paged field given neither ``first`` nor ``last``.

    The argument's integer default if it has one, else the :data:`PAGE_DEFAULT` of its
    strawberry metadata, else ``fallback``.
    """
    value = _default_int(argument, None)
    if value is not None:
        return value
    definition = (getattr(argument, "extensions", None) or {}).get("strawberry-definition")
    default = (getattr(definition, "metadata", None) or {}).get(PAGE_DEFAULT)
    if isinstance(default, int) and not isinstance(default, bool):
        return default
    return fallback


def _default_int(argument: Any, fallback: int | None) -> int | None:
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
