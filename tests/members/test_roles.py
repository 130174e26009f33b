"""The staff groups created by migration, and sync_roles."""

import pytest
from django.contrib.auth.models import Group, Permission

from members.models import Tier
from members.roles import ROLES, resolve, sync_roles


def _perms(name):
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=name).permissions.all()}


@pytest.mark.django_db
def test_migrations_create_tiers_in_order():
    assert list(Tier.objects.values_list("code", "name", "rank")) == [
        ("standard", "普卡", 1), ("silver", "银卡", 2), ("gold", "金卡", 3), ("platinum", "白金卡", 4),
        ("diamond", "钻石卡", 5),
    ]


@pytest.mark.django_db
def test_migrations_create_the_three_groups():
    operations, finance, audit = _perms("运营"), _perms("财务"), _perms("审计")
    assert {"hub.add_merchant", "hub.change_credential", "members.change_member", "members.add_vendormemberlink",
            "members.change_consent"} <= operations
    assert "members.reveal_pii" not in operations | finance | audit
    assert not any(p.split(".")[1].startswith("delete_") for p in operations)
    assert {"points.change_agreement", "points.view_operation", "clearing.add_reconciliationrun",
            "clearing.resolve_reconciliationdifference"} <= operations
    assert not {"points.change_operation", "points.add_posting"} & operations  # the ledger is read-only
    assert {"hub.view_merchant", "members.view_member", "members.view_vendormemberlink", "points.view_posting",
            "clearing.view_clearingbatch"} <= finance
    assert all(p.split(".")[1].startswith("view_") for p in finance | audit)
    assert {"members.view_piirevealaudit", "hub.view_credential", "admin.view_logentry"} <= audit


@pytest.mark.django_db
def test_sync_roles_is_idempotent_and_restores_the_declared_set():
    group = Group.objects.get(name="财务")
    group.permissions.add(Permission.objects.get(codename="reveal_pii"))
    first = sync_roles()
    assert sync_roles() == first
    assert "members.reveal_pii" not in _perms("财务")
    assert set(first) == set(ROLES)


@pytest.mark.django_db
def test_sync_roles_tolerates_permissions_that_do_not_exist_yet():
    result = sync_roles(roles={"试用": ("members.view_member", "later_app.view_thing", "later_app.view_*")})
    assert result == {"试用": ["members.view_member"]}
    assert _perms("试用") == {"members.view_member"}


def test_reveal_is_never_granted_through_a_pattern():
    assert resolve(("members.*",), {"members.reveal_pii", "members.view_member"}) == {"members.view_member"}
