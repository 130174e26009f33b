"""hub.db.fetch_prepared: the till's hot statements, prepared on Django's own connection."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from hub.db import fetch_prepared


def _prepared(text: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"])
        return cursor.fetchall()


@pytest.mark.django_db
def test_rows_come_back_and_the_statement_is_prepared_once():
    for n in range(3):
        assert fetch_prepared("SELECT %s::int + 40 AS hub_db_probe", [n]) == [(n + 40,)]
    assert _prepared("hub_db_probe") == [("SELECT $1::int + 40 AS hub_db_probe",)]


@pytest.mark.django_db
def test_with_the_setting_off_nothing_is_prepared(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    assert fetch_prepared("SELECT %s::int AS hub_db_unprepared", [7]) == [(7,)]
    assert _prepared("hub_db_unprepared") == []


@pytest.mark.django_db
def test_other_statements_are_still_not_prepared():
    fetch_prepared("SELECT 1 AS hub_db_first", [])
    with connection.cursor() as cursor:
        for _ in range(10):
            cursor.execute("SELECT 2 AS hub_db_django_cursor")
    assert _prepared("hub_db_django_cursor") == []


@pytest.mark.django_db
def test_errors_arrive_as_djangos_with_the_sqlstate_and_the_transaction_is_usable_after_a_savepoint():
    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        fetch_prepared("SELECT 1 / %s::int", [0])
    assert raised.value.__cause__.sqlstate == "22012"
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic():
            fetch_prepared("SELECT 1 / %s::int", [0])
        assert fetch_prepared("SELECT %s::text", ["still usable"]) == [("still usable",)]
