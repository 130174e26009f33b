"""Demo members for `make run` (called from hub.demo.seed after the network is seeded).

Creates what is missing and leaves existing rows alone, like the rest of the demo data: an
operator's edits to a demo member survive a restart. Writes go through the services.
"""

from __future__ import annotations

from django.db import transaction

from hub.models import Merchant
from members import services
from members.models import Consent, Member, Tier, VendorMemberLink

# postal number, name, mobile, ID number, tier code. The mobiles are the ones the sandbox
# documentation promises vendors (13800000001-13800000005, each with 100,000 postal points).
DEMO_MEMBERS = [
    ("JXDEMO000001", "张明", "13800000001", "360102198503150024", "standard"),
    ("JXDEMO000002", "李芳", "13800000002", "360102199007210045", "silver"),
    ("JXDEMO000003", "王强", "13800000003", "", "gold"),
    ("JXDEMO000004", "刘洋", "13800000004", "", "platinum"),
    ("JXDEMO000005", "陈静", "13800000005", "", "diamond"),
]
# postal number, merchant code, the member's card number in that merchant's software
DEMO_LINKS = [
    ("JXDEMO000001", "DEMO_FOOD", "GW000101"),
    ("JXDEMO000002", "DEMO_FOOD", "GW000102"),
    ("JXDEMO000001", "DEMO_MKT", "HC8801"),
]


@transaction.atomic
def seed_members() -> dict[str, int]:
    """Returns how many members, links and consents this run created."""
    created = {"members": 0, "member_links": 0, "consents": 0}
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    for postal_no, name, mobile, id_number, tier_code in DEMO_MEMBERS:
        if Member.objects.filter(postal_no=postal_no).exists():
            continue
        services.register_member(
            postal_no=postal_no, name=name, mobile=mobile, id_number=id_number, tier=tiers[tier_code]
        )
        created["members"] += 1
    # The sandbox merchants may look members up by the demo mobiles: the demo members consent.
    from hub.demo import sandbox_merchants

    for merchant in Merchant.objects.filter(code__in=[s.code for s in sandbox_merchants()]):
        for member in Member.objects.filter(postal_no__in=[m[0] for m in DEMO_MEMBERS]):
            if not Consent.objects.filter(member=member, merchant=merchant).exists():
                services.grant_consent(member=member, merchant=merchant, source="demo")
                created["consents"] += 1
    for postal_no, merchant_code, external_id in DEMO_LINKS:
        member = Member.objects.filter(postal_no=postal_no).first()
        merchant = Merchant.objects.filter(code=merchant_code).first()
        if member is None or merchant is None or not merchant.is_active:
            continue  # the network step did not create it, or an operator closed it
        if not Consent.objects.filter(member=member, merchant=merchant).exists():
            services.grant_consent(member=member, merchant=merchant, source="demo")
            created["consents"] += 1
        if VendorMemberLink.objects.filter(merchant=merchant, external_id=external_id).exists():
            continue
        if VendorMemberLink.objects.filter(member=member, merchant=merchant, unlinked_at__isnull=True).exists():
            continue
        services.link_member(
            member=member, merchant=merchant, external_id=external_id, method=VendorMemberLink.Method.OPERATOR
        )
        created["member_links"] += 1
    return created
