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

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor

_NEVER_AUTOMATIC = 2**31 - 1


def fetch_prepared(sql: str, params: list | tuple) -> list[tuple]:
    """All rows of ``sql`` (``%s`` placeholders), prepared on this connection."""
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
