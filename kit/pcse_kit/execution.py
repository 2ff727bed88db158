"""Execution of plain fields without graphql-core's general machinery.

A field with no resolver of its own, no field extension and no exception handler (Strawberry's
"basic" field) whose type is a scalar or an enum only reads an attribute and coerces it. For
each such field graphql-core still builds a ``GraphQLResolveInfo``, looks for arguments, asks
twice whether the value is awaitable and completes it through the non-null, list and leaf
branches of ``complete_value``. On an LMC's records summary (1,100 practices, eight figures
each) that machinery was most of the 30 ms the service spent building the answer.

:class:`PlainFieldsExecutor` reads such a field's value and coerces it directly. Anything
else, or any value that is not an ordinary present value (null, an exception, an awaitable),
is completed by graphql-core's own methods, and any exception goes to its field-error handling,
so errors, nullability and their paths are exactly as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from graphql import GraphQLNonNull, Undefined, is_leaf_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

if TYPE_CHECKING:
    from collections.abc import Callable

    from graphql import GraphQLField, GraphQLLeafType, GraphQLObjectType
    from graphql.execution.collect_fields import FieldDetailsList
    from graphql.pyutils import AwaitableOrValue, Path, UndefinedType


class _Plain(NamedTuple):
    """How to read a plain field."""

    resolve: Callable[[Any, str], Any]
    """Strawberry's default resolver, as the field's own resolver calls it."""
    name: str
    """The attribute it reads."""
    leaf: GraphQLLeafType
    """Its scalar or enum type, without the non-null wrapper."""


_PLAIN: dict[int, tuple[GraphQLField, _Plain | None]] = {}
"""Per field definition (by identity, kept alive here): how to read it, or None if it is not
plain. Field definitions are made once with the schema, so this stays as small as the schema."""


def _plain(field_def: GraphQLField) -> _Plain | None:
    known = _PLAIN.get(id(field_def))
    if known is not None and known[0] is field_def:
        return known[1]
    how: _Plain | None = None
    field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    leaf = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
    if (
        getattr(field_def.resolve, "_is_default", False)
        and not field_def.args
        and field is not None
        and is_leaf_type(leaf)
    ):
        how = _Plain(field.default_resolver, field.python_name, leaf)
    _PLAIN[id(field_def)] = (field_def, how)
    return how


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, reading plain scalar and enum fields directly (see the module)."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any] | UndefinedType:
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        # Strawberry passes a manager on every request; it wraps resolvers only when a schema
        # extension resolves fields (none of ours does).
        manager = self.middleware_manager
        how = _plain(field_def) if field_def is not None else None
        if field_def is None or how is None or (manager is not None and manager.middlewares):
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        # graphql-core's execute_field for a field without arguments or middleware, with the
        # resolve info built only when the value is not a plain present one.
        try:
            value = how.resolve(source, how.name)
            if (
                value is not None
                and value is not Undefined
                and not isinstance(value, Exception)
                and not self.is_awaitable(value)
            ):
                coerced = how.leaf.coerce_output_value(value)
                if coerced is not None and coerced is not Undefined:
                    return coerced
            info = self.build_resolve_info(
                field_def, [details.node for details in field_details_list], parent_type, path
            )
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    field_def.type, field_details_list, info, path, value, position_context
                )
            return self.complete_value(
                field_def.type, field_details_list, info, path, value, position_context
            )
        except Exception as raw_error:  # noqa: BLE001 - a field error, as graphql-core has it
            self.handle_field_error(raw_error, field_def.type, field_details_list, path)
            return None
