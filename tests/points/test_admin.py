import pytest
from django.urls import reverse

from points.models import Account, Agreement, ClearingItem, LedgerTransaction, Lot, Operation, Program


@pytest.mark.parametrize("model", [Program, Agreement, Operation, Account, LedgerTransaction, Lot, ClearingItem])
def test_points_admin_pages_load_in_chinese_without_full_mobiles(admin_client, world, model):
    m = world.member()
    world.earn(m, 10000, "S1")
    world.redeem(m, 10, "P1")
    response = admin_client.get(reverse(f"admin:points_{model._meta.model_name}_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert model._meta.verbose_name in body
    assert m.mobile not in body
    row = model.objects.order_by("id").first()
    detail = admin_client.get(reverse(f"admin:points_{model._meta.model_name}_change", args=[row.pk]))
    assert detail.status_code == 200 and m.mobile not in detail.content.decode()


def test_ledger_rows_cannot_be_changed_from_the_admin(admin_client, world):
    world.earn(world.member(), 10000, "S1")
    op = Operation.objects.get()
    assert admin_client.get(reverse("admin:points_operation_add")).status_code == 403
    response = admin_client.post(reverse("admin:points_operation_delete", args=[op.pk]), {"post": "yes"})
    assert response.status_code == 403 and Operation.objects.filter(pk=op.pk).exists()
