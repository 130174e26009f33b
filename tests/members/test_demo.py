"""Demo members: created through the services once, operator edits survive a re-run."""

import pytest

from hub.models import Merchant
from members import services
from members.demo import DEMO_LINKS, DEMO_MEMBERS, seed_members
from members.models import Consent, Member, VendorMemberLink
from members.selectors import find_member
from tests.members.factories import MerchantFactory


@pytest.mark.django_db
def test_seed_members_is_idempotent_and_keeps_operator_edits():
    for code in {code for _, code, _ in DEMO_LINKS}:
        MerchantFactory(code=code)
    assert seed_members() == {"members": len(DEMO_MEMBERS), "member_links": len(DEMO_LINKS), "consents": len(DEMO_LINKS)}
    member = find_member(mobile=DEMO_MEMBERS[0][2])
    assert member.postal_no == DEMO_MEMBERS[0][0] and member.id_number == DEMO_MEMBERS[0][3]
    postal_no, merchant_code, external_id = DEMO_LINKS[0]
    linked = find_member(merchant=Merchant.objects.get(code=merchant_code), external_id=external_id)
    assert linked.postal_no == postal_no

    services.update_member(member=member, name="运营改过")
    services.unlink_member(link=VendorMemberLink.objects.get(external_id=DEMO_LINKS[0][2]), reason="演示解绑")
    assert seed_members() == {"members": 0, "member_links": 0, "consents": 0}
    assert Member.objects.get(pk=member.pk).name == "运营改过"
    assert Member.objects.count() == len(DEMO_MEMBERS)
    assert Consent.objects.count() == len(DEMO_LINKS)


@pytest.mark.django_db
def test_seed_members_without_the_demo_network_creates_members_only():
    assert seed_members() == {"members": len(DEMO_MEMBERS), "member_links": 0, "consents": 0}
