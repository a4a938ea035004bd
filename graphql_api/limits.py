"""Document limits: tokens, aliases, depth and static cost, all decided before anything executes.

One pass over the document, linear in its size: each fragment is measured once and its (depth, cost)
reused wherever it is spread, so a document whose fragments spread each other twice per level (2^n
paths in a few hundred bytes) costs as little to measure as it is long. The token limit is the parser's
own counter, which aborts parsing as soon as it is passed.

Cost is static, the way GitHub and Shopify meter their GraphQL APIs: every object a field returns costs
1 (scalars are free), and a list multiplies what is under it by the number of items it may return —
``first``/``last``/``limit`` (their value, or their declared default; ``first`` at most MAX_PAGE_SIZE,
which the resolver enforces), the length of a list argument
that names one item per element (``prices(symbols:)``), a size declared on the field
(``metadata={"list_size": n}``), or ``DEFAULT_LIST_SIZE``. A connection's ``first`` sizes the
``edges`` beneath it. Introspection costs nothing but counts towards depth like every other field.
The budget is ``MAX_QUERY_COST`` per request: one operation, or all the operations of a batch together; every
response reports the operation's cost in ``extensions.cost``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    parse,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension, ValidationCache

from .errors import ApiError
from .settings import DEFAULT_PAGE_SIZE, Settings

DEFAULT_LIST_SIZE = 20
SIZE_ARGUMENTS = ("first", "last", "limit")
_SATURATED = 10**15  # costs stop growing here: enough to refuse, small enough to stay a machine integer
_PARSE_CACHE_SIZE = 1024


class LimitExceeded(ApiError):
    """A document refused before execution; ``code`` names the limit."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        self.code = code
        super().__init__(message, **extensions)


@lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


def _unwrap_list(gtype: Any) -> bool:
    if isinstance(gtype, GraphQLNonNull):
        gtype = gtype.of_type
    return isinstance(gtype, GraphQLList)


def _sat(value: int) -> int:
    return min(value, _SATURATED)


