"""The sandbox rights: seeded idempotently through the services, and the voucher_code command."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from hub.demo import seed
from members.selectors import find_member
from rights import redemption, vouchers
from rights.demo import seed_rights
from rights.models import Right, Voucher

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    # hub.demo.seed runs the rights step last (rights.demo.seed_rights).
    return seed()


def test_seed_creates_the_sandbox_rights_active_and_approved(seeded):
    assert seeded["rights"] == 4
    rights = {r.code: r for r in Right.objects.all()}
    assert set(rights) == {"SBX_R95", "SBX_M50_10", "SBX_TICKET", "SBX_ONLINE"}
    assert all(r.status == "active" and r.approved_by is not None and r.approved_by != r.created_by
               for r in rights.values())
    r95 = rights["SBX_R95"]
    assert r95.rate_bp == 9500 and set(r95.tiers.values_list("code", flat=True)) == {"gold", "platinum", "diamond"}
    assert set(r95.providers.values_list("code", flat=True)) == {"SBX_ZBW", "SBX_KM", "M0001", "SBX_FX", "SBX_HUB"}
    assert rights["SBX_M50_10"].member_limit is None and rights["SBX_M50_10"].off_fen == 1000
    assert Voucher.objects.filter(right__code="SBX_M50_10").count() == 5
    assert Voucher.objects.filter(right__code="SBX_TICKET").count() == 5


def test_seed_again_changes_nothing(seeded):
    assert seed_rights() == {"rights": 0, "vouchers": 0, "merchants": 0, "stores": 0, "terminals": 0,
                             "credentials": 0}
    assert Voucher.objects.count() == 10


def test_the_demo_scenic_spot_has_a_gate_and_its_own_native_sandbox_credential(seeded):
    from hub.models import Credential
    from rights.models import Gate

    gate = Gate.objects.select_related("merchant", "terminal__store").get(merchant__code="DEMO_SCENIC")
    assert (gate.code, gate.terminal.store.code, gate.terminal.code) == ("G01", "GATE1", "G01")
    credential = Credential.objects.get(app_key="gate_test_app")
    assert (credential.merchant_id, credential.vendor.code, credential.is_sandbox) == (gate.merchant_id, "native", True)


def test_voucher_code_prints_a_usable_display_code(seeded):
    out, err = io.StringIO(), io.StringIO()
    call_command("voucher_code", "--mobile", "13800000001", stdout=out, stderr=err)
    code = out.getvalue().strip()
    assert len(code) == 18 and code.startswith("97")
    assert "13800000001" not in err.getvalue() and "138****0001" in err.getvalue()
    from hub.models import Merchant, Store

    shop = Merchant.objects.get(code="SBX_KM")
    result = redemption.redeem(merchant=shop, store=Store.objects.get(merchant=shop, code="S001"), terminal=None,
                               request_no="SBX1", display_code=code, sale_fen=5000, discount_fen=1000)
    assert result["right_code"] == "SBX_M50_10" and result["settlement_fen"] == 1000


def test_voucher_code_claims_the_free_right_again_when_none_is_left(seeded):
    member = find_member(mobile="13800000002")
    for voucher in Voucher.objects.filter(member=member, right__code="SBX_M50_10"):
        vouchers.deactivate(voucher=voucher, actor=Right.objects.first().approved_by, reason="测试")
    out = io.StringIO()
    call_command("voucher_code", "--mobile", "13800000002", "--right", "SBX_M50_10", stdout=out, stderr=io.StringIO())
    assert out.getvalue().strip().startswith("97")
    assert Voucher.objects.filter(member=member, right__code="SBX_M50_10", state="available").count() == 1


def test_voucher_code_refuses_an_unknown_member(seeded):
    with pytest.raises(CommandError):
        call_command("voucher_code", "--mobile", "13999999999", stdout=io.StringIO(), stderr=io.StringIO())
