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

import contextlib
import contextvars
import dataclasses
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor

_NEVER_AUTOMATIC = 2**31 - 1


def fetch_prepared(sql: str, params: list | tuple | dict) -> list[tuple]:
    """All rows of ``sql`` (``%s`` placeholders with a sequence, ``%(name)s`` with a dict), prepared
    on this connection; or, once, the rows an earlier statement of this call read ahead for it
    (``read_ahead``)."""
    ahead = _ahead.get()
    if ahead and len(connection.atomic_blocks) == ahead.depth:  # not in a transaction the call opened
        key = Lookup(sql, tuple(params)) if isinstance(params, list | tuple) else None
        if key in ahead:
            return ahead.pop(key)
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
    widths = [len(_model_columns(model, alias)[1]) for model, alias in models]
    sql = _joined_sql(models, rest, extra)
    out = []
    for row in fetch_prepared(sql, params):
        start, items = 0, []
        for (model, alias), width in zip(models, widths, strict=True):
            items.append(_instance(model, alias, list(row[start:start + width])))
            start += width
        out.append((*items, *row[start:]))
    return out


def _joined_sql(models: tuple[tuple[type, str], ...], rest: str, extra: str = "") -> str:
    columns = [_model_columns(model, alias)[0] for model, alias in models]
    return f"SELECT {', '.join(columns)}{', ' + extra if extra else ''} {rest}"


def _from(model, where: str) -> str:
    return f"FROM {connection.ops.quote_name(model._meta.db_table)} x {where}"


def load_prepared(model, where: str, params: list | tuple) -> list:
    """Instances of one model: ``load_joined`` of its table alone, ``where`` naming it ``x``."""
    return [row[0] for row in load_joined(((model, "x"),), _from(model, where), params)]


def lookup_prepared(model, where: str, params: list | tuple) -> Lookup:
    """The very statement ``load_prepared(model, where, params)`` sends, to be read ahead."""
    return Lookup(_joined_sql(((model, "x"),), _from(model, where)), tuple(params),
                  len(_model_columns(model, "x")[1]))


# ---- reads ahead ---------------------------------------------------------------------------------
#
# A till call's first reads (its member, its request number's operation) are known from the
# command before the service runs. The gateway's admitting statement, one round trip it makes
# anyway, reads them too; fetch_prepared then answers those very statements (same text, same
# parameters) from what was read, once each, within the call. The rows are the ones the
# statement would have returned a moment later outside any transaction, as it ran in autocommit
# anyway: a service that needs a lock or a transaction's snapshot asks a different statement
# (FOR UPDATE, another text), which always goes to the database.

_ahead: contextvars.ContextVar[_Ahead | None] = contextvars.ContextVar("hub_db_ahead", default=None)
_PLACEHOLDER = re.compile(r"%s")


@dataclass(frozen=True)
class Lookup:
    """A read of at most one row, exactly as its service will send it to ``fetch_prepared``
    (``%s`` placeholders, scalar parameters), and its number of columns."""

    sql: str
    params: tuple
    width: int = dataclasses.field(default=0, compare=False)


def lateral(lookups: list[Lookup]) -> tuple[str, dict]:
    """For a statement with named parameters: ``LEFT JOIN LATERAL`` clauses reading every lookup
    (each one's columns after a marker column, NULL when it found no row) and their parameters;
    ``keep_ahead`` takes the columns back."""
    clauses, params = [], {}
    for n, lookup in enumerate(lookups):
        if "%%" in lookup.sql or "%(" in lookup.sql:
            raise ValueError("a lookup read ahead takes %s placeholders only")
        names = iter(range(len(lookup.params)))
        sql = _PLACEHOLDER.sub(lambda _m, n=n, names=names: f"%(ahead{n}_{next(names)})s", lookup.sql)
        params.update({f"ahead{n}_{i}": value for i, value in enumerate(lookup.params)})
        clauses.append(f"LEFT JOIN LATERAL (SELECT true AS found, q.* FROM ({sql}) q) ahead{n} ON true")
    return " ".join(clauses), params


def keep_ahead(lookups: list[Lookup], rows: list[tuple], *, after: int) -> None:
    """Keep what ``lateral``'s clauses read (each row has ``after`` columns of its own, then
    theirs, in order) for this call's ``fetch_prepared``: only inside ``read_ahead``, and only
    when every lookup found at most one row (the statement then gave one)."""
    ahead = _ahead.get()
    if ahead is None or len(rows) != 1:
        return
    row = rows[0]
    if len(row) != after + sum(1 + lookup.width for lookup in lookups):
        raise ValueError("a lookup's width is not its number of columns")
    start = after
    for lookup in lookups:
        found, values = row[start], tuple(row[start + 1:start + 1 + lookup.width])
        ahead[lookup] = [values] if found else []
        start += 1 + lookup.width


class _Ahead(dict):
    """Rows read ahead by lookup, and the transaction depth they may be used at."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth


@contextlib.contextmanager
def read_ahead() -> Iterator[None]:
    """The scope of one call's reads ahead: whatever was read and not asked for is dropped. They
    answer only statements outside any transaction opened inside the scope (an operation's own
    transaction reads the database as it is then)."""
    token = _ahead.set(_Ahead(len(connection.atomic_blocks)))
    try:
        yield
    finally:
        _ahead.reset(token)
