"""Sessions and their user, read with prepared statements (hub.staff.sessions, the backend's
get_user): the same rows and rules as Django's database engine and ModelBackend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hub.staff.backends import ThrottledModelBackend
from hub.staff.sessions import SessionStore

pytestmark = pytest.mark.django_db


def _prepared(text: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"])
        return cursor.fetchall()


def test_a_session_written_by_djangos_engine_reads_the_same_through_the_prepared_one():
    old = DjangoStore()
    old["cart"] = {"n": 3, "名": "收银"}
    old.save()
    new = SessionStore(old.session_key)
    with CaptureQueriesContext(connection) as orm:
        assert new.load() == {"cart": {"n": 3, "名": "收银"}}
    assert new.session_key == old.session_key
    assert not [q for q in orm.captured_queries if "django_session" in q["sql"]]
    assert _prepared('FROM "django_session"')


def test_an_expired_or_unknown_session_is_empty_and_never_reuses_the_key_it_was_given():
    old = DjangoStore()
    old["user"] = "someone"
    old.save()
    Session.objects.filter(session_key=old.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    for key in (old.session_key, "not-a-session-key-at-all", None):
        store = SessionStore(key)
        assert store.load() == {}
        assert store.session_key is None
        store["fresh"] = 1
        store.save()
        assert store.session_key not in (None, key)  # a new key: no session fixation


def test_the_user_is_read_prepared_and_an_inactive_or_missing_one_is_nobody():
    user = get_user_model().objects.create_user("cashier-s1", password="x" * 12)
    backend = ThrottledModelBackend()
    with CaptureQueriesContext(connection) as orm:
        found = backend.get_user(user.pk)
    assert found == user and found.username == "cashier-s1" and found.check_password("x" * 12)
    assert not orm.captured_queries
    assert backend.get_user(str(user.pk)) == user  # as a session stores it
    assert backend.get_user(user.pk + 1000) is None
    assert backend.get_user("not a number") is None
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert backend.get_user(user.pk) is None


def test_a_signed_in_request_reads_its_session_and_user_without_the_orm(client):
    user = get_user_model().objects.create_user("ops-s1", password="x" * 12, is_staff=True, is_superuser=True)
    client.force_login(user)
    with CaptureQueriesContext(connection) as orm:
        page = client.get("/admin/")
    assert page.status_code == 200 and page.wsgi_request.user == user
    reads = [q["sql"] for q in orm.captured_queries
             if q["sql"].startswith("SELECT") and ('"django_session"' in q["sql"] or 'FROM "auth_user"' in q["sql"])]
    assert reads == []
