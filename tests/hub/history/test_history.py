"""Configuration keeps its history in the database itself (pghistory triggers): admin, service,
bulk and raw-SQL changes alike, with the user when a staff page made it; secrets never copied;
shown on each object's admin history page."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from hub.history.models import (
    AgreementEvent,
    CredentialEvent,
    GroupPermissionEvent,
    QuotaLimitEvent,
    UserGroupEvent,
)
from tests.points.conftest import build_world

pytestmark = pytest.mark.django_db


def form_data(response) -> dict:
    """What the admin's change page would post back unchanged (main form and inline formsets)."""
    data = {}

    def put(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value
    put(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[formset.management_form.add_prefix(name)] = formset.management_form[name].value()
        for form in formset.forms:
            put(form)
    return data


def test_a_raw_sql_update_appears_in_the_agreements_history(admin_client):
    agreement = build_world().agreement
    with connection.cursor() as cursor:
        cursor.execute("UPDATE points_agreement SET acceptance_fee_bp = 275, phone_may_redeem = true WHERE id = %s",
                       [agreement.pk])
    events = list(AgreementEvent.objects.filter(pgh_obj_id=agreement.pk).order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert (events[0].acceptance_fee_bp, events[1].acceptance_fee_bp) == (agreement.acceptance_fee_bp, 275)
    assert events[1].pgh_context_id is None  # psql, a job: no signed-in user
    page = admin_client.get(reverse("admin:points_agreement_history", args=[agreement.pk])).content.decode()
    assert "配置变更记录" in page and "受理手续费（万分比）" in page
    assert f"{agreement.acceptance_fee_bp} → 275" in page
    assert "数据库直接修改" in page


def test_bulk_updates_are_recorded_row_by_row():
    world = build_world()
    from points.models import Agreement

    count = Agreement.objects.filter(program=world.postal).update(redeem_min_points=50)
    assert count >= 2
    assert AgreementEvent.objects.filter(pgh_label="update", redeem_min_points=50).count() == count


def test_a_change_through_the_admin_records_the_user_and_page(admin_client, admin_user):
    agreement = build_world().agreement
    url = reverse("admin:points_agreement_change", args=[agreement.pk])
    data = form_data(admin_client.get(url))
    data["earn_points"] = 7
    answer = admin_client.post(url, data)
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    event = AgreementEvent.objects.filter(pgh_obj_id=agreement.pk).order_by("-pgh_id").first()
    assert event.pgh_label == "update" and event.earn_points == 7
    assert event.pgh_context.metadata["user"] == admin_user.pk
    assert event.pgh_context.metadata["url"] == url
    page = admin_client.get(reverse("admin:points_agreement_history", args=[agreement.pk])).content.decode()
    assert admin_user.username in page and "1 → 7" in page


def test_history_rows_cannot_be_rewritten():
    agreement = build_world().agreement
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE history_agreementevent SET earn_points = 99 WHERE pgh_obj_id = %s", [agreement.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM history_agreementevent WHERE pgh_obj_id = %s", [agreement.pk])


def test_credentials_history_never_holds_a_secret():
    from hub.credentials import rotate_credential
    from tests.hub.factories import make_credential

    credential, secret = make_credential()
    new_secret = rotate_credential(credential=credential)
    events = CredentialEvent.objects.filter(pgh_obj_id=credential.pk).order_by("pgh_id")
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[1].rotated_at is not None
    field_names = {f.name for f in CredentialEvent._meta.fields}
    assert not {"secret", "previous_secret"} & field_names
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM history_credentialevent e WHERE pgh_obj_id = %s",
                       [credential.pk])
        dumped = " ".join(row[0] for row in cursor.fetchall())
    assert secret not in dumped and new_secret not in dumped


def test_roles_and_quota_limits_keep_history_but_use_does_not():
    from django.contrib.auth.models import Group, Permission

    from rights.models import QuotaCounter
    from tests.members.factories import UserFactory

    group = Group.objects.get(name="运营")
    permission = Permission.objects.get(codename="view_tillcall")
    group.permissions.remove(permission)
    group.permissions.add(permission)
    assert list(GroupPermissionEvent.objects.filter(group_id=group.pk, permission_id=permission.pk)
                .order_by("pgh_id").values_list("pgh_label", flat=True)) == ["remove", "add"]
    user = UserFactory()
    user.groups.add(group)
    assert UserGroupEvent.objects.filter(user_id=user.pk, group_id=group.pk, pgh_label="add").exists()

    from tests.rights.conftest import build_world as rights_world

    right = rights_world().right(activate=False)
    counter = QuotaCounter.objects.create(right=right, scope="total", key="", limit_value=100)
    QuotaCounter.objects.filter(pk=counter.pk).update(used=5)  # a claim: no history row
    QuotaCounter.objects.filter(pk=counter.pk).update(limit_value=200)  # a limit change: one
    assert list(QuotaLimitEvent.objects.filter(pgh_obj_id=counter.pk).order_by("pgh_id")
                .values_list("pgh_label", "limit_value")) == [("insert", 100), ("update", 200)]


def test_user_history_shows_roles_and_never_the_password(admin_client):
    from django.contrib.auth.models import Group

    from hub.history.models import UserEvent
    from tests.members.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.set_password("a-new-password-2026")
    user.save()
    user.groups.add(Group.objects.get(name="审计"))
    assert "password" not in {f.name for f in UserEvent._meta.fields}
    page = admin_client.get(reverse("admin:auth_user_history", args=[user.pk])).content.decode()
    assert "用户角色变更记录：添加" in page and "审计" in page


def test_rows_that_existed_before_history_get_a_baseline(admin_client):
    import importlib

    from django.apps import apps as django_apps

    from hub.history.models import ProgramEvent
    from points.models import Program

    program = build_world().postal
    with connection.cursor() as cursor:  # a row from before history existed: made with triggers off
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("INSERT INTO points_program (issuer_id, code, name, value_fen, value_points, expiry_policy, "
                       "rounding, restore_grace_days, active) SELECT issuer_id, 'OLDPROG', '旧积分', value_fen, "
                       "value_points, expiry_policy, rounding, restore_grace_days, active FROM points_program "
                       "WHERE id = %s RETURNING id", [program.pk])
        old = cursor.fetchone()[0]
        cursor.execute("SET session_replication_role = DEFAULT")
    assert not ProgramEvent.objects.filter(pgh_obj_id=old).exists()
    migration = importlib.import_module("hub.history.migrations.0002_baseline")
    with connection.schema_editor() as editor:
        migration.baseline(django_apps, editor)
    assert list(ProgramEvent.objects.filter(pgh_obj_id=old).values_list("pgh_label", "name")) == [("baseline", "旧积分")]
    Program.objects.filter(pk=old).update(name="旧积分（停用）")
    page = admin_client.get(reverse("admin:points_program_history", args=[old])).content.decode()
    assert "启用历史记录时的状态" in page and "旧积分 → 旧积分（停用）" in page