class DocumentMeasure:
    """Depth and cost of every operation of a document, each fragment measured once per context."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        page_cap: int | None = None,
    ) -> None:
        self.schema = schema
        self.page_cap = page_cap
        self.variables = variables or {}
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._memo: dict[tuple[str, int | None], tuple[int, int]] = {}
        self._active: set[str] = set()
        self._variable_defaults: dict[str, ValueNode | None] = {}

    def operation(self, op: OperationDefinitionNode) -> tuple[int, int]:
        self._variable_defaults = {
            v.variable.name.value: v.default_value for v in op.variable_definitions or () if v.default_value
        }
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[op.operation]
        # Memoised fragment costs depend on the variables' defaults of this operation only through size
        # arguments; measuring each operation afresh keeps them apart.
        self._memo.clear()
        return self._selection_set(op.selection_set, root, None)

    def _selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, inherited: int | None
    ) -> tuple[int, int]:
        depth = cost = 0
        spread: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                d, c = self._field(selection, parent, inherited)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                d, c = self._selection_set(selection.selection_set, target, inherited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in spread:  # the same fragment twice in one selection merges into one: count it once
                    continue
                spread.add(name)
                d, c = self._fragment(name, inherited)
            else:  # pragma: no cover - the parser produces no other selection
                continue
            depth = max(depth, d)
            cost = _sat(cost + c)
        return depth, cost

    def _fragment(self, name: str, inherited: int | None) -> tuple[int, int]:
        key = (name, inherited)
        if key in self._memo:
            return self._memo[key]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._active:
            return 0, 0  # unknown or cyclic: validation reports it, nothing here may recurse forever
        self._active.add(name)
        try:
            target = self.schema.get_type(fragment.type_condition.name.value)
            result = self._selection_set(fragment.selection_set, target, inherited)
        finally:
            self._active.discard(name)
        self._memo[key] = result
        return result

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None, inherited: int | None) -> tuple[int, int]:
        definition: GraphQLField | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and not node.name.value.startswith("__"):
            definition = parent.fields.get(node.name.value)
        if definition is None:
            # Introspection, __typename, or a field validation will refuse: free, but as deep as it nests.
            if node.selection_set is None:
                return 1, 0
            depth, _ = self._selection_set(node.selection_set, None, None)
            return 1 + depth, 0
        named = get_named_type(definition.type)
        returns_list = _unwrap_list(definition.type)
        asked = self._size_argument(node, definition)
        size = 1
        passed_down: int | None = None
        if returns_list:
            size = asked if asked is not None else self._declared_size(node, definition, inherited)
        elif asked is not None:
            passed_down = asked  # a connection: its `first` sizes the edges under it
        child_depth = child_cost = 0
        if node.selection_set is not None:
            child_depth, child_cost = self._selection_set(node.selection_set, named, passed_down)
        own = 1 if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType) else 0
        return 1 + child_depth, _sat(size * (own + child_cost))

    def _value(self, value: ValueNode) -> Any:
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                return self.variables[name]
            default = self._variable_defaults.get(name)
            return self._value(default) if default is not None else None
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, ListValueNode):
            return list(value.values)
        return None

    def _size_argument(self, node: FieldNode, definition: GraphQLField) -> int | None:
        given = {a.name.value: a.value for a in node.arguments or ()}
        for name in SIZE_ARGUMENTS:
            if name not in definition.args:
                continue
            value = self._value(given[name]) if name in given else definition.args[name].default_value
            if value is None or value is Undefined:
                return DEFAULT_PAGE_SIZE if name == "first" else None
            if isinstance(value, int) and not isinstance(value, bool):
                if name == "first" and self.page_cap is not None and value > self.page_cap:
                    return self.page_cap  # the resolver refuses it, naming the argument; price what may run
                return max(value, 0)
            return None  # not an integer: argument validation refuses the document
        return None

    def _declared_size(self, node: FieldNode, definition: GraphQLField, inherited: int | None) -> int:
        if inherited is not None:
            return inherited
        strawberry_field = (definition.extensions or {}).get("strawberry-definition")
        declared = getattr(strawberry_field, "metadata", None) or {}
        if "list_size" in declared:
            return int(declared["list_size"])
        for argument in node.arguments or ():
            value = self._value(argument.value)
            if isinstance(value, list):
                return len(value)
        return DEFAULT_LIST_SIZE


def _count_aliases(document: DocumentNode) -> int:
    count = 0
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode) and node.alias is not None:
            count += 1
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return count


def _selected(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == operation_name), None)


class DocumentLimits(SchemaExtension):
    """Parses (cached), then refuses a document over any limit before validation and execution run.

    A refusal sets the operation's pre-execution errors, which makes strawberry skip validation too:
    a pathological document is answered after one linear pass, never handed to the validators.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cost: int | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = _parse(context.query, self.settings.max_tokens)
            except GraphQLSyntaxError as exc:
                if "tokens" in exc.message and "Parsing aborted" in exc.message:
                    raise LimitExceeded(
                        f"the document has more than {self.settings.max_tokens} tokens",
                        "TOKEN_LIMIT_EXCEEDED",
                        limit=self.settings.max_tokens,
                    ) from None
                # Any other syntax error: strawberry parses again and reports it in its usual way.
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            error = self._check(document, context.variables, context.operation_name)
            if error is not None:
                context.pre_execution_errors = [error]
        yield

    def _check(
        self, document: DocumentNode, variables: Mapping[str, Any] | None, operation_name: str | None
    ) -> GraphQLError | None:
        settings = self.settings
        aliases = _count_aliases(document)
        if aliases > settings.max_aliases:
            return LimitExceeded(
                f"the document uses {aliases} aliases; at most {settings.max_aliases} are allowed",
                "ALIAS_LIMIT_EXCEEDED",
                limit=settings.max_aliases,
            )
        measure = DocumentMeasure(
            self.execution_context.schema._schema, document, variables, page_cap=settings.max_page_size
        )
        selected = _selected(document, operation_name)
        costs: dict[int, int] = {}
        for op in document.definitions:
            if not isinstance(op, OperationDefinitionNode):
                continue
            depth, cost = measure.operation(op)
            costs[id(op)] = cost
            name = op.name.value if op.name else "anonymous"
            if depth > settings.max_query_depth:
                return LimitExceeded(
                    f"'{name}' exceeds maximum operation depth of {settings.max_query_depth}",
                    "DEPTH_LIMIT_EXCEEDED",
                    limit=settings.max_query_depth,
                )
        if not costs:
            return None
        self.cost = costs[id(selected)] if selected is not None else max(costs.values())
        if self.cost > settings.max_query_cost:
            return LimitExceeded(
                f"the operation costs {self.cost}, over the budget of {settings.max_query_cost} "
                "(every object returned costs 1; lists multiply by their first/limit)",
                "COST_LIMIT_EXCEEDED",
                cost={"requested": self.cost, "limit": settings.max_query_cost},
            )
        context = self.execution_context.context
        spent = getattr(context, "batch_cost", None)
        if spent is not None:
            # One budget per request: a batch's operations share it, in the order they run.
            if spent + self.cost > settings.max_query_cost:
                return LimitExceeded(
                    f"the operation costs {self.cost}; with the {spent} the batch's earlier operations cost, that "
                    f"is over the budget of {settings.max_query_cost} per request",
                    "COST_LIMIT_EXCEEDED",
                    cost={"requested": self.cost, "batchSpent": spent, "limit": settings.max_query_cost},
                )
            context.batch_cost = spent + self.cost
        return None

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.settings.max_query_cost}}


class CachedValidation(ValidationCache):
    """strawberry's validation cache (keyed by the parsed document, one object per query text, and the rule
    set), except that a document the limits refused stays refused and is never handed to the validators."""

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors:
            yield
            return
        yield from super().on_validate()
