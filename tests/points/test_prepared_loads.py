"""hub.db.load_prepared / load_joined: the till's lookups without the ORM's compiler must give the
very instances the ORM gives (every field, converted: JSON as objects, encrypted text decrypted),
and existing_operation must still lock and still see only its merchant's rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from hub.db import load_joined, load_prepared
from members.models import Member
from points.common import existing_operation
from points.models import Operation


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_an_operation_loads_field_for_field_as_the_orm_loads_it(world):
    member = world.member()
    world.earn(member, 12_345, "PL1")
    orm = Operation.objects.get(merchant=world.shop, request_no="PL1")
    loaded = existing_operation(world.shop, "PL1")
    assert type(loaded) is Operation and loaded.pk == orm.pk
    assert _fields(loaded) == _fields(orm)
    assert isinstance(loaded.result, dict) and loaded.result == orm.result
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert existing_operation(world.other, "PL1") is None  # another merchant's number is not this one's
    assert existing_operation(world.shop.pk, "PL1").pk == orm.pk  # a merchant id does as well


@pytest.mark.django_db
def test_encrypted_fields_are_decrypted_and_joined_rows_come_in_order_with_the_extra_values(world):
    first, second = world.member(), world.member()
    rows = load_joined(((Member, "m"),), "FROM members_member m WHERE m.id = ANY(%s) ORDER BY m.id",
                       [[first.pk, second.pk]], extra="m.id * 2")
    assert [(row[0].pk, row[1]) for row in rows] == [(first.pk, 2 * first.pk), (second.pk, 2 * second.pk)]
    assert rows[0][0].mobile == first.mobile and rows[0][0].mobile.startswith("139")
    assert _fields(rows[1][0]) == _fields(Member.objects.get(pk=second.pk))
    assert load_prepared(Member, "WHERE x.id = %s", [0]) == []


@pytest.mark.django_db(transaction=True)
def test_for_update_takes_the_row_lock(world):
    world.earn(world.member(), 100, "PL2")
    with transaction.atomic():
        existing_operation(world.shop, "PL2", for_update=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND mode = 'RowShareLock' "
                           "AND relation = 'points_operation'::regclass")
            assert cursor.fetchone()[0] == 1
