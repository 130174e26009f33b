"""Prepared, server-side-bound execution for the few statements of the till's hot path.

Django's PostgreSQL backend binds parameters on the client (psycopg's ClientCursor) and never
prepares: every call of ``SELECT points_apply(%s)`` sent its JSON payload as a quoted literal,
which the server lexed, parsed and planned again (bench/ledger.py, `perf` on the backends:
``base_yyparse`` and the planner among the top symbols). Here the same connection runs the
statement with server-side parameters (the payload travels as a typed jsonb parameter) and as a
prepared statement, planned once per connection.

Everything else stays with Django's cursor: the connection, its transaction and savepoints, the
health check and error translation (a psycopg error surfaces as django.db's, with the original
as ``__cause__``, exactly as through ``connection.cursor()``).

``DATABASE_PREPARED_STATEMENTS = False`` turns preparing off, for a transaction-mode connection
pooler that cannot keep prepared statements (pgbouncer older than 1.21).
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor

_NEVER_AUTOMATIC = 2**31 - 1


def fetch_prepared(sql: str, params: list | tuple | dict) -> list[tuple]:
    """All rows of ``sql`` (``%s`` placeholders with a sequence, ``%(name)s`` with a dict), prepared
    on this connection."""
    prepare = settings.DATABASE_PREPARED_STATEMENTS
    with connection.cursor() as django_cursor:  # opens, health-checks and thread-checks as usual
        conn = django_cursor.cursor.connection
        if prepare and conn.prepare_threshold is None:
            # Django turns psycopg's automatic preparing off (None); a threshold that is never
            # reached keeps it off for every other statement while allowing prepare=True here.
            conn.prepare_threshold = _NEVER_AUTOMATIC
        raw = ServerBindingCursor(conn)
        with connection.wrap_database_errors:
            try:
                raw.execute(sql, params, prepare=prepare)
                return raw.fetchall()
            finally:
                raw.close()


@functools.cache
def _model_columns(model, alias: str) -> tuple[str, tuple[str, ...], tuple]:
    """Every concrete column of a model under a table alias, its attnames, and the fields whose
    values need ``from_db_value`` (a JSONField's text, an encrypted field's bytes)."""
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
    converters = tuple((n, field) for n, field in enumerate(fields) if hasattr(field, "from_db_value"))
    return columns, tuple(field.attname for field in fields), converters


def _instance(model, alias: str, values: list):
    _, names, converters = _model_columns(model, alias)
    for n, field in converters:
        values[n] = field.from_db_value(values[n], None, connection)
    return model.from_db(connection.alias, names, values)


def load_joined(models: tuple[tuple[type, str], ...], rest: str, params: list | tuple, *,
                extra: str = "") -> list[tuple]:
    """Rows of instances, one of each ``(model, alias)``, for ``SELECT <their columns>[, extra]
    <rest>`` (``rest`` names the tables by those aliases: ``FROM … JOIN … WHERE …``), read with
    ``fetch_prepared`` and built as the ORM builds them (``from_db``, field converters), without
    its statement compiler: for the few lookups every till call makes. With ``extra`` (more
    select expressions) each row ends with their values."""
    columns = [_model_columns(model, alias)[0] for model, alias in models]
    widths = [len(_model_columns(model, alias)[1]) for model, alias in models]
    sql = f"SELECT {', '.join(columns)}{', ' + extra if extra else ''} {rest}"
    out = []
    for row in fetch_prepared(sql, params):
        start, items = 0, []
        for (model, alias), width in zip(models, widths, strict=True):
            items.append(_instance(model, alias, list(row[start:start + width])))
            start += width
        out.append((*items, *row[start:]))
    return out


def load_prepared(model, where: str, params: list | tuple) -> list:
    """Instances of one model: ``load_joined`` of its table alone, ``where`` naming it ``x``."""
    table = connection.ops.quote_name(model._meta.db_table)
    return [row[0] for row in load_joined(((model, "x"),), f"FROM {table} x {where}", params)]
