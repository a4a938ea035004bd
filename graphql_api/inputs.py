"""Argument values checked at the schema edge, before any resolver runs: literals and variables alike.

One validation rule stands in for graphql-core's ValuesOfCorrectTypeRule. For every argument it checks
the value (written inline, or sent as a variable, or a mix inside an input object) against the argument's
type, and bounds the length of every String and ID in it. A refusal is BAD_USER_INPUT naming the
argument (``symbol``, ``input.quantity``) with the same message whether the value came inline or as a
variable, so a client sees one answer for one mistake, and no oversized string reaches a resolver, a
database column or a log line.

Lengths are declared here by schema coordinate (``Query.venue(id:)``, ``PlaceOrderInput.symbol``) or by
a name that means the same thing wherever it appears (``symbol``); anything undeclared gets the default
of its scalar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from graphql import (
    SKIP,
    ArgumentNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    VisitorAction,
)
from graphql.pyutils import Undefined
from graphql.utilities.validate_input_value import validate_input_literal, validate_input_value
from graphql.validation import ValidationContext, ValuesOfCorrectTypeRule, validate
from strawberry.extensions import SchemaExtension

from .errors import BadUserInput

# Characters allowed per String / ID value unless declared below.
DEFAULT_MAX_LENGTH = {"String": 1000, "ID": 128}

# Declared limits: by schema coordinate first, then by argument or input-field name. Declared where a
# value reaches a column or a query with no check of its own before; where a resolver checks a length
# itself (names, reasons, labels, emails, passwords) it answers with its result union, and the default
# only keeps a huge value away from it.
MAX_LENGTH: dict[str, int] = {
    # Instrument symbols (instruments.symbol, orders.symbol, ...), wherever a symbol is asked for.
    "symbol": 32,
    "symbols": 32,
    # Venue keys (venues.id).
    "Query.venue(id:)": 32,
    "Query.venueInstruments(venueId:)": 32,
    "ConnectVenueInput.venueId": 32,
    # An EIP-4361 message may list resources: room above the default.
    "WalletVerifyInput.message": 10000,
    # A drop copy is a whole file (up to the request body cap).
    "UploadDropCopyInput.content": 1_000_000,
    "Mutation.importSettings(document:)": 100_000,
}


def max_length(coordinate: str, name: str, scalar: str) -> int | None:
    """The limit of one String/ID position; None for other scalars (they bound themselves)."""
    if scalar not in DEFAULT_MAX_LENGTH:
        return None
    return MAX_LENGTH.get(coordinate) or MAX_LENGTH.get(name) or DEFAULT_MAX_LENGTH[scalar]


def _path_text(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _unwrap(type_: GraphQLInputType) -> GraphQLInputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


class ArgumentValuesRule(ValuesOfCorrectTypeRule):
    """ValuesOfCorrectTypeRule with the request's variables and named, bounded refusals; subclassed per
    operation by :class:`CheckArgumentValues` with ``variables`` set."""

    variables: Mapping[str, Any] = {}
    hide_suggestions = False

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._failed = False

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> VisitorAction:
        argument = self.context.get_argument()
        if argument is None:
            return None  # an unknown argument: KnownArgumentNamesRule says so
        if (directive := self.context.get_directive()) is not None:
            coordinate = f"@{directive.name}({node.name.value}:)"
        else:
            parent, field = self.context.get_parent_type(), self.context.get_field_def()
            field_name = next((n for n, f in getattr(parent, "fields", {}).items() if f is field), "")
            coordinate = f"{getattr(parent, 'name', '')}.{field_name}({node.name.value}:)"
        self._check(node.value, argument.type, [node.name.value], coordinate)
        return SKIP  # the value is checked whole; the inherited per-literal visits would repeat it

    def _refuse(self, path: list[str | int], message: str, nodes: list[ValueNode]) -> None:
        self._failed = True
        where = _path_text(path)
        self.report_error(BadUserInput(f"{where}: {message}", field=where, nodes=nodes))

    def _check(self, node: ValueNode, type_: GraphQLInputType, path: list[str | int], coordinate: str) -> None:
        self._failed = False

        def on_error(error: GraphQLError, inner: list[str | int]) -> None:
            self._refuse([*path, *inner], error.message, [node])

        validate_input_literal(
            node, type_, on_error, hide_suggestions=self.hide_suggestions
        )  # static: variables are checked below, with values
        if not self._failed:
            self._walk_literal(node, type_, path, coordinate)

    def _walk_literal(self, node: ValueNode, type_: GraphQLInputType, path: list[str | int], coordinate: str) -> None:
        type_ = _unwrap(type_)
        if isinstance(node, VariableNode):
            value = self.variables.get(node.name.value, Undefined)
            if value is not Undefined:
                self._check_variable(node, value, type_, path, coordinate)
        elif isinstance(type_, GraphQLList):
            items = node.values if isinstance(node, ListValueNode) else (node,)
            for index, item in enumerate(items):
                self._walk_literal(item, type_.of_type, [*path, index], coordinate)
        elif isinstance(type_, GraphQLInputObjectType) and isinstance(node, ObjectValueNode):
            for field in node.fields:
                if (definition := type_.fields.get(field.name.value)) is not None:
                    name = field.name.value
                    self._walk_literal(field.value, definition.type, [*path, name], f"{type_.name}.{name}")
        elif isinstance(type_, GraphQLScalarType) and isinstance(node, StringValueNode):
            self._bound(node.value, type_, path, coordinate, node)

    def _check_variable(
        self, node: VariableNode, value: Any, type_: GraphQLInputType, path: list[str | int], coordinate: str
    ) -> None:
        failed = False

        def on_error(error: GraphQLError, inner: list[str | int]) -> None:
            nonlocal failed
            failed = True
            self._refuse([*path, *inner], error.message, [node])

        validate_input_value(value, type_, on_error, self.hide_suggestions)
        if not failed:
            self._walk_value(value, type_, path, coordinate, node)

    def _walk_value(
        self, value: Any, type_: GraphQLInputType, path: list[str | int], coordinate: str, node: VariableNode
    ) -> None:
        type_ = _unwrap(type_)
        if value is None:
            return
        if isinstance(type_, GraphQLList):
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                self._walk_value(item, type_.of_type, [*path, index], coordinate, node)
        elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
            for name, item in value.items():
                if (definition := type_.fields.get(name)) is not None:
                    self._walk_value(item, definition.type, [*path, name], f"{type_.name}.{name}", node)
        elif isinstance(type_, GraphQLScalarType) and isinstance(value, str):
            self._bound(value, type_, path, coordinate, node)

    def _bound(
        self, text: str, type_: GraphQLScalarType, path: list[str | int], coordinate: str, node: ValueNode
    ) -> None:
        name = next((part for part in reversed(path) if isinstance(part, str)), "")
        limit = max_length(coordinate, name, type_.name)
        if limit is not None and len(text) > limit:
            self._refuse(path, f"at most {limit} characters (got {len(text)})", [node])


@cache
def _literal_rule(hide_suggestions: bool) -> type[ArgumentValuesRule]:
    """The rule without variables (one class per setting, so the validation it is part of can be cached)."""
    return type("ArgumentValues", (ArgumentValuesRule,), {"variables": {}, "hide_suggestions": hide_suggestions})


class CheckArgumentValues(SchemaExtension):
    """Puts :class:`ArgumentValuesRule` in place of graphql-core's ValuesOfCorrectTypeRule. The values written
    in the document are checked there, in the validation that is cached per document; the request's variable
    values by :class:`CheckVariableValues`. With ``suggestions`` off its messages name no other schema member."""

    def __init__(self, suggestions: bool = True) -> None:
        self.rule = _literal_rule(not suggestions)

    def on_validate(self) -> Iterator[None]:
        self.execution_context.validation_rules = tuple(
            self.rule if r is ValuesOfCorrectTypeRule else r for r in self.execution_context.validation_rules
        )
        yield


class CheckVariableValues(SchemaExtension):
    """The request's variable values against the argument rules (parse, length bounds), by a pass of that one
    rule with the variables bound. Placed after the validation cache: it runs when the document itself is
    valid, so a repeated document costs this one pass, not a full validation."""

    def __init__(self, suggestions: bool = True) -> None:
        self.hide_suggestions = not suggestions

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.variables and context.graphql_document is not None and not context.pre_execution_errors:
            attributes = {"variables": context.variables, "hide_suggestions": self.hide_suggestions}
            rule = type("ArgumentValues", (ArgumentValuesRule,), attributes)
            errors = validate(context.schema._schema, context.graphql_document, [rule])
            if errors:
                context.pre_execution_errors = errors
        yield
